#include "storage/log_dirs.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace fjord::storage {
namespace fs = std::filesystem;

namespace {
constexpr std::string_view kDeleteSuffix = "-delete";

void fsync_path(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}
}  // namespace

fs::path partition_dir(const fs::path& data_dir, const std::string& topic, int32_t partition) {
  return data_dir / fmt::format("{}-{}", topic, partition);
}

tl::expected<void, std::string> create_partition_dir(const fs::path& data_dir, const std::string& topic,
                                                     int32_t partition, const Uuid& topic_id) {
  fs::path dir = partition_dir(data_dir, topic, partition);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return tl::unexpected(fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  fs::path meta = dir / "partition.metadata";
  fs::path tmp = dir / "partition.metadata.tmp";
  {
    std::ofstream out(tmp);
    out << "version: 0\ntopic_id: " << topic_id.to_string() << "\n";
    out.flush();
    if (!out) return tl::unexpected("cannot write " + tmp.string());
  }
  fsync_path(tmp);
  fs::rename(tmp, meta, ec);
  if (ec) return tl::unexpected(fmt::format("cannot rename {}: {}", tmp.string(), ec.message()));
  fsync_path(dir);
  return {};
}

tl::expected<fs::path, std::string> mark_dir_deleted(const fs::path& dir) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  // `<name>.<16 hex>-delete` must fit in a file name (255 bytes): shorten the topic part of
  // `<topic>-<partition>` as Kafka does, keeping the partition.
  constexpr size_t kMaxFileName = 255;
  std::string name = dir.filename().string();
  std::string suffix = fmt::format(".{:016x}{}", rng(), kDeleteSuffix);
  if (name.size() + suffix.size() > kMaxFileName) {
    size_t dash = name.rfind('-');
    std::string partition = dash == std::string::npos ? "" : name.substr(dash);
    size_t keep = kMaxFileName - suffix.size() - partition.size();
    name = name.substr(0, std::min(keep, dash == std::string::npos ? name.size() : dash)) + partition;
  }
  fs::path target = dir;
  target.replace_filename(name + suffix);
  std::error_code ec;
  fs::rename(dir, target, ec);
  if (ec) return tl::unexpected(fmt::format("cannot rename {}: {}", dir.string(), ec.message()));
  fsync_path(dir.parent_path());
  return target;
}

tl::expected<std::vector<fs::path>, std::string> mark_partitions_deleted(const fs::path& data_dir,
                                                                        const std::string& topic, int32_t partitions) {
  std::vector<fs::path> marked;
  for (int32_t p = 0; p < partitions; ++p) {
    fs::path dir = partition_dir(data_dir, topic, p);
    std::error_code ec;
    if (!fs::exists(dir, ec)) continue;
    auto target = mark_dir_deleted(dir);
    if (!target) return tl::unexpected(target.error());
    marked.push_back(*target);
  }
  return marked;
}

std::vector<PartitionDir> list_partition_dirs(const fs::path& data_dir) {
  std::vector<PartitionDir> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data_dir, ec)) {
    if (!entry.is_directory()) continue;
    std::string name = entry.path().filename().string();
    size_t dash = name.rfind('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == name.size() || dash + 1 + 9 < name.size()) continue;
    bool digits = true;
    for (size_t i = dash + 1; i < name.size(); ++i) digits = digits && name[i] >= '0' && name[i] <= '9';
    if (!digits) continue;
    out.push_back({name.substr(0, dash), std::stoi(name.substr(dash + 1)), entry.path()});
  }
  return out;
}

std::vector<fs::path> find_deleted_dirs(const fs::path& data_dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.size() > kDeleteSuffix.size() && name.ends_with(kDeleteSuffix))
      out.push_back(entry.path());
  }
  return out;
}

void remove_in_background(std::vector<fs::path> dirs) {
  if (dirs.empty()) return;
  std::thread([dirs = std::move(dirs)] {
    for (const fs::path& d : dirs) {
      std::error_code ec;
      fs::remove_all(d, ec);
      if (ec) spdlog::warn("could not remove deleted partition directory {}: {}", d.string(), ec.message());
    }
  }).detach();
}

}  // namespace fjord::storage
