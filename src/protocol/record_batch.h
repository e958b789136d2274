// Kafka record batches, magic v2 (the only format Fjord stores): header layout, validation of
// client-sent batches, and offset/epoch assignment in place. Layout: ../shared/kafka-protocol
// README ("Record batch v2"). Batches are never copied to be inspected: everything here works on
// byte views.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "protocol/generated/error_codes.h"

namespace fjord::protocol {

namespace batch {
inline constexpr size_t kBaseOffset = 0;
inline constexpr size_t kBatchLength = 8;
inline constexpr size_t kPartitionLeaderEpoch = 12;
inline constexpr size_t kMagic = 16;
inline constexpr size_t kCrc = 17;
inline constexpr size_t kAttributes = 21;
inline constexpr size_t kLastOffsetDelta = 23;
inline constexpr size_t kBaseTimestamp = 27;
inline constexpr size_t kMaxTimestamp = 35;
inline constexpr size_t kProducerId = 43;
inline constexpr size_t kProducerEpoch = 51;
inline constexpr size_t kBaseSequence = 53;
inline constexpr size_t kRecordsCount = 57;
inline constexpr size_t kHeaderSize = 61;
// baseOffset + batchLength: the bytes before the part batchLength counts.
inline constexpr size_t kLogOverhead = 12;

inline constexpr uint16_t kCompressionMask = 0x07;
inline constexpr uint16_t kTimestampTypeBit = 0x08;
inline constexpr uint16_t kTransactionalBit = 0x10;
inline constexpr uint16_t kControlBit = 0x20;
// KIP-534: set by compaction on batches holding tombstones; baseTimestamp then holds the time
// after which those tombstones may be removed.
inline constexpr uint16_t kDeleteHorizonBit = 0x40;
}  // namespace batch

// The fixed header of one batch, read from its first 61 bytes.
struct BatchHeader {
  int64_t base_offset = 0;
  int32_t batch_length = 0;
  int32_t partition_leader_epoch = 0;
  int8_t magic = 0;
  uint32_t crc = 0;
  int16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = 0;
  int64_t max_timestamp = 0;
  int64_t producer_id = 0;
  int16_t producer_epoch = 0;
  int32_t base_sequence = 0;
  int32_t records_count = 0;

  size_t total_size() const { return static_cast<size_t>(batch_length) + batch::kLogOverhead; }
  int64_t last_offset() const { return base_offset + last_offset_delta; }
  int compression() const { return attributes & batch::kCompressionMask; }
  bool log_append_time() const { return (attributes & batch::kTimestampTypeBit) != 0; }
  bool is_control() const { return (attributes & batch::kControlBit) != 0; }
  bool is_transactional() const { return (attributes & batch::kTransactionalBit) != 0; }
  bool has_delete_horizon() const { return (attributes & batch::kDeleteHorizonBit) != 0; }
};

// Reads the header at the start of `bytes` (at least 61 bytes, else nullopt). No validation.
std::optional<BatchHeader> read_batch_header(ByteView bytes);

struct BatchError {
  ErrorCode code;
  std::string message;
  // Produce v8+ record_errors: which records (by index in the batch) were at fault, and why.
  std::vector<std::pair<int32_t, std::string>> records = {};
};

// One record of a batch, viewed in place.
struct RecordView {
  int32_t index = 0;
  int64_t timestamp = 0;  // base timestamp + delta (CreateTime)
  int32_t offset_delta = 0;
  std::optional<ByteView> key;
  std::optional<ByteView> value;
  // The record's bytes from offsetDelta to its end (offset delta, key, value, headers): what a
  // rewrite that changes only the timestamp delta copies as is.
  ByteView after_timestamp;
};

// Calls `fn` for each record of `records` (a batch's record bytes, inflated if compressed), in
// order, stopping at the first one that does not parse. Returns how many were visited.
size_t for_each_record(ByteView records, const BatchHeader& header, const std::function<void(const RecordView&)>& fn);

// Checks one whole batch (`bytes` is exactly the batch): sizes consistent, magic 2, CRC-32C over
// attributes..end, records count matching lastOffsetDelta, and for uncompressed batches every
// record's framing (lengths in range, counts agree). Compressed records are not inflated here.
std::optional<BatchError> validate_batch(ByteView bytes);

// Splits a produce request's records into batches: calls `fn(ByteView batch)` for each. Returns
// an error if the data does not split into whole batches, or any batch fails validate_batch.
template <typename Fn>
std::optional<BatchError> for_each_valid_batch(ByteView records, Fn&& fn);

// Checks the framing of a batch's records (uncompressed bytes: for compressed batches, after
// inflating them).
std::optional<BatchError> validate_records(ByteView records, const BatchHeader& header);

// Checks the CRC only (for recovery, where sizes were checked while scanning).
bool batch_crc_ok(ByteView bytes);

// A transaction marker: a control batch (transactional) whose one record has key = int16 version
// 0 + int16 type (0 abort, 1 commit) and value = int16 version 0 + int32 coordinator epoch.
struct TxnMarker {
  bool commit = false;
  int32_t coordinator_epoch = 0;
};
// The whole marker batch (offset 0), as the transaction coordinator writes it.
Bytes build_txn_marker(int64_t producer_id, int16_t producer_epoch, const TxnMarker& marker, int64_t timestamp);
// The marker in `batch` (a whole, uncompressed control batch); nullopt if it is none.
std::optional<TxnMarker> read_txn_marker(ByteView batch);

// Rewrites baseOffset and partitionLeaderEpoch in place (neither is covered by the CRC).
void assign_offsets(uint8_t* batch_start, int64_t base_offset, int32_t leader_epoch);

// Sets the timestamp type to LogAppendTime with maxTimestamp = `now_ms` (and recomputes the CRC),
// as Kafka does for message.timestamp.type=LogAppendTime.
void set_log_append_time(uint8_t* batch_start, size_t size, int64_t now_ms);

template <typename Fn>
std::optional<BatchError> for_each_valid_batch(ByteView records, Fn&& fn) {
  size_t pos = 0;
  if (records.empty()) return BatchError{ErrorCode::CORRUPT_MESSAGE, "empty record set"};
  while (pos < records.size()) {
    auto header = read_batch_header(records.subspan(pos));
    if (!header) return BatchError{ErrorCode::CORRUPT_MESSAGE, "truncated batch header"};
    if (header->batch_length < 0 || header->total_size() > records.size() - pos)
      return BatchError{ErrorCode::CORRUPT_MESSAGE, "batch length runs past the record set"};
    ByteView one = records.subspan(pos, header->total_size());
    if (auto err = validate_batch(one)) return err;
    fn(one, *header);
    pos += one.size();
  }
  return std::nullopt;
}

}  // namespace fjord::protocol
