#include "metadata/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "base/properties.h"

namespace fjord::metadata {
namespace fs = std::filesystem;

namespace {

// meta.properties in Kafka's format: version, node.id, cluster.id.
tl::expected<std::string, std::string> load_or_create_cluster_id(const fs::path& data_dir, int32_t node_id) {
  fs::path path = data_dir / "meta.properties";
  std::error_code ec;
  if (fs::exists(path, ec)) {
    auto props = load_properties_file(path.string());
    if (!props) return tl::unexpected(props.error());
    auto it = props->find("cluster.id");
    if (it == props->end() || it->second.empty()) return tl::unexpected(path.string() + ": no cluster.id");
    auto node = props->find("node.id");
    if (node != props->end() && node->second != std::to_string(node_id))
      return tl::unexpected(fmt::format("{}: node.id {} does not match the configured node.id {}", path.string(),
                                        node->second, node_id));
    return it->second;
  }
  std::string cluster_id = Uuid::random().to_string();
  fs::path tmp = data_dir / "meta.properties.tmp";
  {
    std::ofstream out(tmp);
    out << "#\n#Written by Fjord\nnode.id=" << node_id << "\nversion=1\ncluster.id=" << cluster_id << "\n";
    out.flush();
    if (!out) return tl::unexpected("cannot write " + tmp.string());
  }
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  fs::rename(tmp, path, ec);
  if (ec) return tl::unexpected(fmt::format("cannot rename {}: {}", tmp.string(), ec.message()));
  return cluster_id;
}

}  // namespace

tl::expected<std::unique_ptr<MetadataStore>, std::string> MetadataStore::open(const std::string& data_dir,
                                                                                int32_t node_id) {
  std::unique_ptr<MetadataStore> store(new MetadataStore());
  auto cluster_id = load_or_create_cluster_id(data_dir, node_id);
  if (!cluster_id) return tl::unexpected(cluster_id.error());
  store->cluster_id_ = *cluster_id;

  fs::path dir = fs::path(data_dir) / "__fjord_metadata";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return tl::unexpected(fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  auto opened = MetadataLog::open((dir / "metadata.log").string());
  if (!opened) return tl::unexpected(opened.error());
  store->log_ = std::move(opened->first);
  Image image;
  for (const Record& r : opened->second.records) image = image.apply(r);
  store->replayed_ = opened->second.records.size();
  store->truncated_ = opened->second.truncated_bytes;
  store->image_.store(std::make_shared<const Image>(std::move(image)));
  return store;
}

tl::expected<void, std::string> MetadataStore::commit(const std::vector<Record>& records) {
  if (auto r = log_.append(records); !r) return r;
  Image next = *image();
  for (const Record& r : records) next = next.apply(r);
  image_.store(std::make_shared<const Image>(std::move(next)), std::memory_order_release);
  return {};
}

}  // namespace fjord::metadata
