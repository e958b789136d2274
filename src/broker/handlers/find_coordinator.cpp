// FindCoordinator: the leader of the key's partition of __consumer_offsets (or
// __transaction_state), created on first use; on one node, this broker. Share-group (v6)
// coordinators do not exist yet: such keys get INVALID_REQUEST with a message saying so, as
// Kafka answers a key type it does not serve. v5 only allows an error Fjord never gives (TRANSACTION_ABORTABLE).
#include "broker/groups.h"
#include "broker/transactions.h"
#include "broker/handlers/handlers.h"

namespace fjord::broker {
using namespace protocol;

namespace {
constexpr int8_t kGroupKey = 0;
constexpr int8_t kTransactionKey = 1;
}  // namespace

asio::awaitable<FindCoordinatorResponse> handle_find_coordinator(RequestContext& ctx, FindCoordinatorRequest& req) {
  Broker& broker = ctx.broker;
  FindCoordinatorResponse resp;
  // As in Kafka, the first lookup creates __consumer_offsets (or __transaction_state).
  auto offsets_topic = req.key_type == kTransactionKey ? co_await ensure_transaction_topic(broker)
                                                        : co_await ensure_offsets_topic(broker);
  const std::string_view topic = req.key_type == kTransactionKey ? coordinator::kTransactionTopic : coordinator::kOffsetsTopic;
  auto answer = [&](const std::string& key, int16_t& error, std::optional<std::string>& message, int32_t& node,
                    std::string& host, int32_t& port) {
    if (req.key_type != kGroupKey && req.key_type != kTransactionKey) {
      error = code(ErrorCode::INVALID_REQUEST);
      message = "only consumer group and transaction coordinators exist (no share groups yet)";
      node = -1;
      port = -1;
      return;
    }
    if (!offsets_topic) {
      error = code(offsets_topic.error());
      message = req.key_type == kTransactionKey ? "the transaction state topic cannot be created"
                                                : "the offsets topic cannot be created";
      node = -1;
      port = -1;
      return;
    }
    const int32_t leader = coordinator_node(broker, topic, coordinator::partition_for(key, *offsets_topic));
    auto image = broker.store.image();
    const metadata::BrokerInfo* b = image->broker(leader);
    if (leader == broker.node_id) {
      error = 0;
      message = std::nullopt;
      node = broker.node_id;
      std::tie(host, port) = broker.advertised_for(ctx.listener);
    } else if (b != nullptr && !b->fenced) {
      error = 0;
      message = std::nullopt;
      node = b->id;
      host = b->host;
      port = b->port;
    } else {
      error = code(ErrorCode::COORDINATOR_NOT_AVAILABLE);
      message = "the coordinator's partition has no leader now";
      node = -1;
      port = -1;
    }
  };
  if (ctx.api_version() >= 4) {
    for (const std::string& key : req.coordinator_keys) {
      auto& c = resp.coordinators.emplace_back();
      c.key = key;
      answer(key, c.error_code, c.error_message, c.node_id, c.host, c.port);
    }
  } else {
    answer(req.key, resp.error_code, resp.error_message, resp.node_id, resp.host, resp.port);
  }
  co_return resp;
}

}  // namespace fjord::broker
