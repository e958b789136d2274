// `fjord cluster describe`: the brokers, the active controller, and partitions that are offline
// (no leader) or under-replicated (fewer in sync than replicas), from one Metadata request sent
// with Fjord's own codecs (librdkafka 2.0 does not expose the controller or offline replicas).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "client/client.h"
#include "client/rdkafka_helpers.h"
#include "client/wire.h"
#include "protocol/generated/metadata_request.h"
#include "protocol/generated/metadata_response.h"

namespace fjord::client {

int cluster_describe(const Common& c) {
  auto conn = WireConnection::open(c.brokers, c.timeout_ms);
  if (!conn) return fail(conn.error());
  protocol::MetadataRequest req;
  req.topics = std::nullopt;  // every topic
  req.allow_auto_topic_creation = false;
  auto md = conn->call<protocol::MetadataResponse>(req, 12);
  if (!md) return fail(md.error());
  fmt::print("cluster id: {}\ncontroller: {}\n", md->cluster_id.value_or("-"),
             md->controller_id < 0 ? std::string("none") : std::to_string(md->controller_id));
  auto brokers = md->brokers;
  std::sort(brokers.begin(), brokers.end(), [](const auto& a, const auto& b) { return a.node_id < b.node_id; });
  std::vector<std::vector<std::string>> rows{{"BROKER", "HOST", "PORT", "RACK", "LEADS"}};
  for (const auto& b : brokers) {
    size_t leads = 0;
    for (const auto& t : md->topics)
      for (const auto& p : t.partitions) leads += p.leader_id == b.node_id ? 1 : 0;
    rows.push_back({std::to_string(b.node_id), b.host, std::to_string(b.port), b.rack.value_or("-"), std::to_string(leads)});
  }
  print_table(rows);
  std::vector<std::vector<std::string>> trouble{{"TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR", "OFFLINE", "STATE"}};
  size_t partitions = 0;
  auto ids = [](const std::vector<int32_t>& v) { return v.empty() ? std::string("-") : fmt::format("{}", fmt::join(v, ",")); };
  auto topics = md->topics;
  std::sort(topics.begin(), topics.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& t : topics) {
    for (const auto& p : t.partitions) {
      ++partitions;
      const bool offline = p.leader_id < 0;
      const bool under = p.isr_nodes.size() < p.replica_nodes.size();
      if (!offline && !under) continue;
      trouble.push_back({t.name.value_or("?"), std::to_string(p.partition_index),
                         offline ? std::string("none") : std::to_string(p.leader_id), ids(p.replica_nodes),
                         ids(p.isr_nodes), ids(p.offline_replicas), offline ? "offline" : "under-replicated"});
    }
  }
  fmt::print("{} topic(s), {} partition(s), {} offline or under-replicated\n", topics.size(), partitions,
             trouble.size() - 1);
  if (trouble.size() > 1) print_table(trouble);
  return 0;
}

}  // namespace fjord::client
