// Where partitions live and who leads them: replica placement for new partitions and leader
// election when brokers come and go. Pure functions of the metadata image; the controller turns
// their answers into PartitionRecords.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "metadata/image.h"

namespace fjord::cluster {

struct BrokerSlot {
  int32_t id = -1;
  std::optional<std::string> rack;
};

// Replicas for `partitions` new partitions numbered from `first_partition`, `replication_factor`
// each, over `brokers` (unfenced, any order). Kafka's scheme: the brokers in a rack-alternating
// order, partition p's first replica at (start + p) and the others after it, so leaders and
// replicas spread evenly and, with racks, every partition spans as many racks as it can.
// REQUIRES: 0 < replication_factor <= brokers.size().
std::vector<std::vector<int32_t>> assign_replicas(std::vector<BrokerSlot> brokers, int32_t first_partition,
                                                  int32_t partitions, int32_t replication_factor, uint32_t start);

// The state of a partition after the brokers in `live` are the only ones that may lead: nullopt
// if nothing changes. In-sync replicas that are not live leave the ISR (never the last one, as
// Kafka's controller does when it fences a broker). A leader that is not live gives way to the first live in-sync replica;
// with none, the partition goes offline (leader -1) keeping its last in-sync replica, unless
// `unclean` lets the first live replica lead (then it is the only one in sync). An offline
// partition whose in-sync replica is back gets it as leader. A new leader bumps the leader epoch;
// any change bumps the partition epoch.
std::optional<metadata::PartitionState> elect(const metadata::PartitionState& state, const std::set<int32_t>& live,
                                              bool unclean);

// ElectLeaders (KIP-460), for one partition.
//   Preferred: the first replica (the preferred leader) takes over when it is live and in sync.
//   Unclean: a partition without a leader gets one: the first live in-sync replica, else the
//   first live replica (which is then the only one in sync).
// NotNeeded: the preferred replica leads already (preferred), or there is a leader (unclean).
// NotAvailable: no replica may lead (PREFERRED_LEADER_NOT_AVAILABLE /
// ELIGIBLE_LEADERS_NOT_AVAILABLE). A new leader bumps the leader and partition epochs.
enum class ElectionType : int8_t { Preferred = 0, Unclean = 1 };
enum class ElectionResult { Elected, NotNeeded, NotAvailable };
struct ElectionOutcome {
  ElectionResult result = ElectionResult::NotNeeded;
  std::optional<metadata::PartitionState> state;  // set when Elected
};
ElectionOutcome elect_leader(const metadata::PartitionState& state, const std::set<int32_t>& live, ElectionType type);

// Automatic leader balancing (auto.leader.rebalance.enable): per broker, the share of the
// partitions it is the preferred leader of that another replica leads; where that share is
// above `max_imbalance` (leader.imbalance.per.broker.percentage / 100), the partitions it could
// lead now (live and in sync) are listed, for preferred elections. Kafka's rule.
struct TopicPartitionRef {
  Uuid topic_id;
  std::string topic;
  int32_t partition = 0;
  bool operator==(const TopicPartitionRef&) const = default;
};
std::vector<TopicPartitionRef> imbalanced_partitions(const metadata::Image& image, const std::set<int32_t>& live,
                                                     double max_imbalance);

// Kafka's partition reassignment (KIP-455). `reassign` starts moving a partition to `target`
// (replacing a reassignment in progress), or with nullopt cancels the one in progress: the
// replicas become the target followed by the ones to remove, `adding` the target replicas it did
// not have, `removing` the ones not in the target. A cancel goes back to the replicas from before
// the reassignment (the ISR keeps those of them it has; the leader moves if it was a new one).
// The returned state still has to pass finish_reassignment. Its partition epoch is bumped.
// An error message when the change is not possible (a cancel with none in progress, or one that
// would leave no in-sync replica).
struct Reassigned {
  std::optional<metadata::PartitionState> state;
  std::string error;
};
Reassigned reassign(const metadata::PartitionState& state, const std::optional<std::vector<int32_t>>& target);

// A reassignment whose target replicas are all in sync ends: the replicas become the target, the
// ISR keeps only target replicas, and a leader outside the target gives way to the first target
// replica that is in sync and live (new leader epoch). nullopt while it cannot end yet (or none is
// in progress).
std::optional<metadata::PartitionState> finish_reassignment(const metadata::PartitionState& state,
                                                            const std::set<int32_t>& live);

}  // namespace fjord::cluster
