#include "broker/controller.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "metadata/topic_rules.h"
#include "storage/log_dirs.h"

namespace fjord::broker {

using protocol::ErrorCode;

bool hosts(const metadata::TopicInfo& topic, int32_t partition, int32_t node) {
  const metadata::PartitionState* state = topic.partition(partition);
  if (state == nullptr) return partition >= 0 && partition < topic.partitions;
  return std::find(state->replicas.begin(), state->replicas.end(), node) != state->replicas.end();
}

bool is_replicated(const metadata::TopicInfo& topic, int32_t partition) {
  const metadata::PartitionState* state = topic.partition(partition);
  return state != nullptr && state->replicas.size() > 1;
}

int32_t leader_of(const metadata::TopicInfo& topic, int32_t partition, int32_t node) {
  const metadata::PartitionState* state = topic.partition(partition);
  if (state == nullptr) return partition >= 0 && partition < topic.partitions ? node : -1;
  return state->leader;
}

Controller::Controller(LiveConfig& config, metadata::MetadataStore& store, std::filesystem::path data_dir)
    : config_(config), store_(store), data_dir_(std::move(data_dir)) {
  auto image = store_.image();
  config_.update(*image);
}

TopicResult Controller::commit(const metadata::Record& record) { return commit(std::vector<metadata::Record>{record}); }

TopicResult Controller::commit(const std::vector<metadata::Record>& records) {
  if (!store_.can_commit()) return not_controller();
  if (auto r = store_.commit(records); !r) {
    spdlog::error("metadata commit failed: {}", r.error());
    // In a cluster a failed commit means the quorum moved on without this node.
    if (store_.quorum()) return fail(ErrorCode::NOT_CONTROLLER, r.error());
    return fail(ErrorCode::KAFKA_STORAGE_ERROR, r.error());
  }
  return {};
}

TopicResult Controller::not_controller() const {
  int32_t leader = store_.controller_id();
  return fail(ErrorCode::NOT_CONTROLLER,
              leader < 0 ? std::string("The metadata quorum has no leader now.")
                         : fmt::format("This is not the active controller: node {} is.", leader));
}

std::vector<cluster::BrokerSlot> Controller::usable_brokers(const metadata::Image& image) const {
  std::vector<cluster::BrokerSlot> out;
  if (!store_.quorum()) {
    out.push_back({config_.static_config().node_id(), config_.static_config().get("broker.rack")});
    return out;
  }
  for (const auto& [id, b] : image.brokers())
    if (!b.fenced) out.push_back({id, b.rack});
  return out;
}

std::vector<metadata::Record> Controller::new_partitions(const metadata::Image& image, const Uuid& topic_id,
                                                         int32_t first, int32_t count, int32_t rf) {
  std::vector<metadata::Record> records;
  auto brokers = usable_brokers(image);
  for (auto& replicas : cluster::assign_replicas(brokers, first, count, rf, placement_start_)) {
    metadata::PartitionState state;
    state.isr = replicas;
    state.leader = replicas.front();
    state.replicas = std::move(replicas);
    records.push_back(metadata::PartitionRecord{topic_id, first++, std::move(state)});
  }
  return records;
}

tl::expected<int64_t, ErrorCode> Controller::allocate_producer_ids(int32_t broker_id) {
  auto image = store_.image();
  const int64_t start = image->next_producer_id();
  if (start > INT64_MAX - kProducerIdBlock)
    return tl::unexpected(ErrorCode::UNKNOWN_SERVER_ERROR);  // Kafka's limit too: ids are never reused
  if (auto r = commit(metadata::ProducerIdsRecord{broker_id, start + kProducerIdBlock}); !r.ok())
    return tl::unexpected(r.error);
  return start;
}

std::optional<int64_t> Controller::take_producer_id() {
  if (producer_id_next_ >= producer_id_end_) return std::nullopt;
  return producer_id_next_++;
}

void Controller::add_producer_id_block(int64_t start, int64_t count) {
  producer_id_next_ = start;
  producer_id_end_ = start + count;
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
  if (!validate_only && !store_.can_commit()) return not_controller();
  const size_t usable = usable_brokers(*image).size();
  // Kafka's rule for the internal topics: their replication factor is capped by the brokers
  // there are (a young cluster, or a single node).
  if (metadata::is_internal_topic(spec.name) && static_cast<size_t>(rf) > usable && usable > 0)
    rf = static_cast<int32_t>(usable);
  if (static_cast<size_t>(rf) > usable)
    return fail(ErrorCode::INVALID_REPLICATION_FACTOR,
                fmt::format("Unable to replicate the partition {} time(s): The target replication factor of {} "
                            "cannot be reached because only {} broker(s) are registered.",
                            rf, rf, usable));
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

  // The replicas create the partition directories when they apply the records.
  std::vector<metadata::Record> records{metadata::TopicRecord{*topic}};
  for (auto& r : new_partitions(*image, topic->id, 0, partitions, rf)) records.push_back(std::move(r));
  if (auto r = commit(records); !r.ok()) return r;
  placement_start_ += static_cast<uint32_t>(partitions);
  spdlog::info("created topic {} (id {}) with {} partition(s)", topic->name, topic->id.to_string(), partitions);
  if (auto made = store_.topic(topic->id))
    return {ErrorCode::NONE, "", std::make_shared<const metadata::TopicInfo>(*made)};
  return {ErrorCode::NONE, "", topic};
}

TopicResult Controller::delete_topic(const metadata::TopicInfo& topic_ref) {
  if (!config_.get()->get_bool("delete.topic.enable"))
    return fail(ErrorCode::TOPIC_DELETION_DISABLED, "Topic deletion is disabled.");
  metadata::TopicInfo topic = topic_ref;  // the image may change under the reference
  if (store_.topic(topic.id) == nullptr)
    return fail(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition.");
  // The coordinators live on it: deleting it would lose every group's offsets.
  if (metadata::is_internal_topic(topic.name))
    return fail(ErrorCode::INVALID_REQUEST, fmt::format("Internal topic '{}' cannot be deleted.", topic.name));
  if (auto r = commit(metadata::RemoveTopicRecord{topic.id}); !r.ok()) return r;
  spdlog::info("deleted topic {} (id {})", topic.name, topic.id.to_string());
  return {ErrorCode::NONE, "", std::make_shared<const metadata::TopicInfo>(topic)};
}

TopicResult Controller::create_partitions(const std::string& name, int32_t count, bool validate_only) {
  auto found = store_.topic(name);
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
  if (!store_.can_commit()) return not_controller();
  const int32_t rf = topic.assignment.empty() ? 1 : static_cast<int32_t>(topic.assignment.front().replicas.size());
  auto image = store_.image();
  if (static_cast<size_t>(rf) > usable_brokers(*image).size())
    return fail(ErrorCode::INVALID_REPLICATION_FACTOR,
                fmt::format("Unable to place {} replica(s) of each new partition: only {} broker(s) are usable.", rf,
                            usable_brokers(*image).size()));
  std::vector<metadata::Record> records{metadata::PartitionCountRecord{topic.id, count}};
  for (auto& r : new_partitions(*image, topic.id, topic.partitions, count - topic.partitions, rf))
    records.push_back(std::move(r));
  if (auto r = commit(records); !r.ok()) return r;
  spdlog::info("topic {} now has {} partition(s)", name, count);
  topic.partitions = count;
  return {ErrorCode::NONE, "", std::make_shared<const metadata::TopicInfo>(topic)};
}

TopicResult Controller::reassign_partition(const std::string& name, int32_t partition,
                                           const std::optional<std::vector<int32_t>>& target) {
  if (!store_.can_commit()) return not_controller();
  auto image = store_.image();
  const metadata::TopicInfo* topic = image->find(name);
  if (topic == nullptr)
    return fail(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, fmt::format("The topic '{}' does not exist.", name));
  const metadata::PartitionState* state = topic->partition(partition);
  if (state == nullptr)
    return fail(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                fmt::format("The partition {}-{} does not exist (or has no replica assignment).", name, partition));
  if (target) {
    if (target->empty()) return fail(ErrorCode::INVALID_REPLICA_ASSIGNMENT, "The replica list is empty.");
    std::set<int32_t> seen;
    for (int32_t id : *target) {
      if (!seen.insert(id).second)
        return fail(ErrorCode::INVALID_REPLICA_ASSIGNMENT, fmt::format("Broker {} is listed twice.", id));
      if (image->broker(id) == nullptr)
        return fail(ErrorCode::INVALID_REPLICA_ASSIGNMENT, fmt::format("Broker {} is not registered.", id));
    }
    // Already there, with nothing in progress: nothing to do.
    if (!state->reassigning() && *target == state->replicas) return {};
  }
  auto moved = cluster::reassign(*state, target);
  if (!moved.state)
    return fail(target ? ErrorCode::INVALID_REPLICA_ASSIGNMENT : ErrorCode::NO_REASSIGNMENT_IN_PROGRESS,
                fmt::format("{}-{}: {}.", name, partition, moved.error));
  metadata::PartitionState next = *moved.state;
  if (auto done = cluster::finish_reassignment(next, live_brokers(*image))) next = *done;
  if (auto r = commit(metadata::PartitionRecord{topic->id, partition, next}); !r.ok()) return r;
  spdlog::info("{}-{}: reassigning: replicas {} -> {} (adding {}, removing {}), leader {}", name, partition,
               fmt::join(state->replicas, ","), fmt::join(next.replicas, ","), fmt::join(next.adding, ","),
               fmt::join(next.removing, ","), next.leader);
  return {};
}

tl::expected<std::vector<Controller::ElectionAnswer>, ErrorCode> Controller::elect_leaders(
    cluster::ElectionType type, const std::optional<std::vector<std::pair<std::string, int32_t>>>& partitions) {
  if (!store_.can_commit()) return tl::unexpected(ErrorCode::NOT_CONTROLLER);
  auto image = store_.image();
  const std::set<int32_t> live =
      store_.quorum() ? live_brokers(*image) : std::set<int32_t>{config_.static_config().node_id()};
  std::vector<std::pair<std::string, int32_t>> asked;
  if (partitions) {
    asked = *partitions;
  } else {
    for (const auto& [name, topic] : image->topics())
      for (int32_t p = 0; p < topic->partitions; ++p) asked.emplace_back(name, p);
  }
  std::vector<ElectionAnswer> answers;
  std::vector<metadata::Record> records;
  for (const auto& [name, p] : asked) {
    ElectionAnswer a{name, p};
    const metadata::TopicInfo* topic = image->find(name);
    const metadata::PartitionState* state = topic ? topic->partition(p) : nullptr;
    if (state == nullptr) {
      a.error = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
      a.message = fmt::format("The partition {}-{} does not exist.", name, p);
      answers.push_back(std::move(a));
      continue;
    }
    auto outcome = cluster::elect_leader(*state, live, type);
    switch (outcome.result) {
      case cluster::ElectionResult::Elected:
        records.push_back(metadata::PartitionRecord{topic->id, p, *outcome.state});
        spdlog::info("{}-{}: {} election: leader {} -> {} (epoch {})", name, p,
                     type == cluster::ElectionType::Preferred ? "preferred" : "unclean", state->leader,
                     outcome.state->leader, outcome.state->leader_epoch);
        break;
      case cluster::ElectionResult::NotNeeded:
        if (!partitions) continue;
        a.error = ErrorCode::ELECTION_NOT_NEEDED;
        a.message = type == cluster::ElectionType::Preferred
                        ? fmt::format("Leader election not needed for {}-{}: the preferred replica leads.", name, p)
                        : fmt::format("Leader election not needed for {}-{}: it has a leader.", name, p);
        break;
      case cluster::ElectionResult::NotAvailable:
        if (type == cluster::ElectionType::Preferred) {
          a.error = ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE;
          a.message = fmt::format("The preferred replica {} of {}-{} is not live and in sync.",
                                  state->replicas.empty() ? -1 : state->replicas.front(), name, p);
        } else {
          a.error = ErrorCode::ELIGIBLE_LEADERS_NOT_AVAILABLE;
          a.message = fmt::format("No live replica of {}-{} can lead.", name, p);
        }
        break;
    }
    answers.push_back(std::move(a));
  }
  if (!records.empty()) {
    if (auto r = commit(records); !r.ok()) {
      if (r.error == ErrorCode::NOT_CONTROLLER) return tl::unexpected(r.error);
      for (auto& a : answers) {
        if (a.error != ErrorCode::NONE) continue;
        a.error = r.error;
        a.message = r.message;
      }
    }
  }
  return answers;
}

size_t Controller::balance_leaders() {
  if (!store_.quorum() || !store_.can_commit()) return 0;
  auto config = config_.get();
  if (!config->get_bool("auto.leader.rebalance.enable")) return 0;
  auto image = store_.image();
  const std::set<int32_t> live = live_brokers(*image);
  auto movable = cluster::imbalanced_partitions(*image, live,
                                                config->get_double("leader.imbalance.per.broker.percentage") / 100.0);
  std::vector<metadata::Record> records;
  for (const auto& tp : movable) {
    const metadata::TopicInfo* topic = image->find(tp.topic_id);
    const metadata::PartitionState* state = topic ? topic->partition(tp.partition) : nullptr;
    if (state == nullptr) continue;
    auto outcome = cluster::elect_leader(*state, live, cluster::ElectionType::Preferred);
    if (outcome.result != cluster::ElectionResult::Elected) continue;
    records.push_back(metadata::PartitionRecord{tp.topic_id, tp.partition, *outcome.state});
  }
  if (records.empty()) return 0;
  if (auto r = commit(records); !r.ok()) {
    spdlog::warn("leader balancing: {}", r.message);
    return 0;
  }
  spdlog::info("leader balancing: {} partition(s) back on their preferred leader", records.size());
  return records.size();
}

TopicResult Controller::set_topic_configs(const std::string& name, const std::map<std::string, std::string>& configs,
                                          bool validate_only) {
  auto found = store_.topic(name);
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
  if (auto r = commit(records); !r.ok()) return r;
  spdlog::info("topic {}: {} config change(s)", name, records.size());
  return {ErrorCode::NONE, "", std::make_shared<const metadata::TopicInfo>(topic)};
}

TopicResult Controller::set_broker_configs(const std::string& resource, const std::map<std::string, std::string>& configs,
                                           bool validate_only) {
  const std::string node = std::to_string(config_.static_config().node_id());
  auto image = store_.image();
  auto registered = [&] {
    for (const auto& [id, b] : image->brokers())
      if (std::to_string(id) == resource) return true;
    return false;
  };
  if (!resource.empty() && resource != node && !registered())
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
  const std::map<std::string, std::string>& current = image->broker_configs(resource);
  std::vector<metadata::Record> records;
  for (const auto& [key, value] : current)
    if (!configs.contains(key)) records.push_back(metadata::BrokerConfigRecord{resource, key, std::nullopt});
  for (const auto& [key, value] : configs) {
    auto it = current.find(key);
    if (it == current.end() || it->second != value) records.push_back(metadata::BrokerConfigRecord{resource, key, value});
  }
  if (validate_only || records.empty()) return {};
  if (auto r = commit(records); !r.ok()) return r;
  spdlog::info("broker configs{}: {} change(s)", resource.empty() ? " (cluster-wide default)" : " of node " + resource,
               records.size());
  return {};
}

std::set<int32_t> Controller::live_brokers(const metadata::Image& image) const {
  std::set<int32_t> live;
  for (const auto& [id, b] : image.brokers())
    if (!b.fenced) live.insert(id);
  return live;
}

std::vector<metadata::Record> Controller::elections(const metadata::Image& image, const std::set<int32_t>& live) const {
  std::vector<metadata::Record> out;
  const bool unclean_default = config_.get()->get_bool("unclean.leader.election.enable");
  for (const auto& [name, topic] : image.topics()) {
    bool unclean = unclean_default;
    if (auto it = topic->configs.find("unclean.leader.election.enable"); it != topic->configs.end())
      unclean = it->second == "true";
    for (size_t p = 0; p < topic->assignment.size(); ++p) {
      if (auto next = cluster::elect(topic->assignment[p], live, unclean)) {
        if (next->leader != topic->assignment[p].leader)
          spdlog::info("{}-{}: leader {} -> {} (epoch {})", name, p, topic->assignment[p].leader, next->leader,
                       next->leader_epoch);
        out.push_back(metadata::PartitionRecord{topic->id, static_cast<int32_t>(p), *next});
      }
    }
  }
  return out;
}

void Controller::refresh_liveness(const metadata::Image& image) {
  const uint64_t term = store_.quorum() ? store_.quorum()->term() : 1;
  if (term == liveness_term_) return;
  liveness_term_ = term;
  last_seen_.clear();
  auto now = std::chrono::steady_clock::now();
  for (const auto& [id, b] : image.brokers()) last_seen_[id] = now;
}

Controller::Registration Controller::register_broker(metadata::BrokerInfo broker, const std::string& cluster_id) {
  if (!store_.can_commit()) {
    auto r = not_controller();
    return {r.error, r.message, -1};
  }
  auto image = store_.image();
  refresh_liveness(*image);
  if (!image->cluster_id().empty() && !cluster_id.empty() && cluster_id != image->cluster_id())
    return {ErrorCode::INCONSISTENT_CLUSTER_ID,
            fmt::format("broker {} belongs to cluster {}, this is {}", broker.id, cluster_id, image->cluster_id()), -1};
  const auto timeout = std::chrono::milliseconds(config_.get()->get_long("broker.session.timeout.ms"));
  const auto now = std::chrono::steady_clock::now();
  int64_t epoch = 0;
  for (const auto& [id, b] : image->brokers()) epoch = std::max(epoch, b.epoch);
  if (const metadata::BrokerInfo* existing = image->broker(broker.id)) {
    if (existing->incarnation == broker.incarnation) return {ErrorCode::NONE, "", existing->epoch};
    auto seen = last_seen_.find(broker.id);
    if (!existing->fenced && seen != last_seen_.end() && now - seen->second < timeout)
      return {ErrorCode::DUPLICATE_BROKER_REGISTRATION,
              fmt::format("another broker with node.id {} ({}:{}) is alive: node ids must be unique", broker.id,
                          existing->host, existing->port),
              -1};
  }
  broker.fenced = true;
  broker.epoch = epoch + 1;
  std::vector<metadata::Record> records{metadata::RegisterBrokerRecord{broker}};
  // A new incarnation of a broker that was not fenced: it leads nothing until it has heartbeated.
  auto after = image->apply(records);
  for (auto& r : elections(after, live_brokers(after))) records.push_back(std::move(r));
  if (auto r = commit(records); !r.ok()) return {r.error, r.message, -1};
  last_seen_[broker.id] = now;
  spdlog::info("registered broker {} at {}:{} (epoch {}{})", broker.id, broker.host, broker.port, broker.epoch,
               broker.rack ? ", rack " + *broker.rack : "");
  return {ErrorCode::NONE, "", broker.epoch};
}

Controller::Heartbeat Controller::heartbeat(int32_t broker_id, int64_t epoch, bool want_fence, bool want_shut_down) {
  if (!store_.can_commit()) return {ErrorCode::NOT_CONTROLLER, true, false};
  auto image = store_.image();
  refresh_liveness(*image);
  const metadata::BrokerInfo* b = image->broker(broker_id);
  if (b == nullptr || b->epoch != epoch) return {ErrorCode::STALE_BROKER_EPOCH, true, false};
  last_seen_[broker_id] = std::chrono::steady_clock::now();
  const bool fence = want_fence || want_shut_down;
  if (b->fenced == fence) return {ErrorCode::NONE, b->fenced, want_shut_down};
  std::vector<metadata::Record> records{metadata::BrokerFenceRecord{broker_id, fence}};
  auto after = image->apply(records);
  for (auto& r : elections(after, live_brokers(after))) records.push_back(std::move(r));
  if (auto r = commit(records); !r.ok()) return {r.error, b->fenced, false};
  spdlog::info("broker {} {}", broker_id, fence ? "fenced at its request" : "unfenced");
  return {ErrorCode::NONE, fence, want_shut_down};
}

std::vector<int32_t> Controller::overdue_brokers(std::chrono::milliseconds after) {
  std::vector<int32_t> out;
  if (!store_.quorum() || !store_.can_commit()) return out;
  auto image = store_.image();
  refresh_liveness(*image);
  const auto now = std::chrono::steady_clock::now();
  const int32_t self = config_.static_config().node_id();
  for (const auto& [id, b] : image->brokers()) {
    if (b.fenced || id == self) continue;
    auto seen = last_seen_.find(id);
    if (seen == last_seen_.end() || now - seen->second >= after) out.push_back(id);
  }
  return out;
}

bool Controller::fence_gone(int32_t broker_id, int64_t epoch, const std::string& why) {
  if (!store_.can_commit()) return false;
  auto image = store_.image();
  const metadata::BrokerInfo* b = image->broker(broker_id);
  if (b == nullptr || b->fenced || b->epoch != epoch) return false;
  std::vector<metadata::Record> records{metadata::BrokerFenceRecord{broker_id, true}};
  auto after = image->apply(records);
  for (auto& r : elections(after, live_brokers(after))) records.push_back(std::move(r));
  if (auto r = commit(records); !r.ok()) {
    spdlog::warn("fencing broker {}: {}", broker_id, r.message);
    return false;
  }
  spdlog::warn("fenced broker {} without waiting out its session: {}", broker_id, why);
  return true;
}

void Controller::check_brokers() {
  if (!store_.quorum() || !store_.can_commit()) return;
  auto image = store_.image();
  refresh_liveness(*image);
  std::vector<metadata::Record> records;
  if (image->cluster_id().empty()) records.push_back(metadata::ClusterRecord{store_.cluster_id()});
  const auto timeout = std::chrono::milliseconds(config_.get()->get_long("broker.session.timeout.ms"));
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [id, b] : image->brokers()) {
    if (b.fenced) continue;
    auto seen = last_seen_.find(id);
    if (seen != last_seen_.end() && now - seen->second < timeout) continue;
    spdlog::warn("fencing broker {}: no heartbeat for {} ms", id,
                 seen == last_seen_.end()
                     ? -1
                     : std::chrono::duration_cast<std::chrono::milliseconds>(now - seen->second).count());
    records.push_back(metadata::BrokerFenceRecord{id, true});
  }
  auto after = image->apply(records);
  for (auto& r : elections(after, live_brokers(after))) records.push_back(std::move(r));
  if (records.empty()) return;
  if (auto r = commit(records); !r.ok()) spdlog::warn("controller: {}", r.message);
}

void Controller::reconcile_partition_dirs() {
  auto image = store_.image();
  const int32_t node = config_.static_config().node_id();
  for (const auto& [name, topic] : image->topics()) {
    for (int32_t p = 0; p < topic->partitions; ++p) {
      if (!hosts(*topic, p, node)) continue;
      if (auto r = storage::create_partition_dir(data_dir_, name, p, topic->id); !r)
        spdlog::error("partition directory for {}-{}: {}", name, p, r.error());
    }
  }
  // Directories of topics (or partitions) the metadata does not have: a crash between creating
  // directories and committing, or between committing a delete and renaming.
  for (const auto& dir : storage::list_partition_dirs(data_dir_)) {
    const metadata::TopicInfo* topic = image->find(dir.topic);
    if (topic == nullptr || dir.partition >= topic->partitions || !hosts(*topic, dir.partition, node)) {
      spdlog::warn("removing partition directory {}: no current topic has it on this node", dir.path.string());
      if (auto marked = storage::mark_dir_deleted(dir.path); !marked) spdlog::error("{}", marked.error());
    }
  }
  storage::remove_in_background(storage::find_deleted_dirs(data_dir_));
}

ErrorCode Controller::alter_partition(int32_t broker_id, int64_t broker_epoch, const Uuid& topic_id,
                                      int32_t partition, const metadata::PartitionState& asked) {
  if (!store_.can_commit()) return ErrorCode::NOT_CONTROLLER;
  auto image = store_.image();
  const metadata::BrokerInfo* b = image->broker(broker_id);
  if (b == nullptr || (broker_epoch >= 0 && b->epoch != broker_epoch)) return ErrorCode::STALE_BROKER_EPOCH;
  const metadata::TopicInfo* topic = image->find(topic_id);
  if (topic == nullptr) return ErrorCode::UNKNOWN_TOPIC_ID;
  const metadata::PartitionState* state = topic->partition(partition);
  if (state == nullptr) return ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
  if (state->leader != broker_id) return ErrorCode::NOT_LEADER_OR_FOLLOWER;
  if (asked.leader_epoch != state->leader_epoch) return ErrorCode::FENCED_LEADER_EPOCH;
  if (asked.partition_epoch != state->partition_epoch) return ErrorCode::INVALID_UPDATE_VERSION;
  if (std::find(asked.isr.begin(), asked.isr.end(), broker_id) == asked.isr.end()) return ErrorCode::INVALID_REQUEST;
  std::set<int32_t> seen;
  for (int32_t r : asked.isr) {
    if (!seen.insert(r).second) return ErrorCode::INVALID_REQUEST;
    if (std::find(state->replicas.begin(), state->replicas.end(), r) == state->replicas.end())
      return ErrorCode::INELIGIBLE_REPLICA;
    // A fenced broker may not join (the leader itself is known to be alive: it asked).
    const metadata::BrokerInfo* member = image->broker(r);
    const bool joining = std::find(state->isr.begin(), state->isr.end(), r) == state->isr.end();
    if (joining && (member == nullptr || member->fenced)) return ErrorCode::INELIGIBLE_REPLICA;
  }
  metadata::PartitionState next = *state;
  next.isr = asked.isr;
  ++next.partition_epoch;
  // The last new replica caught up: a reassignment in progress ends.
  const auto finished = cluster::finish_reassignment(next, live_brokers(*image));
  if (finished) next = *finished;
  if (auto r = commit(metadata::PartitionRecord{topic_id, partition, next}); !r.ok()) return r.error;
  spdlog::info("{}-{}: ISR {} -> {} (leader {}, partition epoch {})", topic->name, partition,
               fmt::join(state->isr, ","), fmt::join(next.isr, ","), broker_id, next.partition_epoch);
  if (finished)
    spdlog::info("{}-{}: reassignment done: replicas {}, leader {} (epoch {})", topic->name, partition,
                 fmt::join(next.replicas, ","), next.leader, next.leader_epoch);
  return ErrorCode::NONE;
}

}  // namespace fjord::broker
