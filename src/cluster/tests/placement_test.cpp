#include "cluster/placement.h"

#include <map>

#include <gtest/gtest.h>

namespace fjord::cluster {
namespace {

using metadata::PartitionState;

TEST(Placement, SpreadsLeadersAndReplicasEvenly) {
  std::vector<BrokerSlot> brokers{{3, {}}, {1, {}}, {2, {}}};
  auto a = assign_replicas(brokers, 0, 6, 3, 0);
  ASSERT_EQ(a.size(), 6u);
  std::map<int32_t, int> leaders, replicas;
  for (const auto& r : a) {
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(std::set<int32_t>(r.begin(), r.end()).size(), 3u);  // no broker twice
    ++leaders[r[0]];
    for (int32_t b : r) ++replicas[b];
  }
  for (int32_t b : {1, 2, 3}) {
    EXPECT_EQ(leaders[b], 2);
    EXPECT_EQ(replicas[b], 6);
  }
  // Continuing from partition 6 keeps the rotation going.
  auto more = assign_replicas(brokers, 6, 3, 1, 0);
  EXPECT_EQ(more[0][0], a[0][0]);
}

TEST(Placement, RacksAlternate) {
  std::vector<BrokerSlot> brokers{{1, "a"}, {2, "a"}, {3, "b"}, {4, "b"}};
  for (const auto& r : assign_replicas(brokers, 0, 8, 2, 1)) {
    auto rack = [](int32_t id) { return id <= 2 ? "a" : "b"; };
    EXPECT_NE(std::string(rack(r[0])), std::string(rack(r[1])));
  }
}

TEST(Elect, LeaderStaysWhileLive) {
  PartitionState s{{1, 2, 3}, {1, 2, 3}, 1, 4, 9};
  EXPECT_FALSE(elect(s, {1, 2, 3}, false));
}

TEST(Elect, DeadFollowerLeavesTheIsrLeaderStays) {
  PartitionState s{{1, 2, 3}, {1, 2, 3}, 1, 4, 9};
  auto n = elect(s, {1, 2}, false);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->leader, 1);
  EXPECT_EQ(n->isr, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(n->leader_epoch, 4);  // same leader: same epoch
  EXPECT_EQ(n->partition_epoch, 10);
  EXPECT_FALSE(elect(*n, {1, 2}, false));
}

TEST(Elect, NextInSyncReplicaTakesOver) {
  PartitionState s{{1, 2, 3}, {1, 3}, 1, 4, 9};
  auto n = elect(s, {2, 3}, false);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->leader, 3);  // 2 is not in sync
  EXPECT_EQ(n->isr, (std::vector<int32_t>{3}));
  EXPECT_EQ(n->leader_epoch, 5);
  EXPECT_EQ(n->partition_epoch, 10);
}

TEST(Elect, OfflineWithoutUncleanThenBack) {
  PartitionState s{{1, 2}, {1}, 1, 0, 0};
  auto off = elect(s, {2}, false);
  ASSERT_TRUE(off);
  EXPECT_EQ(off->leader, -1);
  EXPECT_EQ(off->isr, std::vector<int32_t>{1});  // the last in-sync replica is kept
  EXPECT_EQ(off->leader_epoch, 1);
  EXPECT_FALSE(elect(*off, {2}, false));  // still nothing to do
  auto back = elect(*off, {1, 2}, false);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->leader, 1);
  EXPECT_EQ(back->leader_epoch, 2);
  auto unclean = elect(*off, {2}, true);
  ASSERT_TRUE(unclean);
  EXPECT_EQ(unclean->leader, 2);
  EXPECT_EQ(unclean->isr, std::vector<int32_t>{2});
}

}  // namespace
}  // namespace fjord::cluster
