#include "storage/log_manager.h"

#include <spdlog/spdlog.h>

#include "storage/log_dirs.h"

namespace fjord::storage {
namespace fs = std::filesystem;

tl::expected<PartitionLog*, std::string> LogManager::open(const std::string& topic, int32_t partition,
                                                          const Uuid& topic_id, const LogConfig& config,
                                                          const StartupState& startup, int64_t now_ms,
                                                          RecoveryReport* report) {
  TopicPartition tp{topic, partition};
  if (auto it = logs_.find(tp); it != logs_.end()) {
    if (it->second.topic_id == topic_id) return it->second.log.get();
    logs_.erase(it);
  }
  auto dir_ok = create_partition_dir(data_dir_, topic, partition, topic_id);
  if (!dir_ok) return tl::unexpected(dir_ok.error());
  int64_t recovery_point = 0;
  if (auto it = startup.recovery_points.find(tp); it != startup.recovery_points.end()) recovery_point = it->second;
  int64_t log_start = 0;
  if (auto it = startup.log_start_offsets.find(tp); it != startup.log_start_offsets.end()) log_start = it->second;
  auto log = PartitionLog::open(env_, partition_dir(data_dir_, topic, partition), config, recovery_point, log_start,
                                startup.clean_shutdown, now_ms, &syncer_, executor_, report);
  if (!log) return tl::unexpected(fmt::format("cannot open log {}-{}: {}", topic, partition, log.error().message()));
  PartitionLog* raw = log->get();
  if (auto it = startup.cleaner_offsets.find(tp); it != startup.cleaner_offsets.end())
    raw->set_first_dirty_offset(it->second);
  logs_[tp] = Entry{topic_id, std::move(*log)};
  return raw;
}

PartitionLog* LogManager::find(const std::string& topic, int32_t partition, const Uuid& topic_id) {
  auto it = logs_.find({topic, partition});
  if (it == logs_.end() || it->second.topic_id != topic_id) return nullptr;
  return it->second.log.get();
}

void LogManager::forget(const std::string& topic, int32_t partition) { logs_.erase({topic, partition}); }

Checkpoints LogManager::collect_checkpoints() const {
  Checkpoints out;
  for (const auto& [tp, entry] : logs_) {
    out.recovery_points[tp] = entry.log->durable_offset();
    out.log_starts[tp] = entry.log->log_start_offset();
    if (entry.log->config().compaction.compact) out.cleaner_offsets[tp] = entry.log->first_dirty_offset();
  }
  return out;
}

void LogManager::clean(int64_t now_ms) {
  if (cleaner_ == nullptr) return;
  for (auto& [tp, entry] : logs_) {
    PartitionLog* log = entry.log.get();
    auto plan = log->plan_cleaning(now_ms);
    if (!plan) continue;
    cleaner_->submit(std::move(*plan), log->clean_ticket(), executor_, [log, alive = log->alive()](CleanResult r) {
      if (*alive) log->finish_cleaning(r);
    });
  }
}

void LogManager::tick(int64_t now_ms) {
  for (auto& [tp, entry] : logs_) {
    if (entry.log->offline()) continue;
    entry.log->enforce_retention(now_ms);
    entry.log->expire_producers(now_ms);
    entry.log->maybe_flush(now_ms);
  }
}

bool LogManager::close_all() {
  bool ok = true;
  for (auto& [tp, entry] : logs_) {
    if (entry.log->offline()) {
      ok = false;
      continue;
    }
    if (auto r = entry.log->close(); !r) {
      spdlog::error("closing log {}-{}: {}", tp.first, tp.second, r.error().message());
      ok = false;
    }
  }
  return ok;
}

tl::expected<StartupState, std::string> read_startup_state(Env& env, const fs::path& data_dir) {
  StartupState state;
  std::error_code ec;
  fs::path marker = data_dir / kCleanShutdownMarker;
  state.clean_shutdown = fs::exists(marker, ec);
  // Losing the cleaner's progress costs only a pass over clean data.
  if (auto cleaner = read_checkpoint(data_dir / kCleanerCheckpoint); cleaner)
    state.cleaner_offsets = std::move(*cleaner);
  else
    spdlog::warn("{}; compaction starts over", cleaner.error());
  auto rp = read_checkpoint(data_dir / kRecoveryPointCheckpoint);
  auto ls = read_checkpoint(data_dir / kLogStartCheckpoint);
  if (!rp || !ls) {
    // Distrust everything: scan every segment from the start.
    spdlog::warn("{}; recovering every log from its first segment", !rp ? rp.error() : ls.error());
    state.clean_shutdown = false;
  } else {
    state.recovery_points = std::move(*rp);
    state.log_start_offsets = std::move(*ls);
  }
  if (state.clean_shutdown) {
    fs::remove(marker, ec);
    if (ec) return tl::unexpected(fmt::format("cannot remove {}: {}", marker.string(), ec.message()));
    if (auto r = env.sync_dir(data_dir); !r) return tl::unexpected(r.error().message());
  }
  return state;
}

IoResult<> write_shutdown_state(Env& env, const fs::path& data_dir, const Checkpoints& checkpoints, bool clean) {
  if (auto r = write_checkpoint(env, data_dir / kRecoveryPointCheckpoint, checkpoints.recovery_points); !r) return r;
  if (auto r = write_checkpoint(env, data_dir / kLogStartCheckpoint, checkpoints.log_starts); !r) return r;
  if (auto r = write_checkpoint(env, data_dir / kCleanerCheckpoint, checkpoints.cleaner_offsets); !r) return r;
  if (!clean) return {};
  auto f = env.open(data_dir / kCleanShutdownMarker, true);
  if (!f) return tl::unexpected(f.error());
  if (auto r = (*f)->sync(); !r) return r;
  return env.sync_dir(data_dir);
}

}  // namespace fjord::storage
