// Gather: run tasks on other shards at the same time and wait, on the calling shard, for all.
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <exception>
#include <memory>
#include <vector>

namespace fjord::broker {

template <typename T>
class Gather : public std::enable_shared_from_this<Gather<T>> {
 public:
  explicit Gather(asio::any_io_executor home) : home_(home), done_(home) {}

  // Starts `task` (an awaitable<T>) on `target`; its result lands in results()[index].
  template <typename Awaitable>
  size_t spawn(asio::io_context& target, Awaitable task) {
    size_t index = results_.size();
    results_.emplace_back();
    ++pending_;
    auto self = this->shared_from_this();
    asio::co_spawn(target, std::move(task), [self, index](std::exception_ptr e, T value) {
      asio::post(self->home_, [self, index, e, value = std::move(value)]() mutable {
        if (e && !self->error_) self->error_ = e;
        self->results_[index] = std::move(value);
        if (--self->pending_ == 0) self->done_.cancel();
      });
    });
    return index;
  }

  // Waits until every spawned task is done; rethrows the first task's exception.
  asio::awaitable<void> wait() {
    while (pending_ > 0) {
      done_.expires_at(asio::steady_timer::time_point::max());
      std::error_code ec;
      co_await done_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (error_) std::rethrow_exception(error_);
  }

  std::vector<T>& results() { return results_; }

 private:
  asio::any_io_executor home_;
  asio::steady_timer done_;
  std::vector<T> results_;
  size_t pending_ = 0;
  std::exception_ptr error_;
};

}  // namespace fjord::broker
