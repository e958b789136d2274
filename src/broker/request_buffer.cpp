#include "broker/request_buffer.h"

#include <utility>
#include <vector>

namespace fjord::broker {

namespace {

constexpr size_t kGranule = 64 << 10;  // capacities are multiples of this, so buffers fit many sizes

struct Spare {
  std::unique_ptr<uint8_t[]> data;
  size_t capacity;
};

struct Pool {
  std::vector<Spare> spares;
  size_t bytes = 0;
};

Pool& pool() {
  thread_local Pool p;
  return p;
}

}  // namespace

RequestBuffer::RequestBuffer(size_t size) : size_(size) {
  Pool& p = pool();
  // The smallest spare that fits, so small requests leave the big buffers to big ones.
  size_t best = p.spares.size();
  for (size_t i = 0; i < p.spares.size(); ++i)
    if (p.spares[i].capacity >= size && (best == p.spares.size() || p.spares[i].capacity < p.spares[best].capacity))
      best = i;
  if (best < p.spares.size()) {
    data_ = std::move(p.spares[best].data);
    capacity_ = p.spares[best].capacity;
    p.bytes -= capacity_;
    p.spares[best] = std::move(p.spares.back());
    p.spares.pop_back();
    return;
  }
  capacity_ = (size + kGranule - 1) / kGranule * kGranule;
  if (capacity_ == 0) capacity_ = kGranule;
  data_.reset(new uint8_t[capacity_]);  // default-initialised: not zeroed
}

RequestBuffer& RequestBuffer::operator=(RequestBuffer&& o) noexcept {
  if (this != &o) {
    give_back();
    data_ = std::move(o.data_);
    capacity_ = std::exchange(o.capacity_, 0);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

RequestBuffer::~RequestBuffer() { give_back(); }

void RequestBuffer::give_back() {
  if (!data_) return;
  Pool& p = pool();
  if (p.bytes + capacity_ <= kPoolBytes) {
    p.bytes += capacity_;
    p.spares.push_back({std::move(data_), capacity_});
  }
  release();
}

void RequestBuffer::release() {
  data_.reset();
  capacity_ = 0;
  size_ = 0;
}

size_t RequestBuffer::pooled_bytes() { return pool().bytes; }

void RequestBuffer::drop_spares() {
  pool().spares.clear();
  pool().bytes = 0;
}

}  // namespace fjord::broker
