// Metadata writes a broker needs while serving clients (auto-created and internal topics, blocks
// of producer ids), made through the active controller: directly when this node is it (always on
// a single node), otherwise over the Kafka protocol to the controller's broker listener
// (CreateTopics, AllocateProducerIds), as Kafka brokers forward them.
#pragma once

#include <asio/awaitable.hpp>

#include "broker/broker.h"
#include "broker/controller.h"
#include "tl/expected.hpp"

namespace fjord::broker {

// Creates `spec`. On success the result's topic is as this node's image has it (after waiting a
// little for the change to reach it when another node made it).
asio::awaitable<TopicResult> create_topic_via_controller(Broker& broker, NewTopic spec);

// A producer id no producer has had, from this node's block (a new block when it is used up).
asio::awaitable<tl::expected<int64_t, protocol::ErrorCode>> next_producer_id(Broker& broker);

}  // namespace fjord::broker
