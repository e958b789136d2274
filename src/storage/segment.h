// Segment: one `.log` file of record batches plus its `.index` and `.timeindex`, named by the
// 20-digit base offset. Owned by its partition's PartitionLog (so by one shard); the flusher
// thread may sync it concurrently (sync only reads fds), holding a shared_ptr.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/file.h"
#include "storage/index.h"

namespace fjord::storage {

struct SegmentConfig {
  uint64_t index_max_bytes = 10 * 1024 * 1024;  // segment.index.bytes
  uint32_t index_interval_bytes = 4096;         // index.interval.bytes
  uint64_t max_bytes = 1ull << 30;               // segment.bytes: blocks are reserved up to this
};

std::string segment_file_name(int64_t base_offset, std::string_view suffix);
// The offsets of the files in `dir` named like segment_file_name(offset, suffix), ascending.
std::vector<int64_t> offset_named_files(const std::filesystem::path& dir, std::string_view suffix);

// A byte range of a segment's .log that a reader sends as is (sendfile) or copies.
struct FileRange {
  std::shared_ptr<File> file;
  uint64_t position = 0;
  uint64_t length = 0;
};

struct BatchInfo {
  int64_t base_offset;
  int64_t last_offset;
  int64_t max_timestamp;
  uint64_t position;
  uint64_t size;
};

// The offsets a scan accepts: increasing from `min`, every batch's last offset below `end`, and
// with `contiguous` each batch starting right after the one before it. Compaction leaves gaps,
// but only in segments that have a successor (whose base offset bounds them): the last
// segment, the one appended to, must be contiguous, which catches a flipped bit in a
// baseOffset (outside the CRC) there.
struct OffsetRule {
  int64_t min = 0;
  int64_t end = INT64_MAX;
  bool contiguous = false;
  // With check_crc: batches ending below this offset are read but not CRC-checked (a read may
  // step over a bad batch before the offset it wants, since its header gives its length).
  int64_t crc_from = INT64_MIN;
};

// Walks the record batches of a `.log` of `size` bytes from `position` on; stops at the end, at a
// batch that is not whole or not well-formed (magic, sizes, offsets as `rule` says), or when
// `fn` returns false. With `check_crc`, also stops at a batch whose CRC fails, and `fn` gets the
// whole batch's bytes (else its 61 header bytes). Returns the position where it stopped.
using LogBatchVisitor = std::function<bool(const BatchInfo&, ByteView batch)>;
// With `check_crc`, the file is read `crc_chunk` bytes at a time (more for a bigger batch), into
// `scratch` when given (its memory is reused; `fn` must not scan with the same one).
IoResult<uint64_t> scan_log(const File& log, uint64_t size, uint64_t position, const OffsetRule& rule, bool check_crc,
                            const LogBatchVisitor& fn, size_t crc_chunk = 1 << 20,
                            std::vector<uint8_t>* scratch = nullptr);

class Segment {
 public:
  // Creates a new, empty active segment.
  static IoResult<std::unique_ptr<Segment>> create(Env& env, const std::filesystem::path& dir, int64_t base_offset,
                                                   const SegmentConfig& config, int64_t now_ms);
  // Opens an existing segment. With `recover`, scans every batch (CRC checked), truncates after
  // the last whole valid one and rebuilds both indexes; otherwise trusts the .log and rebuilds
  // the indexes only if they fail their sanity check. `truncated_bytes` reports what was cut.
  // `next_base`: the base offset of the segment after this one (recovery then accepts offset
  // gaps below it), INT64_MAX for the last segment.
  static IoResult<std::unique_ptr<Segment>> open(Env& env, const std::filesystem::path& dir, int64_t base_offset,
                                                 const SegmentConfig& config, bool recover, bool active,
                                                 uint64_t* truncated_bytes, int64_t next_base = INT64_MAX);

  int64_t base_offset() const { return base_offset_; }
  int64_t next_offset() const { return next_offset_; }  // one past the last offset held
  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t max_timestamp() const { return max_timestamp_; }
  int64_t created_ms() const { return created_ms_; }
  // The timestamp of the first batch, which segment.ms rolls by (Kafka's rule), else created_ms.
  int64_t first_batch_timestamp() const { return first_batch_timestamp_; }
  bool index_full() const { return offset_index_.full() || time_index_.full(); }
  const std::shared_ptr<File>& log_file() const { return log_; }

  // Appends one batch whose offsets are already assigned.
  IoResult<> append(ByteView batch, int64_t base_offset, int64_t last_offset, int64_t max_timestamp);

  // The range from the start of the batch holding `offset` (or the first batch after it) for up
  // to `max_bytes`, cut at a batch boundary; at least that first batch when `min_one_batch`
  // (else an empty range if it does not fit). Batches ending at or past `end_offset` are left out.
  // nullopt when no batch at or after `offset` (and before `end_offset`) is here. With `verify`,
  // batches are CRC-checked as they are read. When the first one wanted fails (or its header
  // makes no sense), the error is std::errc::illegal_byte_sequence.
  IoResult<std::optional<FileRange>> read(int64_t offset, uint64_t max_bytes, bool min_one_batch,
                                          int64_t end_offset = INT64_MAX, bool verify = true) const;

  // The first batch whose max timestamp is >= `timestamp`.
  IoResult<std::optional<BatchInfo>> find_batch_by_timestamp(int64_t timestamp) const;

  // Drops every batch with base offset >= `offset`; returns the bytes removed.
  IoResult<uint64_t> truncate_to(int64_t offset);

  IoResult<> sync();
  // Reserves the log's blocks up to `bytes` (never past segment.bytes), as appends do in steps.
  void reserve_to(uint64_t bytes);
  // Gives back the blocks reserved past the end and trims the indexes to their entries (the
  // segment stops being active). Syncs nothing, so it never waits for the disk: the caller's
  // next sync covers the log, and the index files, which take_unsynced_index_files() hands over.
  IoResult<> seal();
  std::vector<std::shared_ptr<File>> take_unsynced_index_files() { return std::exchange(unsynced_index_files_, {}); }
  // Deletes the segment's files.
  void remove_files();

  // Walks the batches from `position` on; stops at the end, at a batch that is not whole or not
  // well-formed (magic, sizes, offsets increasing), or when `fn` returns false. With
  // `check_crc`, also stops at a batch whose CRC fails. Returns the position where it stopped.
  using BatchVisitor = std::function<bool(const BatchInfo&)>;
  IoResult<uint64_t> scan(uint64_t position, bool check_crc, const BatchVisitor& fn) const;
  // The batches holding offsets at or after `offset`, with their header bytes (no CRC check).
  IoResult<uint64_t> scan_headers_from(int64_t offset, const LogBatchVisitor& fn) const;

 private:
  Segment(std::filesystem::path dir, int64_t base_offset, const SegmentConfig& config)
      : dir_(std::move(dir)), base_offset_(base_offset), config_(config), offset_index_(base_offset),
        time_index_(base_offset) {}
  IoResult<> rebuild_indexes();
  void index_batch(const BatchInfo& b);
  // Where to start scanning for `offset`: the index entry at or before it.
  uint64_t start_position(int64_t offset) const;

  std::filesystem::path dir_;
  int64_t base_offset_;
  SegmentConfig config_;
  std::shared_ptr<File> log_;
  OffsetIndex offset_index_;
  TimeIndex time_index_;
  uint64_t size_ = 0;
  uint64_t reserved_ = 0;  // the .log's blocks are reserved up to here (active segment)
  int64_t next_offset_;
  int64_t max_timestamp_ = -1;
  int64_t created_ms_ = 0;
  int64_t first_batch_timestamp_ = -1;
  uint64_t bytes_since_index_ = 0;
  std::vector<std::shared_ptr<File>> unsynced_index_files_;  // trimmed by seal(), not yet synced
};

}  // namespace fjord::storage
