// Producer state of one partition (Kafka's ProducerStateManager): for every producer id that wrote
// to the partition, its epoch and its last batches' sequence numbers, so that a retried batch is
// answered with its first offsets instead of being written twice, and a batch that skips or
// repeats sequence numbers, or comes from a fenced epoch, is refused. Kept in memory; written to
// `<offset>.snapshot` files (Kafka's layout, docs/formats/producer-snapshot.md) and rebuilt at
// start from the newest snapshot plus the batches after it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/bytes.h"
#include "protocol/generated/error_codes.h"
#include "protocol/record_batch.h"
#include "storage/file.h"
#include "tl/expected.hpp"

namespace fjord::storage {

// One appended batch of a producer (Kafka's BatchMetadata).
struct ProducerBatch {
  int32_t last_seq = -1;
  int64_t last_offset = -1;
  int32_t offset_delta = 0;  // last offset - first offset
  int64_t timestamp = -1;    // the batch's max timestamp

  int32_t first_seq() const;
  int64_t first_offset() const { return last_offset - offset_delta; }
  bool operator==(const ProducerBatch&) const = default;
};

struct ProducerEntry {
  int64_t producer_id = -1;
  int16_t epoch = -1;
  std::vector<ProducerBatch> batches;  // oldest first, at most kMaxCachedBatches
  int32_t coordinator_epoch = -1;
  int64_t current_txn_first_offset = -1;  // -1: no transaction open on this partition

  int32_t last_seq() const { return batches.empty() ? -1 : batches.back().last_seq; }
  int64_t last_offset() const { return batches.empty() ? -1 : batches.back().last_offset; }
  int64_t last_timestamp() const { return batches.empty() ? -1 : batches.back().timestamp; }
  bool operator==(const ProducerEntry&) const = default;
};

// The last sequence number of a batch: base + last offset delta, wrapping past INT32_MAX to 0.
int32_t last_sequence(int32_t base_sequence, int32_t last_offset_delta);

// What check() says about a client's batch.
struct ProducerCheck {
  protocol::ErrorCode error = protocol::ErrorCode::NONE;
  std::string message;
  // Set when the batch repeats one of the producer's cached batches: answer with its offsets,
  // write nothing.
  std::optional<ProducerBatch> duplicate;
};

// A transaction ended by a marker on this partition.
struct CompletedTxn {
  int64_t producer_id = -1;
  int64_t first_offset = -1;  // its first batch here; -1 when it wrote nothing here
  int64_t last_offset = -1;   // the marker's offset
  bool committed = false;
};

class ProducerState {
 public:
  static constexpr size_t kMaxCachedBatches = 5;

  // Checks a batch a client sent (producer id >= 0) against the state, with Kafka's rules: a
  // repeat of a cached batch is a duplicate; an epoch below the producer's is
  // INVALID_PRODUCER_EPOCH; a new epoch must start at sequence 0, and in the same epoch the first
  // sequence must follow the last one (else OUT_OF_ORDER_SEQUENCE_NUMBER). A producer the
  // partition has no state for starts at sequence 0, or anywhere when `state_may_be_gone` (the
  // log lost records from its start, or expired producers: Kafka's KIP-360 leniency). Stricter
  // than Kafka, which always lets an unknown producer start anywhere: a new leader that never
  // got a producer's first batches (they were not acknowledged) would then take its later ones,
  // and a client that sees a later sequence acknowledged takes the earlier ones as written.
  // A plain batch from a producer with a transaction open here is INVALID_TXN_STATE.
  ProducerCheck check(const protocol::BatchHeader& batch, bool state_may_be_gone = true) const;
  // Whether remove_expired() dropped a producer since this state was made.
  bool expired_any() const { return expired_any_; }
  void mark_expired() { expired_any_ = true; }

  // Checks a transaction marker the coordinator writes: its epoch may not be below the
  // producer's (INVALID_PRODUCER_EPOCH), nor its coordinator epoch below the last one seen
  // (TRANSACTION_COORDINATOR_FENCED).
  protocol::ErrorCode check_marker(const protocol::BatchHeader& batch, const protocol::TxnMarker& marker) const;

  // Records a batch now in the log (offsets assigned): after check() for a client's batch, or
  // while rebuilding from the log. A higher epoch replaces the cached batches. A transactional
  // batch opens the producer's transaction here (if not open yet); a marker (`marker` set)
  // closes it and says what ended.
  std::optional<CompletedTxn> update(const protocol::BatchHeader& batch,
                                     const std::optional<protocol::TxnMarker>& marker = std::nullopt);

  // The first offset of the oldest open transaction (the last stable offset's bound).
  std::optional<int64_t> first_unstable_offset() const;
  // Open transactions by first offset: producer id.
  const std::map<int64_t, int64_t>& ongoing() const { return ongoing_; }

  const ProducerEntry* find(int64_t producer_id) const;
  const std::unordered_map<int64_t, ProducerEntry>& producers() const { return producers_; }
  size_t size() const { return producers_.size(); }
  bool empty() const { return producers_.empty(); }
  void clear() {
    producers_.clear();
    ongoing_.clear();
  }

  // Drops producers with no open transaction whose last batch's timestamp is `expiration_ms` or
  // more before `now_ms` (producer.id.expiration.ms). Returns how many went.
  size_t remove_expired(int64_t now_ms, int64_t expiration_ms);

  // Kafka's snapshot layout (version 1), one entry per cached batch, oldest first: a reader that
  // keeps the last entry per producer (Kafka) gets the producer's last batch.
  Bytes encode_snapshot() const;
  static tl::expected<ProducerState, std::string> decode_snapshot(ByteView bytes);

  bool operator==(const ProducerState&) const = default;

 private:
  std::unordered_map<int64_t, ProducerEntry> producers_;
  std::map<int64_t, int64_t> ongoing_;  // first offset -> producer id
  bool expired_any_ = false;
};

// Snapshot files in a partition directory: `<20-digit offset>.snapshot`, the state of every batch
// below that offset.
std::filesystem::path snapshot_path(const std::filesystem::path& dir, int64_t offset);
std::vector<int64_t> snapshot_offsets(const std::filesystem::path& dir);  // ascending
// Writes the snapshot for `offset` (temp file, then rename; not synced: a torn one fails its
// CRC and an older one, or the log, is used instead).
IoResult<> write_snapshot(Env& env, const std::filesystem::path& dir, int64_t offset, const ProducerState& state);
IoResult<> write_snapshot(Env& env, const std::filesystem::path& dir, int64_t offset, ByteView encoded);
// The newest readable snapshot at or below `max_offset`. Snapshots above it are deleted (their
// batches are no longer in the log) and unreadable ones are deleted and logged. nullopt: none.
std::optional<std::pair<int64_t, ProducerState>> load_latest_snapshot(const std::filesystem::path& dir,
                                                                      int64_t max_offset);
// Deletes every snapshot but the `keep` newest.
void delete_old_snapshots(const std::filesystem::path& dir, size_t keep);

}  // namespace fjord::storage
