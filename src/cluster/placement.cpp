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

namespace {

bool has(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

ElectionOutcome elect_leader(const metadata::PartitionState& state, const std::set<int32_t>& live, ElectionType type) {
  if (type == ElectionType::Unclean) {
    if (state.leader >= 0) return {ElectionResult::NotNeeded, std::nullopt};
    auto next = elect(state, live, true);
    if (!next || next->leader < 0) return {ElectionResult::NotAvailable, std::nullopt};
    return {ElectionResult::Elected, std::move(next)};
  }
  if (state.replicas.empty()) return {ElectionResult::NotAvailable, std::nullopt};
  const int32_t preferred = state.replicas.front();
  if (state.leader == preferred) return {ElectionResult::NotNeeded, std::nullopt};
  if (!live.contains(preferred) || !has(state.isr, preferred)) return {ElectionResult::NotAvailable, std::nullopt};
  metadata::PartitionState next = state;
  next.leader = preferred;
  ++next.leader_epoch;
  ++next.partition_epoch;
  return {ElectionResult::Elected, std::move(next)};
}

std::vector<TopicPartitionRef> imbalanced_partitions(const metadata::Image& image, const std::set<int32_t>& live,
                                                     double max_imbalance) {
  struct Share {
    int preferred = 0;  // partitions it is the preferred leader of
    int led_elsewhere = 0;
    std::vector<TopicPartitionRef> movable;  // of those, where it is live and in sync
  };
  std::map<int32_t, Share> shares;
  for (const auto& [name, topic] : image.topics()) {
    for (int32_t p = 0; p < static_cast<int32_t>(topic->assignment.size()); ++p) {
      const metadata::PartitionState& s = topic->assignment[static_cast<size_t>(p)];
      if (s.replicas.empty() || s.reassigning()) continue;
      Share& share = shares[s.replicas.front()];
      ++share.preferred;
      if (s.leader == s.replicas.front()) continue;
      ++share.led_elsewhere;
      if (live.contains(s.replicas.front()) && has(s.isr, s.replicas.front()))
        share.movable.push_back({topic->id, name, p});
    }
  }
  std::vector<TopicPartitionRef> out;
  for (auto& [broker, share] : shares) {
    if (share.preferred == 0 || !live.contains(broker)) continue;
    if (static_cast<double>(share.led_elsewhere) / share.preferred <= max_imbalance) continue;
    for (auto& tp : share.movable) out.push_back(std::move(tp));
  }
  return out;
}

namespace {

std::vector<int32_t> minus(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  std::vector<int32_t> out;
  for (int32_t x : a)
    if (!has(b, x)) out.push_back(x);
  return out;
}

}  // namespace

Reassigned reassign(const metadata::PartitionState& state, const std::optional<std::vector<int32_t>>& target) {
  // The replicas from before any reassignment in progress.
  const std::vector<int32_t> original = minus(state.replicas, state.adding);
  metadata::PartitionState next = state;
  if (!target) {
    if (!state.reassigning()) return {std::nullopt, "no reassignment in progress"};
    std::vector<int32_t> isr;
    for (int32_t r : state.isr)
      if (has(original, r)) isr.push_back(r);
    if (isr.empty()) return {std::nullopt, "cancelling would leave the partition without an in-sync replica"};
    next.replicas = original;
    next.isr = std::move(isr);
    next.adding.clear();
    next.removing.clear();
    if (!has(next.isr, next.leader)) {
      next.leader = next.isr.front();
      ++next.leader_epoch;
    }
  } else {
    next.replicas = *target;
    for (int32_t r : original)
      if (!has(*target, r)) next.replicas.push_back(r);
    next.adding = minus(*target, original);
    next.removing = minus(original, *target);
    // Replicas added by the replaced reassignment and not wanted now leave at once.
    std::vector<int32_t> isr;
    for (int32_t r : state.isr)
      if (has(next.replicas, r)) isr.push_back(r);
    if (isr.empty()) return {std::nullopt, "the new replicas would leave the partition without an in-sync replica"};
    next.isr = std::move(isr);
    if (!has(next.isr, next.leader)) {
      next.leader = next.isr.front();
      ++next.leader_epoch;
    }
  }
  ++next.partition_epoch;
  return {std::move(next), ""};
}

std::optional<metadata::PartitionState> finish_reassignment(const metadata::PartitionState& state,
                                                            const std::set<int32_t>& live) {
  if (!state.reassigning()) return std::nullopt;
  const std::vector<int32_t> target = minus(state.replicas, state.removing);
  for (int32_t r : target)
    if (!has(state.isr, r)) return std::nullopt;
  metadata::PartitionState next = state;
  next.replicas = target;
  next.isr.clear();
  for (int32_t r : state.isr)
    if (has(target, r)) next.isr.push_back(r);
  next.adding.clear();
  next.removing.clear();
  if (!has(target, next.leader)) {
    int32_t leader = -1;
    for (int32_t r : target) {
      if (has(next.isr, r) && live.contains(r)) {
        leader = r;
        break;
      }
    }
    // No live target replica yet: it ends when one is back (the current leader keeps leading).
    if (leader < 0) return std::nullopt;
    next.leader = leader;
    ++next.leader_epoch;
  }
  ++next.partition_epoch;
  return next;
}

}  // namespace fjord::cluster
