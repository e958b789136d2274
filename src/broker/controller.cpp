#include "broker/controller.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "metadata/topic_rules.h"
#include "storage/log_dirs.h"

namespace fjord::broker {

using protocol::ErrorCode;

Controller::Controller(LiveConfig& config, metadata::MetadataStore& store, std::filesystem::path data_dir)
    : config_(config), store_(store), data_dir_(std::move(data_dir)) {
  config_.update(*store_.image());
}

TopicResult Controller::commit(const metadata::Record& record) {
  if (auto r = store_.commit({record}); !r) {
    spdlog::error("metadata commit failed: {}", r.error());
    return fail(ErrorCode::KAFKA_STORAGE_ERROR, r.error());
  }
  return {};
}

tl::expected<int64_t, ErrorCode> Controller::next_producer_id() {
  if (producer_id_next_ >= producer_id_end_) {
    const int64_t start = store_.image()->next_producer_id();
    if (start > INT64_MAX - kProducerIdBlock)
      return tl::unexpected(ErrorCode::UNKNOWN_SERVER_ERROR);  // Kafka's limit too: ids are never reused
    auto r = commit(metadata::ProducerIdsRecord{config_.static_config().node_id(), start + kProducerIdBlock});
    if (!r.ok()) return tl::unexpected(r.error);
    producer_id_next_ = start;
    producer_id_end_ = start + kProducerIdBlock;
  }
  return producer_id_next_++;
}

TopicResult Controller::create_topic(const NewTopic& spec, bool validate_only) {
  if (auto why = metadata::invalid_topic_name(spec.name)) return fail(ErrorCode::INVALID_TOPIC_EXCEPTION, *why);
  auto image = store_.image();
  if (image->find(spec.name) != nullptr)
    return fail(ErrorCode::TOPIC_ALREADY_EXISTS, fmt::format("Topic '{}' already exists.", spec.name));
  std::string key = metadata::collision_key(spec.name);
  for (const auto& [name, topic] : image->topics()) {
    if (metadata::collision_key(name) == key)
      return fail(ErrorCode::INVALID_TOPIC_EXCEPTION,
                  fmt::format("Topic '{}' collides with existing topic: {}", spec.name, name));
  }
  int32_t partitions = spec.partitions == -1 ? config_.get()->get_int("num.partitions") : spec.partitions;
  if (partitions <= 0)
    return fail(ErrorCode::INVALID_PARTITIONS, "Number of partitions was set to an invalid non-positive value.");
  int32_t rf = spec.replication_factor == -1 ? config_.get()->get_int("default.replication.factor") : spec.replication_factor;
  if (rf <= 0)
    return fail(ErrorCode::INVALID_REPLICATION_FACTOR,
                "Replication factor must be larger than 0, or -1 to use the default value.");
  if (rf != 1)
    return fail(ErrorCode::INVALID_REPLICATION_FACTOR,
                fmt::format("Unable to replicate the partition {} time(s): The target replication factor of {} "
                            "cannot be reached because only 1 broker(s) are registered.",
                            rf, rf));
  if (spec.null_config)
    return fail(ErrorCode::INVALID_CONFIG, fmt::format("Null value not supported for topic configs: {}", *spec.null_config));
  if (auto why = metadata::invalid_topic_configs(spec.configs)) return fail(ErrorCode::INVALID_CONFIG, *why);

  auto topic = std::make_shared<metadata::TopicInfo>();
  topic->name = spec.name;
  topic->partitions = partitions;
  topic->configs = spec.configs;
  if (validate_only) return {ErrorCode::NONE, "", topic};
  do {
    topic->id = Uuid::random();
  } while (image->find(topic->id) != nullptr);

  // Directories first: a crash before the commit leaves directories of no topic, which
  // reconcile_partition_dirs() removes at the next start.
  for (int32_t p = 0; p < partitions; ++p) {
    if (auto r = storage::create_partition_dir(data_dir_, topic->name, p, topic->id); !r) {
      spdlog::error("creating topic {}: {}", topic->name, r.error());
      return fail(ErrorCode::KAFKA_STORAGE_ERROR, r.error());
    }
  }
  if (auto r = commit(metadata::TopicRecord{*topic}); !r.ok()) return r;
  spdlog::info("created topic {} (id {}) with {} partition(s)", topic->name, topic->id.to_string(), partitions);
  if (listener_) listener_(*topic, 0, false);
  return {ErrorCode::NONE, "", topic};
}

TopicResult Controller::delete_topic(const metadata::TopicInfo& topic_ref) {
  if (!config_.get()->get_bool("delete.topic.enable"))
    return fail(ErrorCode::TOPIC_DELETION_DISABLED, "Topic deletion is disabled.");
  metadata::TopicInfo topic = topic_ref;  // the image may change under the reference
  if (store_.image()->find(topic.id) == nullptr)
    return fail(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition.");
  // The coordinators live on it: deleting it would lose every group's offsets.
  if (metadata::is_internal_topic(topic.name))
    return fail(ErrorCode::INVALID_REQUEST, fmt::format("Internal topic '{}' cannot be deleted.", topic.name));
  if (auto r = commit(metadata::RemoveTopicRecord{topic.id}); !r.ok()) return r;
  auto marked = storage::mark_partitions_deleted(data_dir_, topic.name, topic.partitions);
  if (!marked) {
    spdlog::warn("deleted topic {} but could not move its directories: {}", topic.name, marked.error());
  } else {
    storage::remove_in_background(std::move(*marked));
  }
  if (listener_) listener_(topic, 0, true);
  spdlog::info("deleted topic {} (id {})", topic.name, topic.id.to_string());
  return {ErrorCode::NONE, "", std::make_shared<const metadata::TopicInfo>(topic)};
}

TopicResult Controller::create_partitions(const std::string& name, int32_t count, bool validate_only) {
  const metadata::TopicInfo* found = store_.image()->find(name);
  if (found == nullptr)
    return fail(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, fmt::format("The topic '{}' does not exist.", name));
  metadata::TopicInfo topic = *found;
  // A group's partition is its hash modulo the count: more partitions would move every group.
  if (metadata::is_internal_topic(name))
    return fail(ErrorCode::INVALID_REQUEST, fmt::format("Internal topic '{}' cannot get more partitions.", name));
  if (count == topic.partitions)
    return fail(ErrorCode::INVALID_PARTITIONS, fmt::format("Topic already has {} partitions.", topic.partitions));
  if (count < topic.partitions)
    return fail(ErrorCode::INVALID_PARTITIONS,
                fmt::format("The topic {} currently has {} partition(s); {} would not be an increase.", name,
                            topic.partitions, count));
  if (validate_only) {
    topic.partitions = count;
    return {ErrorCode::NONE, "", std::make_shared<const metadata::TopicInfo>(topic)};
  }
  for (int32_t p = topic.partitions; p < count; ++p) {
    if (auto r = storage::create_partition_dir(data_dir_, topic.name, p, topic.id); !r)
      return fail(ErrorCode::KAFKA_STORAGE_ERROR, r.error());
  }
  if (auto r = commit(metadata::PartitionCountRecord{topic.id, count}); !r.ok()) return r;
  spdlog::info("topic {} now has {} partition(s)", name, count);
  int32_t first_new = topic.partitions;
  topic.partitions = count;
  if (listener_) listener_(topic, first_new, false);
  return {ErrorCode::NONE, "", std::make_shared<const metadata::TopicInfo>(topic)};
}

TopicResult Controller::set_topic_configs(const std::string& name, const std::map<std::string, std::string>& configs,
                                          bool validate_only) {
  const metadata::TopicInfo* found = store_.image()->find(name);
  if (found == nullptr)
    return fail(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, fmt::format("The topic '{}' does not exist.", name));
  if (auto why = metadata::invalid_topic_configs(configs)) return fail(ErrorCode::INVALID_CONFIG, *why);
  metadata::TopicInfo topic = *found;
  std::vector<metadata::Record> records;
  for (const auto& [key, value] : topic.configs)
    if (!configs.contains(key)) records.push_back(metadata::TopicConfigRecord{topic.id, key, std::nullopt});
  for (const auto& [key, value] : configs) {
    auto it = topic.configs.find(key);
    if (it == topic.configs.end() || it->second != value) records.push_back(metadata::TopicConfigRecord{topic.id, key, value});
  }
  topic.configs = configs;
  if (validate_only || records.empty()) return {ErrorCode::NONE, "", std::make_shared<const metadata::TopicInfo>(topic)};
  if (auto r = store_.commit(records); !r) {
    spdlog::error("metadata commit failed: {}", r.error());
    return fail(ErrorCode::KAFKA_STORAGE_ERROR, r.error());
  }
  spdlog::info("topic {}: {} config change(s)", name, records.size());
  if (listener_) listener_(topic, -1, false);
  return {ErrorCode::NONE, "", std::make_shared<const metadata::TopicInfo>(topic)};
}

TopicResult Controller::set_broker_configs(const std::string& resource, const std::map<std::string, std::string>& configs,
                                           bool validate_only) {
  const std::string node = std::to_string(config_.static_config().node_id());
  if (!resource.empty() && resource != node)
    return fail(ErrorCode::INVALID_REQUEST,
                fmt::format("Unexpected broker id, expected {} or empty string, but received {}", node, resource));
  std::string read_only;
  for (const auto& [key, value] : configs) {
    if (find_broker_config(key) != nullptr && !is_dynamic_broker_config(key))
      read_only += (read_only.empty() ? "" : ", ") + key;
  }
  if (!read_only.empty())
    return fail(ErrorCode::INVALID_REQUEST, fmt::format("Cannot update these configs dynamically: {}", read_only));
  for (const auto& [key, value] : configs) {
    const ConfigDef* def = find_broker_config(key);
    if (def == nullptr) return fail(ErrorCode::INVALID_CONFIG, fmt::format("Unknown broker config: {}", key));
    if (auto why = validate_config_value(*def, value))
      return fail(ErrorCode::INVALID_CONFIG, fmt::format("Invalid value {} for configuration {}: {}", value, key, *why));
  }
  const std::map<std::string, std::string>& current = store_.image()->broker_configs(resource);
  std::vector<metadata::Record> records;
  for (const auto& [key, value] : current)
    if (!configs.contains(key)) records.push_back(metadata::BrokerConfigRecord{resource, key, std::nullopt});
  for (const auto& [key, value] : configs) {
    auto it = current.find(key);
    if (it == current.end() || it->second != value) records.push_back(metadata::BrokerConfigRecord{resource, key, value});
  }
  if (validate_only || records.empty()) return {};
  if (auto r = store_.commit(records); !r) {
    spdlog::error("metadata commit failed: {}", r.error());
    return fail(ErrorCode::KAFKA_STORAGE_ERROR, r.error());
  }
  auto image = store_.image();
  config_.update(*image);
  spdlog::info("broker configs{}: {} change(s)", resource.empty() ? " (cluster-wide default)" : " of node " + resource,
               records.size());
  if (listener_)
    for (const auto& [name, topic] : image->topics()) listener_(*topic, -1, false);
  if (config_listener_) config_listener_(*config_.get());
  return {};
}

void Controller::reconcile_partition_dirs() {
  auto image = store_.image();
  for (const auto& [name, topic] : image->topics()) {
    for (int32_t p = 0; p < topic->partitions; ++p) {
      if (auto r = storage::create_partition_dir(data_dir_, name, p, topic->id); !r)
        spdlog::error("partition directory for {}-{}: {}", name, p, r.error());
    }
  }
  // Directories of topics (or partitions) the metadata does not have: a crash between creating
  // directories and committing, or between committing a delete and renaming.
  for (const auto& dir : storage::list_partition_dirs(data_dir_)) {
    const metadata::TopicInfo* topic = image->find(dir.topic);
    if (topic == nullptr || dir.partition >= topic->partitions) {
      spdlog::warn("removing partition directory {} of no current topic", dir.path.string());
      if (auto marked = storage::mark_dir_deleted(dir.path); !marked) spdlog::error("{}", marked.error());
    }
  }
  storage::remove_in_background(storage::find_deleted_dirs(data_dir_));
}

}  // namespace fjord::broker
