// Controller: the only writer of cluster metadata. Lives on shard 0 (the controller shard); every
// call must run there (use run_on). Creates and removes partition directories to match.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "base/config.h"
#include "broker/live_config.h"
#include "metadata/store.h"
#include "protocol/generated/error_codes.h"
#include "tl/expected.hpp"

namespace fjord::broker {

struct TopicResult {
  protocol::ErrorCode error = protocol::ErrorCode::NONE;
  std::string message;
  std::shared_ptr<const metadata::TopicInfo> topic;  // the topic as created / changed

  bool ok() const { return error == protocol::ErrorCode::NONE; }
};

struct NewTopic {
  std::string name;
  int32_t partitions = -1;          // -1: num.partitions
  int16_t replication_factor = -1;  // -1: default.replication.factor
  std::map<std::string, std::string> configs;
  std::optional<std::string> null_config;  // name of a config sent with a null value
};

class Controller {
 public:
  // Brings `config` up to the image's dynamic broker configs.
  Controller(LiveConfig& config, metadata::MetadataStore& store, std::filesystem::path data_dir);

  TopicResult create_topic(const NewTopic& spec, bool validate_only);
  TopicResult delete_topic(const metadata::TopicInfo& topic);
  TopicResult create_partitions(const std::string& name, int32_t count, bool validate_only);
  // Replaces the topic's config overrides with `configs` (validated first).
  TopicResult set_topic_configs(const std::string& name, const std::map<std::string, std::string>& configs,
                                bool validate_only);

  // Replaces the dynamic broker configs of `resource` (this node's id, or "" for the cluster-wide
  // defaults) with `configs` (validated first: INVALID_REQUEST for another broker or a key that
  // cannot change without a restart, INVALID_CONFIG for an unknown key or a bad value). Then
  // reconfigures every topic's logs through the topic listener and calls the config listener.
  TopicResult set_broker_configs(const std::string& resource, const std::map<std::string, std::string>& configs,
                                 bool validate_only);

  // Called after the live configuration changed (dynamic broker configs).
  using ConfigListener = std::function<void(const BrokerConfig&)>;
  void set_config_listener(ConfigListener listener) { config_listener_ = std::move(listener); }

  // Called after a topic is created (first_new_partition 0), grows (its first new partition),
  // changes its configs (first_new_partition -1), or is deleted (deleted = true), so the owning
  // shards can open, reconfigure or close the logs.
  using TopicListener = std::function<void(const metadata::TopicInfo&, int32_t first_new_partition, bool deleted)>;
  void set_topic_listener(TopicListener listener) { listener_ = std::move(listener); }

  // A producer id no producer has had (InitProducerId). Ids are taken from the metadata log in
  // blocks of kProducerIdBlock, so a restart never hands one out twice (Kafka's scheme).
  static constexpr int64_t kProducerIdBlock = 1000;
  tl::expected<int64_t, protocol::ErrorCode> next_producer_id();

  // Makes sure every topic in the image has its partition directories (after a crash between
  // the metadata commit and the mkdir) and removes leftovers of deleted partitions.
  void reconcile_partition_dirs();

 private:
  TopicResult fail(protocol::ErrorCode code, std::string message) const { return {code, std::move(message), nullptr}; }
  TopicResult commit(const metadata::Record& record);

  LiveConfig& config_;
  metadata::MetadataStore& store_;
  std::filesystem::path data_dir_;
  TopicListener listener_;
  ConfigListener config_listener_;
  int64_t producer_id_next_ = 0;  // the block being handed out: [next, end)
  int64_t producer_id_end_ = 0;
};

}  // namespace fjord::broker
