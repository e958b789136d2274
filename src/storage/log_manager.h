// LogManager: the partition logs of one shard. Lives on that shard; every call is made there.
// Logs are opened at start (with recovery after an unclean stop) or on first use, and closed
// when their topic is deleted.
#pragma once

#include <asio/any_io_executor.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/uuid.h"
#include "storage/checkpoint.h"
#include "storage/partition_log.h"

namespace fjord::storage {

struct StartupState {
  bool clean_shutdown = false;
  OffsetCheckpoint recovery_points;
  OffsetCheckpoint log_start_offsets;
  OffsetCheckpoint cleaner_offsets;  // where each compacted log's dirty part starts
};

// What the checkpoint files record of every open log.
struct Checkpoints {
  OffsetCheckpoint recovery_points;
  OffsetCheckpoint log_starts;
  OffsetCheckpoint cleaner_offsets;
  void merge(Checkpoints& other) {
    recovery_points.merge(other.recovery_points);
    log_starts.merge(other.log_starts);
    cleaner_offsets.merge(other.cleaner_offsets);
  }
};

class LogManager {
 public:
  // `cleaner`: where compaction passes run; nullptr: no compaction (log.cleaner.enable=false).
  LogManager(Env& env, std::filesystem::path data_dir, Syncer& syncer, asio::any_io_executor executor,
             LogCleaner* cleaner = nullptr)
      : env_(env), data_dir_(std::move(data_dir)), syncer_(syncer), executor_(std::move(executor)), cleaner_(cleaner) {}

  // Opens (creating if needed) the log of a partition; a log open for another topic id of the
  // same name (a deleted and re-created topic) is closed first.
  tl::expected<PartitionLog*, std::string> open(const std::string& topic, int32_t partition, const Uuid& topic_id,
                                                const LogConfig& config, const StartupState& startup, int64_t now_ms,
                                                RecoveryReport* report = nullptr);
  // The open log, or nullptr.
  PartitionLog* find(const std::string& topic, int32_t partition, const Uuid& topic_id);
  // Closes the log (its directory is renamed and removed by whoever deletes the topic).
  void forget(const std::string& topic, int32_t partition);

  // Recovery points (durable offsets), log start offsets and (compacted logs) cleaner offsets of
  // every open log.
  Checkpoints collect_checkpoints() const;
  // Retention and flush.ms for every log.
  void tick(int64_t now_ms);
  // Starts a compaction pass for every compacted log that is due one (log.cleaner.backoff.ms).
  void clean(int64_t now_ms);
  // Flushes and closes every log (clean shutdown). Returns false if any failed.
  bool close_all();
  size_t size() const { return logs_.size(); }
  template <typename Fn>
  void for_each(Fn&& fn) {
    for (auto& [tp, entry] : logs_) fn(tp, *entry.log);
  }

 private:
  struct Entry {
    Uuid topic_id;
    std::unique_ptr<PartitionLog> log;
  };
  Env& env_;
  std::filesystem::path data_dir_;
  Syncer& syncer_;
  asio::any_io_executor executor_;
  LogCleaner* cleaner_;
  std::map<TopicPartition, Entry> logs_;
};

// Reads the checkpoints and the clean-shutdown marker of a data dir, then removes the marker (a
// crash from now on is unclean again).
tl::expected<StartupState, std::string> read_startup_state(Env& env, const std::filesystem::path& data_dir);
// Writes the checkpoints and, when `clean`, the marker.
IoResult<> write_shutdown_state(Env& env, const std::filesystem::path& data_dir, const Checkpoints& checkpoints,
                                bool clean);

}  // namespace fjord::storage
