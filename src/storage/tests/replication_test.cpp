// The storage side of replication: the leader epoch cache, a follower's appends of the leader's
// batches, the replicated high watermark and truncation.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>

#include <fstream>

#include "storage/leader_epochs.h"
#include "storage/partition_log.h"
#include "storage/tests/test_util.h"

namespace fjord::storage {
namespace fs = std::filesystem;
using namespace storage::testing;
using protocol::ErrorCode;

TEST(LeaderEpochCache, AssignsTruncatesAndAnswersOffsetForLeaderEpoch) {
  TempDir dir("epochs");
  auto cache = LeaderEpochCache::load(Env::posix(), dir.path);
  ASSERT_TRUE(cache.has_value());
  EXPECT_EQ(cache->end_offset_for(0, 10), std::make_pair(-1, int64_t{-1}));
  ASSERT_TRUE(cache->assign(1, 0));
  ASSERT_TRUE(cache->assign(1, 5));  // not newer: ignored
  ASSERT_TRUE(cache->assign(3, 10));
  ASSERT_TRUE(cache->assign(4, 20));
  EXPECT_EQ(cache->latest_epoch(), 4);
  EXPECT_EQ(cache->end_offset_for(4, 25), std::make_pair(4, int64_t{25}));  // latest: the log end
  EXPECT_EQ(cache->end_offset_for(3, 25), std::make_pair(3, int64_t{20}));
  EXPECT_EQ(cache->end_offset_for(2, 25), std::make_pair(1, int64_t{10}));  // floor epoch 1, ends at 3's start
  EXPECT_EQ(cache->end_offset_for(0, 25), std::make_pair(0, int64_t{0}));   // older than any
  EXPECT_EQ(cache->end_offset_for(7, 25), std::make_pair(-1, int64_t{-1}));  // newer than any

  // Persisted in Kafka's format, and read back.
  std::ifstream in(dir.path / kLeaderEpochCheckpoint);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "0\n3\n1 0\n3 10\n4 20\n");
  auto again = LeaderEpochCache::load(Env::posix(), dir.path);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->entries(), cache->entries());

  ASSERT_TRUE(cache->truncate_from_end(15));
  EXPECT_EQ(cache->latest_epoch(), 3);
  ASSERT_TRUE(cache->truncate_from_start(12));
  ASSERT_EQ(cache->entries().size(), 1u);
  EXPECT_EQ(cache->entries()[0], (EpochEntry{3, 12}));
  // An epoch whose start is at or after a newer one's: the old entry wrote nothing that stayed.
  ASSERT_TRUE(cache->assign(5, 12));
  ASSERT_EQ(cache->entries().size(), 1u);
  EXPECT_EQ(cache->entries()[0], (EpochEntry{5, 12}));

  std::ofstream(dir.path / kLeaderEpochCheckpoint) << "0\n2\n3 10\n2 20\n";
  EXPECT_FALSE(LeaderEpochCache::load(Env::posix(), dir.path).has_value());
}

namespace {

struct Replica {
  Replica(const fs::path& dir) {
    auto l = PartitionLog::open(Env::posix(), dir, LogConfig{}, 0, 0, true, 1000, nullptr, io.get_executor());
    EXPECT_TRUE(l.has_value());
    log = std::move(*l);
    log->set_replicated(true);
  }
  asio::io_context io;
  std::unique_ptr<PartitionLog> log;
};

Bytes read_all(const PartitionLog& log, int64_t from) {
  auto r = log.read_for_replica(from, 1 << 20);
  EXPECT_TRUE(r.has_value());
  Bytes out;
  for (const FileRange& range : r->ranges) {
    size_t at = out.size();
    out.resize(at + range.length);
    EXPECT_TRUE(range.file->read_at(range.position, std::span<uint8_t>(out.data() + at, range.length)).has_value());
  }
  return out;
}

}  // namespace

TEST(Replication, FollowerAppendKeepsOffsetsEpochsAndProducerState) {
  TempDir ldir("leader"), fdir("follower");
  Replica leader(ldir.path), follower(fdir.path);
  ASSERT_TRUE(leader.log->begin_leader_epoch(2));
  Bytes b1 = make_batch(3, 10, 1000);
  ASSERT_TRUE(leader.log->append(b1, 1000).has_value());
  ASSERT_TRUE(leader.log->begin_leader_epoch(5));
  protocol::RecordBatchBuilder idem(2000);
  idem.add(Bytes{'k'}, Bytes{'v'}, 2000);
  Bytes b2 = idem.build(0, 77, 1, 0);
  ASSERT_TRUE(leader.log->append(b2, 2000).has_value());
  EXPECT_EQ(leader.log->log_end_offset(), 4);
  // Past the high watermark: readable by a replica, not by a consumer, and not out of range.
  EXPECT_EQ(leader.log->high_watermark(), 0);
  auto consumer = leader.log->read(2, 1 << 20, true);
  ASSERT_TRUE(consumer.has_value());
  EXPECT_EQ(consumer->bytes, 0u);
  EXPECT_FALSE(leader.log->read(5, 1 << 20, true).has_value());

  Bytes fetched = read_all(*leader.log, 0);
  auto appended = follower.log->append_replicated(fetched, 3000);
  ASSERT_TRUE(appended.has_value());
  EXPECT_EQ(appended->base_offset, 0);
  EXPECT_EQ(appended->last_offset, 3);
  EXPECT_EQ(read_all(*follower.log, 0), fetched);  // byte for byte
  EXPECT_EQ(follower.log->leader_epochs().entries(), leader.log->leader_epochs().entries());
  EXPECT_EQ(follower.log->leader_epochs().entries(), (std::vector<EpochEntry>{{2, 0}, {5, 3}}));
  ASSERT_NE(follower.log->producer_state().find(77), nullptr);
  EXPECT_EQ(follower.log->producer_state().find(77)->last_seq(), 0);
  // The same batches again are refused (they do not start at the log end).
  auto again = follower.log->append_replicated(fetched, 3000);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error(), ErrorCode::OFFSET_OUT_OF_RANGE);
  // A partial batch at the end of a fetch is left for the next one.
  Bytes partial(fetched.begin(), fetched.begin() + 20);
  auto none = follower.log->append_replicated(partial, 3000);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->base_offset, -1);
}

TEST(Replication, HighWatermarkWakesWaitersAndTruncationDropsDivergedEpochs) {
  TempDir dir("hw");
  Replica r(dir.path);
  ASSERT_TRUE(r.log->begin_leader_epoch(1));
  Bytes b = make_batch(5, 10, 1000);
  ASSERT_TRUE(r.log->append(b, 1000).has_value());
  std::vector<ErrorCode> results;
  r.log->when_replicated(3, [&](ErrorCode e) { results.push_back(e); });
  r.log->when_replicated(5, [&](ErrorCode e) { results.push_back(e); });
  EXPECT_TRUE(results.empty());
  r.log->set_high_watermark(3, true);
  EXPECT_EQ(results, std::vector<ErrorCode>{ErrorCode::NONE});
  EXPECT_EQ(r.log->high_watermark(), 3);
  r.log->set_high_watermark(2, true);  // a leader's only rises
  EXPECT_EQ(r.log->high_watermark(), 3);
  r.log->set_high_watermark(99, true);  // capped at the log end
  EXPECT_EQ(r.log->high_watermark(), 5);
  EXPECT_EQ(results.size(), 2u);
  r.log->when_replicated(9, [&](ErrorCode e) { results.push_back(e); });
  r.log->fail_replication_waiters(ErrorCode::NOT_LEADER_OR_FOLLOWER);
  EXPECT_EQ(results.back(), ErrorCode::NOT_LEADER_OR_FOLLOWER);

  ASSERT_TRUE(r.log->begin_leader_epoch(4));
  Bytes c = make_batch(2, 10, 2000);
  ASSERT_TRUE(r.log->append(c, 2000).has_value());
  EXPECT_EQ(r.log->end_offset_for_epoch(1), std::make_pair(1, int64_t{5}));
  ASSERT_TRUE(r.log->truncate_to(5).has_value());
  EXPECT_EQ(r.log->log_end_offset(), 5);
  EXPECT_EQ(r.log->latest_leader_epoch(), 1);
  // A single-replica log keeps its high watermark at the log end, as before.
  r.log->set_replicated(false);
  EXPECT_EQ(r.log->high_watermark(), r.log->log_end_offset());
}

TEST(Replication, ResetStartsTheLogOverEmptyAtAnOffset) {
  TempDir dir("reset");
  Replica r(dir.path);
  ASSERT_TRUE(r.log->begin_leader_epoch(1));
  protocol::RecordBatchBuilder idem(1000);
  idem.add(Bytes{'k'}, Bytes{'v'}, 1000);
  Bytes b = idem.build(0, 9, 0, 0);
  ASSERT_TRUE(r.log->append(b, 1000).has_value());
  ASSERT_TRUE(r.log->reset_to(500).has_value());
  EXPECT_EQ(r.log->log_start_offset(), 500);
  EXPECT_EQ(r.log->log_end_offset(), 500);
  EXPECT_EQ(r.log->producer_state().find(9), nullptr);
  EXPECT_TRUE(r.log->leader_epochs().entries().empty());
  // The leader's batches from there on follow (a leader whose log starts at 500 too).
  TempDir l2dir("reset-leader");
  Replica leader2(l2dir.path);
  ASSERT_TRUE(leader2.log->reset_to(500).has_value());
  ASSERT_TRUE(leader2.log->begin_leader_epoch(3));
  for (int i = 0; i < 3; ++i) {
    Bytes x = make_batch(1, 10, 2000 + i);
    ASSERT_TRUE(leader2.log->append(x, 2000).has_value());
  }
  Bytes fetched = read_all(*leader2.log, 500);
  auto appended = r.log->append_replicated(fetched, 3000);
  ASSERT_TRUE(appended.has_value());
  EXPECT_EQ(appended->base_offset, 500);
  EXPECT_EQ(r.log->log_end_offset(), 503);
  EXPECT_EQ(r.log->latest_leader_epoch(), 3);
  // And it survives a reopen.
  r.log.reset();
  Replica again(dir.path);
  EXPECT_EQ(again.log->log_start_offset(), 500);
  EXPECT_EQ(again.log->log_end_offset(), 503);
}

}  // namespace fjord::storage
