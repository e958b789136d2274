#include "broker/request_memory.h"

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

namespace fjord::broker {

void RequestMemory::Lease::release() {
  if (memory_ == nullptr) return;
  memory_->used_ -= bytes_;
  if (memory_->waiting_ > 0) memory_->changed_.cancel();
  memory_ = nullptr;
  bytes_ = 0;
}

asio::awaitable<RequestMemory::Lease> RequestMemory::acquire(size_t bytes) {
  if (limit_ == 0 || bytes <= kSmallFrame) co_return Lease();
  ++waiting_;
  while (!fits(bytes)) {
    std::error_code ec;
    co_await changed_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  --waiting_;
  used_ += bytes;
  co_return Lease(this, bytes);
}

}  // namespace fjord::broker
