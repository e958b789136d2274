// RequestBuffer: the bytes of one request frame, from a per-thread pool. A produce request is up
// to a MiB; a fresh zeroed vector for each costs a memset and, above malloc's mmap threshold,
// page faults on every request. Pooled buffers are neither zeroed nor returned to the system.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace fjord::broker {

class RequestBuffer {
 public:
  RequestBuffer() = default;
  // At least `size` bytes, contents unspecified: from this thread's spares when one fits.
  explicit RequestBuffer(size_t size);
  RequestBuffer(RequestBuffer&&) noexcept = default;
  RequestBuffer& operator=(RequestBuffer&& o) noexcept;
  ~RequestBuffer();  // back to the pool of the thread that ends it (each shard is one thread)

  std::span<uint8_t> span() { return {data_.get(), size_}; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  const uint8_t* data() const { return data_.get(); }
  void release();  // gives the memory back now

  // Bytes of spare buffers a thread keeps at most.
  static constexpr size_t kPoolBytes = 32 << 20;
  static size_t pooled_bytes();  // on this thread
  static void drop_spares();     // frees this thread's spares

 private:
  void give_back();  // to this thread's spares if they have room, else freed

  std::unique_ptr<uint8_t[]> data_;
  size_t capacity_ = 0;
  size_t size_ = 0;
};

}  // namespace fjord::broker
