// The leader epoch cache of one partition (Kafka's leader-epoch-checkpoint): for every leader
// epoch that appended to the log, the first offset it wrote. A follower that follows a new leader
// asks it where its own last epoch ended (OffsetForLeaderEpoch) and cuts what diverged; a leader
// answers from here. Kept in memory and in `<partition dir>/leader-epoch-checkpoint` (Kafka's
// text format: `0`, the count, then `epoch start_offset` per line), rewritten (synced and renamed)
// on every change. Changes are rare: one per new leader epoch that writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "storage/file.h"

namespace fjord::storage {

inline constexpr const char* kLeaderEpochCheckpoint = "leader-epoch-checkpoint";

struct EpochEntry {
  int32_t epoch = -1;
  int64_t start_offset = -1;
  bool operator==(const EpochEntry&) const = default;
};

class LeaderEpochCache {
 public:
  // Reads `<dir>/leader-epoch-checkpoint` (missing: empty). A malformed file is an error.
  static tl::expected<LeaderEpochCache, std::string> load(Env& env, const std::filesystem::path& dir);

  // Records that `epoch` starts at `offset`, if it is newer than the latest epoch. An entry at or
  // after `offset` of an older epoch goes (it wrote nothing that survived).
  IoResult<> assign(int32_t epoch, int64_t offset);
  // Drops the entries starting at or after `offset` (the log was truncated to end there).
  IoResult<> truncate_from_end(int64_t offset);
  // The log now starts at `offset`: entries wholly below it go, the one holding it starts there.
  IoResult<> truncate_from_start(int64_t offset);

  int32_t latest_epoch() const { return entries_.empty() ? -1 : entries_.back().epoch; }
  // Kafka's OffsetForLeaderEpoch answer for `epoch` given the log end offset: the largest epoch
  // <= `epoch` and where it ended (the next epoch's start, or the log end for the latest);
  // {-1, -1} when `epoch` is newer than every known one (or -1).
  std::pair<int32_t, int64_t> end_offset_for(int32_t epoch, int64_t log_end_offset) const;
  const std::vector<EpochEntry>& entries() const { return entries_; }

 private:
  IoResult<> save();
  Env* env_ = nullptr;
  std::filesystem::path path_;
  std::vector<EpochEntry> entries_;  // epochs and offsets increasing
};

}  // namespace fjord::storage
