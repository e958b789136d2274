// PartitionLog: one partition's log, a run of segments in `<data dir>/<topic>-<partition>/`.
// Lives on the shard that owns the partition; every call is made there. Offsets:
//   log start offset <= durable offset (fdatasync'ed) <= log end offset (written, readable).
// A partition with one replica has its high watermark at the log end offset. A replicated one
// (set_replicated) has it where the replication says (set_high_watermark): below it, every
// in-sync replica has the records.
#pragma once

#include <asio/any_io_executor.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/generated/error_codes.h"
#include "protocol/record_batch.h"
#include "storage/cleaner.h"
#include "storage/leader_epochs.h"
#include "storage/producer_state.h"
#include "storage/segment.h"
#include "storage/syncer.h"
#include "storage/txn_index.h"

namespace fjord::storage {

struct LogConfig {
  uint64_t segment_bytes = 1073741824;       // segment.bytes
  int64_t segment_ms = 604800000;            // segment.ms
  SegmentConfig segment;                     // segment.index.bytes, index.interval.bytes
  int64_t retention_ms = 604800000;          // retention.ms; -1 unlimited
  int64_t retention_bytes = -1;              // retention.bytes; -1 unlimited
  int64_t flush_messages = INT64_MAX;        // flush.messages
  int64_t flush_ms = INT64_MAX;              // flush.ms
  bool log_append_time = false;              // message.timestamp.type=LogAppendTime
  CompactionConfig compaction;               // cleanup.policy contains compact, and its settings
  int64_t producer_id_expiration_ms = 86400000;  // producer.id.expiration.ms (a broker setting)
};

struct RecoveryReport {
  int segments = 0;
  int segments_scanned = 0;
  uint64_t bytes_scanned = 0;
  uint64_t bytes_truncated = 0;
};

struct AppendResult {
  int64_t base_offset = -1;
  int64_t last_offset = -1;
  int64_t log_append_time = -1;  // -1 unless LogAppendTime
  // The batch repeated one the producer had written: nothing was written, and the offsets are
  // the first write's.
  bool duplicate = false;
};

struct ReadResult {
  std::vector<FileRange> ranges;  // back to back, whole batches
  uint64_t bytes = 0;
};

class PartitionLog {
 public:
  // Opens (or, if `dir` has no segment, creates) the log. Without `clean_shutdown`, segments
  // holding offsets at or after `recovery_point` are scanned batch by batch (CRC checked) and
  // truncated after the last whole valid batch.
  static IoResult<std::unique_ptr<PartitionLog>> open(Env& env, const std::filesystem::path& dir, const LogConfig& config,
                                                      int64_t recovery_point, int64_t log_start_offset,
                                                      bool clean_shutdown, int64_t now_ms, Syncer* syncer,
                                                      asio::any_io_executor executor, RecoveryReport* report = nullptr);
  ~PartitionLog();

  const std::filesystem::path& dir() const { return dir_; }
  int64_t log_start_offset() const { return log_start_offset_; }
  int64_t log_end_offset() const { return active().next_offset(); }
  // What consumers may read. An offline partition (a write or sync failed) still serves what was
  // synced before the failure, and nothing after it.
  int64_t high_watermark() const {
    const int64_t hw = replicated_ ? std::min(hw_, log_end_offset()) : log_end_offset();
    return offline_ ? std::min(durable_offset_, hw) : hw;
  }
  int64_t durable_offset() const { return durable_offset_; }
  uint64_t size_bytes() const;
  size_t segment_count() const { return segments_.size(); }
  bool offline() const { return offline_; }
  const LogConfig& config() const { return config_; }
  void set_config(const LogConfig& config) { config_ = config; }

  // Appends every batch of `records` (already validated with protocol::validate_batch),
  // assigning offsets in place. Rolls segments as needed. On an I/O error the partition goes
  // offline: this and later appends fail with KAFKA_STORAGE_ERROR. A batch with a producer id
  // is first checked against the producer state (ProducerState::check): a duplicate is answered
  // with the offsets it got the first time (and ends the append), a refused one fails the append
  // with the reason in `why` (batches before it stay written).
  tl::expected<AppendResult, protocol::ErrorCode> append(std::span<uint8_t> records, int64_t now_ms,
                                                         int32_t leader_epoch = 0, std::string* why = nullptr);

  // --- Replication ---
  // Whether the partition has more than one replica: its high watermark is then set from outside.
  void set_replicated(bool replicated) { replicated_ = replicated; }
  bool replicated() const { return replicated_; }
  // Moves the high watermark (capped at the log end offset). On a leader it only rises
  // (`only_up`); a follower takes the leader's. Wakes the replication waiters it satisfies and
  // the long-polling fetches.
  void set_high_watermark(int64_t offset, bool only_up);
  // Called after every append of this node's (a leader's: append, append_marker); null: none.
  // The leader's replication moves the high watermark with it.
  void set_after_append(std::function<void()> fn) { after_append_ = std::move(fn); }
  // `done` runs once the high watermark reaches `offset` (NONE), or with the error that ended the
  // wait (fail_replication_waiters). Runs at once when it already has.
  void when_replicated(int64_t offset, std::function<void(protocol::ErrorCode)> done);
  // Ends every replication wait with `error` (the leadership moved, the log closed).
  void fail_replication_waiters(protocol::ErrorCode error);
  // A follower's append of the leader's batches as they are: their offsets, leader epochs and
  // producer ids stay; the producer state follows them without checks. A batch that does not
  // start at or after the log end offset is refused (OFFSET_OUT_OF_RANGE).
  tl::expected<AppendResult, protocol::ErrorCode> append_replicated(std::span<uint8_t> records, int64_t now_ms);
  // Leader epochs: `epoch` starts at the log end offset (a new leader's first step); later
  // appends stamp their batches with it.
  IoResult<> begin_leader_epoch(int32_t epoch) { return epochs_.assign(epoch, log_end_offset()); }
  int32_t latest_leader_epoch() const { return epochs_.latest_epoch(); }
  // OffsetForLeaderEpoch: the largest epoch <= `epoch` known here and where it ended.
  std::pair<int32_t, int64_t> end_offset_for_epoch(int32_t epoch) const {
    return epochs_.end_offset_for(epoch, log_end_offset());
  }
  const LeaderEpochCache& leader_epochs() const { return epochs_; }
  // The leader epoch that wrote `offset` (-1: none known).
  int32_t epoch_at(int64_t offset) const {
    int32_t epoch = -1;
    for (const EpochEntry& e : epochs_.entries())
      if (e.start_offset <= offset) epoch = e.epoch;
    return epoch;
  }

  // Writes a transaction marker (the transaction coordinator's call, never a client's): ends
  // the producer's transaction here, committed or aborted. INVALID_PRODUCER_EPOCH for an epoch
  // below the producer's, TRANSACTION_COORDINATOR_FENCED for an older coordinator epoch.
  tl::expected<AppendResult, protocol::ErrorCode> append_marker(int64_t producer_id, int16_t producer_epoch,
                                                                const protocol::TxnMarker& marker, int64_t now_ms);
  // Where read_committed consumers stop: the first offset of the oldest open transaction, or
  // the high watermark.
  int64_t last_stable_offset() const;
  // The aborted transactions that overlap [from, to): a read_committed consumer drops their
  // records.
  std::vector<AbortedTxn> aborted_transactions(int64_t from, int64_t to) const;

  // The producers that wrote to this partition (idempotence), as of the log end offset.
  const ProducerState& producer_state() const { return producers_; }
  // Drops producers idle for producer.id.expiration.ms. Returns how many went.
  size_t expire_producers(int64_t now_ms);

  // Whole batches from the one holding `offset` for up to `max_bytes` (at least one batch when
  // `min_one_batch`), across segments, below the high watermark. OFFSET_OUT_OF_RANGE outside
  // [log start, high watermark]. With `verify`, each batch's CRC is checked first, and a read
  // that would start at a bad batch gets CORRUPT_MESSAGE (logged); without, only headers are
  // read, for callers that check each batch themselves.
  // `upper` lowers the end below the high watermark (read_committed: the last stable offset).
  tl::expected<ReadResult, protocol::ErrorCode> read(int64_t offset, uint64_t max_bytes, bool min_one_batch,
                                                     bool verify = true, int64_t upper = INT64_MAX) const;

  // A follower's read (and a coordinator's replay): whole batches from `offset` up to the log
  // end offset (not the high watermark), at least one; `verify` as in read().
  tl::expected<ReadResult, protocol::ErrorCode> read_for_replica(int64_t offset, uint64_t max_bytes,
                                                                 bool verify = true) const;

  // The first batch below the high watermark whose max timestamp is >= `timestamp` (its base
  // offset, and max timestamp); nullopt when none.
  tl::expected<std::optional<BatchInfo>, protocol::ErrorCode> find_by_timestamp(int64_t timestamp) const;
  // The batch holding the largest timestamp (first such); nullopt when the log is empty. (An
  // offline partition answers KAFKA_STORAGE_ERROR: its indexes may hold batches past its high
  // watermark.)
  tl::expected<std::optional<BatchInfo>, protocol::ErrorCode> find_max_timestamp() const;

  // A follower whose log ends before the leader's log start: drops every segment and starts
  // the log empty at `offset` (Kafka's truncateFullyAndStartAt), with no producers, aborted
  // transactions or leader epochs left.
  tl::expected<void, protocol::ErrorCode> reset_to(int64_t offset);

  // Removes every record at or after `offset` (not below the log start offset), with the leader
  // epochs and producer snapshots past it.
  tl::expected<void, protocol::ErrorCode> truncate_to(int64_t offset);

  // Deletes closed segments older than retention.ms or beyond retention.bytes; moves the log
  // start offset. Returns how many segments went.
  int enforce_retention(int64_t now_ms);

  // DeleteRecords: moves the log start offset up to `offset` (-1: the high watermark) and
  // deletes the segments wholly below it (later, when a compaction pass holds them). Returns
  // the new log start offset; OFFSET_OUT_OF_RANGE past the high watermark.
  tl::expected<int64_t, protocol::ErrorCode> delete_records_before(int64_t offset);

  // Compaction. The next pass over the closed, durable segments when one is due (dirty ratio
  // min.cleanable.dirty.ratio, or max.compaction.lag.ms), else nullopt. Until finish_cleaning()
  // gets its result, the segments it names are neither changed nor deleted here. After a pass
  // that failed (a corrupt batch, an I/O error), none is due for kCleanRetryMs, doubling with
  // each failure in a row up to kCleanRetryMaxMs.
  std::optional<CleanPlan> plan_cleaning(int64_t now_ms);
  void finish_cleaning(const CleanResult& result);
  bool cleaning() const { return clean_ticket_ != nullptr; }
  static constexpr int64_t kCleanRetryMs = 60'000;
  static constexpr int64_t kCleanRetryMaxMs = 3'600'000;
  const std::shared_ptr<CleanTicket>& clean_ticket() const { return clean_ticket_; }
  // Offsets below this have been compacted (Kafka's cleaner-offset-checkpoint).
  int64_t first_dirty_offset() const { return first_dirty_offset_; }
  void set_first_dirty_offset(int64_t offset) { first_dirty_offset_ = offset; }
  // False once this log is destroyed: for completions that may outlive it.
  std::shared_ptr<const bool> alive() const { return alive_; }

  // Durability. `done` runs on this log's executor once every offset below `offset` is synced
  // (or with the error that stopped it). Syncs are group commits: one fdatasync covers every
  // wait registered while the previous one ran.
  void when_durable(int64_t offset, std::function<void(IoResult<>)> done);
  // Applies flush.messages / flush.ms: starts a sync when either is due.
  void maybe_flush(int64_t now_ms);
  // One-shot: `fn` runs (on this shard) after the next append, unless `owner` has expired by
  // then. Long-polling fetches use it; expired listeners are pruned as new ones arrive.
  void on_next_append(std::weak_ptr<void> owner, std::function<void()> fn);

  // Synchronous flush of everything (shutdown, tests).
  IoResult<> flush();
  // Flushes and trims the active segment's indexes (clean shutdown). Later appends fail with
  // NOT_LEADER_OR_FOLLOWER, so nothing lands past the recovery point the shutdown records.
  IoResult<> close();

 private:
  PartitionLog() = default;
  Segment& active() const { return *segments_.rbegin()->second; }
  IoResult<> roll(int64_t now_ms);
  tl::expected<ReadResult, protocol::ErrorCode> read_to(int64_t offset, int64_t end, uint64_t max_bytes,
                                                        bool min_one_batch, bool verify) const;
  // Loads the newest producer state snapshot at or below the log end offset and replays the
  // batches after it (from the log start when there is none).
  IoResult<> rebuild_producer_state();
  // Writes `bytes` (an encoded producer state) as the snapshot for `offset`; keeps the newest
  // two. A failure is logged only: the log itself rebuilds the state.
  void write_producer_snapshot(int64_t offset, const Bytes& bytes);
  // Records an aborted transaction in the .txnindex of the segment based at `segment_base`.
  void index_aborted(const AbortedTxn& txn, int64_t segment_base);
  // Loads the .txnindex files, keeping the entries below `replay_from` (rewriting files that
  // held later ones: replay adds those again) and at or after the log start offset.
  void load_aborted(int64_t replay_from);
  void prune_aborted();  // drops entries below the log start offset
  void trim_epochs();    // drops leader epochs below the log start offset
  void write_pending_snapshot();  // once the sync after its roll is done
  bool should_roll(size_t incoming, int64_t last_offset, int64_t now_ms) const;
  void start_sync();
  // Files the next sync covers: logs holding offsets past the durable offset, and index files
  // that rolls trimmed since the last sync.
  std::vector<std::shared_ptr<File>> take_files_to_sync();
  void sync_finished(int64_t target, IoResult<> result);
  void go_offline(const std::string& what, std::error_code ec);
  void delete_segment(std::map<int64_t, std::shared_ptr<Segment>>::iterator it);

  Env* env_ = nullptr;
  std::filesystem::path dir_;
  LogConfig config_;
  std::map<int64_t, std::shared_ptr<Segment>> segments_;  // by base offset
  int64_t log_start_offset_ = 0;
  int64_t durable_offset_ = 0;
  bool offline_ = false;
  bool closed_ = false;
  // The last corrupt batch read reported (segment base, offset): one log line per place.
  mutable std::pair<int64_t, int64_t> corrupt_reported_{-1, -1};
  int64_t first_dirty_offset_ = 0;
  // When kept tombstones may go (unknown after a start: the first pass finds out).
  int64_t next_delete_horizon_ = 0;
  std::shared_ptr<CleanTicket> clean_ticket_;  // set while a compaction pass runs
  int64_t clean_planned_ms_ = 0;               // when that pass was planned
  int clean_failures_ = 0;                     // passes in a row that failed
  int64_t clean_retry_ms_ = 0;                 // no pass before this after a failure
  std::vector<std::vector<int64_t>> cleaning_groups_;  // its groups' segment bases

  Syncer* syncer_ = nullptr;
  asio::any_io_executor executor_;
  bool sync_running_ = false;
  // A roll left work for the next sync: the new segment's directory entry, the old segment's
  // index files (and its data, when not yet durable). A sync running meanwhile is followed by
  // another.
  bool dir_sync_pending_ = false;
  std::multimap<int64_t, std::function<void(IoResult<>)>> durable_waiters_;
  int64_t unflushed_messages_ = 0;
  int64_t last_flush_ms_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::vector<std::pair<std::weak_ptr<void>, std::function<void()>>> append_listeners_;
  ProducerState producers_;
  LeaderEpochCache epochs_;
  bool replicated_ = false;
  // The replicated high watermark; unknown after a start, so the log start until the leader (or
  // the in-sync replicas) say more.
  int64_t hw_ = 0;
  std::multimap<int64_t, std::function<void(protocol::ErrorCode)>> replication_waiters_;
  std::function<void()> after_append_;
  void notify_append_listeners();
  // A written batch of a producer (`placed`: with its offsets): its state, and the aborted
  // transaction it ends, if any.
  void track_producer(const protocol::BatchHeader& placed, const std::optional<protocol::TxnMarker>& marker,
                      int64_t last);
  // Bookkeeping after a batch [base, last] is written.
  void appended(AppendResult& result, const protocol::BatchHeader& h, int64_t base, int64_t last);
  // Records `batch_epoch` (a batch's partition leader epoch) as starting at `offset` when newer.
  void note_epoch(int32_t batch_epoch, int64_t offset);
  std::vector<AbortedTxn> aborted_;  // by last offset
  std::shared_ptr<File> txn_file_;   // the .txnindex appended to, of segment txn_file_base_
  int64_t txn_file_base_ = -1;
  // .txnindex files of rolled segments for the next sync.
  std::vector<std::shared_ptr<File>> unsynced_txn_files_;
  // The producer state at the last roll, written as a snapshot once the sync after the roll
  // made the rolled segment (and its .txnindex) durable: a snapshot at offset S promises that
  // what the segments below S say about transactions survives a crash.
  std::optional<std::pair<int64_t, Bytes>> pending_snapshot_;
};

}  // namespace fjord::storage
