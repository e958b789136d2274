#include "storage/index.h"

#include <sys/mman.h>

#include <cerrno>

namespace fjord::storage {
namespace {

uint32_t get32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
uint64_t get64(const uint8_t* p) { return (uint64_t(get32(p)) << 32) | get32(p + 4); }
void put32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}
void put64(uint8_t* p, uint64_t v) {
  put32(p, uint32_t(v >> 32));
  put32(p + 4, uint32_t(v));
}

// Index of the last entry for which key(i) <= target, or -1.
template <typename Key>
ptrdiff_t floor_search(size_t n, int64_t target, Key key) {
  ptrdiff_t lo = 0, hi = static_cast<ptrdiff_t>(n) - 1, found = -1;
  while (lo <= hi) {
    ptrdiff_t mid = lo + (hi - lo) / 2;
    if (key(static_cast<size_t>(mid)) <= target) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

}  // namespace

MappedEntries::~MappedEntries() { unmap(); }

void MappedEntries::unmap() {
  if (base_ != nullptr) ::munmap(base_, mapped_bytes_);
  base_ = nullptr;
  mapped_bytes_ = 0;
}

IoResult<> MappedEntries::map(File& file, uint64_t bytes) {
  unmap();
  if (bytes == 0) return {};
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd(), 0);
  if (p == MAP_FAILED) return tl::unexpected(std::error_code(errno, std::system_category()));
  base_ = static_cast<uint8_t*>(p);
  mapped_bytes_ = bytes;
  return {};
}

IoResult<> MappedEntries::open(Env& env, const std::filesystem::path& path, uint64_t max_bytes, bool writable) {
  path_ = path;
  env_ = &env;
  auto f = env.open(path, true);
  if (!f) return tl::unexpected(f.error());
  auto size = (*f)->size();
  if (!size) return tl::unexpected(size.error());
  entries_ = *size / entry_size_;
  uint64_t bytes = *size - *size % entry_size_;
  if (writable) {
    uint64_t max_rounded = std::max<uint64_t>(max_bytes - max_bytes % entry_size_, bytes);
    if (auto r = (*f)->truncate(max_rounded); !r) return r;
    bytes = max_rounded;
  }
  capacity_ = writable ? bytes / entry_size_ : entries_;
  return map(**f, bytes);
}

IoResult<> MappedEntries::sync() {
  if (base_ != nullptr && ::msync(base_, mapped_bytes_, MS_SYNC) != 0)
    return tl::unexpected(std::error_code(errno, std::system_category()));
  return {};
}

IoResult<std::shared_ptr<File>> MappedEntries::seal() {
  unmap();  // the pages it dirtied stay dirty in the page cache, for the file's next sync
  uint64_t bytes = entries_ * entry_size_;
  auto f = env_->open(path_, true);
  if (!f) return tl::unexpected(f.error());
  if (auto r = (*f)->truncate(bytes); !r) return tl::unexpected(r.error());
  capacity_ = entries_;
  if (auto r = map(**f, bytes); !r) return tl::unexpected(r.error());
  return std::shared_ptr<File>(std::move(*f));
}

bool OffsetIndex::append(int64_t last_offset, uint32_t position) {
  if (entries_.full()) return false;
  uint8_t* slot = entries_.append_slot();
  put32(slot, static_cast<uint32_t>(last_offset - base_));
  put32(slot + 4, position);
  return true;
}

OffsetPosition OffsetIndex::at(size_t i) const {
  const uint8_t* e = entries_.entry(i);
  return {base_ + static_cast<int32_t>(get32(e)), get32(e + 4)};
}

std::optional<OffsetPosition> OffsetIndex::floor(int64_t offset) const {
  ptrdiff_t i = floor_search(entries_.entries(), offset, [&](size_t k) { return at(k).offset; });
  if (i < 0) return std::nullopt;
  return at(static_cast<size_t>(i));
}

std::optional<OffsetPosition> OffsetIndex::last() const {
  if (entries_.entries() == 0) return std::nullopt;
  return at(entries_.entries() - 1);
}

void OffsetIndex::truncate_to(int64_t offset) {
  size_t n = entries_.entries();
  while (n > 0 && at(n - 1).offset >= offset) --n;
  entries_.truncate_entries(n);
}

bool OffsetIndex::sane(uint64_t log_size) const {
  for (size_t i = 0; i < entries_.entries(); ++i) {
    OffsetPosition e = at(i);
    if (e.offset < base_ || e.position >= log_size) return false;
    if (i > 0 && (e.offset <= at(i - 1).offset || e.position <= at(i - 1).position)) return false;
  }
  return true;
}

bool TimeIndex::maybe_append(int64_t timestamp, int64_t offset) {
  if (auto l = last(); l && timestamp <= l->timestamp) return true;
  if (entries_.full()) return false;
  uint8_t* slot = entries_.append_slot();
  put64(slot, static_cast<uint64_t>(timestamp));
  put32(slot + 8, static_cast<uint32_t>(offset - base_));
  return true;
}

TimestampOffset TimeIndex::at(size_t i) const {
  const uint8_t* e = entries_.entry(i);
  return {static_cast<int64_t>(get64(e)), base_ + static_cast<int32_t>(get32(e + 8))};
}

std::optional<TimestampOffset> TimeIndex::floor(int64_t timestamp) const {
  ptrdiff_t i = floor_search(entries_.entries(), timestamp, [&](size_t k) { return at(k).timestamp; });
  if (i < 0) return std::nullopt;
  return at(static_cast<size_t>(i));
}

std::optional<TimestampOffset> TimeIndex::last() const {
  if (entries_.entries() == 0) return std::nullopt;
  return at(entries_.entries() - 1);
}

void TimeIndex::truncate_to(int64_t offset) {
  size_t n = entries_.entries();
  while (n > 0 && at(n - 1).offset >= offset) --n;
  entries_.truncate_entries(n);
}

bool TimeIndex::sane(int64_t next_offset) const {
  for (size_t i = 0; i < entries_.entries(); ++i) {
    TimestampOffset e = at(i);
    if (e.offset < base_ || e.offset >= next_offset) return false;
    if (i > 0 && (e.timestamp <= at(i - 1).timestamp || e.offset < at(i - 1).offset)) return false;
  }
  return true;
}

void IndexBuilder::add(int64_t last_offset, uint64_t position, uint64_t size, int64_t max_timestamp) {
  if (position == 0 || bytes_since_index_ >= interval_) {
    uint8_t e[OffsetIndex::kEntrySize];
    put32(e, static_cast<uint32_t>(last_offset - base_));
    put32(e + 4, static_cast<uint32_t>(position));
    offsets_.insert(offsets_.end(), e, e + sizeof(e));
    bytes_since_index_ = 0;
  }
  if (max_timestamp > max_timestamp_) {
    max_timestamp_ = max_timestamp;
    uint8_t e[TimeIndex::kEntrySize];
    put64(e, static_cast<uint64_t>(max_timestamp));
    put32(e + 8, static_cast<uint32_t>(last_offset - base_));
    times_.insert(times_.end(), e, e + sizeof(e));
  }
  bytes_since_index_ += size;
}

}  // namespace fjord::storage
