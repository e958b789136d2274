// MetadataStore: the metadata log plus the current image. On a single node the log is a local file;
// in a cluster it is the controller quorum (Raft). Mutations run on the controller thread; the
// current image can be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "metadata/image.h"
#include "metadata/metadata_log.h"
#include "metadata/quorum.h"
#include "tl/expected.hpp"

namespace fjord::metadata {

class MetadataStore : private StateMachine {
 public:
  // Opens `<data_dir>/__fjord_metadata/metadata.log`, replaying it into the image. The cluster id
  // comes from `<data_dir>/meta.properties` (written on first start, as Kafka does).
  static tl::expected<std::unique_ptr<MetadataStore>, std::string> open(const std::string& data_dir, int32_t node_id);
  // Cluster mode: joins the controller quorum, whose files live in `<data_dir>/__fjord_metadata/raft`
  // (options.dir is set here). The image starts empty and fills as the quorum replays.
  using Listener = std::function<void(std::shared_ptr<const Image> before, std::shared_ptr<const Image> after)>;
  static tl::expected<std::unique_ptr<MetadataStore>, std::string> open_quorum(const std::string& data_dir,
                                                                              RaftQuorum::Options options,
                                                                              Listener listener);
  ~MetadataStore() override;

  // The current image; hold it for as long as anything found in it is used (see ImageRef).
  ImageRef image() const { return image_.load(std::memory_order_acquire); }
  // A topic of the current image, held by the caller (nullptr: no such topic): safe to use after
  // newer images are published.
  Image::TopicPtr topic(std::string_view name) const { return image_.load(std::memory_order_acquire)->find_shared(name); }
  Image::TopicPtr topic(const Uuid& id) const { return image_.load(std::memory_order_acquire)->find_shared(id); }
  // The quorum's cluster id once it has one; until then (and on a single node) meta.properties'.
  std::string cluster_id() const;
  uint64_t replayed_records() const { return replayed_; }
  uint64_t truncated_bytes() const { return truncated_; }

  // Stops the quorum (its thread applies nothing after this returns). Nothing on a single node.
  void stop() { quorum_.reset(); }

  // Null on a single node.
  RaftQuorum* quorum() const { return quorum_.get(); }
  // True when this node may write metadata now: always on a single node; in a cluster, when it
  // leads the quorum and has caught up.
  bool can_commit() const { return !quorum_ || quorum_->leader_ready(); }
  // The node that writes metadata (Metadata's controller id): this node on a single node, the
  // quorum's leader in a cluster (-1 while there is none).
  int32_t controller_id() const { return quorum_ ? quorum_->leader() : node_id_; }

  // Makes `records` durable (on a quorum majority in a cluster), then publishes the image with
  // them applied. Blocks until then (at most commit_timeout in a cluster).
  // REQUIRES: called on the controller thread only.
  tl::expected<void, std::string> commit(const std::vector<Record>& records);
  static constexpr std::chrono::milliseconds kCommitTimeout{10000};

  // Called after every change of the image, with the images before and after, on the thread that
  // applied it (the committing thread on a single node, the quorum's thread in a cluster). A
  // cluster's store takes it in open_quorum, before the quorum starts replaying.
  void set_listener(Listener listener) { listener_ = std::move(listener); }

 private:
  MetadataStore() = default;
  void publish(Image next);
  // StateMachine (cluster mode; on the quorum's thread).
  void apply(const std::vector<Record>& records) override;
  Bytes snapshot() override;
  tl::expected<void, std::string> restore(ByteView snapshot) override;

  int32_t node_id_ = -1;
  Listener listener_;
  std::unique_ptr<RaftQuorum> quorum_;
  MetadataLog log_;
  std::atomic<std::shared_ptr<const Image>> image_;
  std::string cluster_id_;
  uint64_t replayed_ = 0;
  uint64_t truncated_ = 0;
};

}  // namespace fjord::metadata
