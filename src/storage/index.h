// The sparse indexes of a segment, in Kafka's on-disk formats, memory-mapped:
//  - OffsetIndex (.index): 8-byte entries, int32 offset relative to the segment base (the last
//    offset of the indexed batch) + int32 position of that batch in the .log;
//  - TimeIndex (.timeindex): 12-byte entries, int64 timestamp + int32 relative offset, with
//    timestamps strictly increasing.
// Both files are preallocated to their maximum size while their segment is active and trimmed to
// their entries when it is closed, as Kafka does. Either can be thrown away and rebuilt from the
// .log, which is the source of truth.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "storage/file.h"

namespace fjord::storage {

// A memory-mapped file of fixed-size big-endian entries.
class MappedEntries {
 public:
  MappedEntries(size_t entry_size) : entry_size_(entry_size) {}
  MappedEntries(const MappedEntries&) = delete;
  MappedEntries& operator=(const MappedEntries&) = delete;
  ~MappedEntries();

  // Opens the file; its current size / entry_size entries are taken as written (the caller
  // checks them) and the mapping is sized to `max_bytes` when writable.
  IoResult<> open(Env& env, const std::filesystem::path& path, uint64_t max_bytes, bool writable);
  size_t entries() const { return entries_; }
  size_t capacity() const { return capacity_; }
  bool full() const { return entries_ >= capacity_; }
  const uint8_t* entry(size_t i) const { return base_ + i * entry_size_; }
  uint8_t* append_slot() { return base_ + entries_++ * entry_size_; }
  void truncate_entries(size_t n) { entries_ = std::min(entries_, n); }
  // Shrinks the file to the entries written; no more appends. Syncs nothing: returns the file
  // for the caller's next (background) sync, which writes back what the mapping dirtied.
  IoResult<std::shared_ptr<File>> seal();
  IoResult<> sync();
  const std::filesystem::path& path() const { return path_; }

 private:
  IoResult<> map(File& file, uint64_t bytes);
  void unmap();

  size_t entry_size_;
  Env* env_ = nullptr;  // the file is reopened only to resize it: no descriptor is held
  std::filesystem::path path_;
  uint8_t* base_ = nullptr;
  size_t mapped_bytes_ = 0;
  size_t entries_ = 0;
  size_t capacity_ = 0;
};

struct OffsetPosition {
  int64_t offset = 0;     // absolute last offset of the indexed batch
  uint32_t position = 0;  // where that batch starts in the .log
};

class OffsetIndex {
 public:
  static constexpr size_t kEntrySize = 8;
  explicit OffsetIndex(int64_t base_offset) : base_(base_offset), entries_(kEntrySize) {}

  IoResult<> open(Env& env, const std::filesystem::path& path, uint64_t max_bytes, bool writable) {
    return entries_.open(env, path, max_bytes, writable);
  }
  // False when the index is full (the segment must roll).
  bool append(int64_t last_offset, uint32_t position);
  // The last entry whose offset is <= `offset`; nullopt when there is none.
  std::optional<OffsetPosition> floor(int64_t offset) const;
  std::optional<OffsetPosition> last() const;
  size_t entries() const { return entries_.entries(); }
  OffsetPosition at(size_t i) const;
  bool full() const { return entries_.full(); }
  // Drops entries for offsets >= `offset`.
  void truncate_to(int64_t offset);
  void clear() { entries_.truncate_entries(0); }
  // Entries strictly increasing in both offset and position, all below `log_size`.
  bool sane(uint64_t log_size) const;
  IoResult<std::shared_ptr<File>> seal() { return entries_.seal(); }
  IoResult<> sync() { return entries_.sync(); }

 private:
  int64_t base_;
  MappedEntries entries_;
};

struct TimestampOffset {
  int64_t timestamp = -1;
  int64_t offset = 0;  // absolute
};

class TimeIndex {
 public:
  static constexpr size_t kEntrySize = 12;
  explicit TimeIndex(int64_t base_offset) : base_(base_offset), entries_(kEntrySize) {}

  IoResult<> open(Env& env, const std::filesystem::path& path, uint64_t max_bytes, bool writable) {
    return entries_.open(env, path, max_bytes, writable);
  }
  // Adds an entry when `timestamp` is above the last one. False when full.
  bool maybe_append(int64_t timestamp, int64_t offset);
  // The last entry whose timestamp is <= `timestamp`.
  std::optional<TimestampOffset> floor(int64_t timestamp) const;
  std::optional<TimestampOffset> last() const;
  size_t entries() const { return entries_.entries(); }
  TimestampOffset at(size_t i) const;
  bool full() const { return entries_.full(); }
  void truncate_to(int64_t offset);
  void clear() { entries_.truncate_entries(0); }
  bool sane(int64_t next_offset) const;
  IoResult<std::shared_ptr<File>> seal() { return entries_.seal(); }
  IoResult<> sync() { return entries_.sync(); }

 private:
  int64_t base_;
  MappedEntries entries_;
};

// Both index files of a segment built in memory in one go (compaction's output), by the rules an
// active segment indexes its appends: an offset entry for the first batch and then for the first
// after every `interval_bytes`; a time entry whenever a batch raises the largest timestamp.
class IndexBuilder {
 public:
  IndexBuilder(int64_t base_offset, uint32_t interval_bytes) : base_(base_offset), interval_(interval_bytes) {}
  void add(int64_t last_offset, uint64_t position, uint64_t size, int64_t max_timestamp);
  const Bytes& offset_entries() const { return offsets_; }
  const Bytes& time_entries() const { return times_; }

 private:
  int64_t base_;
  uint32_t interval_;
  uint64_t bytes_since_index_ = 0;
  int64_t max_timestamp_ = -1;
  Bytes offsets_;
  Bytes times_;
};

}  // namespace fjord::storage
