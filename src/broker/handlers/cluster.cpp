// BrokerRegistration and BrokerHeartbeat: brokers joining the cluster and staying in it, answered
// by the active controller (NOT_CONTROLLER elsewhere). Kafka serves them on the controller
// listener; Fjord's nodes are broker and controller at once and serve them on the broker listener.
#include "broker/handlers/handlers.h"
#include "broker/shards.h"

namespace fjord::broker {
using namespace protocol;

asio::awaitable<BrokerRegistrationResponse> handle_broker_registration(RequestContext& ctx,
                                                                        BrokerRegistrationRequest& req) {
  Broker& broker = ctx.broker;
  BrokerRegistrationResponse resp;
  metadata::BrokerInfo info;
  info.id = req.broker_id;
  info.incarnation = req.incarnation_id;
  info.rack = req.rack;
  if (req.listeners.empty()) {
    resp.error_code = code(ErrorCode::INVALID_REQUEST);
    co_return resp;
  }
  // The first listener is the one clients use.
  info.host = req.listeners.front().host;
  info.port = req.listeners.front().port;
  std::string cluster_id = req.cluster_id;
  auto work = [&broker, info, cluster_id] { return broker.controller.register_broker(info, cluster_id); };
  auto r = co_await run_on(broker.controller_context(), std::move(work));
  resp.error_code = code(r.error);
  resp.broker_epoch = r.epoch;
  co_return resp;
}

asio::awaitable<BrokerHeartbeatResponse> handle_broker_heartbeat(RequestContext& ctx, BrokerHeartbeatRequest& req) {
  Broker& broker = ctx.broker;
  BrokerHeartbeatResponse resp;
  const int32_t id = req.broker_id;
  const int64_t epoch = req.broker_epoch;
  const bool fence = req.want_fence, shut_down = req.want_shut_down;
  auto work = [&broker, id, epoch, fence, shut_down] { return broker.controller.heartbeat(id, epoch, fence, shut_down); };
  auto r = co_await run_on(broker.controller_context(), std::move(work));
  if (r.error == ErrorCode::NONE) ctx.heartbeat_from = id;
  resp.error_code = code(r.error);
  resp.is_fenced = r.fenced;
  resp.is_caught_up = r.error == ErrorCode::NONE;
  resp.should_shut_down = r.shut_down;
  co_return resp;
}

}  // namespace fjord::broker

namespace fjord::broker {

asio::awaitable<protocol::AllocateProducerIdsResponse> handle_allocate_producer_ids(RequestContext& ctx,
                                                                                    protocol::AllocateProducerIdsRequest& req) {
  Broker& broker = ctx.broker;
  protocol::AllocateProducerIdsResponse resp;
  const int32_t id = req.broker_id;
  const int64_t epoch = req.broker_epoch;
  auto work = [&broker, id, epoch]() -> tl::expected<int64_t, protocol::ErrorCode> {
    if (broker.store.quorum() != nullptr) {
      auto image = broker.store.image();
      const metadata::BrokerInfo* b = image->broker(id);
      if (b == nullptr || b->epoch != epoch) return tl::unexpected(protocol::ErrorCode::STALE_BROKER_EPOCH);
    }
    return broker.controller.allocate_producer_ids(id);
  };
  auto start = co_await run_on(broker.controller_context(), std::move(work));
  if (!start) {
    resp.error_code = protocol::code(start.error());
    co_return resp;
  }
  resp.producer_id_start = *start;
  resp.producer_id_len = static_cast<int32_t>(Controller::kProducerIdBlock);
  co_return resp;
}

}  // namespace fjord::broker

namespace fjord::broker {

// AlterPartition (v2+: topic ids): a leader's ISR change, answered by the active controller.
asio::awaitable<protocol::AlterPartitionResponse> handle_alter_partition(RequestContext& ctx,
                                                                         protocol::AlterPartitionRequest& req) {
  Broker& broker = ctx.broker;
  protocol::AlterPartitionResponse resp;
  if (ctx.api_version() < 2) {
    resp.error_code = protocol::code(protocol::ErrorCode::UNSUPPORTED_VERSION);
    co_return resp;
  }
  for (const auto& t : req.topics) {
    auto& tout = resp.topics.emplace_back();
    tout.topic_id = t.topic_id;
    for (const auto& p : t.partitions) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = p.partition_index;
      metadata::PartitionState asked;
      asked.leader_epoch = p.leader_epoch;
      asked.partition_epoch = p.partition_epoch;
      asked.isr = p.new_isr;
      if (ctx.api_version() >= 3)
        for (const auto& b : p.new_isr_with_epochs) asked.isr.push_back(b.broker_id);
      auto work = [&broker, id = req.broker_id, epoch = req.broker_epoch, topic_id = t.topic_id,
                   partition = p.partition_index, asked] {
        auto e = broker.controller.alter_partition(id, epoch, topic_id, partition, asked);
        auto topic = broker.store.topic(topic_id);
        const metadata::PartitionState* state = topic ? topic->partition(partition) : nullptr;
        return std::make_pair(e, state ? std::optional(*state) : std::nullopt);
      };
      auto [error, state] = co_await run_on(broker.controller_context(), std::move(work));
      if (error == protocol::ErrorCode::NOT_CONTROLLER) {
        resp.error_code = protocol::code(error);
        co_return resp;
      }
      pout.error_code = protocol::code(error);
      if (state) {
        pout.leader_id = state->leader;
        pout.leader_epoch = state->leader_epoch;
        pout.isr = state->isr;
        pout.partition_epoch = state->partition_epoch;
      }
    }
  }
  co_return resp;
}

}  // namespace fjord::broker
