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
};

class LogManager {
 public:
  LogManager(Env& env, std::filesystem::path data_dir, Syncer& syncer, asio::any_io_executor executor)
      : env_(env), data_dir_(std::move(data_dir)), syncer_(syncer), executor_(std::move(executor)) {}

  // Opens (creating if needed) the log of a partition; a log open for another topic id of the
  // same name (a deleted and re-created topic) is closed first.
  tl::expected<PartitionLog*, std::string> open(const std::string& topic, int32_t partition, const Uuid& topic_id,
                                                const LogConfig& config, const StartupState& startup, int64_t now_ms,
                                                RecoveryReport* report = nullptr);
  // The open log, or nullptr.
  PartitionLog* find(const std::string& topic, int32_t partition, const Uuid& topic_id);
  // Closes the log (its directory is renamed and removed by whoever deletes the topic).
  void forget(const std::string& topic, int32_t partition);

  // Recovery points (durable offsets) and log start offsets of every open log.
  void collect_checkpoints(OffsetCheckpoint& recovery_points, OffsetCheckpoint& log_starts) const;
  // Retention and flush.ms for every log.
  void tick(int64_t now_ms);
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
  std::map<TopicPartition, Entry> logs_;
};

// Reads the checkpoints and the clean-shutdown marker of a data dir, then removes the marker (a
// crash from now on is unclean again).
tl::expected<StartupState, std::string> read_startup_state(Env& env, const std::filesystem::path& data_dir);
// Writes both checkpoints and, when `clean`, the marker.
IoResult<> write_shutdown_state(Env& env, const std::filesystem::path& data_dir, const OffsetCheckpoint& recovery_points,
                                const OffsetCheckpoint& log_starts, bool clean);

}  // namespace fjord::storage
