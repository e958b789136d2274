// Log compaction (cleanup.policy=compact): a pass keeps the last record of every key in a
// partition's closed, durable segments, with their original offsets (gaps are fine), drops
// records without a key, and drops tombstones (null values) once their delete horizon
// (KIP-534: set in the batch the first time a pass keeps them, delete.retention.ms later) has
// passed. Control batches and batch metadata (producer id, epoch, sequence) are kept.
//
// A pass runs on a cleaner thread, never on a shard. Its log's shard prepares it (CleanPlan:
// the segments, which stay unchanged and undeleted while it runs) and applies its result. The
// thread reads those segments through their open files, writes each group of segments as one
// new segment `<base>.log.cleaned` (+ `.index.cleaned`, `.timeindex.cleaned`), syncs it, and
// swaps it in so that a crash at any point leaves the old segments or the new one, never a mix:
//   1. rename `<base>.log.cleaned` to `<base>.log.<end>.swap`; sync the directory (the commit);
//   2. remove the old segments' files, move the new indexes into place; sync the directory;
//   3. rename the swap file to `<base>.log`.
// finish_interrupted_cleaning() completes step 2-3 at open when a swap file exists, and removes
// `.cleaned` leftovers. Format: docs/formats/log-segments.md.
#pragma once

#include <asio/any_io_executor.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "base/bytes.h"
#include "storage/file.h"

namespace fjord::storage {

// A topic's compaction settings.
struct CompactionConfig {
  bool compact = false;                      // cleanup.policy contains compact
  double min_cleanable_dirty_ratio = 0.5;    // min.cleanable.dirty.ratio
  int64_t min_compaction_lag_ms = 0;         // min.compaction.lag.ms
  int64_t max_compaction_lag_ms = INT64_MAX;  // max.compaction.lag.ms
  int64_t delete_retention_ms = 86400000;    // delete.retention.ms
};

// Key → the last offset holding it, within a memory budget (Kafka's
// log.cleaner.dedupe.buffer.size): 24-byte slots (a 128-bit key hash and the offset), open
// addressing, filled up to `load_factor`. The table grows with the keys, up to the budget.
class OffsetMap {
 public:
  explicit OffsetMap(size_t budget_bytes, double load_factor = 0.9);
  void clear();
  bool has_room(size_t entries) const { return size_ + entries <= limit_; }
  // REQUIRES: has_room(1).
  void put(ByteView key, int64_t offset);
  // -1 when the key is not in the map.
  int64_t get(ByteView key) const;
  size_t size() const { return size_; }
  size_t limit() const { return limit_; }

 private:
  struct Slot {
    uint64_t lo;
    uint64_t hi;
    int64_t offset;  // -1: empty
  };
  size_t find(uint64_t lo, uint64_t hi) const;
  void resize(size_t slots);
  size_t max_slots_;
  double load_factor_;
  std::vector<Slot> slots_;
  size_t size_ = 0;
  size_t limit_ = 0;    // entries the budget holds
  size_t grow_at_ = 0;  // entries the current table holds

};

// One closed segment as a pass reads it.
struct CleanerInput {
  int64_t base = 0;
  std::shared_ptr<File> log;
  uint64_t size = 0;
};

// One pass over a log, prepared on its shard.
struct CleanPlan {
  std::filesystem::path dir;
  std::string name;  // for the log lines
  // Consecutive segments from the log's first on; each group becomes one segment named by its
  // first base offset. group_ends[i] is the base of the segment after group i.
  std::vector<std::vector<CleanerInput>> groups;
  std::vector<int64_t> group_ends;
  int64_t first_dirty = 0;  // the map covers keys from here to the end of the last group
  int64_t now_ms = 0;
  int64_t delete_retention_ms = 86400000;
  uint32_t index_interval_bytes = 4096;
};

// Shared by a pass and its log. Once cancel() returns (the log closes, its topic is deleted,
// the broker stops), the pass touches no path of that log's directory again.
class CleanTicket {
 public:
  void cancel() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
  }
  bool cancelled() const {
    std::lock_guard lock(mutex_);
    return cancelled_;
  }
  // Runs one directory operation unless cancelled; false when cancelled.
  template <typename Fn>
  bool run(Fn&& fn) {
    std::lock_guard lock(mutex_);
    if (cancelled_) return false;
    fn();
    return true;
  }

 private:
  mutable std::mutex mutex_;
  bool cancelled_ = false;  // GUARDED_BY(mutex_)
};

struct CleanStats {
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t records_removed = 0;
  uint64_t tombstones_removed = 0;
  uint64_t batches_rewritten = 0;
  int groups_rewritten = 0;  // groups that changed (the others were left as they were)
  // The earliest delete horizon of the tombstones kept: a pass is due then, dirty or not.
  int64_t next_delete_horizon = INT64_MAX;
};

struct CleanResult {
  // Where the next pass's dirty part starts, when every group is done (the map may fill up
  // before the end of the plan).
  int64_t next_dirty = -1;
  // groups[0, groups_done) are on disk in their final form: those listed in `swapped` as one new
  // segment each, the others unchanged.
  size_t groups_done = 0;
  std::vector<size_t> swapped;
  // A group stopped half-swapped: on disk it is only whole once the log is reopened.
  bool partial = false;
  bool cancelled = false;
  std::string error;  // empty when the pass completed
  CleanStats stats;
};

// log.cleaner.io.max.bytes.per.second: sleeps the calling thread to keep to the rate.
class IoThrottle {
 public:
  explicit IoThrottle(double bytes_per_second) : rate_(bytes_per_second) {}
  void account(uint64_t bytes);

 private:
  double rate_;
  std::chrono::steady_clock::time_point window_start_ = std::chrono::steady_clock::now();
  double window_bytes_ = 0;
};

// Runs a pass on the calling thread.
CleanResult clean_log(Env& env, const CleanPlan& plan, OffsetMap& map, IoThrottle& throttle, CleanTicket& ticket);

// At open, before segments are listed: completes a swap that a crash interrupted after its
// commit, and removes `.cleaned` files of passes that never committed.
IoResult<> finish_interrupted_cleaning(Env& env, const std::filesystem::path& dir);

// The cleaner threads (log.cleaner.threads), shared by every shard. Each thread has its own
// map of dedupe_bytes / threads.
class LogCleaner {
 public:
  struct Options {
    int threads = 1;
    size_t dedupe_bytes = 128u << 20;
    double load_factor = 0.9;
    double io_bytes_per_second = 1.7976931348623157e308;
    bool operator==(const Options&) const = default;
  };
  LogCleaner(Env& env, Options options);
  // Cancels what runs and waits for the threads.
  ~LogCleaner();
  LogCleaner(const LogCleaner&) = delete;
  LogCleaner& operator=(const LogCleaner&) = delete;

  // `done` runs on `reply_to` with the result.
  void submit(CleanPlan plan, std::shared_ptr<CleanTicket> ticket, asio::any_io_executor reply_to,
              std::function<void(CleanResult)> done);

  // New options for the passes that start from now on: threads are added at once; surplus
  // threads end after their current pass. False when nothing changed.
  bool reconfigure(Options options);
  int threads() const;

 private:
  struct Job {
    CleanPlan plan;
    std::shared_ptr<CleanTicket> ticket;
    asio::any_io_executor reply_to;
    std::function<void(CleanResult)> done;
  };
  void run();

  Env& env_;
  Options options_;     // GUARDED_BY(mutex_)
  uint64_t generation_ = 0;  // GUARDED_BY(mutex_): bumped by reconfigure
  int alive_ = 0;            // GUARDED_BY(mutex_): threads that have not decided to end
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;  // GUARDED_BY(mutex_)
  std::vector<std::shared_ptr<CleanTicket>> running_;  // GUARDED_BY(mutex_)
  bool stopping_ = false;  // GUARDED_BY(mutex_)
  std::vector<std::thread> threads_;
};

}  // namespace fjord::storage
