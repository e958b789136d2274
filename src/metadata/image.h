// The cluster metadata as an immutable snapshot. Built by applying metadata records in order;
// replaced as a whole (readers on every shard hold a shared_ptr<const Image>).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "base/uuid.h"

namespace fjord::metadata {

// Where a partition lives (Kafka's PartitionRecord): its replicas, the in-sync ones, the leader
// (-1: none, the partition is offline) and the epochs that change with leader and ISR.
struct PartitionState {
  std::vector<int32_t> replicas;
  std::vector<int32_t> isr;
  int32_t leader = -1;
  int32_t leader_epoch = 0;
  int32_t partition_epoch = 0;
  // A reassignment in progress (Kafka's addingReplicas / removingReplicas): `replicas` holds the
  // target replicas followed by the ones to remove; those to add are in it too.
  std::vector<int32_t> adding;
  std::vector<int32_t> removing;
  bool reassigning() const { return !adding.empty() || !removing.empty(); }
  bool operator==(const PartitionState&) const = default;
};

struct TopicInfo {
  std::string name;
  Uuid id;
  int32_t partitions = 0;
  std::map<std::string, std::string> configs;  // topic-level overrides only
  // One per partition, from PartitionRecords. Shorter than `partitions` only for topics made by a
  // single-node Fjord before it wrote them: those partitions live on the node that has them.
  std::vector<PartitionState> assignment;

  const PartitionState* partition(int32_t p) const {
    return p >= 0 && static_cast<size_t>(p) < assignment.size() ? &assignment[static_cast<size_t>(p)] : nullptr;
  }
};

// A registered broker (Kafka's RegisterBrokerRecord), reachable at host:port by clients.
struct BrokerInfo {
  int32_t id = -1;
  Uuid incarnation;  // new at every start of the broker process
  std::string host;
  int32_t port = 0;
  std::optional<std::string> rack;
  bool fenced = true;  // fenced brokers lead nothing and are left out of Metadata responses
  int64_t epoch = 0;   // of this registration (Kafka's broker epoch): heartbeats must carry it
  bool operator==(const BrokerInfo&) const = default;
};

// Metadata records: the metadata log is a sequence of these.
struct TopicRecord {
  TopicInfo topic;
  bool operator==(const TopicRecord& o) const {
    return topic.name == o.topic.name && topic.id == o.topic.id && topic.partitions == o.topic.partitions &&
           topic.configs == o.topic.configs;
  }
};
struct RemoveTopicRecord {
  Uuid id;
  bool operator==(const RemoveTopicRecord&) const = default;
};
struct PartitionCountRecord {
  Uuid id;
  int32_t partitions = 0;
  bool operator==(const PartitionCountRecord&) const = default;
};
struct TopicConfigRecord {
  Uuid id;
  std::string key;
  std::optional<std::string> value;  // nullopt removes the override
  bool operator==(const TopicConfigRecord&) const = default;
};
// A dynamic broker config (Kafka's ConfigRecord for a BROKER resource): `resource` is a node id
// ("1") for one broker, or empty for the cluster-wide default.
struct BrokerConfigRecord {
  std::string resource;
  std::string key;
  std::optional<std::string> value;  // nullopt removes it
  bool operator==(const BrokerConfigRecord&) const = default;
};
// A block of producer ids handed to a broker (Kafka's ProducerIdsRecord): every id below
// `next_producer_id` is taken. Replayed, it keeps ids unique across restarts.
struct ProducerIdsRecord {
  int32_t broker_id = -1;
  int64_t next_producer_id = 0;
  bool operator==(const ProducerIdsRecord&) const = default;
};
struct RegisterBrokerRecord {
  BrokerInfo broker;
  bool operator==(const RegisterBrokerRecord&) const = default;
};
// Fences or unfences a registered broker (Kafka's BrokerRegistrationChangeRecord).
struct BrokerFenceRecord {
  int32_t broker_id = -1;
  bool fenced = true;
  bool operator==(const BrokerFenceRecord&) const = default;
};
// The whole state of one partition, for a new partition or a change of leader, ISR or replicas.
struct PartitionRecord {
  Uuid topic_id;
  int32_t partition = 0;
  PartitionState state;
  bool operator==(const PartitionRecord&) const = default;
};
// The cluster's id, written once by the first controller of a quorum.
struct ClusterRecord {
  std::string cluster_id;
  bool operator==(const ClusterRecord&) const = default;
};
using Record = std::variant<TopicRecord, RemoveTopicRecord, PartitionCountRecord, TopicConfigRecord, BrokerConfigRecord,
                            ProducerIdsRecord, RegisterBrokerRecord, BrokerFenceRecord, PartitionRecord, ClusterRecord>;

class Image {
 public:
  using TopicPtr = std::shared_ptr<const TopicInfo>;

  const TopicInfo* find(std::string_view name) const;
  const TopicInfo* find(const Uuid& id) const;
  // The same, as an owning handle: it keeps the topic alive after the image is gone.
  TopicPtr find_shared(std::string_view name) const;
  TopicPtr find_shared(const Uuid& id) const;
  const std::map<std::string, TopicPtr, std::less<>>& topics() const { return by_name_; }
  // Dynamic broker configs of `resource` (a node id, or "" for the cluster-wide defaults).
  const std::map<std::string, std::string>& broker_configs(const std::string& resource) const;
  // The first producer id no broker has been given.
  int64_t next_producer_id() const { return next_producer_id_; }

  const std::map<int32_t, BrokerInfo>& brokers() const { return brokers_; }
  const BrokerInfo* broker(int32_t id) const {
    auto it = brokers_.find(id);
    return it == brokers_.end() ? nullptr : &it->second;
  }
  // Empty until a ClusterRecord (cluster mode only).
  const std::string& cluster_id() const { return cluster_id_; }

  // A new image with `record` (or every one of `records`, in order) applied. Records that do not
  // fit (an unknown id) change nothing.
  Image apply(const Record& record) const;
  Image apply(const std::vector<Record>& records) const;

  // Records that rebuild this image from an empty one (a Raft snapshot).
  std::vector<Record> to_records() const;

 private:
  void put(TopicPtr topic);
  void mutate(const Record& record, std::map<Uuid, std::shared_ptr<TopicInfo>>& copies);

  std::map<std::string, TopicPtr, std::less<>> by_name_;
  std::unordered_map<Uuid, TopicPtr, UuidHash> by_id_;
  std::map<std::string, std::map<std::string, std::string>> broker_configs_;
  int64_t next_producer_id_ = 0;
  std::map<int32_t, BrokerInfo> brokers_;
  std::string cluster_id_;
};

// The image as readers get it from the store. What they find in it (a TopicInfo*, a broker, a
// map of configs) lives only as long as the image does, and a newer image may be published by
// another thread at any moment, freeing the old one when its last holder lets go. So a
// temporary cannot be dereferenced: `store.image()->find(name)` does not compile (the pointer
// it returned would dangle at the end of the statement); hold the image in a variable for as
// long as what was found in it is used.
class ImageRef : public std::shared_ptr<const Image> {
 public:
  ImageRef() = default;
  ImageRef(std::shared_ptr<const Image> image) : std::shared_ptr<const Image>(std::move(image)) {}  // NOLINT

  const Image* operator->() const& noexcept { return get(); }
  const Image& operator*() const& noexcept { return *get(); }
  const Image* operator->() const&& = delete;
  const Image& operator*() const&& = delete;
};

}  // namespace fjord::metadata
