#include "storage/producer_state.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "base/crc32c.h"
#include "protocol/codec.h"
#include "storage/segment.h"

namespace fjord::storage {
namespace fs = std::filesystem;
using protocol::ErrorCode;

namespace {
constexpr int16_t kSnapshotVersion = 1;
// version int16, crc uint32, entry count int32
constexpr size_t kSnapshotHeader = 2 + 4 + 4;
// producer id, epoch, last sequence, last offset, offset delta, timestamp, coordinator epoch,
// current transaction first offset
constexpr size_t kSnapshotEntry = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;
constexpr size_t kCrcStart = 2 + 4;

// Kafka's inSequence: the next batch starts right after the last, INT32_MAX wrapping to 0.
bool in_sequence(int32_t last_seq, int32_t next_seq) {
  return next_seq == (last_seq == INT32_MAX ? 0 : last_seq + 1);
}
}  // namespace

int32_t last_sequence(int32_t base_sequence, int32_t last_offset_delta) {
  if (base_sequence > INT32_MAX - last_offset_delta) return last_offset_delta - (INT32_MAX - base_sequence) - 1;
  return base_sequence + last_offset_delta;
}

int32_t ProducerBatch::first_seq() const {
  // The inverse of last_sequence(): wraps below 0 back to INT32_MAX.
  if (last_seq < offset_delta) return INT32_MAX - (offset_delta - last_seq) + 1;
  return last_seq - offset_delta;
}

ProducerCheck ProducerState::check(const protocol::BatchHeader& b, bool state_may_be_gone) const {
  ProducerCheck out;
  const int32_t first = b.base_sequence;
  const int32_t last = last_sequence(b.base_sequence, b.last_offset_delta);
  auto it = producers_.find(b.producer_id);
  if (it == producers_.end()) {
    // Unknown: a producer starts at sequence 0; later only if its state may have gone.
    if (first > 0 && !state_may_be_gone && !expired_any_) {
      out.error = ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER;
      out.message = fmt::format("producer {} is unknown here and starts at sequence {}, not 0", b.producer_id, first);
    }
    return out;
  }
  const ProducerEntry& e = it->second;
  if (b.producer_epoch == e.epoch) {
    for (const ProducerBatch& cached : e.batches) {
      if (cached.first_seq() == first && cached.last_seq == last) {
        out.duplicate = cached;
        return out;
      }
    }
  }
  if (b.producer_epoch < e.epoch) {
    out.error = ErrorCode::INVALID_PRODUCER_EPOCH;
    out.message = fmt::format("producer {} epoch {} is older than the partition's epoch {} for it", b.producer_id,
                              b.producer_epoch, e.epoch);
    return out;
  }
  if (b.base_sequence < 0) return out;  // written by a coordinator (TxnOffsetCommit): epochs only
  if (b.producer_epoch != e.epoch) {
    if (first != 0 && e.epoch >= 0) {
      out.error = ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER;
      out.message = fmt::format("producer {} starts epoch {} at sequence {}, not 0", b.producer_id, b.producer_epoch,
                                first);
    }
    return out;
  }
  if (!b.is_transactional() && e.current_txn_first_offset >= 0) {
    out.error = ErrorCode::INVALID_TXN_STATE;
    out.message = fmt::format("producer {} sent a non-transactional batch while its transaction is open",
                              b.producer_id);
    return out;
  }
  // Same epoch. A producer whose batches all went (its cached list is empty) may go on anywhere.
  if (!e.batches.empty() && !in_sequence(e.last_seq(), first)) {
    out.error = ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER;
    out.message = fmt::format("producer {} epoch {}: sequence {} does not follow the last one written, {}",
                              b.producer_id, b.producer_epoch, first, e.last_seq());
  }
  return out;
}

ErrorCode ProducerState::check_marker(const protocol::BatchHeader& b, const protocol::TxnMarker& marker) const {
  const ProducerEntry* e = find(b.producer_id);
  if (e == nullptr) return ErrorCode::NONE;
  if (b.producer_epoch < e->epoch) return ErrorCode::INVALID_PRODUCER_EPOCH;
  if (marker.coordinator_epoch < e->coordinator_epoch) return ErrorCode::TRANSACTION_COORDINATOR_FENCED;
  return ErrorCode::NONE;
}

std::optional<CompletedTxn> ProducerState::update(const protocol::BatchHeader& b,
                                                  const std::optional<protocol::TxnMarker>& marker) {
  ProducerEntry& e = producers_[b.producer_id];
  e.producer_id = b.producer_id;
  if (b.producer_epoch != e.epoch) {
    // A new epoch (a higher one from a client; in replay, whatever the log says) starts afresh.
    e.epoch = b.producer_epoch;
    e.batches.clear();
  }
  if (b.is_control()) {
    // Transaction markers end transactions; they carry no sequence.
    if (!marker) return std::nullopt;
    CompletedTxn done{b.producer_id, e.current_txn_first_offset, b.base_offset, marker->commit};
    if (e.current_txn_first_offset >= 0) ongoing_.erase(e.current_txn_first_offset);
    e.current_txn_first_offset = -1;
    e.coordinator_epoch = marker->coordinator_epoch;
    return done;
  }
  if (b.base_sequence >= 0) {
    if (e.batches.size() == kMaxCachedBatches) e.batches.erase(e.batches.begin());
    e.batches.push_back(ProducerBatch{last_sequence(b.base_sequence, b.last_offset_delta), b.last_offset(),
                                      b.last_offset_delta, b.max_timestamp});
  }
  if (b.is_transactional() && e.current_txn_first_offset < 0) {
    e.current_txn_first_offset = b.base_offset;
    ongoing_[b.base_offset] = b.producer_id;
  }
  return std::nullopt;
}

std::optional<int64_t> ProducerState::first_unstable_offset() const {
  if (ongoing_.empty()) return std::nullopt;
  return ongoing_.begin()->first;
}

const ProducerEntry* ProducerState::find(int64_t producer_id) const {
  auto it = producers_.find(producer_id);
  return it == producers_.end() ? nullptr : &it->second;
}

size_t ProducerState::remove_expired(int64_t now_ms, int64_t expiration_ms) {
  const size_t gone = std::erase_if(producers_, [&](const auto& kv) {
    const ProducerEntry& e = kv.second;
    return e.current_txn_first_offset < 0 && now_ms - e.last_timestamp() >= expiration_ms;
  });
  if (gone > 0) expired_any_ = true;
  return gone;
}

Bytes ProducerState::encode_snapshot() const {
  // Oldest producers first, for stable files.
  std::vector<const ProducerEntry*> entries;
  entries.reserve(producers_.size());
  size_t count = 0;
  for (const auto& [id, e] : producers_) {
    entries.push_back(&e);
    count += std::max<size_t>(e.batches.size(), 1);
  }
  std::sort(entries.begin(), entries.end(),
            [](const ProducerEntry* a, const ProducerEntry* b) { return a->producer_id < b->producer_id; });
  Bytes out;
  out.reserve(kSnapshotHeader + count * kSnapshotEntry);
  protocol::Writer w(out);
  w.write_int16(kSnapshotVersion);
  w.write_uint32(0);  // the CRC, patched below
  w.write_int32(static_cast<int32_t>(count));
  auto write_entry = [&](const ProducerEntry& e, const ProducerBatch& b) {
    w.write_int64(e.producer_id);
    w.write_int16(e.epoch);
    w.write_int32(b.last_seq);
    w.write_int64(b.last_offset);
    w.write_int32(b.offset_delta);
    w.write_int64(b.timestamp);
    w.write_int32(e.coordinator_epoch);
    w.write_int64(e.current_txn_first_offset);
  };
  for (const ProducerEntry* e : entries) {
    if (e->batches.empty()) write_entry(*e, ProducerBatch{});  // a producer known only by its epoch
    for (const ProducerBatch& b : e->batches) write_entry(*e, b);
  }
  uint32_t crc = crc32c(out.data() + kCrcStart, out.size() - kCrcStart);
  for (int i = 0; i < 4; ++i) out[2 + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
  return out;
}

tl::expected<ProducerState, std::string> ProducerState::decode_snapshot(ByteView bytes) {
  protocol::Reader r(bytes);
  int16_t version = r.read_int16();
  uint32_t crc = r.read_uint32();
  int32_t count = r.read_int32();
  if (!r.ok()) return tl::unexpected(std::string("shorter than its header"));
  if (version != kSnapshotVersion) return tl::unexpected(fmt::format("unknown version {}", version));
  if (crc32c(bytes.data() + kCrcStart, bytes.size() - kCrcStart) != crc)
    return tl::unexpected(std::string("CRC mismatch"));
  if (count < 0 || static_cast<size_t>(count) * kSnapshotEntry != bytes.size() - kSnapshotHeader)
    return tl::unexpected(fmt::format("{} entries do not fit {} bytes", count, bytes.size()));
  ProducerState state;
  for (int32_t i = 0; i < count; ++i) {
    ProducerEntry fields;
    fields.producer_id = r.read_int64();
    fields.epoch = r.read_int16();
    ProducerBatch b;
    b.last_seq = r.read_int32();
    b.last_offset = r.read_int64();
    b.offset_delta = r.read_int32();
    b.timestamp = r.read_int64();
    fields.coordinator_epoch = r.read_int32();
    fields.current_txn_first_offset = r.read_int64();
    ProducerEntry& e = state.producers_[fields.producer_id];
    if (e.producer_id != fields.producer_id || e.epoch != fields.epoch) {
      // The first entry of this producer (or one of a later epoch): it starts afresh.
      e = fields;
      e.batches.clear();
    }
    e.coordinator_epoch = fields.coordinator_epoch;
    e.current_txn_first_offset = fields.current_txn_first_offset;
    if (b.last_offset >= 0) {
      if (e.batches.size() == kMaxCachedBatches) e.batches.erase(e.batches.begin());
      e.batches.push_back(b);
    }
  }
  for (const auto& [id, e] : state.producers_)
    if (e.current_txn_first_offset >= 0) state.ongoing_[e.current_txn_first_offset] = id;
  return state;
}

fs::path snapshot_path(const fs::path& dir, int64_t offset) { return dir / segment_file_name(offset, ".snapshot"); }

std::vector<int64_t> snapshot_offsets(const fs::path& dir) { return offset_named_files(dir, ".snapshot"); }

IoResult<> write_snapshot(Env& env, const fs::path& dir, int64_t offset, ByteView encoded) {
  return write_file_atomically(env, snapshot_path(dir, offset), encoded, false);
}

IoResult<> write_snapshot(Env& env, const fs::path& dir, int64_t offset, const ProducerState& state) {
  return write_snapshot(env, dir, offset, state.encode_snapshot());
}

std::optional<std::pair<int64_t, ProducerState>> load_latest_snapshot(const fs::path& dir, int64_t max_offset) {
  std::vector<int64_t> offsets = snapshot_offsets(dir);
  std::error_code ec;
  for (auto it = offsets.rbegin(); it != offsets.rend(); ++it) {
    fs::path path = snapshot_path(dir, *it);
    if (*it > max_offset) {
      fs::remove(path, ec);
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto state = ProducerState::decode_snapshot(bytes);
    if (state) return std::pair{*it, std::move(*state)};
    spdlog::warn("{}: producer state snapshot {} is unreadable ({}); deleting it, the log is replayed instead",
                 dir.string(), path.filename().string(), state.error());
    fs::remove(path, ec);
  }
  return std::nullopt;
}

void delete_old_snapshots(const fs::path& dir, size_t keep) {
  std::vector<int64_t> offsets = snapshot_offsets(dir);
  std::error_code ec;
  for (size_t i = 0; i + keep < offsets.size(); ++i) fs::remove(snapshot_path(dir, offsets[i]), ec);
}

}  // namespace fjord::storage
