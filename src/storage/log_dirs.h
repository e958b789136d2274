// Partition directories in Kafka's layout: `<data dir>/<topic>-<partition>/`, each with a
// `partition.metadata` file naming the topic id. Deleted partitions are renamed to
// `<topic>-<partition>.<random>-delete` first and removed in the background, as Kafka does.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/uuid.h"
#include "tl/expected.hpp"

namespace fjord::storage {

std::filesystem::path partition_dir(const std::filesystem::path& data_dir, const std::string& topic, int32_t partition);

// Creates the directory if needed and (re)writes its partition.metadata.
tl::expected<void, std::string> create_partition_dir(const std::filesystem::path& data_dir, const std::string& topic,
                                                     int32_t partition, const Uuid& topic_id);

// Renames one directory to `<name>.<random>-delete`; returns the new path.
tl::expected<std::filesystem::path, std::string> mark_dir_deleted(const std::filesystem::path& dir);

// Renames the partitions' directories out of the way; returns the new paths to remove later.
tl::expected<std::vector<std::filesystem::path>, std::string> mark_partitions_deleted(
    const std::filesystem::path& data_dir, const std::string& topic, int32_t partitions);

struct PartitionDir {
  std::string topic;
  int32_t partition = 0;
  std::filesystem::path path;
};
// Every `<topic>-<partition>` directory in the data dir.
std::vector<PartitionDir> list_partition_dirs(const std::filesystem::path& data_dir);

// Directories marked for deletion (left over from a previous run, or just marked).
std::vector<std::filesystem::path> find_deleted_dirs(const std::filesystem::path& data_dir);

// Removes the given directories on a background thread.
void remove_in_background(std::vector<std::filesystem::path> dirs);

}  // namespace fjord::storage
