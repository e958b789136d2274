#include "cluster/placement.h"

#include <algorithm>
#include <map>

namespace fjord::cluster {

std::vector<std::vector<int32_t>> assign_replicas(std::vector<BrokerSlot> brokers, int32_t first_partition,
                                                  int32_t partitions, int32_t replication_factor, uint32_t start) {
  std::sort(brokers.begin(), brokers.end(), [](const BrokerSlot& a, const BrokerSlot& b) { return a.id < b.id; });
  // Rack-alternating order: the first broker of each rack, then the second of each, ...
  std::map<std::string, std::vector<int32_t>> by_rack;
  std::map<int32_t, std::string> rack_of;
  for (const BrokerSlot& b : brokers) {
    by_rack[b.rack.value_or("")].push_back(b.id);
    rack_of[b.id] = b.rack.value_or("");
  }
  std::vector<int32_t> order;
  for (size_t round = 0; order.size() < brokers.size(); ++round)
    for (const auto& [rack, ids] : by_rack)
      if (round < ids.size()) order.push_back(ids[round]);
  const size_t n = order.size();
  std::vector<std::vector<int32_t>> out;
  for (int32_t i = 0; i < partitions; ++i) {
    const size_t first = (start + static_cast<size_t>(first_partition + i)) % n;
    // The followers step by a shift that changes every n partitions, as Kafka's does, so that two
    // partitions with the same leader do not always have the same followers.
    const size_t shift = n > 1 ? 1 + (static_cast<size_t>(first_partition + i) / n) % (n - 1) : 0;
    std::vector<int32_t> replicas{order[first]};
    std::set<std::string> racks_used{rack_of[order[first]]};
    for (int32_t r = 1; r < replication_factor; ++r) {
      // The next broker from first + shift that is not a replica yet, in a rack not used yet while
      // one is left.
      const bool new_rack = racks_used.size() < by_rack.size();
      size_t at = (first + shift + static_cast<size_t>(r - 1)) % n;
      for (size_t tries = 0; tries < n; ++tries, at = (at + 1) % n) {
        int32_t id = order[at];
        if (std::find(replicas.begin(), replicas.end(), id) != replicas.end()) continue;
        if (new_rack && racks_used.contains(rack_of[id])) continue;
        break;
      }
      replicas.push_back(order[at]);
      racks_used.insert(rack_of[order[at]]);
    }
    out.push_back(std::move(replicas));
  }
  return out;
}

std::optional<metadata::PartitionState> elect(const metadata::PartitionState& state, const std::set<int32_t>& live,
                                              bool unclean) {
  metadata::PartitionState next = state;
  if (state.leader < 0 || !live.contains(state.leader)) {
    next.leader = -1;
    for (int32_t r : state.isr) {
      if (live.contains(r)) {
        next.leader = r;
        break;
      }
    }
  }
  if (next.leader < 0 && unclean) {
    for (int32_t r : state.replicas) {
      if (live.contains(r)) {
        next.leader = r;
        next.isr = {r};
        break;
      }
    }
  }
  if (next.leader >= 0) {
    // The in-sync set loses the brokers that are gone (never the last one).
    std::vector<int32_t> isr;
    for (int32_t r : next.isr)
      if (live.contains(r)) isr.push_back(r);
    if (!isr.empty()) next.isr = std::move(isr);
  }
  if (next.leader == state.leader && next.isr == state.isr) return std::nullopt;
  if (next.leader != state.leader) ++next.leader_epoch;
  ++next.partition_epoch;
  return next;
}

}  // namespace fjord::cluster
