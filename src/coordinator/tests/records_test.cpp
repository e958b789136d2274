#include "coordinator/records.h"

#include <gtest/gtest.h>

namespace fjord::coordinator {
namespace {

TEST(Records, PartitionForMatchesKafka) {
  // Values from Java: Math.abs("my-group".hashCode()) % 50 and friends.
  EXPECT_EQ(partition_for("", 50), 0);
  EXPECT_EQ(partition_for("a", 50), 97 % 50);
  EXPECT_EQ(partition_for("my-group", 50), 1906497762 % 50);  // "my-group".hashCode() = -1906497762
  // Negative hash: "polygenelubricants".hashCode() == Integer.MIN_VALUE; Kafka's Utils.abs gives 0.
  EXPECT_EQ(partition_for("polygenelubricants", 50), 0);
  // Non-ASCII: "é" is U+00E9 (233) as one UTF-16 unit.
  EXPECT_EQ(partition_for("\xC3\xA9", 1000), 233);
  // Outside the BMP: U+1F600 is the surrogate pair D83D DE00: 31*0xD83D + 0xDE00.
  EXPECT_EQ(partition_for("\xF0\x9F\x98\x80", 1 << 30), (31 * 0xD83D + 0xDE00) % (1 << 30));
}

TEST(Records, OffsetAndGroupRecordsReplay) {
  CommittedOffset offset{42, 3, "meta", 1234};
  OffsetsRecord r = offset_commit_record("g", "t", 5, offset);
  ASSERT_TRUE(r.value);
  // Key version 1, then group, topic, partition.
  EXPECT_EQ(r.key[0], 0);
  EXPECT_EQ(r.key[1], 1);
  std::optional<CommittedOffset> seen;
  std::string group, topic;
  int32_t partition = -1;
  ReplayHandler h;
  h.offset = [&](const std::string& g, const std::string& t, int32_t p, std::optional<CommittedOffset> o) {
    group = g;
    topic = t;
    partition = p;
    seen = o;
  };
  ASSERT_TRUE(replay_record(r.key, ByteView(*r.value), h));
  EXPECT_EQ(group, "g");
  EXPECT_EQ(topic, "t");
  EXPECT_EQ(partition, 5);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->offset, 42);
  EXPECT_EQ(seen->leader_epoch, 3);
  EXPECT_EQ(seen->metadata, "meta");
  EXPECT_EQ(seen->commit_timestamp, 1234);

  OffsetsRecord tomb = offset_commit_record("g", "t", 5, std::nullopt);
  EXPECT_FALSE(tomb.value);
  ASSERT_TRUE(replay_record(tomb.key, std::nullopt, h));
  EXPECT_FALSE(seen);

  protocol::GroupMetadataValue v;
  v.protocol_type = "consumer";
  v.generation = 9;
  v.protocol = "range";
  v.leader = "m1";
  auto& m = v.members.emplace_back();
  m.member_id = "m1";
  m.group_instance_id = "i1";
  m.assignment = {1, 2, 3};
  OffsetsRecord gr = group_metadata_record("g", v);
  std::optional<protocol::GroupMetadataValue> got;
  h.group = [&](const std::string&, std::optional<protocol::GroupMetadataValue> x) { got = std::move(x); };
  ASSERT_TRUE(replay_record(gr.key, ByteView(*gr.value), h));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, v);

  Bytes junk = {0, 9, 1};
  EXPECT_FALSE(replay_record(junk, std::nullopt, h));
  Bytes truncated(r.key.begin(), r.key.begin() + 4);
  EXPECT_FALSE(replay_record(truncated, std::nullopt, h));
}

}  // namespace
}  // namespace fjord::coordinator
