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

using Ids = std::vector<int32_t>;

TEST(ElectLeader, PreferredTakesOverOnlyWhenLiveAndInSync) {
  PartitionState s{{1, 2, 3}, {2, 3, 1}, 2, 5, 7};
  auto e = elect_leader(s, {1, 2, 3}, ElectionType::Preferred);
  ASSERT_EQ(e.result, ElectionResult::Elected);
  EXPECT_EQ(e.state->leader, 1);
  EXPECT_EQ(e.state->leader_epoch, 6);
  EXPECT_EQ(e.state->partition_epoch, 8);
  EXPECT_EQ(e.state->isr, s.isr);
  // Not in sync, or not live: not available.
  PartitionState behind{{1, 2, 3}, {2, 3}, 2, 5, 7};
  EXPECT_EQ(elect_leader(behind, {1, 2, 3}, ElectionType::Preferred).result, ElectionResult::NotAvailable);
  EXPECT_EQ(elect_leader(s, {2, 3}, ElectionType::Preferred).result, ElectionResult::NotAvailable);
  // Already leading.
  PartitionState led{{1, 2, 3}, {1, 2, 3}, 1, 5, 7};
  EXPECT_EQ(elect_leader(led, {1, 2, 3}, ElectionType::Preferred).result, ElectionResult::NotNeeded);
}

TEST(ElectLeader, UncleanOnlyWithoutALeaderAndFromOutOfSyncReplicasIfNeedBe) {
  PartitionState led{{1, 2, 3}, {2}, 2, 5, 7};
  EXPECT_EQ(elect_leader(led, {1, 3}, ElectionType::Unclean).result, ElectionResult::NotNeeded);
  PartitionState offline{{1, 2, 3}, {2}, -1, 5, 7};
  auto e = elect_leader(offline, {1, 3}, ElectionType::Unclean);
  ASSERT_EQ(e.result, ElectionResult::Elected);
  EXPECT_EQ(e.state->leader, 1);
  EXPECT_EQ(e.state->isr, std::vector<int32_t>{1});
  EXPECT_EQ(e.state->leader_epoch, 6);
  EXPECT_EQ(elect_leader(offline, {}, ElectionType::Unclean).result, ElectionResult::NotAvailable);
}

TEST(ImbalancedPartitions, ABrokerLeadingTooFewOfItsPartitionsGetsThemBack) {
  metadata::Image image;
  metadata::TopicRecord t;
  t.topic.name = "t";
  t.topic.id = Uuid::random();
  t.topic.partitions = 4;
  image = image.apply(t);
  // Broker 1 is preferred for partitions 0 and 1 but leads neither; broker 2 leads its own (2),
  // and broker 3's partition 3 is led by 2 while 3 is out of sync.
  std::vector<PartitionState> states{{{1, 2, 3}, {1, 2, 3}, 2, 1, 1},
                                     {{1, 3, 2}, {3, 2, 1}, 3, 1, 1},
                                     {{2, 3, 1}, {2, 3, 1}, 2, 1, 1},
                                     {{3, 1, 2}, {1, 2}, 2, 1, 1}};
  for (int32_t p = 0; p < 4; ++p) image = image.apply(metadata::PartitionRecord{t.topic.id, p, states[static_cast<size_t>(p)]});
  auto moves = imbalanced_partitions(image, {1, 2, 3}, 0.10);
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_EQ(moves[0].partition, 0);
  EXPECT_EQ(moves[1].partition, 1);
  EXPECT_EQ(moves[0].topic, "t");
  // Broker 1 fenced: nothing to move to it. A high enough threshold: balanced enough.
  EXPECT_TRUE(imbalanced_partitions(image, {2, 3}, 0.10).empty());
  EXPECT_TRUE(imbalanced_partitions(image, {1, 2, 3}, 1.0).empty());
}

TEST(Reassign, MovesToNewReplicasThenEndsWhenTheyAreInSync) {
  PartitionState s{{1, 2}, {1, 2}, 1, 3, 7};
  auto r = reassign(s, Ids{3, 2});
  ASSERT_TRUE(r.state) << r.error;
  EXPECT_EQ(r.state->replicas, (Ids{3, 2, 1}));  // the target, then the ones leaving
  EXPECT_EQ(r.state->adding, (Ids{3}));
  EXPECT_EQ(r.state->removing, (Ids{1}));
  EXPECT_EQ(r.state->isr, (Ids{1, 2}));
  EXPECT_EQ(r.state->leader, 1);
  EXPECT_EQ(r.state->leader_epoch, 3);
  EXPECT_EQ(r.state->partition_epoch, 8);
  EXPECT_FALSE(finish_reassignment(*r.state, {1, 2, 3}));  // 3 is not in sync yet
  PartitionState caught_up = *r.state;
  caught_up.isr = {1, 2, 3};
  auto done = finish_reassignment(caught_up, {1, 2, 3});
  ASSERT_TRUE(done);
  EXPECT_EQ(done->replicas, (Ids{3, 2}));
  EXPECT_EQ(done->isr, (Ids{2, 3}));
  EXPECT_TRUE(done->adding.empty() && done->removing.empty());
  EXPECT_EQ(done->leader, 3);  // the leader left: the first target replica in sync takes over
  EXPECT_EQ(done->leader_epoch, 4);
  EXPECT_EQ(done->partition_epoch, 9);
  // Without a live target replica in sync it waits (the old leader keeps leading).
  EXPECT_FALSE(finish_reassignment(caught_up, {1}));
}

TEST(Reassign, ShrinkingEndsAtOnceAndTheLeaderStaysIfKept) {
  PartitionState s{{1, 2, 3}, {1, 2, 3}, 2, 3, 7};
  auto r = reassign(s, Ids{2, 3});
  ASSERT_TRUE(r.state);
  auto done = finish_reassignment(*r.state, {1, 2, 3});
  ASSERT_TRUE(done);
  EXPECT_EQ(done->replicas, (Ids{2, 3}));
  EXPECT_EQ(done->isr, (Ids{2, 3}));
  EXPECT_EQ(done->leader, 2);
  EXPECT_EQ(done->leader_epoch, 3);
}

TEST(Reassign, CancelGoesBackAndANewTargetReplacesTheOldOne) {
  PartitionState s{{1}, {1}, 1, 0, 0};
  EXPECT_FALSE(reassign(s, std::nullopt).state);  // nothing to cancel
  auto r = reassign(s, Ids{2, 3});
  ASSERT_TRUE(r.state);
  PartitionState half = *r.state;  // 2 caught up, 3 not
  half.isr = {1, 2};
  // A new target: 3 is dropped at once (it was only being added), 1 still leaves.
  auto again = reassign(half, Ids{2, 4});
  ASSERT_TRUE(again.state);
  EXPECT_EQ(again.state->replicas, (Ids{2, 4, 1}));
  EXPECT_EQ(again.state->adding, (Ids{2, 4}));
  EXPECT_EQ(again.state->removing, (Ids{1}));
  EXPECT_EQ(again.state->isr, (Ids{1, 2}));
  // Cancelled: back to the replicas from before, the ISR keeps what it has of them.
  auto back = reassign(half, std::nullopt);
  ASSERT_TRUE(back.state);
  EXPECT_EQ(back.state->replicas, (Ids{1}));
  EXPECT_EQ(back.state->isr, (Ids{1}));
  EXPECT_FALSE(back.state->reassigning());
  EXPECT_EQ(back.state->leader, 1);
}

}  // namespace
}  // namespace fjord::cluster
