#include "protocol/record_batch.h"

#include <fmt/format.h>

#include "base/crc32c.h"
#include "protocol/codec.h"
#include "protocol/record_batch_builder.h"

namespace fjord::protocol {
namespace {

void put_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

void put_be64(uint8_t* p, uint64_t v) {
  put_be32(p, static_cast<uint32_t>(v >> 32));
  put_be32(p + 4, static_cast<uint32_t>(v));
}

// Walks the records of an uncompressed batch: each is a varint length then that many bytes,
// holding attributes, timestamp delta, offset delta, key, value and headers.
std::optional<BatchError> check_record_framing(ByteView records, const BatchHeader& h) {
  Reader r(records);
  for (int32_t i = 0; i < h.records_count; ++i) {
    int32_t len = r.read_varint();
    if (!r.ok() || len < 0 || static_cast<size_t>(len) > r.remaining())
      return BatchError{ErrorCode::CORRUPT_MESSAGE, fmt::format("record {} has an invalid length", i)};
    Reader rec = r.sub_reader(static_cast<size_t>(len));
    rec.read_int8();
    rec.read_varlong();
    int32_t offset_delta = rec.read_varint();
    if (rec.ok() && (offset_delta < 0 || offset_delta > h.last_offset_delta))
      return BatchError{ErrorCode::INVALID_RECORD, fmt::format("record {} has offset delta {}", i, offset_delta)};
    for (int part = 0; part < 2 && rec.ok(); ++part) {  // key, value
      int32_t n = rec.read_varint();
      if (n < -1) rec.fail("negative length");
      if (n > 0) rec.skip(static_cast<size_t>(n));
    }
    int32_t headers = rec.read_varint();
    if (headers < 0) rec.fail("negative header count");
    for (int32_t k = 0; k < headers && rec.ok(); ++k) {
      int32_t key_len = rec.read_varint();
      if (key_len < 0) rec.fail("null header key");
      if (key_len > 0) rec.skip(static_cast<size_t>(key_len));
      int32_t value_len = rec.read_varint();
      if (value_len < -1) rec.fail("negative header value length");
      if (value_len > 0) rec.skip(static_cast<size_t>(value_len));
    }
    if (!rec.ok()) return BatchError{ErrorCode::CORRUPT_MESSAGE, fmt::format("record {}: {}", i, rec.error())};
    if (rec.remaining() != 0)
      return BatchError{ErrorCode::CORRUPT_MESSAGE, fmt::format("record {} has bytes past its headers", i)};
  }
  if (r.remaining() != 0)
    return BatchError{ErrorCode::CORRUPT_MESSAGE, "bytes after the last record of the batch"};
  return std::nullopt;
}

}  // namespace

std::optional<BatchHeader> read_batch_header(ByteView bytes) {
  if (bytes.size() < batch::kHeaderSize) return std::nullopt;
  Reader r(bytes.data(), batch::kHeaderSize);
  BatchHeader h;
  h.base_offset = r.read_int64();
  h.batch_length = r.read_int32();
  h.partition_leader_epoch = r.read_int32();
  h.magic = r.read_int8();
  h.crc = r.read_uint32();
  h.attributes = r.read_int16();
  h.last_offset_delta = r.read_int32();
  h.base_timestamp = r.read_int64();
  h.max_timestamp = r.read_int64();
  h.producer_id = r.read_int64();
  h.producer_epoch = r.read_int16();
  h.base_sequence = r.read_int32();
  h.records_count = r.read_int32();
  return h;
}

bool batch_crc_ok(ByteView bytes) {
  auto h = read_batch_header(bytes);
  return h && crc32c(bytes.data() + batch::kAttributes, bytes.size() - batch::kAttributes) == h->crc;
}

std::optional<BatchError> validate_batch(ByteView bytes) {
  auto h = read_batch_header(bytes);
  if (!h) return BatchError{ErrorCode::CORRUPT_MESSAGE, "batch shorter than its 61-byte header"};
  if (h->magic != 2)
    return BatchError{ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT,
                      fmt::format("record batch magic {} (only magic 2 is supported)", h->magic)};
  if (h->batch_length < 0 || h->total_size() != bytes.size())
    return BatchError{ErrorCode::CORRUPT_MESSAGE,
                      fmt::format("batch length {} does not match the {} bytes sent", h->batch_length, bytes.size())};
  if (!batch_crc_ok(bytes)) return BatchError{ErrorCode::CORRUPT_MESSAGE, "record batch CRC mismatch"};
  if (h->records_count < 0) return BatchError{ErrorCode::INVALID_RECORD, "negative record count"};
  if (h->records_count == 0) return BatchError{ErrorCode::INVALID_RECORD, "batch holds no records"};
  if (h->last_offset_delta != h->records_count - 1)
    return BatchError{ErrorCode::INVALID_RECORD, fmt::format("record count {} does not match last offset delta {}",
                                                             h->records_count, h->last_offset_delta)};
  if (h->compression() > 4)
    return BatchError{ErrorCode::UNSUPPORTED_COMPRESSION_TYPE, fmt::format("compression codec {}", h->compression())};
  if (h->compression() == 0) return check_record_framing(bytes.subspan(batch::kHeaderSize), *h);
  return std::nullopt;
}

size_t for_each_record(ByteView records, const BatchHeader& header, const std::function<void(const RecordView&)>& fn) {
  Reader r(records);
  size_t visited = 0;
  for (int32_t i = 0; i < header.records_count; ++i) {
    int32_t len = r.read_varint();
    if (!r.ok() || len < 0 || static_cast<size_t>(len) > r.remaining()) break;
    Reader rec = r.sub_reader(static_cast<size_t>(len));
    RecordView view;
    view.index = i;
    rec.read_int8();  // attributes
    view.timestamp = header.base_timestamp + rec.read_varlong();
    view.after_timestamp = ByteView(rec.position(), rec.remaining());
    view.offset_delta = rec.read_varint();
    for (std::optional<ByteView>* part : {&view.key, &view.value}) {
      int32_t n = rec.read_varint();
      if (!rec.ok() || n < -1 || (n > 0 && static_cast<size_t>(n) > rec.remaining())) {
        rec.fail("bad length");
        break;
      }
      if (n >= 0) {
        *part = ByteView(rec.position(), static_cast<size_t>(n));
        rec.skip(static_cast<size_t>(n));
      }
    }
    if (!rec.ok()) break;
    fn(view);
    ++visited;
  }
  return visited;
}

std::optional<BatchError> validate_records(ByteView records, const BatchHeader& header) {
  return check_record_framing(records, header);
}

void assign_offsets(uint8_t* batch_start, int64_t base_offset, int32_t leader_epoch) {
  put_be64(batch_start + batch::kBaseOffset, static_cast<uint64_t>(base_offset));
  put_be32(batch_start + batch::kPartitionLeaderEpoch, static_cast<uint32_t>(leader_epoch));
}

void set_log_append_time(uint8_t* batch_start, size_t size, int64_t now_ms) {
  uint16_t attrs = static_cast<uint16_t>((batch_start[batch::kAttributes] << 8) | batch_start[batch::kAttributes + 1]);
  attrs |= batch::kTimestampTypeBit;
  batch_start[batch::kAttributes] = static_cast<uint8_t>(attrs >> 8);
  batch_start[batch::kAttributes + 1] = static_cast<uint8_t>(attrs);
  put_be64(batch_start + batch::kMaxTimestamp, static_cast<uint64_t>(now_ms));
  put_be32(batch_start + batch::kCrc, crc32c(batch_start + batch::kAttributes, size - batch::kAttributes));
}

}  // namespace fjord::protocol

namespace fjord::protocol {

Bytes build_txn_marker(int64_t producer_id, int16_t producer_epoch, const TxnMarker& marker, int64_t timestamp) {
  Bytes key, value;
  Writer k(key), v(value);
  k.write_int16(0);
  k.write_int16(marker.commit ? 1 : 0);
  v.write_int16(0);
  v.write_int32(marker.coordinator_epoch);
  RecordBatchBuilder b(timestamp);
  b.add(std::move(key), std::move(value), timestamp);
  return b.build(batch::kTransactionalBit | batch::kControlBit, producer_id, producer_epoch, -1);
}

std::optional<TxnMarker> read_txn_marker(ByteView bytes) {
  auto h = read_batch_header(bytes);
  if (!h || !h->is_control() || h->compression() != 0 || bytes.size() < h->total_size()) return std::nullopt;
  std::optional<TxnMarker> out;
  ByteView records(bytes.data() + batch::kHeaderSize, h->total_size() - batch::kHeaderSize);
  for_each_record(records, *h, [&](const RecordView& r) {
    if (r.index != 0 || !r.key || !r.value || r.key->size() < 4 || r.value->size() < 6) return;
    Reader k(*r.key), v(*r.value);
    if (k.read_int16() != 0) return;
    int16_t type = k.read_int16();
    if (type != 0 && type != 1) return;
    v.read_int16();
    out = TxnMarker{type == 1, v.read_int32()};
  });
  return out;
}

}  // namespace fjord::protocol
