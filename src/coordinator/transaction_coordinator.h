// TransactionCoordinator: Kafka's transaction protocol for the transactional ids whose
// __transaction_state partition lives on this shard. One instance per shard, used only on that
// shard's thread. Every state change is written to __transaction_state (Kafka's
// TransactionLogKey/Value records) and applied once durable; the log is replayed at start.
//
// A transaction: InitProducerId gives the transactional id its producer id and a new epoch
// (fencing older producers of the id, aborting what they left open); AddPartitionsToTxn /
// AddOffsetsToTxn make it Ongoing; EndTxn writes PrepareCommit/PrepareAbort, answers, then has
// the markers written on every partition and writes CompleteCommit/CompleteAbort. A transaction
// open longer than its timeout is aborted with a bumped epoch (the producer is fenced).
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coordinator/group_coordinator.h"
#include "coordinator/records.h"
#include "protocol/generated/error_codes.h"

namespace fjord::coordinator {

inline constexpr std::string_view kTransactionTopic = "__transaction_state";

// Kafka's TransactionState ids, as stored in TransactionLogValue.transaction_status.
enum class TxnState : int8_t {
  Empty = 0,
  Ongoing = 1,
  PrepareCommit = 2,
  PrepareAbort = 3,
  CompleteCommit = 4,
  CompleteAbort = 5,
  Dead = 6,
  PrepareEpochFence = 7,
};
const char* txn_state_name(TxnState state);

struct TxnConfig {
  int32_t max_timeout_ms = 900000;          // transaction.max.timeout.ms
  int32_t abort_check_interval_ms = 10000;  // transaction.abort.timed.out.transaction.cleanup.interval.ms
};

struct TxnInfo {
  std::string transactional_id;
  int32_t partition = 0;  // of __transaction_state
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t timeout_ms = 0;
  TxnState state = TxnState::Empty;
  std::set<TopicPartition> partitions;
  int64_t start_ms = -1;  // when it became Ongoing
  int64_t update_ms = -1;
};

// What the coordinator needs from the broker; every `done` is called on the coordinator's shard.
struct TxnEnv {
  // Appends one record to __transaction_state `partition`, done once durable.
  std::function<void(int32_t partition, OffsetsRecord record, std::function<void(protocol::ErrorCode)> done)> append;
  // Writes the producer's commit or abort markers on `partitions`, done once all are durable
  // (NONE) or with the first error.
  std::function<void(int64_t producer_id, int16_t producer_epoch, bool commit, std::vector<TopicPartition> partitions,
                     std::function<void(protocol::ErrorCode)> done)>
      write_markers;
  // A producer id never handed out before.
  std::function<void(std::function<void(tl::expected<int64_t, protocol::ErrorCode>)> done)> new_producer_id;
  Clock clock;
};

struct InitProducerIdResult {
  protocol::ErrorCode error = protocol::ErrorCode::NONE;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
};

class TransactionCoordinator {
 public:
  TransactionCoordinator(asio::io_context& context, TxnConfig config, TxnEnv env);
  ~TransactionCoordinator();
  TransactionCoordinator(const TransactionCoordinator&) = delete;
  TransactionCoordinator& operator=(const TransactionCoordinator&) = delete;

  // Rebuilds the transactions of `partition` from its log (at start, before serving).
  tl::expected<ReplayStats, std::string> load(int32_t partition, const storage::PartitionLog& log);
  // After loading: finishes what a stop left half-ended and starts the timeout checks.
  void start();
  // A partition loaded after start() (its leadership moved here): finishes what its former
  // coordinator left half-ended.
  void resume(int32_t partition);
  // Drops the transactions of `partition` (its leadership moved to another broker). Returns how
  // many went.
  size_t unload(int32_t partition);

  // InitProducerId with a transactional id. `expected_*` (v3+, -1 when absent): the producer id
  // and epoch the client had, to bump its own epoch after an abortable error (KIP-360).
  void init_producer_id(int32_t partition, const std::string& transactional_id, int32_t timeout_ms,
                        int64_t expected_producer_id, int16_t expected_epoch,
                        std::function<void(InitProducerIdResult)> done);
  void add_partitions(const std::string& transactional_id, int64_t producer_id, int16_t producer_epoch,
                      std::vector<TopicPartition> partitions, std::function<void(protocol::ErrorCode)> done);
  void end_txn(const std::string& transactional_id, int64_t producer_id, int16_t producer_epoch, bool commit,
               std::function<void(protocol::ErrorCode)> done);
  // The check before a transactional write (and a TxnOffsetCommit): the producer's current
  // epoch has `partition` in its Ongoing transaction (Kafka's partition verification, KIP-890).
  protocol::ErrorCode verify(const std::string& transactional_id, int64_t producer_id, int16_t producer_epoch,
                             const TopicPartition& partition) const;

  std::vector<TxnInfo> list() const;
  std::optional<TxnInfo> describe(const std::string& transactional_id) const;
  size_t size() const { return txns_.size(); }

  // Aborts transactions open past their timeout, and retries markers that failed.
  void check_timeouts();

 private:
  struct Txn {
    TxnInfo info;
    int64_t last_producer_id = -1;  // before an epoch overflow gave a new id
    int16_t last_producer_epoch = -1;
    bool pending = false;  // a state change or markers in flight
  };

  // Writes `next` as the transaction's new state; applies it once durable, then `done`.
  void persist(Txn& txn, TxnInfo next, std::function<void(protocol::ErrorCode)> done);
  // PrepareCommit/PrepareAbort -> markers -> CompleteCommit/CompleteAbort.
  void write_markers(const std::string& transactional_id);
  // Aborts the Ongoing transaction with the epoch bumped (fencing its producer).
  void fence_and_abort(Txn& txn, const char* why);
  protocol::ErrorCode check_producer(const Txn* txn, int64_t producer_id, int16_t producer_epoch) const;
  void arm_timer();
  void finish_unfinished(std::optional<int32_t> partition);  // nullopt: every partition

  asio::io_context& context_;
  TxnConfig config_;
  TxnEnv env_;
  std::map<std::string, Txn> txns_;
  asio::steady_timer timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// __transaction_state records (TransactionLogKey v0 / TransactionLogValue v0).
OffsetsRecord transaction_record(const TxnInfo& txn);

}  // namespace fjord::coordinator
