// BrokerLiveness: on the active controller, fences a broker whose process is gone without
// waiting out broker.session.timeout.ms (Kafka waits the whole session, 9 s by default). A broker
// is suspected when the connection its heartbeats came on closes, when a heartbeat is overdue,
// or when this node takes over as controller; it is fenced only if its client listener then
// refuses connections: nothing listens there, so the process is gone (a kill -9 or a crash).
// A paused or partitioned broker does not refuse (no answer, or a timeout), so it keeps its
// whole session, and one lost connection alone fences nobody.
//
// Lives on the controller thread (every call there); made by start_membership, cluster mode only.
#pragma once

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace fjord::broker {

struct Broker;

class BrokerLiveness : public std::enable_shared_from_this<BrokerLiveness> {
 public:
  explicit BrokerLiveness(Broker& broker) : broker_(broker) {}

  // Probes `broker_id`'s listener (one probe at a time per broker); fences it when the
  // connection is refused. `repeatable` suspicions (an overdue heartbeat, a takeover) are not
  // probed again for a while after a probe found the broker listening; a closed heartbeat
  // connection is new evidence and always is.
  void suspect(int32_t broker_id, std::string why, bool repeatable = false);

  // How long a probe waits for the connection: a listener on a live host answers in well under
  // a millisecond; no answer at all is not a refusal.
  static constexpr std::chrono::milliseconds kProbeTimeout{500};
  // After a probe found the broker listening.
  static constexpr std::chrono::milliseconds kQuietAfterAlive{1000};

 private:
  asio::awaitable<void> probe(int32_t broker_id, const std::string& why);

  Broker& broker_;
  std::map<int32_t, bool> in_flight_;
  std::map<int32_t, std::string> again_;  // new evidence that came during a probe: probe again after it
  std::map<int32_t, std::chrono::steady_clock::time_point> quiet_until_;  // found listening: repeatable ones wait
};

}  // namespace fjord::broker
