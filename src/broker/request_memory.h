// RequestMemory: a shard's budget of bytes for request frames being read or handled
// (queued.max.request.bytes, split over the shards). A connection takes a lease for a frame
// before reading its body; when the budget is spent it waits, so it stops reading its socket
// instead of allocating. Used on its shard only.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <cstddef>
#include <memory>
#include <utility>

namespace fjord::broker {

class RequestMemory {
 public:
  // Frames up to this size need no lease: requests such as heartbeats and metadata keep
  // flowing when big produce frames wait. A connection reads one frame at a time, so what they
  // hold is bounded by the connection count.
  static constexpr size_t kSmallFrame = 64 << 10;

  // The budget's counts; leases keep them alive, since a lease may end after its RequestMemory
  // (requests still pending when the broker stops are destroyed with the shards).
  struct State {
    size_t limit = 0;
    size_t used = 0;
    size_t waiting = 0;
    asio::steady_timer* changed = nullptr;  // null once the RequestMemory is gone
  };

  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept : state_(std::move(o.state_)), bytes_(std::exchange(o.bytes_, 0)) {}
    Lease& operator=(Lease&& o) noexcept {
      if (this != &o) {
        release();
        state_ = std::move(o.state_);
        bytes_ = std::exchange(o.bytes_, 0);
      }
      return *this;
    }
    ~Lease() { release(); }
    void release();

   private:
    friend class RequestMemory;
    Lease(std::shared_ptr<State> state, size_t bytes) : state_(std::move(state)), bytes_(bytes) {}
    std::shared_ptr<State> state_;
    size_t bytes_ = 0;
  };

  // limit 0: no bound.
  RequestMemory(asio::any_io_executor executor, size_t limit) : state_(std::make_shared<State>()), changed_(executor) {
    state_->limit = limit;
    state_->changed = &changed_;
    // Never expires: waiters wake only when cancel() says bytes came back (re-arming it per
    // waiter would cancel the other waiters).
    changed_.expires_at(asio::steady_timer::time_point::max());
  }
  ~RequestMemory() { state_->changed = nullptr; }
  RequestMemory(const RequestMemory&) = delete;
  RequestMemory& operator=(const RequestMemory&) = delete;

  // A lease for a frame of `bytes`; waits while the budget cannot hold it. A frame bigger than
  // the whole budget is let through once nothing else is held.
  asio::awaitable<Lease> acquire(size_t bytes);

  size_t used() const { return state_->used; }
  size_t limit() const { return state_->limit; }
  size_t waiting() const { return state_->waiting; }

 private:
  bool fits(size_t bytes) const { return state_->used == 0 || state_->used + bytes <= state_->limit; }

  std::shared_ptr<State> state_;
  asio::steady_timer changed_;  // cancelled when bytes come back: the waiters look again
};

}  // namespace fjord::broker
