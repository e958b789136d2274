// Cluster mode: this node's membership. It registers with the active controller (itself when it
// leads the quorum, otherwise over the Kafka protocol to the controller's broker listener) and
// heartbeats every broker.heartbeat.interval.ms; and while it is the active controller it fences
// brokers that stop heartbeating and elects leaders (Controller::check_brokers).
#pragma once

#include "broker/broker.h"

namespace fjord::broker {

// Starts both loops on the controller thread. REQUIRES: cluster mode, advertised address known.
void start_membership(Broker& broker);

}  // namespace fjord::broker
