// Offset checkpoint files in Kafka's text format (recovery-point-offset-checkpoint,
// log-start-offset-checkpoint): a version line `0`, a count line, then `topic partition offset`
// per line. Written to a temp file, synced and renamed, so a crash leaves the old or the new.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>

#include "storage/file.h"

namespace fjord::storage {

using TopicPartition = std::pair<std::string, int32_t>;
using OffsetCheckpoint = std::map<TopicPartition, int64_t>;

inline constexpr const char* kRecoveryPointCheckpoint = "recovery-point-offset-checkpoint";
inline constexpr const char* kLogStartCheckpoint = "log-start-offset-checkpoint";
inline constexpr const char* kCleanerCheckpoint = "cleaner-offset-checkpoint";
inline constexpr const char* kCleanShutdownMarker = ".kafka_cleanshutdown";

IoResult<> write_checkpoint(Env& env, const std::filesystem::path& path, const OffsetCheckpoint& entries);
// A missing file is empty; a malformed one is an error (the caller then distrusts it and
// recovers everything, as Kafka does).
tl::expected<OffsetCheckpoint, std::string> read_checkpoint(const std::filesystem::path& path);

// The stable shard of a partition: every process with the same shard count agrees.
int shard_of(const std::string& topic, int32_t partition, int shard_count);

}  // namespace fjord::storage
