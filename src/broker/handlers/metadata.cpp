#include <spdlog/spdlog.h>

#include "broker/forward.h"
#include "broker/handlers/handlers.h"
#include "metadata/topic_rules.h"

namespace fjord::broker {
using namespace protocol;

namespace {

// Kafka's AclOperation codes; with no authorizer every operation is allowed.
constexpr int32_t bits(std::initializer_list<int> ops) {
  int32_t v = 0;
  for (int op : ops) v |= 1 << op;
  return v;
}
constexpr int32_t kTopicOperations = bits({3, 4, 5, 6, 7, 8, 10, 11});
constexpr int32_t kClusterOperations = bits({5, 7, 8, 9, 10, 11, 12});
constexpr int32_t kOmittedOperations = INT32_MIN;

void describe_topic(const RequestContext& ctx, const metadata::Image& image, const metadata::TopicInfo& topic,
                    bool include_ops, MetadataResponse::MetadataResponseTopic& out) {
  out.error_code = code(ErrorCode::NONE);
  out.name = topic.name;
  out.topic_id = topic.id;
  out.is_internal = metadata::is_internal_topic(topic.name);
  out.topic_authorized_operations = include_ops ? kTopicOperations : kOmittedOperations;
  out.partitions.reserve(static_cast<size_t>(topic.partitions));
  for (int32_t p = 0; p < topic.partitions; ++p) {
    auto& part = out.partitions.emplace_back();
    part.error_code = code(ErrorCode::NONE);
    part.partition_index = p;
    const metadata::PartitionState* state = topic.partition(p);
    if (state == nullptr) {  // from before PartitionRecords: on this node
      part.leader_id = ctx.broker.node_id;
      part.leader_epoch = 0;
      part.replica_nodes = {ctx.broker.node_id};
      part.isr_nodes = {ctx.broker.node_id};
      continue;
    }
    part.leader_id = state->leader;
    part.leader_epoch = state->leader_epoch;
    part.replica_nodes = state->replicas;
    part.isr_nodes = state->isr;
    if (ctx.broker.store.quorum()) {
      for (int32_t r : state->replicas) {
        const metadata::BrokerInfo* b = image.broker(r);
        if (b == nullptr || b->fenced) part.offline_replicas.push_back(r);
      }
    }
    if (state->leader < 0) part.error_code = code(ErrorCode::LEADER_NOT_AVAILABLE);
  }
}

// The brokers clients may use: every unfenced registered broker in a cluster, this one alone on a
// single node.
void list_brokers(const Broker& broker, const metadata::Image& image, int listener, MetadataResponse& resp) {
  if (!broker.store.quorum()) {
    auto& b = resp.brokers.emplace_back();
    b.node_id = broker.node_id;
    std::tie(b.host, b.port) = broker.advertised_for(listener);
    b.rack = broker.static_config().get("broker.rack");
    return;
  }
  for (const auto& [id, info] : image.brokers()) {
    if (info.fenced) continue;
    auto& b = resp.brokers.emplace_back();
    b.node_id = id;
    b.host = info.host;
    b.port = info.port;
    b.rack = info.rack;
  }
}

}  // namespace

asio::awaitable<MetadataResponse> handle_metadata(RequestContext& ctx, MetadataRequest& req) {
  Broker& broker = ctx.broker;
  const int16_t version = ctx.api_version();
  MetadataResponse resp;
  auto image = broker.store.image();
  list_brokers(broker, *image, ctx.listener, resp);
  resp.cluster_id = broker.store.cluster_id();
  resp.controller_id = broker.store.controller_id();
  resp.cluster_authorized_operations = req.include_cluster_authorized_operations ? kClusterOperations
                                                                                  : kOmittedOperations;
  const bool include_ops = req.include_topic_authorized_operations;

  // v0: an empty list means every topic; v1+: null means every topic.
  const bool all_topics = !req.topics.has_value() || (version == 0 && req.topics->empty());
  if (all_topics) {
    for (const auto& [name, topic] : image->topics())
      describe_topic(ctx, *image, *topic, include_ops, resp.topics.emplace_back());
    co_return resp;
  }

  const bool may_create = (version < 4 || req.allow_auto_topic_creation) &&
                          broker.config()->get_bool("auto.create.topics.enable");
  for (const auto& requested : *req.topics) {
    auto& out = resp.topics.emplace_back();
    out.topic_authorized_operations = kOmittedOperations;
    if (!requested.name.has_value()) {
      // v12: look the topic up by id.
      out.name = std::nullopt;
      out.topic_id = requested.topic_id;
      const metadata::TopicInfo* topic = requested.topic_id.is_zero() ? nullptr : image->find(requested.topic_id);
      if (topic == nullptr) {
        out.error_code = code(ErrorCode::UNKNOWN_TOPIC_ID);
      } else {
        describe_topic(ctx, *image, *topic, include_ops, out);
      }
      continue;
    }
    const std::string& name = *requested.name;
    out.name = name;
    if (const metadata::TopicInfo* topic = image->find(name)) {
      describe_topic(ctx, *image, *topic, include_ops, out);
      continue;
    }
    if (metadata::invalid_topic_name(name)) {
      out.error_code = code(ErrorCode::INVALID_TOPIC_EXCEPTION);
      continue;
    }
    if (!may_create || metadata::is_internal_topic(name)) {
      out.error_code = code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
      continue;
    }
    NewTopic spec;
    spec.name = name;
    TopicResult created = co_await create_topic_via_controller(broker, std::move(spec));
    if (created.ok()) {
      auto now = broker.store.image();
      describe_topic(ctx, *now, *created.topic, include_ops, out);
    } else if (created.error == ErrorCode::TOPIC_ALREADY_EXISTS) {
      // Created meanwhile by another request.
      auto now = broker.store.image();
      if (const metadata::TopicInfo* topic = now->find(name)) {
        describe_topic(ctx, *now, *topic, include_ops, out);
      } else {
        out.error_code = code(ErrorCode::LEADER_NOT_AVAILABLE);
      }
    } else {
      spdlog::warn("auto-creating topic {} failed: {}", name, created.message);
      // No controller here or now: the client asks again (LEADER_NOT_AVAILABLE is retriable).
      out.error_code = code(created.error == ErrorCode::INVALID_TOPIC_EXCEPTION ? ErrorCode::INVALID_TOPIC_EXCEPTION
                            : created.error == ErrorCode::NOT_CONTROLLER       ? ErrorCode::LEADER_NOT_AVAILABLE
                                                                                : ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    }
  }
  co_return resp;
}

}  // namespace fjord::broker
