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

#include "base/uuid.h"

namespace fjord::metadata {

struct TopicInfo {
  std::string name;
  Uuid id;
  int32_t partitions = 0;
  std::map<std::string, std::string> configs;  // topic-level overrides only
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
using Record = std::variant<TopicRecord, RemoveTopicRecord, PartitionCountRecord, TopicConfigRecord, BrokerConfigRecord,
                            ProducerIdsRecord>;

class Image {
 public:
  using TopicPtr = std::shared_ptr<const TopicInfo>;

  const TopicInfo* find(std::string_view name) const;
  const TopicInfo* find(const Uuid& id) const;
  const std::map<std::string, TopicPtr, std::less<>>& topics() const { return by_name_; }
  // Dynamic broker configs of `resource` (a node id, or "" for the cluster-wide defaults).
  const std::map<std::string, std::string>& broker_configs(const std::string& resource) const;
  // The first producer id no broker has been given.
  int64_t next_producer_id() const { return next_producer_id_; }

  // A new image with `record` applied. Records that do not fit (an unknown id) change nothing.
  Image apply(const Record& record) const;

 private:
  void put(TopicPtr topic);

  std::map<std::string, TopicPtr, std::less<>> by_name_;
  std::unordered_map<Uuid, TopicPtr, UuidHash> by_id_;
  std::map<std::string, std::map<std::string, std::string>> broker_configs_;
  int64_t next_producer_id_ = 0;
};

}  // namespace fjord::metadata
