// Shards: one thread per shard, each running its own asio::io_context. Objects say which shard
// they live on; work for another shard is sent there with run_on() and awaited.
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

namespace fjord::broker {

class Shards {
 public:
  explicit Shards(int count);
  Shards(const Shards&) = delete;
  Shards& operator=(const Shards&) = delete;

  int count() const { return static_cast<int>(contexts_.size()); }
  asio::io_context& context(int shard) { return *contexts_[static_cast<size_t>(shard)]; }
  // The controller's own thread: metadata writes wait there for the quorum without holding up a
  // shard.
  asio::io_context& controller() { return controller_; }

  // Runs every shard (and the controller) on its own thread until stop(); returns when all have
  // finished.
  void run();
  void stop();

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  asio::io_context controller_{1};
};

// Runs `fn` on `target`'s thread; awaiting the result resumes the caller on its own executor.
// Not itself a coroutine, and callers pass a named `fn`: g++ 12 mishandles non-trivial
// temporaries and by-value coroutine parameters across co_await (double frees seen under ASan).
template <typename F>
asio::awaitable<std::invoke_result_t<F>> run_on(asio::io_context& target, F fn) {
  using R = std::invoke_result_t<F>;
  return asio::co_spawn(
      target, [fn = std::move(fn)]() mutable -> asio::awaitable<R> { co_return fn(); }, asio::use_awaitable);
}

}  // namespace fjord::broker
