// The transaction coordinator driven directly, with its log writes, markers and producer ids
// faked: state changes, fencing, timeouts, retries of failed markers, and reloading.
#include "coordinator/transaction_coordinator.h"

#include <gtest/gtest.h>

#include <asio/post.hpp>

#include <filesystem>

#include "storage/file.h"
#include "storage/partition_log.h"

namespace fjord::coordinator {
namespace {
using protocol::ErrorCode;

struct Marker {
  int64_t producer_id;
  int16_t epoch;
  bool commit;
  std::vector<TopicPartition> partitions;
};

class TxnTest : public ::testing::Test {
 protected:
  TxnTest() { reset(); }

  void reset() {
    TxnEnv env;
    env.append = [this](int32_t partition, OffsetsRecord record, std::function<void(ErrorCode)> done) {
      appended_.emplace_back(partition, std::move(record));
      asio::post(io_, [done] { done(ErrorCode::NONE); });
    };
    env.write_markers = [this](int64_t pid, int16_t epoch, bool commit, std::vector<TopicPartition> parts,
                               std::function<void(ErrorCode)> done) {
      markers_.push_back({pid, epoch, commit, parts});
      ErrorCode e = marker_error_;
      asio::post(io_, [done, e] { done(e); });
    };
    env.new_producer_id = [this](std::function<void(tl::expected<int64_t, ErrorCode>)> done) {
      int64_t id = next_id_++;
      asio::post(io_, [done, id] { done(id); });
    };
    env.clock = [this] { return now_ms_; };
    TxnConfig config;
    config.max_timeout_ms = 60'000;
    coordinator_ = std::make_unique<TransactionCoordinator>(io_, config, std::move(env));
  }

  void drain() {
    io_.restart();
    io_.poll();
  }

  InitProducerIdResult init(const std::string& id, int64_t pid = -1, int16_t epoch = -1, int32_t timeout = 10'000) {
    InitProducerIdResult out{ErrorCode::UNKNOWN_SERVER_ERROR};
    coordinator_->init_producer_id(3, id, timeout, pid, epoch, [&](InitProducerIdResult r) { out = r; });
    drain();
    return out;
  }
  ErrorCode add(const std::string& id, const InitProducerIdResult& p, std::vector<TopicPartition> parts) {
    ErrorCode out = ErrorCode::UNKNOWN_SERVER_ERROR;
    coordinator_->add_partitions(id, p.producer_id, p.producer_epoch, std::move(parts), [&](ErrorCode e) { out = e; });
    drain();
    return out;
  }
  ErrorCode end(const std::string& id, const InitProducerIdResult& p, bool commit) {
    ErrorCode out = ErrorCode::UNKNOWN_SERVER_ERROR;
    coordinator_->end_txn(id, p.producer_id, p.producer_epoch, commit, [&](ErrorCode e) { out = e; });
    drain();
    return out;
  }
  TxnState state(const std::string& id) { return coordinator_->describe(id)->state; }

  asio::io_context io_;
  std::unique_ptr<TransactionCoordinator> coordinator_;
  std::vector<std::pair<int32_t, OffsetsRecord>> appended_;
  std::vector<Marker> markers_;
  ErrorCode marker_error_ = ErrorCode::NONE;
  int64_t next_id_ = 1000;
  int64_t now_ms_ = 1'000'000;
};

const TopicPartition kA{"a", 0}, kB{"b", 1};

TEST_F(TxnTest, InitProducerIdGivesTheIdOneProducerIdAndANewEpochEachTime) {
  auto first = init("t");
  ASSERT_EQ(first.error, ErrorCode::NONE);
  EXPECT_EQ(first.producer_id, 1000);
  EXPECT_EQ(first.producer_epoch, 0);
  auto second = init("t");
  EXPECT_EQ(second.producer_id, 1000);
  EXPECT_EQ(second.producer_epoch, 1);
  EXPECT_EQ(init("other").producer_id, 1001);
  EXPECT_EQ(init("t", -1, -1, 0).error, ErrorCode::INVALID_TRANSACTION_TIMEOUT);
  EXPECT_EQ(init("t", -1, -1, 60'001).error, ErrorCode::INVALID_TRANSACTION_TIMEOUT);
  // KIP-360: a producer naming an id and epoch that are not (or no longer) its own is fenced.
  EXPECT_EQ(init("t", 1000, 0).error, ErrorCode::PRODUCER_FENCED);
  EXPECT_EQ(init("t", 1000, 1).producer_epoch, 2);
  EXPECT_EQ(appended_.size(), 4u);  // every state change went to the log first
}

TEST_F(TxnTest, CommitWritesPrepareThenMarkersThenComplete) {
  auto p = init("t");
  ASSERT_EQ(add("t", p, {kA}), ErrorCode::NONE);
  ASSERT_EQ(add("t", p, {kB, kA}), ErrorCode::NONE);
  EXPECT_EQ(state("t"), TxnState::Ongoing);
  EXPECT_EQ(coordinator_->verify("t", p.producer_id, p.producer_epoch, kB), ErrorCode::NONE);
  EXPECT_EQ(coordinator_->verify("t", p.producer_id, p.producer_epoch, {"c", 0}), ErrorCode::INVALID_TXN_STATE);
  ASSERT_EQ(end("t", p, true), ErrorCode::NONE);
  ASSERT_EQ(markers_.size(), 1u);
  EXPECT_TRUE(markers_[0].commit);
  EXPECT_EQ(markers_[0].epoch, p.producer_epoch);
  EXPECT_EQ(markers_[0].partitions, (std::vector<TopicPartition>{kA, kB}));
  EXPECT_EQ(state("t"), TxnState::CompleteCommit);
  EXPECT_TRUE(coordinator_->describe("t")->partitions.empty());
  EXPECT_EQ(end("t", p, true), ErrorCode::NONE);  // a retry of the same end
  EXPECT_EQ(end("t", p, false), ErrorCode::INVALID_TXN_STATE);
  EXPECT_EQ(coordinator_->verify("t", p.producer_id, p.producer_epoch, kA), ErrorCode::INVALID_TXN_STATE);
  // The next transaction of the same producer.
  ASSERT_EQ(add("t", p, {kB}), ErrorCode::NONE);
  ASSERT_EQ(end("t", p, false), ErrorCode::NONE);
  EXPECT_FALSE(markers_.back().commit);
  EXPECT_EQ(state("t"), TxnState::CompleteAbort);
}

TEST_F(TxnTest, ANewProducerFencesTheOldOneAndAbortsItsTransaction) {
  auto old = init("t");
  ASSERT_EQ(add("t", old, {kA}), ErrorCode::NONE);
  EXPECT_EQ(init("t").error, ErrorCode::CONCURRENT_TRANSACTIONS);  // the client retries
  ASSERT_EQ(markers_.size(), 1u);
  EXPECT_FALSE(markers_[0].commit);
  EXPECT_EQ(markers_[0].epoch, old.producer_epoch + 1);  // fences the old producer on the partitions
  EXPECT_EQ(state("t"), TxnState::CompleteAbort);
  auto fresh = init("t");
  ASSERT_EQ(fresh.error, ErrorCode::NONE);
  EXPECT_EQ(fresh.producer_epoch, old.producer_epoch + 2);
  EXPECT_EQ(add("t", old, {kA}), ErrorCode::PRODUCER_FENCED);
  EXPECT_EQ(end("t", old, true), ErrorCode::PRODUCER_FENCED);
  EXPECT_EQ(coordinator_->verify("t", old.producer_id, old.producer_epoch, kA), ErrorCode::INVALID_PRODUCER_EPOCH);
  EXPECT_EQ(add("t", InitProducerIdResult{ErrorCode::NONE, 5, 0}, {kA}), ErrorCode::INVALID_PRODUCER_ID_MAPPING);
  EXPECT_EQ(add("unknown", fresh, {kA}), ErrorCode::INVALID_PRODUCER_ID_MAPPING);
}

TEST_F(TxnTest, TransactionsPastTheirTimeoutAreAbortedWithABumpedEpoch) {
  auto p = init("t", -1, -1, 5'000);
  ASSERT_EQ(add("t", p, {kA}), ErrorCode::NONE);
  now_ms_ += 5'000;
  coordinator_->check_timeouts();
  drain();
  EXPECT_TRUE(markers_.empty());
  now_ms_ += 1;
  coordinator_->check_timeouts();
  drain();
  ASSERT_EQ(markers_.size(), 1u);
  EXPECT_FALSE(markers_[0].commit);
  EXPECT_EQ(markers_[0].epoch, 1);
  EXPECT_EQ(state("t"), TxnState::CompleteAbort);
  EXPECT_EQ(end("t", p, true), ErrorCode::PRODUCER_FENCED);
}

TEST_F(TxnTest, FailedMarkersAreRetriedAndTheDecisionStands) {
  auto p = init("t");
  ASSERT_EQ(add("t", p, {kA}), ErrorCode::NONE);
  marker_error_ = ErrorCode::KAFKA_STORAGE_ERROR;
  ASSERT_EQ(end("t", p, true), ErrorCode::NONE);
  EXPECT_EQ(state("t"), TxnState::PrepareCommit);
  EXPECT_EQ(end("t", p, true), ErrorCode::CONCURRENT_TRANSACTIONS);
  EXPECT_EQ(add("t", p, {kB}), ErrorCode::CONCURRENT_TRANSACTIONS);
  marker_error_ = ErrorCode::NONE;
  coordinator_->check_timeouts();
  drain();
  ASSERT_EQ(markers_.size(), 2u);
  EXPECT_TRUE(markers_[1].commit);
  EXPECT_EQ(state("t"), TxnState::CompleteCommit);
}

TEST_F(TxnTest, AReloadRestoresTransactionsAndFinishesHalfEndedOnes) {
  auto done = init("done");
  ASSERT_EQ(add("done", done, {kA}), ErrorCode::NONE);
  ASSERT_EQ(end("done", done, false), ErrorCode::NONE);
  auto open = init("open");
  ASSERT_EQ(add("open", open, {kA, kB}), ErrorCode::NONE);
  auto half = init("half");
  ASSERT_EQ(add("half", half, {kB}), ErrorCode::NONE);
  marker_error_ = ErrorCode::KAFKA_STORAGE_ERROR;
  ASSERT_EQ(end("half", half, true), ErrorCode::NONE);  // decided, markers not written
  marker_error_ = ErrorCode::NONE;

  auto dir = std::filesystem::temp_directory_path() / ("fjord-txn-load-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto log = storage::PartitionLog::open(storage::Env::posix(), dir / "__transaction_state-3", storage::LogConfig{}, 0,
                                         0, true, now_ms_, nullptr, io_.get_executor());
  ASSERT_TRUE(log);
  for (auto& [partition, record] : appended_) {
    Bytes batch = build_batch({record}, now_ms_);
    ASSERT_TRUE((*log)->append(batch, now_ms_));
  }
  markers_.clear();
  reset();
  auto stats = coordinator_->load(3, **log);
  ASSERT_TRUE(stats) << stats.error();
  EXPECT_EQ(stats->skipped, 0);
  EXPECT_EQ(coordinator_->size(), 3u);
  EXPECT_EQ(state("done"), TxnState::CompleteAbort);
  EXPECT_EQ(state("open"), TxnState::Ongoing);
  EXPECT_EQ(coordinator_->describe("open")->partitions, (std::set<TopicPartition>{kA, kB}));
  EXPECT_EQ(coordinator_->describe("open")->producer_id, open.producer_id);
  EXPECT_EQ(state("half"), TxnState::PrepareCommit);
  coordinator_->start();
  drain();
  ASSERT_EQ(markers_.size(), 1u);
  EXPECT_EQ(markers_[0].producer_id, half.producer_id);
  EXPECT_TRUE(markers_[0].commit);
  EXPECT_EQ(state("half"), TxnState::CompleteCommit);
  EXPECT_EQ(end("open", open, true), ErrorCode::NONE);  // the open one goes on where it was
  log->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fjord::coordinator
