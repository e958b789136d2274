// Where partitions live and who leads them: replica placement for new partitions and leader
// election when brokers come and go. Pure functions of the metadata image; the controller turns
// their answers into PartitionRecords.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
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

}  // namespace fjord::cluster
