// Cluster mode: this node's membership. It registers with the active controller (itself when it
// leads the quorum, otherwise over the Kafka protocol to the controller's broker listener) and
// heartbeats every broker.heartbeat.interval.ms; and while it is the active controller it fences
// brokers that stop heartbeating and elects leaders (Controller::check_brokers).
#pragma once

#include <asio/awaitable.hpp>

#include <memory>

#include "broker/broker.h"

namespace fjord::broker {

class Membership;

// Starts both loops on the controller thread. REQUIRES: cluster mode, advertised address known.
std::shared_ptr<Membership> start_membership(Broker& broker);

// Controlled shutdown: asks the controller to fence this broker now (its partitions get other
// leaders, or go offline, at once rather than after broker.session.timeout.ms) and stops
// heartbeating. Completes on the controller thread when the controller agreed, or after a few
// seconds without an answer.
asio::awaitable<void> leave_cluster(std::shared_ptr<Membership> membership);

}  // namespace fjord::broker
