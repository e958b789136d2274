// `fjord cluster describe`: the brokers, the active controller, and partitions that are offline
// (no leader) or under-replicated (fewer in sync than replicas), from one Metadata request sent
// with Fjord's own codecs (librdkafka 2.0 does not expose the controller or offline replicas).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "client/client.h"
#include "client/rdkafka_helpers.h"
#include "client/wire.h"
#include "protocol/generated/elect_leaders_request.h"
#include "protocol/generated/elect_leaders_response.h"
#include "protocol/generated/error_codes.h"
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
  const bool no_quorum = md->controller_id < 0;
  fmt::print("cluster id: {}\ncontroller: {}\n", md->cluster_id.value_or("-"),
             no_quorum ? std::string("none: the metadata quorum has no leader (is a majority of the voters up and "
                                     "reachable?); what follows is this broker's last known state")
                       : std::to_string(md->controller_id));
  auto brokers = md->brokers;
  std::sort(brokers.begin(), brokers.end(), [](const auto& a, const auto& b) { return a.node_id < b.node_id; });
  // Metadata lists the brokers clients may use; a registered broker that is fenced (stopped,
  // dead or cut off) is missing there but still named among the partitions' replicas.
  std::set<int32_t> listed, replicas;
  for (const auto& b : brokers) listed.insert(b.node_id);
  for (const auto& t : md->topics)
    for (const auto& p : t.partitions) replicas.insert(p.replica_nodes.begin(), p.replica_nodes.end());
  std::vector<std::vector<std::string>> rows{{"BROKER", "STATE", "HOST", "PORT", "RACK", "LEADS"}};
  auto leads_of = [&](int32_t id) {
    size_t leads = 0;
    for (const auto& t : md->topics)
      for (const auto& p : t.partitions) leads += p.leader_id == id ? 1 : 0;
    return std::to_string(leads);
  };
  for (const auto& b : brokers)
    rows.push_back({std::to_string(b.node_id), "alive", b.host, std::to_string(b.port), b.rack.value_or("-"),
                    leads_of(b.node_id)});
  for (int32_t id : replicas)
    if (!listed.contains(id)) rows.push_back({std::to_string(id), "fenced (down)", "-", "-", "-", leads_of(id)});
  std::sort(rows.begin() + 1, rows.end(), [](const auto& a, const auto& b) { return std::stoi(a[0]) < std::stoi(b[0]); });
  print_table(rows);
  std::vector<std::vector<std::string>> trouble{{"TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR", "OFFLINE", "STATE"}};
  size_t partitions = 0, offline_count = 0, under_count = 0;
  auto ids = [](const std::vector<int32_t>& v) { return v.empty() ? std::string("-") : fmt::format("{}", fmt::join(v, ",")); };
  auto topics = md->topics;
  std::sort(topics.begin(), topics.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& t : topics) {
    for (const auto& p : t.partitions) {
      ++partitions;
      const bool offline = p.leader_id < 0;
      const bool under = p.isr_nodes.size() < p.replica_nodes.size();
      if (!offline && !under) continue;
      offline_count += offline ? 1 : 0;
      under_count += offline ? 0 : 1;
      trouble.push_back({t.name.value_or("?"), std::to_string(p.partition_index),
                         offline ? std::string("none") : std::to_string(p.leader_id), ids(p.replica_nodes),
                         ids(p.isr_nodes), ids(p.offline_replicas), offline ? "offline" : "under-replicated"});
    }
  }
  fmt::print("{} topic(s), {} partition(s): {} offline, {} under-replicated{}\n", topics.size(), partitions,
             offline_count, under_count, no_quorum ? " (as last known: no quorum)" : "");
  if (trouble.size() > 1) print_table(trouble);
  return 0;
}

int cluster_elect_leaders(const Common& c, const std::string& topic, const std::vector<int>& partitions, bool unclean) {
  auto conn = WireConnection::open(c.brokers, c.timeout_ms);
  if (!conn) return fail(conn.error());
  protocol::ElectLeadersRequest req;
  req.election_type = unclean ? 1 : 0;
  req.timeout_ms = c.timeout_ms;
  if (topic.empty()) {
    req.topic_partitions = std::nullopt;  // every partition
  } else {
    std::vector<int> asked = partitions;
    if (asked.empty()) {
      protocol::MetadataRequest mreq;
      mreq.topics.emplace().emplace_back().name = topic;
      mreq.allow_auto_topic_creation = false;
      auto md = conn->call<protocol::MetadataResponse>(mreq, 12);
      if (!md) return fail(md.error());
      if (md->topics.empty() || md->topics[0].error_code != 0)
        return fail(fmt::format("topic {}: {}", topic,
                                md->topics.empty() ? "not found"
                                                   : protocol::error_name(static_cast<protocol::ErrorCode>(
                                                         md->topics[0].error_code))));
      for (const auto& p : md->topics[0].partitions) asked.push_back(p.partition_index);
      std::sort(asked.begin(), asked.end());
    }
    auto& t = req.topic_partitions->emplace_back();
    t.topic = topic;
    for (int p : asked) t.partitions.push_back(p);
  }
  auto resp = conn->call<protocol::ElectLeadersResponse>(req, 2);
  if (!resp) return fail(resp.error());
  if (resp->error_code != 0)
    return fail(fmt::format("leader election refused: {}",
                            protocol::error_name(static_cast<protocol::ErrorCode>(resp->error_code))));
  std::vector<std::vector<std::string>> rows{{"TOPIC", "PARTITION", "RESULT"}};
  size_t elected = 0, failed = 0;
  for (const auto& t : resp->replica_election_results) {
    for (const auto& p : t.partition_result) {
      const auto e = static_cast<protocol::ErrorCode>(p.error_code);
      std::string result = "elected";
      if (e == protocol::ErrorCode::NONE) {
        ++elected;
      } else if (e == protocol::ErrorCode::ELECTION_NOT_NEEDED) {
        result = "not needed";
      } else {
        ++failed;
        result = fmt::format("{}{}{}", protocol::error_name(e), p.error_message ? ": " : "", p.error_message.value_or(""));
      }
      rows.push_back({t.topic, std::to_string(p.partition_id), result});
    }
  }
  if (rows.size() > 1) print_table(rows);
  fmt::print("{} election(s) done, {} failed ({} leader election)\n", elected, failed, unclean ? "unclean" : "preferred");
  return failed == 0 ? 0 : 1;
}

}  // namespace fjord::client
