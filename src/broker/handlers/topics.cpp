// CreateTopics, DeleteTopics and CreatePartitions.
#include <set>

#include "broker/effective_config.h"
#include "broker/forward.h"
#include "broker/handlers/handlers.h"

namespace fjord::broker {
using namespace protocol;

asio::awaitable<CreateTopicsResponse> handle_create_topics(RequestContext& ctx, CreateTopicsRequest& req) {
  Broker& broker = ctx.broker;
  if (auto forwarded = co_await forward_to_controller<CreateTopicsResponse>(broker, req, ctx.api_version()))
    co_return std::move(*forwarded);
  CreateTopicsResponse resp;
  std::multiset<std::string> names;
  for (const auto& t : req.topics) names.insert(t.name);

  for (const auto& t : req.topics) {
    auto& out = resp.topics.emplace_back();
    out.name = t.name;
    auto reject = [&](ErrorCode error, std::string message) {
      out.error_code = code(error);
      out.error_message = std::move(message);
    };
    if (names.count(t.name) > 1) {
      reject(ErrorCode::INVALID_REQUEST, "Duplicate topic name.");
      continue;
    }
    NewTopic spec;
    spec.name = t.name;
    spec.partitions = t.num_partitions;
    spec.replication_factor = t.replication_factor;
    if (!t.assignments.empty()) {
      if (t.num_partitions != -1 || t.replication_factor != -1) {
        reject(ErrorCode::INVALID_REQUEST,
               "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the "
               "same time.");
        continue;
      }
      bool valid = true;
      int32_t expected_index = 0;
      size_t replicas = t.assignments.front().broker_ids.size();
      for (const auto& a : t.assignments) {
        valid = valid && a.partition_index == expected_index++ && a.broker_ids.size() == replicas;
        for (int32_t id : a.broker_ids) valid = valid && id == broker.node_id;
      }
      if (!valid || replicas == 0) {
        reject(ErrorCode::INVALID_REPLICA_ASSIGNMENT,
               "Replica assignments must name partitions 0..N-1 in order, each on this broker only.");
        continue;
      }
      spec.partitions = static_cast<int32_t>(t.assignments.size());
      spec.replication_factor = static_cast<int16_t>(replicas);
    }
    for (const auto& c : t.configs) {
      if (!c.value) {
        spec.null_config = c.name;
      } else {
        spec.configs[c.name] = *c.value;
      }
    }
    const bool validate_only = req.validate_only;
    auto create = [&broker, spec, validate_only] { return broker.controller.create_topic(spec, validate_only); };
    TopicResult result = co_await run_on(broker.controller_context(), std::move(create));
    if (!result.ok()) {
      reject(result.error, result.message);
      continue;
    }
    out.topic_id = result.topic->id;
    out.num_partitions = result.topic->partitions;
    const metadata::PartitionState* first = result.topic->partition(0);
    out.replication_factor = static_cast<int16_t>(first && !first->replicas.empty() ? first->replicas.size() : 1);
    out.configs.emplace();
    for (const EffectiveConfig& c : effective_topic_configs(*broker.config(), *result.topic)) {
      auto& oc = out.configs->emplace_back();
      oc.name = c.name;
      oc.value = c.value;
      oc.read_only = c.read_only;
      oc.config_source = static_cast<int8_t>(c.source);
      oc.is_sensitive = c.sensitive;
    }
  }
  co_return resp;
}

asio::awaitable<DeleteTopicsResponse> handle_delete_topics(RequestContext& ctx, DeleteTopicsRequest& req) {
  Broker& broker = ctx.broker;
  if (auto forwarded = co_await forward_to_controller<DeleteTopicsResponse>(broker, req, ctx.api_version()))
    co_return std::move(*forwarded);
  DeleteTopicsResponse resp;
  // v0-5 name topics in topic_names; v6 in topics, by name or by id.
  struct Target {
    std::optional<std::string> name;
    Uuid id;
  };
  std::vector<Target> targets;
  for (const auto& n : req.topic_names) targets.push_back({n, Uuid{}});
  for (const auto& t : req.topics) targets.push_back({t.name, t.topic_id});

  for (const Target& target : targets) {
    auto& out = resp.responses.emplace_back();
    out.name = target.name;
    out.topic_id = target.id;
    auto reject = [&](ErrorCode error, std::string message) {
      out.error_code = code(error);
      out.error_message = std::move(message);
    };
    auto image = broker.store.image();
    const metadata::TopicInfo* topic = nullptr;
    if (target.name && !target.id.is_zero()) {
      reject(ErrorCode::INVALID_REQUEST, "A topic must be named by name or by id, not both.");
      continue;
    }
    if (target.name) {
      topic = image->find(*target.name);
      if (topic == nullptr) {
        reject(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition.");
        continue;
      }
    } else {
      topic = target.id.is_zero() ? nullptr : image->find(target.id);
      if (topic == nullptr) {
        reject(ErrorCode::UNKNOWN_TOPIC_ID, "This server does not host this topic ID.");
        continue;
      }
    }
    metadata::TopicInfo copy = *topic;
    auto remove = [&broker, copy] { return broker.controller.delete_topic(copy); };
    TopicResult result = co_await run_on(broker.controller_context(), std::move(remove));
    if (!result.ok()) {
      reject(result.error, result.message);
      continue;
    }
    out.name = result.topic->name;
    out.topic_id = result.topic->id;
  }
  co_return resp;
}

asio::awaitable<CreatePartitionsResponse> handle_create_partitions(RequestContext& ctx, CreatePartitionsRequest& req) {
  Broker& broker = ctx.broker;
  if (auto forwarded = co_await forward_to_controller<CreatePartitionsResponse>(broker, req, ctx.api_version()))
    co_return std::move(*forwarded);
  CreatePartitionsResponse resp;
  std::multiset<std::string> names;
  for (const auto& t : req.topics) names.insert(t.name);
  for (const auto& t : req.topics) {
    auto& out = resp.results.emplace_back();
    out.name = t.name;
    auto reject = [&](ErrorCode error, std::string message) {
      out.error_code = code(error);
      out.error_message = std::move(message);
    };
    if (names.count(t.name) > 1) {
      reject(ErrorCode::INVALID_REQUEST, "Duplicate topic in request.");
      continue;
    }
    if (t.assignments) {
      auto topic = broker.store.topic(t.name);
      bool valid = topic != nullptr && static_cast<int32_t>(t.assignments->size()) == t.count - topic->partitions;
      for (const auto& a : *t.assignments) {
        valid = valid && a.broker_ids.size() == 1;
        for (int32_t id : a.broker_ids) valid = valid && id == broker.node_id;
      }
      if (topic != nullptr && !valid) {
        reject(ErrorCode::INVALID_REPLICA_ASSIGNMENT,
               "Assignments must give one replica, on this broker, for each new partition.");
        continue;
      }
    }
    const std::string name = t.name;
    const int32_t count = t.count;
    const bool validate_only = req.validate_only;
    auto grow = [&broker, name, count, validate_only] {
      return broker.controller.create_partitions(name, count, validate_only);
    };
    TopicResult result = co_await run_on(broker.controller_context(), std::move(grow));
    if (!result.ok()) reject(result.error, result.message);
  }
  co_return resp;
}

}  // namespace fjord::broker
