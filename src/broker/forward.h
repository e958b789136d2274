// Metadata writes a broker needs while serving clients (auto-created and internal topics, blocks
// of producer ids), made through the active controller: directly when this node is it (always on
// a single node), otherwise over the Kafka protocol to the controller's broker listener
// (CreateTopics, AllocateProducerIds), as Kafka brokers forward them.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/this_coro.hpp>

#include <chrono>
#include <optional>

#include "broker/broker.h"
#include "broker/controller.h"
#include "cluster/peer_client.h"
#include "tl/expected.hpp"

namespace fjord::broker {

// Creates `spec`. On success the result's topic is as this node's image has it (after waiting a
// little for the change to reach it when another node made it).
asio::awaitable<TopicResult> create_topic_via_controller(Broker& broker, NewTopic spec);

// The active controller when it is another node (nullptr when this node is it, or on a single
// node; nullptr with `error` NOT_CONTROLLER when there is none now).
const metadata::BrokerInfo* remote_controller(const Broker& broker, const metadata::Image& image,
                                              protocol::ErrorCode* error);

// Admin requests only the active controller answers (CreateTopics, DeleteTopics,
// CreatePartitions, AlterConfigs, IncrementalAlterConfigs), sent there as they came, as Kafka
// brokers forward them (KIP-590). nullopt: handle it here (this node is the controller, or no
// controller is reachable now, which the handler answers with NOT_CONTROLLER).
template <typename Resp, typename Req>
asio::awaitable<std::optional<Resp>> forward_to_controller(Broker& broker, const Req& req, int16_t version) {
  auto image = broker.store.image();
  protocol::ErrorCode error;
  const metadata::BrokerInfo* controller = remote_controller(broker, *image, &error);
  if (controller == nullptr) co_return std::nullopt;
  cluster::PeerConnection peer(co_await asio::this_coro::executor, "fjord-broker-" + std::to_string(broker.node_id));
  auto resp = co_await peer.call<Resp>(controller->host, controller->port, req, version, std::chrono::milliseconds(30000));
  if (!resp) co_return std::nullopt;
  co_return std::move(*resp);
}

// A producer id no producer has had, from this node's block (a new block when it is used up).
asio::awaitable<tl::expected<int64_t, protocol::ErrorCode>> next_producer_id(Broker& broker);

}  // namespace fjord::broker
