#include "coordinator/records.h"

#include "protocol/codec.h"
#include "protocol/compression.h"
#include "protocol/generated/group_metadata_key.h"
#include "protocol/generated/offset_commit_key.h"
#include "protocol/generated/offset_commit_value.h"
#include "protocol/record_batch.h"
#include "protocol/record_batch_builder.h"

namespace fjord::coordinator {
namespace {

using namespace protocol;

constexpr int16_t kOffsetKeyVersion = 1;
constexpr int16_t kGroupKeyVersion = 2;
// Value versions Fjord writes: offset v3 (leader epoch, no expire timestamp), group v3 (static
// members), both non-flexible, as Kafka 3.x writes them.
constexpr int16_t kOffsetValueVersion = 3;
constexpr int16_t kGroupValueVersion = 3;
constexpr size_t kMaxInflated = 128 << 20;

template <typename T>
Bytes encode_versioned(const T& message, int16_t version) {
  Bytes out;
  Writer w(out);
  w.write_int16(version);
  message.encode(w, version);
  return out;
}

// Code points of UTF-8 text as Java's UTF-16 units; invalid bytes count as U+FFFD, as Java's
// decoder does.
int32_t java_string_hash(std::string_view s) {
  uint32_t h = 0;
  auto add = [&h](uint32_t unit) { h = 31 * h + unit; };
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<uint8_t>(s[i]);
    uint32_t cp = 0xFFFD;
    size_t len = 1;
    if (c < 0x80) {
      cp = c;
    } else if ((c >> 5) == 0x6 && i + 1 < s.size()) {
      cp = ((c & 0x1Fu) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3Fu);
      len = 2;
    } else if ((c >> 4) == 0xE && i + 2 < s.size()) {
      cp = ((c & 0x0Fu) << 12) | ((static_cast<uint8_t>(s[i + 1]) & 0x3Fu) << 6) |
           (static_cast<uint8_t>(s[i + 2]) & 0x3Fu);
      len = 3;
    } else if ((c >> 3) == 0x1E && i + 3 < s.size()) {
      cp = ((c & 0x07u) << 18) | ((static_cast<uint8_t>(s[i + 1]) & 0x3Fu) << 12) |
           ((static_cast<uint8_t>(s[i + 2]) & 0x3Fu) << 6) | (static_cast<uint8_t>(s[i + 3]) & 0x3Fu);
      len = 4;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      add(0xD800 + (cp >> 10));
      add(0xDC00 + (cp & 0x3FF));
    } else {
      add(cp);
    }
    i += len;
  }
  return static_cast<int32_t>(h);
}

}  // namespace

int32_t partition_for(std::string_view group, int32_t partitions) {
  int32_t h = java_string_hash(group);
  int32_t abs = h == INT32_MIN ? 0 : (h < 0 ? -h : h);  // Kafka's Utils.abs
  return abs % partitions;
}

OffsetsRecord offset_commit_record(std::string_view group, std::string_view topic, int32_t partition,
                                   const std::optional<CommittedOffset>& offset) {
  OffsetCommitKey key;
  key.group = group;
  key.topic = topic;
  key.partition = partition;
  OffsetsRecord record{encode_versioned(key, kOffsetKeyVersion), std::nullopt};
  if (offset) {
    OffsetCommitValue value;
    value.offset = offset->offset;
    value.leader_epoch = offset->leader_epoch;
    value.metadata = offset->metadata;
    value.commit_timestamp = offset->commit_timestamp;
    record.value = encode_versioned(value, kOffsetValueVersion);
  }
  return record;
}

OffsetsRecord group_metadata_record(std::string_view group, const std::optional<GroupMetadataValue>& value) {
  GroupMetadataKey key;
  key.group = group;
  OffsetsRecord record{encode_versioned(key, kGroupKeyVersion), std::nullopt};
  if (value) record.value = encode_versioned(*value, kGroupValueVersion);
  return record;
}

Bytes build_batch(const std::vector<OffsetsRecord>& records, int64_t now_ms, int64_t producer_id,
                  int16_t producer_epoch) {
  RecordBatchBuilder builder(now_ms);
  for (const OffsetsRecord& r : records) builder.add(r.key, r.value, now_ms);
  if (producer_id < 0) return builder.build();
  return builder.build(batch::kTransactionalBit, producer_id, producer_epoch, -1);
}

bool replay_record(ByteView key_bytes, std::optional<ByteView> value_bytes, const ReplayHandler& handler) {
  Reader kr(key_bytes);
  int16_t key_version = kr.read_int16();
  if (!kr.ok()) return false;
  if (key_version == 0 || key_version == 1) {
    OffsetCommitKey key;
    key.decode(kr, key_version);
    if (!kr.ok()) return false;
    std::optional<CommittedOffset> offset;
    if (value_bytes) {
      Reader vr(*value_bytes);
      int16_t v = vr.read_int16();
      if (!vr.ok() || v < OffsetCommitValue::kMinVersion || v > OffsetCommitValue::kMaxVersion) return false;
      OffsetCommitValue value;
      value.decode(vr, v);
      if (!vr.ok()) return false;
      offset = CommittedOffset{value.offset, value.leader_epoch, value.metadata, value.commit_timestamp};
    }
    if (handler.offset) handler.offset(key.group, key.topic, key.partition, std::move(offset));
    return true;
  }
  if (key_version == kGroupKeyVersion) {
    GroupMetadataKey key;
    key.decode(kr, key_version);
    if (!kr.ok()) return false;
    std::optional<GroupMetadataValue> value;
    if (value_bytes) {
      Reader vr(*value_bytes);
      int16_t v = vr.read_int16();
      if (!vr.ok() || v < GroupMetadataValue::kMinVersion || v > GroupMetadataValue::kMaxVersion) return false;
      value.emplace();
      value->decode(vr, v);
      if (!vr.ok()) return false;
    }
    if (handler.group) handler.group(key.group, std::move(value));
    return true;
  }
  return false;  // transaction or new-protocol records: not kept by the classic coordinator
}

tl::expected<ReplayStats, std::string> for_each_batch(const storage::PartitionLog& log, const BatchFn& fn) {
  ReplayStats stats;
  constexpr uint64_t kChunk = 4 << 20;
  int64_t offset = log.log_start_offset();
  Bytes buffer;
  while (offset < log.log_end_offset()) {
    // Batches are checked here, one by one: a bad one is skipped, not the end of the load.
    // To the log end: a new leader's records past its high watermark are the partition's now.
    auto read = log.read_for_replica(offset, kChunk, false);
    if (!read) return tl::unexpected(std::string("reading ") + log.dir().string() + " failed");
    if (read->ranges.empty()) break;
    int64_t next = offset;
    for (const storage::FileRange& range : read->ranges) {
      buffer.resize(range.length);
      auto n = range.file->read_at(range.position, buffer);
      if (!n || *n != range.length) return tl::unexpected("short read of " + log.dir().string());
      stats.bytes += range.length;
      ByteView rest(buffer);
      while (rest.size() >= batch::kHeaderSize) {
        auto h = read_batch_header(rest);
        if (!h || h->total_size() > rest.size()) return tl::unexpected("torn batch in " + log.dir().string());
        ByteView whole = rest.first(h->total_size());
        rest = rest.subspan(h->total_size());
        next = h->last_offset() + 1;
        if (!batch_crc_ok(whole)) {
          ++stats.corrupt_batches;
          continue;
        }
        Bytes inflated;
        auto body = batch_records(whole, *h, inflated, kMaxInflated);
        if (!body) return tl::unexpected("cannot inflate a batch of " + log.dir().string() + ": " + body.error());
        fn(*h, whole, *body, stats);
      }
    }
    if (next <= offset) break;
    offset = next;
  }
  return stats;
}

tl::expected<ReplayStats, std::string> replay_log(const storage::PartitionLog& log, const ReplayHandler& handler) {
  return for_each_batch(log, [&](const BatchHeader& h, ByteView, ByteView body, ReplayStats& stats) {
    if (h.is_control()) return;
    size_t visited = for_each_record(body, h, [&](const RecordView& rec) {
      ++stats.records;
      if (!rec.key || !replay_record(*rec.key, rec.value, handler)) ++stats.skipped;
    });
    if (visited != static_cast<size_t>(h.records_count)) ++stats.skipped;
  });
}

}  // namespace fjord::coordinator
