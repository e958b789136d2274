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

namespace fjord::broker {

class RequestMemory {
 public:
  // Frames up to this size need no lease: requests such as heartbeats and metadata keep
  // flowing when big produce frames wait. A connection reads one frame at a time, so what they
  // hold is bounded by the connection count.
  static constexpr size_t kSmallFrame = 64 << 10;

  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept : memory_(std::exchange(o.memory_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
    Lease& operator=(Lease&& o) noexcept {
      if (this != &o) {
        release();
        memory_ = std::exchange(o.memory_, nullptr);
        bytes_ = std::exchange(o.bytes_, 0);
      }
      return *this;
    }
    ~Lease() { release(); }
    void release();

   private:
    friend class RequestMemory;
    Lease(RequestMemory* memory, size_t bytes) : memory_(memory), bytes_(bytes) {}
    RequestMemory* memory_ = nullptr;
    size_t bytes_ = 0;
  };

  // limit 0: no bound.
  RequestMemory(asio::any_io_executor executor, size_t limit) : limit_(limit), changed_(executor) {
    // Never expires: waiters wake only when cancel() says bytes came back (re-arming it per
    // waiter would cancel the other waiters).
    changed_.expires_at(asio::steady_timer::time_point::max());
  }

  // A lease for a frame of `bytes`; waits while the budget cannot hold it. A frame bigger than
  // the whole budget is let through once nothing else is held.
  asio::awaitable<Lease> acquire(size_t bytes);

  size_t used() const { return used_; }
  size_t limit() const { return limit_; }
  size_t waiting() const { return waiting_; }

 private:
  bool fits(size_t bytes) const { return used_ == 0 || used_ + bytes <= limit_; }

  size_t limit_;
  size_t used_ = 0;
  size_t waiting_ = 0;
  asio::steady_timer changed_;  // cancelled when bytes come back: the waiters look again
};

}  // namespace fjord::broker
