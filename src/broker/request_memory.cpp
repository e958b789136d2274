#include "broker/request_memory.h"

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

namespace fjord::broker {

void RequestMemory::Lease::release() {
  if (!state_) return;
  state_->used -= bytes_;
  if (state_->waiting > 0 && state_->changed != nullptr) state_->changed->cancel();
  state_.reset();
  bytes_ = 0;
}

asio::awaitable<RequestMemory::Lease> RequestMemory::acquire(size_t bytes) {
  if (state_->limit == 0 || bytes <= kSmallFrame) co_return Lease();
  ++state_->waiting;
  while (!fits(bytes)) {
    std::error_code ec;
    co_await changed_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  --state_->waiting;
  state_->used += bytes;
  co_return Lease(state_, bytes);
}

}  // namespace fjord::broker
