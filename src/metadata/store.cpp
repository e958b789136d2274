#include "metadata/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>

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
  store->node_id_ = node_id;
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

tl::expected<std::unique_ptr<MetadataStore>, std::string> MetadataStore::open_quorum(const std::string& data_dir,
                                                                                       RaftQuorum::Options options,
                                                                                       Listener listener) {
  std::unique_ptr<MetadataStore> store(new MetadataStore());
  store->node_id_ = options.node_id;
  store->listener_ = std::move(listener);
  auto cluster_id = load_or_create_cluster_id(data_dir, options.node_id);
  if (!cluster_id) return tl::unexpected(cluster_id.error());
  store->cluster_id_ = *cluster_id;
  store->image_.store(std::make_shared<const Image>());
  options.dir = (fs::path(data_dir) / "__fjord_metadata" / "raft").string();
  auto quorum = RaftQuorum::start(std::move(options), *store);
  if (!quorum) return tl::unexpected(quorum.error());
  store->quorum_ = std::move(*quorum);
  return store;
}

MetadataStore::~MetadataStore() {
  quorum_.reset();  // stops the quorum thread before the state it applies to goes
}

std::string MetadataStore::cluster_id() const {
  auto img = image();
  return img->cluster_id().empty() ? cluster_id_ : img->cluster_id();
}

void MetadataStore::publish(Image next) {
  auto after = std::make_shared<const Image>(std::move(next));
  auto before = image_.exchange(after, std::memory_order_acq_rel);
  if (listener_) listener_(std::move(before), std::move(after));
}

void MetadataStore::apply(const std::vector<Record>& records) { publish(image_.load(std::memory_order_acquire)->apply(records)); }

Bytes MetadataStore::snapshot() { return encode_entry(image_.load(std::memory_order_acquire)->to_records()); }

tl::expected<void, std::string> MetadataStore::restore(ByteView bytes) {
  auto records = decode_entry(bytes);
  if (!records) return tl::unexpected(records.error());
  publish(Image().apply(*records));
  return {};
}

tl::expected<void, std::string> MetadataStore::commit(const std::vector<Record>& records) {
  if (quorum_) {
    auto result = std::make_shared<std::promise<std::string>>();
    auto done = result->get_future();
    quorum_->propose(records, [result](std::string error) { result->set_value(std::move(error)); });
    if (done.wait_for(kCommitTimeout) != std::future_status::ready)
      return tl::unexpected(std::string("the metadata quorum did not commit in time"));
    std::string error = done.get();
    if (!error.empty()) return tl::unexpected(error);
    return {};
  }
  if (auto r = log_.append(records); !r) return r;
  publish(image_.load(std::memory_order_acquire)->apply(records));
  return {};
}

}  // namespace fjord::metadata
