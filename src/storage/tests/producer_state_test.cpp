#include "storage/producer_state.h"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>

#include <fstream>

#include "storage/partition_log.h"
#include "storage/tests/test_util.h"

namespace fjord::storage {
namespace fs = std::filesystem;
using namespace storage::testing;
using protocol::BatchHeader;
using protocol::ErrorCode;

namespace {

// The header of a batch of `records` records from producer `pid`, placed at `base_offset`.
BatchHeader header(int64_t pid, int16_t epoch, int32_t seq, int records, int64_t base_offset = 0, int64_t ts = 1000) {
  BatchHeader h;
  h.magic = 2;
  h.producer_id = pid;
  h.producer_epoch = epoch;
  h.base_sequence = seq;
  h.last_offset_delta = records - 1;
  h.records_count = records;
  h.base_offset = base_offset;
  h.max_timestamp = ts;
  return h;
}

// An idempotent batch as a client sends it.
Bytes producer_batch(int64_t pid, int16_t epoch, int32_t seq, int records, int64_t ts = 1000) {
  protocol::RecordBatchBuilder b(ts);
  for (int i = 0; i < records; ++i) b.add(Bytes{'k'}, Bytes{'v', static_cast<uint8_t>(seq + i)}, ts);
  return b.build(0, pid, epoch, seq);
}

}  // namespace

TEST(ProducerState, LastSequenceWrapsPastInt32Max) {
  EXPECT_EQ(last_sequence(0, 4), 4);
  EXPECT_EQ(last_sequence(INT32_MAX - 1, 1), INT32_MAX);
  EXPECT_EQ(last_sequence(INT32_MAX - 1, 2), 0);
  EXPECT_EQ(last_sequence(INT32_MAX, 3), 2);
  ProducerBatch b{2, 100, 3, 0};
  EXPECT_EQ(b.first_seq(), INT32_MAX);
  EXPECT_EQ(b.first_offset(), 97);
  ProducerBatch c{INT32_MAX, 100, 1, 0};
  EXPECT_EQ(c.first_seq(), INT32_MAX - 1);
}

TEST(ProducerState, SequencesMustFollowOnWithinAnEpoch) {
  ProducerState s;
  // An unknown producer may start at any sequence (its state may have expired).
  EXPECT_EQ(s.check(header(7, 0, 42, 3)).error, ErrorCode::NONE);
  s.update(header(7, 0, 0, 3, 0));
  EXPECT_EQ(s.check(header(7, 0, 3, 2)).error, ErrorCode::NONE);
  auto gap = s.check(header(7, 0, 4, 2));
  EXPECT_EQ(gap.error, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  EXPECT_NE(gap.message.find("sequence 4"), std::string::npos) << gap.message;
  EXPECT_EQ(s.check(header(7, 0, 1, 2)).error, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  // Another producer has its own sequence.
  EXPECT_EQ(s.check(header(8, 0, 0, 1)).error, ErrorCode::NONE);
}

TEST(ProducerState, TheLastFiveBatchesAreDuplicatesWithTheirOffsets) {
  ProducerState s;
  int64_t offset = 10;
  for (int i = 0; i < 6; ++i) {
    BatchHeader h = header(7, 0, i * 2, 2, offset);
    ASSERT_EQ(s.check(h).error, ErrorCode::NONE);
    ASSERT_FALSE(s.check(h).duplicate);
    s.update(h);
    offset += 2;
  }
  // Batches 1..5 (sequences 2..11) are cached; batch 0 (sequences 0-1) fell out.
  for (int i = 1; i < 6; ++i) {
    auto c = s.check(header(7, 0, i * 2, 2));
    ASSERT_TRUE(c.duplicate) << i;
    EXPECT_EQ(c.error, ErrorCode::NONE);
    EXPECT_EQ(c.duplicate->first_offset(), 10 + i * 2);
    EXPECT_EQ(c.duplicate->last_offset, 11 + i * 2);
  }
  auto old = s.check(header(7, 0, 0, 2));
  EXPECT_FALSE(old.duplicate);
  EXPECT_EQ(old.error, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  // Same first sequence, different length: not the same batch.
  EXPECT_EQ(s.check(header(7, 0, 10, 1)).error, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  // Same sequences in another epoch: not a duplicate.
  EXPECT_FALSE(s.check(header(7, 1, 10, 2)).duplicate);
}

TEST(ProducerState, EpochsFenceOlderOnesAndStartAtZero) {
  ProducerState s;
  s.update(header(7, 3, 0, 5, 0));
  EXPECT_EQ(s.check(header(7, 2, 5, 1)).error, ErrorCode::INVALID_PRODUCER_EPOCH);
  EXPECT_EQ(s.check(header(7, 4, 5, 1)).error, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  EXPECT_EQ(s.check(header(7, 4, 0, 1)).error, ErrorCode::NONE);
  s.update(header(7, 4, 0, 1, 5));
  EXPECT_EQ(s.find(7)->epoch, 4);
  EXPECT_EQ(s.find(7)->batches.size(), 1u);  // the new epoch starts afresh
  EXPECT_EQ(s.check(header(7, 3, 5, 1)).error, ErrorCode::INVALID_PRODUCER_EPOCH);
  EXPECT_EQ(s.check(header(7, 4, 1, 1)).error, ErrorCode::NONE);
}

TEST(ProducerState, SequencesWrapAroundAtInt32Max) {
  ProducerState s;
  s.update(header(7, 0, INT32_MAX - 2, 3, 0));  // ends at INT32_MAX
  EXPECT_EQ(s.check(header(7, 0, 0, 2)).error, ErrorCode::NONE);
  s.update(header(7, 0, INT32_MAX, 3, 3));  // INT32_MAX, 0, 1 ... a producer that wrapped
  EXPECT_EQ(s.find(7)->last_seq(), 1);
  EXPECT_TRUE(s.check(header(7, 0, INT32_MAX, 3)).duplicate);
  EXPECT_EQ(s.check(header(7, 0, 2, 1)).error, ErrorCode::NONE);
}

TEST(ProducerState, AnUnknownProducerStartsAtZeroUnlessItsStateMayHaveGone) {
  ProducerState s;
  auto late = s.check(header(7, 0, 42, 3), /*state_may_be_gone=*/false);
  EXPECT_EQ(late.error, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  EXPECT_NE(late.message.find("not 0"), std::string::npos) << late.message;
  EXPECT_EQ(s.check(header(7, 0, 0, 3), false).error, ErrorCode::NONE);
  EXPECT_EQ(s.check(header(7, 0, 42, 3), true).error, ErrorCode::NONE);
  // Once a producer expired here, any unknown one may be an expired one resuming.
  s.update(header(1, 0, 0, 1, 0, /*ts=*/1000));
  EXPECT_EQ(s.remove_expired(10'000, 5'000), 1u);
  EXPECT_EQ(s.check(header(7, 0, 42, 3), false).error, ErrorCode::NONE);
}

TEST(ProducerState, IdleProducersExpire) {
  ProducerState s;
  s.update(header(1, 0, 0, 1, 0, /*ts=*/1000));
  s.update(header(2, 0, 0, 1, 1, /*ts=*/5000));
  s.update(header(3, 0, 0, 1, 2, /*ts=*/9000));
  EXPECT_EQ(s.remove_expired(10'000, 5'000), 2u);  // idle for 9 s and exactly 5 s
  EXPECT_EQ(s.size(), 1u);
  ASSERT_NE(s.find(3), nullptr);
}

TEST(ProducerState, SnapshotsRoundTripAndFailTheirCrc) {
  ProducerState s;
  for (int i = 0; i < 7; ++i) s.update(header(7, 2, i * 3, 3, 100 + i * 3, 5000 + i));
  s.update(header(9, 0, 0, 1, 200, 6000));
  Bytes bytes = s.encode_snapshot();
  // version, crc, count + 6 entries (5 batches of producer 7, 1 of producer 9) of 46 bytes
  EXPECT_EQ(bytes.size(), 10u + 6 * 46);
  EXPECT_EQ(bytes[0], 0);
  EXPECT_EQ(bytes[1], 1);
  auto back = ProducerState::decode_snapshot(bytes);
  ASSERT_TRUE(back.has_value()) << back.error();
  EXPECT_EQ(*back, s);
  EXPECT_TRUE(back->check(header(7, 2, 9, 3)).duplicate);  // the oldest cached batch survived too

  for (size_t at : {size_t{0}, size_t{3}, size_t{12}, bytes.size() - 1}) {
    Bytes bad = bytes;
    bad[at] ^= 0x10;
    EXPECT_FALSE(ProducerState::decode_snapshot(bad).has_value()) << at;
  }
  Bytes torn(bytes.begin(), bytes.end() - 7);
  EXPECT_FALSE(ProducerState::decode_snapshot(torn).has_value());
  EXPECT_TRUE(ProducerState::decode_snapshot(ProducerState().encode_snapshot()).has_value());
}

TEST(ProducerState, TheNewestReadableSnapshotAtOrBelowTheEndIsLoaded) {
  TempDir dir("snapshots");
  ProducerState a, b, c;
  a.update(header(1, 0, 0, 1, 0));
  b.update(header(2, 0, 0, 1, 10));
  c.update(header(3, 0, 0, 1, 20));
  ASSERT_TRUE(write_snapshot(Env::posix(), dir.path, 10, a).has_value());
  ASSERT_TRUE(write_snapshot(Env::posix(), dir.path, 20, b).has_value());
  ASSERT_TRUE(write_snapshot(Env::posix(), dir.path, 30, c).has_value());
  EXPECT_TRUE(fs::exists(dir.path / "00000000000000000020.snapshot"));
  // Torn: the newest at or below 25 fails its CRC, so the one before it is used.
  fs::resize_file(snapshot_path(dir.path, 20), 12);
  auto got = load_latest_snapshot(dir.path, 25);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->first, 10);
  EXPECT_EQ(got->second, a);
  EXPECT_EQ(snapshot_offsets(dir.path), std::vector<int64_t>{10});  // above the end, and unreadable: gone
  delete_old_snapshots(dir.path, 0);
  EXPECT_FALSE(load_latest_snapshot(dir.path, 100).has_value());
}

// --- in the log ---

namespace {
struct Log {
  explicit Log(fs::path d, LogConfig c = {}) : dir(std::move(d)), config(c) {}
  void open(bool clean) {
    log.reset();
    auto l = PartitionLog::open(env, dir, config, 0, 0, clean, 1000, nullptr, io.get_executor());
    ASSERT_TRUE(l.has_value()) << l.error().message();
    log = std::move(*l);
  }
  tl::expected<AppendResult, ErrorCode> append(Bytes batch, std::string* why = nullptr) {
    return log->append(batch, 2000, 0, why);
  }
  Env& env = Env::posix();
  fs::path dir;
  LogConfig config;
  asio::io_context io;
  std::unique_ptr<PartitionLog> log;
};
}  // namespace

TEST(ProducerStateLog, ARetriedBatchGetsItsFirstOffsetsAndIsNotWrittenTwice) {
  TempDir tmp("idem");
  Log l(tmp.path / "t-0");
  l.open(true);
  ASSERT_TRUE(l.append(make_batch(2, 10, 100)).has_value());  // a plain producer's records
  auto first = l.append(producer_batch(5, 0, 0, 3));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->base_offset, 2);
  EXPECT_FALSE(first->duplicate);
  ASSERT_TRUE(l.append(producer_batch(5, 0, 3, 1)).has_value());
  auto again = l.append(producer_batch(5, 0, 0, 3));
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->base_offset, 2);
  EXPECT_EQ(again->last_offset, 4);
  EXPECT_EQ(l.log->log_end_offset(), 6);
  std::string why;
  auto gap = l.append(producer_batch(5, 0, 9, 1), &why);
  ASSERT_FALSE(gap.has_value());
  EXPECT_EQ(gap.error(), ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  EXPECT_FALSE(why.empty());
  EXPECT_EQ(l.log->log_end_offset(), 6);
}

TEST(ProducerStateLog, StateSurvivesACleanRestartWithAllCachedBatches) {
  TempDir tmp("idem-clean");
  Log l(tmp.path / "t-0");
  l.open(true);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(l.append(producer_batch(5, 1, i * 2, 2)).has_value());
  ASSERT_TRUE(l.log->close().has_value());
  EXPECT_TRUE(fs::exists(snapshot_path(l.dir, 10)));
  ProducerState before = l.log->producer_state();
  l.open(true);
  EXPECT_EQ(l.log->producer_state(), before);
  for (int i = 0; i < 5; ++i) {
    auto again = l.append(producer_batch(5, 1, i * 2, 2));
    ASSERT_TRUE(again.has_value());
    EXPECT_TRUE(again->duplicate) << i;
    EXPECT_EQ(again->base_offset, i * 2);
  }
  EXPECT_EQ(l.append(producer_batch(5, 0, 10, 1)).error(), ErrorCode::INVALID_PRODUCER_EPOCH);
}

TEST(ProducerStateLog, AfterACrashTheStateIsRebuiltFromSnapshotAndLog) {
  TempDir tmp("idem-crash");
  LogConfig config;
  config.segment_bytes = 600;  // a few batches a segment: rolls write snapshots
  Log l(tmp.path / "t-0", config);
  l.open(true);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(l.append(producer_batch(5, 0, i, 1)).has_value());
    ASSERT_TRUE(l.append(producer_batch(6 + i % 3, 0, i / 3, 1)).has_value());
  }
  ASSERT_GT(l.log->segment_count(), 4u);
  EXPECT_EQ(snapshot_offsets(l.dir).size(), 2u);  // the newest two are kept
  ProducerState before = l.log->producer_state();
  l.open(false);  // no close: unclean
  EXPECT_EQ(l.log->producer_state(), before);
  // And with no snapshot at all, from the whole log.
  delete_old_snapshots(l.dir, 0);
  l.open(false);
  EXPECT_EQ(l.log->producer_state(), before);
  EXPECT_TRUE(l.append(producer_batch(5, 0, 39, 1))->duplicate);
  EXPECT_TRUE(l.append(producer_batch(5, 0, 35, 1))->duplicate);
  EXPECT_EQ(l.append(producer_batch(5, 0, 34, 1)).error(), ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  EXPECT_FALSE(l.append(producer_batch(5, 0, 40, 1))->duplicate);
}

TEST(ProducerStateLog, TruncationForgetsTheBatchesItRemoves) {
  TempDir tmp("idem-trunc");
  Log l(tmp.path / "t-0");
  l.open(true);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(l.append(producer_batch(5, 0, i, 1)).has_value());
  ASSERT_TRUE(l.log->truncate_to(2).has_value());
  EXPECT_EQ(l.log->producer_state().find(5)->last_seq(), 1);
  EXPECT_EQ(l.append(producer_batch(5, 0, 3, 1)).error(), ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  auto next = l.append(producer_batch(5, 0, 2, 1));
  ASSERT_TRUE(next.has_value());
  EXPECT_FALSE(next->duplicate);
  EXPECT_EQ(next->base_offset, 2);
}

TEST(ProducerStateLog, ProducersOutliveTheirRecords) {
  // Kafka's rule: moving the log start offset (retention, DeleteRecords) keeps the producers, so
  // a retry of a deleted batch is still recognised; only expiry forgets them.
  TempDir tmp("idem-start");
  Log l(tmp.path / "t-0");
  l.open(true);
  ASSERT_TRUE(l.append(producer_batch(5, 0, 0, 2)).has_value());
  ASSERT_TRUE(l.append(producer_batch(6, 0, 0, 2)).has_value());
  ASSERT_TRUE(l.log->delete_records_before(2).has_value());
  auto again = l.append(producer_batch(5, 0, 0, 2));
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(l.log->log_end_offset(), 4);
  ASSERT_TRUE(l.log->close().has_value());
  l.open(true);
  ASSERT_NE(l.log->producer_state().find(5), nullptr);
}

TEST(ProducerStateLog, IdleProducersExpire) {
  TempDir tmp("idem-expire");
  LogConfig config;
  config.producer_id_expiration_ms = 60'000;
  Log l(tmp.path / "t-0", config);
  l.open(true);
  ASSERT_TRUE(l.append(producer_batch(5, 0, 0, 1, /*ts=*/10'000)).has_value());
  EXPECT_EQ(l.log->expire_producers(69'999), 0u);
  EXPECT_EQ(l.log->expire_producers(70'000), 1u);
  EXPECT_TRUE(l.log->producer_state().empty());
  // It may resume where it was: its state went, not its sequence.
  EXPECT_TRUE(l.append(producer_batch(5, 0, 1, 1, /*ts=*/80'000)).has_value());
}

TEST(ProducerStateLog, AnUnknownProducerMustStartAtZeroOnAWholeLog) {
  // A leader that never got a producer's first batches (they were not acknowledged) must not
  // take its later ones: the client would count the first ones as written.
  TempDir tmp("idem-unknown");
  Log l(tmp.path / "t-0");
  l.open(true);
  auto late = l.append(producer_batch(5, 0, 4, 2));
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error(), ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  EXPECT_EQ(l.log->log_end_offset(), 0);
  ASSERT_TRUE(l.append(producer_batch(5, 0, 0, 4)).has_value());
  // With records deleted from its start, the producer's state may have gone with them.
  ASSERT_TRUE(l.log->delete_records_before(4).has_value());
  EXPECT_TRUE(l.append(producer_batch(6, 0, 9, 1)).has_value());
}

}  // namespace fjord::storage

namespace fjord::storage {
namespace {
Bytes txn_batch(int64_t pid, int16_t epoch, int32_t seq, int records) {
  protocol::RecordBatchBuilder b(1000);
  for (int i = 0; i < records; ++i) b.add(Bytes{'k'}, Bytes{'t', static_cast<uint8_t>(seq + i)}, 1000);
  return b.build(protocol::batch::kTransactionalBit, pid, epoch, seq);
}
}  // namespace

TEST(ProducerStateLog, TransactionsHoldTheLastStableOffsetAndAbortsAreIndexed) {
  TempDir tmp("txn");
  Log l(tmp.path / "t-0");
  l.open(true);
  ASSERT_TRUE(l.append(make_batch(2, 10, 100)).has_value());            // 0-1 plain
  ASSERT_TRUE(l.append(txn_batch(5, 0, 0, 3)).has_value());              // 2-4 producer 5's transaction
  EXPECT_EQ(l.log->last_stable_offset(), 2);
  ASSERT_TRUE(l.append(txn_batch(6, 0, 0, 2)).has_value());              // 5-6 producer 6's
  ASSERT_TRUE(l.append(producer_batch(7, 0, 0, 1)).has_value());         // 7 idempotent, no transaction
  std::string why;
  auto plain = l.append(producer_batch(5, 0, 3, 1), &why);
  ASSERT_FALSE(plain.has_value());
  EXPECT_EQ(plain.error(), ErrorCode::INVALID_TXN_STATE) << why;
  ASSERT_TRUE(l.log->append_marker(5, 0, {false, 3}, 3000).has_value());  // 8 abort of producer 5
  EXPECT_EQ(l.log->last_stable_offset(), 5);                                 // producer 6 still open
  // A read for read_committed stops there.
  auto r = l.log->read(0, 1 << 20, true, true, l.log->last_stable_offset());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->bytes, l.log->read(0, 1 << 20, true)->bytes - l.log->read(5, 1 << 20, true)->bytes);
  // Past the last stable offset but not the high watermark: nothing yet, no error.
  auto past = l.log->read(7, 1 << 20, true, true, l.log->last_stable_offset());
  ASSERT_TRUE(past.has_value());
  EXPECT_EQ(past->bytes, 0u);
  EXPECT_EQ(l.log->read(10, 1 << 20, true, true, 5).error(), ErrorCode::OFFSET_OUT_OF_RANGE);
  ASSERT_TRUE(l.log->append_marker(6, 0, {true, 3}, 3000).has_value());   // 9 commit of producer 6
  EXPECT_EQ(l.log->last_stable_offset(), 10);
  EXPECT_EQ(l.log->aborted_transactions(0, 10), (std::vector<AbortedTxn>{{5, 2, 8, 5}}));
  EXPECT_TRUE(l.log->aborted_transactions(9, 10).empty());
  EXPECT_TRUE(l.log->aborted_transactions(0, 2).empty());
  EXPECT_EQ(read_txn_index(txn_index_path(l.dir, 0)), (std::vector<AbortedTxn>{{5, 2, 8, 5}}));
  // Markers from a fenced epoch or an older coordinator are refused.
  ASSERT_TRUE(l.append(txn_batch(5, 1, 0, 1)).has_value());  // 10: epoch 1 opens a transaction
  EXPECT_EQ(l.log->append_marker(5, 0, {true, 3}, 3000).error(), ErrorCode::INVALID_PRODUCER_EPOCH);
  EXPECT_EQ(l.log->append_marker(5, 1, {true, 2}, 3000).error(), ErrorCode::TRANSACTION_COORDINATOR_FENCED);
  EXPECT_EQ(l.log->last_stable_offset(), 10);
}

TEST(ProducerStateLog, OpenAndAbortedTransactionsSurviveRestarts) {
  for (bool clean : {true, false}) {
    TempDir tmp(clean ? "txn-clean" : "txn-crash");
    LogConfig config;
    config.segment_bytes = 400;  // rolls between the transactions
    Log l(tmp.path / "t-0", config);
    l.open(true);
    std::vector<AbortedTxn> aborted;
    int64_t open_at = -1;
    for (int i = 0; i < 12; ++i) {
      const int64_t pid = 100 + i;
      auto first = l.append(txn_batch(pid, 0, 0, 2));
      ASSERT_TRUE(first.has_value());
      ASSERT_TRUE(l.append(make_batch(1, 10, 100)).has_value());
      if (i == 11) {
        open_at = first->base_offset;  // left open
        break;
      }
      auto marker = l.log->append_marker(pid, 0, {i % 3 != 0, 1}, 3000);
      ASSERT_TRUE(marker.has_value());
      if (i % 3 == 0) aborted.push_back({pid, first->base_offset, marker->base_offset, marker->base_offset + 1});
    }
    ASSERT_GT(l.log->segment_count(), 3u);
    const int64_t end = l.log->log_end_offset();
    EXPECT_EQ(l.log->aborted_transactions(0, end), aborted);
    EXPECT_EQ(l.log->last_stable_offset(), open_at);
    if (clean) ASSERT_TRUE(l.log->close().has_value());
    l.open(clean);
    EXPECT_EQ(l.log->aborted_transactions(0, end), aborted) << clean;
    EXPECT_EQ(l.log->last_stable_offset(), open_at) << clean;
    // From the whole log, with no snapshot and no transaction index.
    delete_old_snapshots(l.dir, 0);
    for (int64_t base : txn_index_bases(l.dir)) fs::remove(txn_index_path(l.dir, base));
    l.open(false);
    EXPECT_EQ(l.log->aborted_transactions(0, end), aborted) << clean;
    EXPECT_EQ(l.log->last_stable_offset(), open_at) << clean;
    ASSERT_TRUE(l.log->append_marker(111, 0, {false, 1}, 3000).has_value());
    EXPECT_EQ(l.log->last_stable_offset(), l.log->log_end_offset());
    // Truncating below the last marker forgets that abort again.
    ASSERT_TRUE(l.log->truncate_to(end).has_value());
    EXPECT_EQ(l.log->aborted_transactions(0, end), aborted);
    EXPECT_EQ(l.log->last_stable_offset(), open_at);
  }
}
}  // namespace fjord::storage

namespace fjord::storage {

TEST(ProducerStateLog, AcknowledgedAbortsSurviveAPowerCut) {
  TempDir tmp("txn-power");
  FaultEnv env;
  asio::io_context io;
  Syncer syncer;
  LogConfig config;
  config.segment_bytes = 500;  // rolls every few transactions
  fs::path dir = tmp.path / "t-0";
  auto log = PartitionLog::open(env, dir, config, 0, 0, true, 0, &syncer, io.get_executor());
  ASSERT_TRUE(log.has_value());
  auto work = asio::make_work_guard(io);
  std::vector<AbortedTxn> aborted;
  auto wait_durable = [&](int64_t offset) {
    bool done = false;
    (*log)->when_durable(offset, [&](IoResult<> r) {
      ASSERT_TRUE(r.has_value());
      done = true;
    });
    for (int i = 0; i < 1000 && !done; ++i) io.run_one_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(done);
  };
  for (int i = 0; i < 16; ++i) {
    const int64_t pid = 100 + i;
    protocol::RecordBatchBuilder tb(1000);
    tb.add(Bytes{'k'}, Bytes{'t'}, 1000);
    Bytes txn = tb.build(protocol::batch::kTransactionalBit, pid, 0, 0);
    auto first = (*log)->append(txn, 0);
    ASSERT_TRUE(first.has_value());
    auto marker = (*log)->append_marker(pid, 0, {i % 2 == 1, 0}, 0);
    ASSERT_TRUE(marker.has_value());
    wait_durable(marker->last_offset + 1);  // acknowledged
    if (i % 2 == 0) aborted.push_back({pid, first->base_offset, marker->base_offset, marker->base_offset + 1});
  }
  ASSERT_GT((*log)->segment_count(), 4u);
  const int64_t durable_end = (*log)->log_end_offset();
  // Not waited for: may vanish.
  protocol::RecordBatchBuilder tb(1000);
  tb.add(Bytes{'k'}, Bytes{'u'}, 1000);
  Bytes open_txn = tb.build(protocol::batch::kTransactionalBit, 999, 0, 0);
  ASSERT_TRUE((*log)->append(open_txn, 0).has_value());
  log->reset();

  env.power_cut();
  auto reopened = PartitionLog::open(env, dir, config, 0, 0, false, 0, nullptr, io.get_executor());
  ASSERT_TRUE(reopened.has_value());
  ASSERT_EQ((*reopened)->log_end_offset(), durable_end);
  EXPECT_EQ((*reopened)->aborted_transactions(0, durable_end), aborted);
  EXPECT_EQ((*reopened)->last_stable_offset(), durable_end);  // the unsynced open transaction went with its batch
}

}  // namespace fjord::storage
