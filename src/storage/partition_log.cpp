#include "storage/partition_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace fjord::storage {
namespace fs = std::filesystem;
using protocol::ErrorCode;

namespace {
constexpr int64_t kMaxRelativeOffset = INT32_MAX;

std::vector<int64_t> segment_bases(const fs::path& dir) { return offset_named_files(dir, ".log"); }
}  // namespace

IoResult<std::unique_ptr<PartitionLog>> PartitionLog::open(Env& env, const fs::path& dir, const LogConfig& config,
                                                           int64_t recovery_point, int64_t log_start_offset,
                                                           bool clean_shutdown, int64_t now_ms, Syncer* syncer,
                                                           asio::any_io_executor executor, RecoveryReport* report) {
  std::unique_ptr<PartitionLog> log(new PartitionLog());
  log->env_ = &env;
  log->dir_ = dir;
  log->config_ = config;
  log->syncer_ = syncer;
  log->executor_ = std::move(executor);
  log->last_flush_ms_ = now_ms;
  RecoveryReport local;
  RecoveryReport& rep = report ? *report : local;

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return tl::unexpected(ec);
  if (auto r = finish_interrupted_cleaning(env, dir); !r) return tl::unexpected(r.error());
  std::vector<int64_t> bases = segment_bases(dir);
  bool cut = false;  // a recovered segment lost its tail: later segments cannot follow it
  for (size_t i = 0; i < bases.size(); ++i) {
    fs::path base_path = dir / segment_file_name(bases[i], "");
    if (cut) {
      spdlog::warn("{}: removing segment {} after a truncated one", dir.string(), bases[i]);
      for (const char* suffix : {".log", ".index", ".timeindex"})
        fs::remove(dir / segment_file_name(bases[i], suffix), ec);
      continue;
    }
    bool last = i + 1 == bases.size();
    bool may_hold_unflushed = last || bases[i + 1] > recovery_point;
    bool recover = !clean_shutdown && may_hold_unflushed;
    uint64_t truncated = 0;
    auto seg = Segment::open(env, dir, bases[i], config.segment, recover, last, &truncated,
                             last ? INT64_MAX : bases[i + 1]);
    if (!seg) return tl::unexpected(seg.error());
    ++rep.segments;
    if (recover) {
      ++rep.segments_scanned;
      rep.bytes_scanned += (*seg)->size() + truncated;
    }
    if (truncated > 0) {
      rep.bytes_truncated += truncated;
      spdlog::warn("{}: recovery cut {} bytes of torn or corrupt data from segment {} (log now ends at offset {})",
                   dir.string(), truncated, bases[i], (*seg)->next_offset());
      cut = !last;
    }
    log->segments_.emplace(bases[i], std::move(*seg));
  }
  if (cut) {
    // The truncated segment is now the last one: reopen it with writable indexes.
    auto last_base = log->segments_.rbegin()->first;
    log->segments_.erase(last_base);
    auto seg = Segment::open(env, dir, last_base, config.segment, false, true, nullptr);
    if (!seg) return tl::unexpected(seg.error());
    log->segments_.emplace(last_base, std::move(*seg));
  }
  if (log->segments_.empty()) {
    int64_t base = std::max<int64_t>(0, log_start_offset);
    auto seg = Segment::create(env, dir, base, config.segment, now_ms);
    if (!seg) return tl::unexpected(seg.error());
    log->segments_.emplace(base, std::move(*seg));
  }
  log->log_start_offset_ = std::max(log_start_offset, log->segments_.begin()->first);
  log->log_start_offset_ = std::min(log->log_start_offset_, log->log_end_offset());
  if (!clean_shutdown) {
    // What survived a crash may still sit only in the page cache: make it durable before
    // anyone is told it is.
    for (auto& [base, seg] : log->segments_) {
      if (seg->next_offset() > recovery_point) {
        if (auto r = seg->log_file()->sync(); !r) return tl::unexpected(r.error());
      }
    }
  }
  log->durable_offset_ = log->log_end_offset();
  if (auto r = log->rebuild_producer_state(); !r) return tl::unexpected(r.error());
  auto epochs = LeaderEpochCache::load(env, dir);
  if (!epochs) {
    // Kafka too starts over: the epochs of later appends are recorded again.
    spdlog::warn("{}; starting with no leader epochs", epochs.error());
    epochs = LeaderEpochCache::load(env, dir / "nonexistent");
  }
  log->epochs_ = std::move(*epochs);
  if (auto r = log->epochs_.truncate_from_end(log->log_end_offset()); !r) return tl::unexpected(r.error());
  log->hw_ = log->log_start_offset_;
  return log;
}

IoResult<> PartitionLog::rebuild_producer_state() {
  const bool expired = producers_.expired_any();
  producers_.clear();
  pending_snapshot_.reset();
  int64_t from = log_start_offset_;
  if (auto snapshot = load_latest_snapshot(dir_, log_end_offset())) {
    producers_ = std::move(snapshot->second);
    from = std::max(from, snapshot->first);
  }
  if (expired) producers_.mark_expired();
  load_aborted(from);
  std::vector<uint8_t> control;
  auto it = segments_.upper_bound(from);
  if (it != segments_.begin()) --it;
  for (; it != segments_.end(); ++it) {
    const int64_t segment_base = it->first;
    const Segment& seg = *it->second;
    IoResult<> failed;
    auto r = seg.scan_headers_from(from, [&](const BatchInfo& info, ByteView header) {
      auto h = protocol::read_batch_header(header);
      if (!h || h->producer_id < 0) return true;
      std::optional<protocol::TxnMarker> marker;
      if (h->is_control()) {
        control.resize(info.size);
        auto n = seg.log_file()->read_at(info.position, control);
        if (!n) {
          failed = tl::unexpected(n.error());
          return false;
        }
        if (*n == info.size) marker = protocol::read_txn_marker(control);
      }
      auto done = producers_.update(*h, marker);
      if (done && !done->committed && done->first_offset >= 0) {
        int64_t lso = std::min(info.last_offset + 1, producers_.first_unstable_offset().value_or(INT64_MAX));
        index_aborted({done->producer_id, done->first_offset, done->last_offset, lso}, segment_base);
      }
      return true;
    });
    if (!r) return tl::unexpected(r.error());
    if (!failed) return failed;
  }
  return {};
}

void PartitionLog::write_producer_snapshot(int64_t offset, const Bytes& bytes) {
  if (auto r = write_snapshot(*env_, dir_, offset, bytes); !r) {
    spdlog::warn("{}: writing the producer state snapshot for offset {} failed: {}", dir_.string(), offset,
                 r.error().message());
    return;
  }
  delete_old_snapshots(dir_, 2);
}

void PartitionLog::load_aborted(int64_t replay_from) {
  aborted_.clear();
  txn_file_.reset();
  txn_file_base_ = -1;
  std::error_code ec;
  for (int64_t base : txn_index_bases(dir_)) {
    const fs::path path = txn_index_path(dir_, base);
    std::vector<AbortedTxn> entries = read_txn_index(path);
    std::vector<AbortedTxn> kept;
    for (const AbortedTxn& t : entries)
      if (t.last_offset < replay_from && t.last_offset >= log_start_offset_) kept.push_back(t);
    const bool whole = fs::file_size(path, ec) == entries.size() * kTxnIndexEntrySize;
    if (kept.size() != entries.size() || !whole) {
      // Rewritten (synced: it holds entries the log's replay will not add back).
      Bytes bytes;
      for (const AbortedTxn& t : kept) {
        Bytes e = encode_txn_index_entry(t);
        bytes.insert(bytes.end(), e.begin(), e.end());
      }
      IoResult<> r = kept.empty() ? env_->remove(path) : write_file_atomically(*env_, path, bytes, true);
      if (!r) spdlog::warn("{}: rewriting {} failed: {}", dir_.string(), path.filename().string(), r.error().message());
    }
    aborted_.insert(aborted_.end(), kept.begin(), kept.end());
  }
  std::sort(aborted_.begin(), aborted_.end(),
            [](const AbortedTxn& a, const AbortedTxn& b) { return a.last_offset < b.last_offset; });
}

void PartitionLog::index_aborted(const AbortedTxn& txn, int64_t segment_base) {
  aborted_.push_back(txn);
  if (txn_file_base_ != segment_base) {
    if (txn_file_) unsynced_txn_files_.push_back(std::move(txn_file_));
    auto f = env_->open(txn_index_path(dir_, segment_base), true);
    if (!f) {
      go_offline("opening a transaction index", f.error());
      return;
    }
    txn_file_ = std::move(*f);
    txn_file_base_ = segment_base;
  }
  auto size = txn_file_->size();
  if (!size) return go_offline("appending to a transaction index", size.error());
  if (auto r = txn_file_->write_at(*size, encode_txn_index_entry(txn)); !r)
    go_offline("appending to a transaction index", r.error());
}

void PartitionLog::trim_epochs() {
  if (auto r = epochs_.truncate_from_start(log_start_offset_); !r)
    spdlog::warn("{}: trimming the leader epochs failed: {}", dir_.string(), r.error().message());
}

void PartitionLog::prune_aborted() {
  auto below = std::find_if(aborted_.begin(), aborted_.end(),
                            [&](const AbortedTxn& t) { return t.last_offset >= log_start_offset_; });
  aborted_.erase(aborted_.begin(), below);
}

int64_t PartitionLog::last_stable_offset() const {
  return std::min(high_watermark(), producers_.first_unstable_offset().value_or(INT64_MAX));
}

std::vector<AbortedTxn> PartitionLog::aborted_transactions(int64_t from, int64_t to) const {
  std::vector<AbortedTxn> out;
  auto it = std::lower_bound(aborted_.begin(), aborted_.end(), from,
                             [](const AbortedTxn& t, int64_t offset) { return t.last_offset < offset; });
  for (; it != aborted_.end(); ++it) {
    if (it->first_offset < to) out.push_back(*it);
    // No transaction open before `to` was still open when this one ended: later ones start after.
    if (it->last_stable_offset >= to) break;
  }
  return out;
}

tl::expected<AppendResult, ErrorCode> PartitionLog::append_marker(int64_t producer_id, int16_t producer_epoch,
                                                                  const protocol::TxnMarker& marker, int64_t now_ms) {
  Bytes batch = protocol::build_txn_marker(producer_id, producer_epoch, marker, now_ms);
  return append(batch, now_ms);
}

size_t PartitionLog::expire_producers(int64_t now_ms) {
  return producers_.remove_expired(now_ms, config_.producer_id_expiration_ms);
}

PartitionLog::~PartitionLog() {
  fail_replication_waiters(ErrorCode::NOT_LEADER_OR_FOLLOWER);
  *alive_ = false;
  if (clean_ticket_) clean_ticket_->cancel();  // the pass touches this directory no more
}

uint64_t PartitionLog::size_bytes() const {
  uint64_t total = 0;
  for (const auto& [base, seg] : segments_) total += seg->size();
  return total;
}

void PartitionLog::go_offline(const std::string& what, std::error_code ec) {
  if (!offline_) spdlog::error("{}: {} failed: {}; partition is offline", dir_.string(), what, ec.message());
  offline_ = true;
}

bool PartitionLog::should_roll(size_t incoming, int64_t last_offset, int64_t now_ms) const {
  const Segment& seg = active();
  if (seg.empty()) return false;
  if (seg.size() + incoming > config_.segment_bytes) return true;
  if (seg.index_full()) return true;
  if (last_offset - seg.base_offset() > kMaxRelativeOffset) return true;
  int64_t since = seg.first_batch_timestamp() >= 0 ? seg.first_batch_timestamp() : seg.created_ms();
  // A compacted log also rolls by max.compaction.lag.ms: only closed segments are cleaned.
  int64_t roll_ms = config_.segment_ms;
  if (config_.compaction.compact) roll_ms = std::min(roll_ms, config_.compaction.max_compaction_lag_ms);
  return now_ms - since > roll_ms;
}

IoResult<> PartitionLog::roll(int64_t now_ms) {
  // Nothing here waits for the disk. The old segment's data and trimmed indexes, and the new
  // segment's directory entry, are synced in the background, as Kafka flushes a rolled segment:
  // an fdatasync of a whole segment here would stall every partition of this shard while the
  // disk writes it (0.65 s per GiB here), and even a small sync (or msync) waits for whatever
  // journal commit is running, another partition's big sync included (0.4-0.5 s here).
  if (auto r = active().seal(); !r) return r;
  const uint64_t old_size = active().size();
  int64_t base = log_end_offset();
  auto seg = Segment::create(*env_, dir_, base, config_.segment, now_ms);
  if (!seg) return tl::unexpected(seg.error());
  // The new segment reserves what the old one held, before the old one's sync starts: an
  // fallocate waits for a running sync's journal commit (0.35-0.55 s behind a 1 GiB
  // fdatasync here), and holds the file's lock meanwhile, so a busy partition reserving its
  // next steps during that sync would stall the shard. A partition that filled a whole
  // segment gets its next one reserved whole (Kafka's log.preallocate, for busy logs only).
  (*seg)->reserve_to(old_size);
  segments_.emplace(base, std::move(*seg));
  // Kafka's rule: a snapshot at every segment's base offset (written once the sync below is done).
  pending_snapshot_ = {base, producers_.encode_snapshot()};
  if (txn_file_) {
    unsynced_txn_files_.push_back(std::move(txn_file_));
    txn_file_base_ = -1;
  }
  dir_sync_pending_ = true;
  if (syncer_ == nullptr) return flush();
  if (!sync_running_) start_sync();  // else sync_finished() starts the next one
  return {};
}

tl::expected<AppendResult, ErrorCode> PartitionLog::append(std::span<uint8_t> records, int64_t now_ms,
                                                           int32_t leader_epoch, std::string* why) {
  if (offline_) return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
  // Closed for shutdown: the client retries, against the restarted broker.
  if (closed_) return tl::unexpected(ErrorCode::NOT_LEADER_OR_FOLLOWER);
  AppendResult result;
  size_t pos = 0;
  while (pos < records.size()) {
    auto h = protocol::read_batch_header(ByteView(records.data() + pos, records.size() - pos));
    if (!h || h->total_size() > records.size() - pos) return tl::unexpected(ErrorCode::CORRUPT_MESSAGE);
    uint8_t* p = records.data() + pos;
    size_t size = h->total_size();
    const bool idempotent = h->producer_id >= 0 && !h->is_control();
    std::optional<protocol::TxnMarker> marker;
    if (h->is_control()) {
      // Only the transaction coordinator writes control batches (Produce refuses them).
      marker = protocol::read_txn_marker(ByteView(p, size));
      if (marker && h->producer_id >= 0) {
        if (ErrorCode e = producers_.check_marker(*h, *marker); e != ErrorCode::NONE) return tl::unexpected(e);
      }
    }
    if (idempotent) {
      // A log that lost records from its start may have lost a producer's state with them.
      ProducerCheck check = producers_.check(*h, log_start_offset_ > 0);
      if (check.error != ErrorCode::NONE) {
        if (why) *why = std::move(check.message);
        return tl::unexpected(check.error);
      }
      if (check.duplicate) {
        if (result.base_offset < 0) result.base_offset = check.duplicate->first_offset();
        result.last_offset = check.duplicate->last_offset;
        // Kafka answers with the first write's timestamp; Fjord only where it was the append time.
        if (config_.log_append_time) result.log_append_time = check.duplicate->timestamp;
        result.duplicate = true;
        break;
      }
    }
    int64_t base = log_end_offset();
    int64_t last = base + h->last_offset_delta;
    if (should_roll(size, last, now_ms)) {
      if (auto r = roll(now_ms); !r) {
        go_offline("rolling a segment", r.error());
        return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
      }
    }
    protocol::assign_offsets(p, base, std::max(leader_epoch, epochs_.latest_epoch()));
    int64_t max_ts = h->max_timestamp;
    if (config_.log_append_time) {
      protocol::set_log_append_time(p, size, now_ms);
      max_ts = now_ms;
      result.log_append_time = now_ms;
    }
    if (auto r = active().append(ByteView(p, size), base, last, max_ts); !r) {
      go_offline("appending", r.error());
      return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
    }
    if (h->producer_id >= 0) {
      protocol::BatchHeader placed = *h;
      placed.base_offset = base;
      placed.max_timestamp = max_ts;
      track_producer(placed, marker, last);
    }
    appended(result, *h, base, last);
    pos += size;
  }
  maybe_flush(now_ms);
  notify_append_listeners();
  if (after_append_ && result.base_offset >= 0 && !result.duplicate) after_append_();
  return result;
}

void PartitionLog::track_producer(const protocol::BatchHeader& placed, const std::optional<protocol::TxnMarker>& marker,
                                  int64_t last) {
  auto done = producers_.update(placed, marker);
  if (done && !done->committed && done->first_offset >= 0) {
    const int64_t lso = std::min(last + 1, producers_.first_unstable_offset().value_or(INT64_MAX));
    index_aborted({done->producer_id, done->first_offset, done->last_offset, lso}, segments_.rbegin()->first);
  }
}

void PartitionLog::appended(AppendResult& result, const protocol::BatchHeader& h, int64_t base, int64_t last) {
  if (result.base_offset < 0) result.base_offset = base;
  result.last_offset = last;
  unflushed_messages_ += h.records_count;
}

void PartitionLog::notify_append_listeners() {
  if (append_listeners_.empty()) return;
  auto listeners = std::move(append_listeners_);
  append_listeners_.clear();
  for (auto& [owner, fn] : listeners)
    if (!owner.expired()) fn();
}

void PartitionLog::note_epoch(int32_t batch_epoch, int64_t offset) {
  if (batch_epoch <= epochs_.latest_epoch()) return;
  if (auto r = epochs_.assign(batch_epoch, offset); !r)
    spdlog::warn("{}: recording leader epoch {} failed: {}", dir_.string(), batch_epoch, r.error().message());
}

tl::expected<AppendResult, ErrorCode> PartitionLog::append_replicated(std::span<uint8_t> records, int64_t now_ms) {
  if (offline_) return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
  if (closed_) return tl::unexpected(ErrorCode::NOT_LEADER_OR_FOLLOWER);
  AppendResult result;
  size_t pos = 0;
  while (pos < records.size()) {
    auto h = protocol::read_batch_header(ByteView(records.data() + pos, records.size() - pos));
    // A fetch response may end with a partial batch (the size limit cut it): it comes next time.
    if (!h || h->total_size() > records.size() - pos) break;
    uint8_t* p = records.data() + pos;
    const size_t size = h->total_size();
    const int64_t base = h->base_offset;
    const int64_t last = base + h->last_offset_delta;
    if (base < log_end_offset()) return tl::unexpected(ErrorCode::OFFSET_OUT_OF_RANGE);
    std::optional<protocol::TxnMarker> marker;
    if (h->is_control()) marker = protocol::read_txn_marker(ByteView(p, size));
    if (should_roll(size, last, now_ms)) {
      if (auto r = roll(now_ms); !r) {
        go_offline("rolling a segment", r.error());
        return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
      }
    }
    note_epoch(h->partition_leader_epoch, base);
    if (auto r = active().append(ByteView(p, size), base, last, h->max_timestamp); !r) {
      go_offline("appending", r.error());
      return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
    }
    if (h->producer_id >= 0) track_producer(*h, marker, last);
    appended(result, *h, base, last);
    pos += size;
  }
  if (result.base_offset >= 0) {
    maybe_flush(now_ms);
    notify_append_listeners();
  }
  return result;
}

void PartitionLog::set_high_watermark(int64_t offset, bool only_up) {
  offset = std::min(offset, log_end_offset());
  if (only_up && offset <= hw_) return;
  const bool rose = offset > hw_;
  hw_ = offset;
  if (!rose) return;
  while (!replication_waiters_.empty() && replication_waiters_.begin()->first <= hw_) {
    auto fn = std::move(replication_waiters_.begin()->second);
    replication_waiters_.erase(replication_waiters_.begin());
    fn(ErrorCode::NONE);
  }
  notify_append_listeners();
}

void PartitionLog::when_replicated(int64_t offset, std::function<void(ErrorCode)> done) {
  if (!replicated_ || offset <= high_watermark()) return done(ErrorCode::NONE);
  if (offline_) return done(ErrorCode::KAFKA_STORAGE_ERROR);
  replication_waiters_.emplace(offset, std::move(done));
}

void PartitionLog::fail_replication_waiters(ErrorCode error) {
  auto waiters = std::move(replication_waiters_);
  replication_waiters_.clear();
  for (auto& [offset, fn] : waiters) fn(error);
}

void PartitionLog::on_next_append(std::weak_ptr<void> owner, std::function<void()> fn) {
  if (append_listeners_.size() >= 64)
    std::erase_if(append_listeners_, [](const auto& l) { return l.first.expired(); });
  append_listeners_.emplace_back(std::move(owner), std::move(fn));
}

tl::expected<ReadResult, ErrorCode> PartitionLog::read(int64_t offset, uint64_t max_bytes, bool min_one_batch,
                                                       bool verify, int64_t upper) const {
  // Out of range is judged by the high watermark: a read_committed read past the last stable
  // offset (but not past the high watermark) is empty, as in Kafka. A replicated log's records
  // past its high watermark are not out of range, only not readable yet.
  const int64_t limit = replicated_ && !offline_ ? log_end_offset() : high_watermark();
  if (offset < log_start_offset_ || offset > limit) return tl::unexpected(ErrorCode::OFFSET_OUT_OF_RANGE);
  return read_to(offset, std::min(high_watermark(), upper), max_bytes, min_one_batch, verify);
}

tl::expected<ReadResult, ErrorCode> PartitionLog::read_for_replica(int64_t offset, uint64_t max_bytes,
                                                                   bool verify) const {
  if (offset < log_start_offset_ || offset > log_end_offset()) return tl::unexpected(ErrorCode::OFFSET_OUT_OF_RANGE);
  // An offline log serves only what was synced before the failure.
  return read_to(offset, offline_ ? durable_offset_ : log_end_offset(), max_bytes, true, verify);
}

tl::expected<ReadResult, ErrorCode> PartitionLog::read_to(int64_t offset, int64_t end, uint64_t max_bytes,
                                                          bool min_one_batch, bool verify) const {
  ReadResult out;
  if (offset >= end) return out;
  auto it = segments_.upper_bound(offset);
  if (it != segments_.begin()) --it;
  for (; it != segments_.end() && it->first < end; ++it) {
    auto r = it->second->read(std::max(offset, it->first), max_bytes, min_one_batch, end, verify);
    if (!r && r.error() == std::errc::illegal_byte_sequence) {
      if (std::exchange(corrupt_reported_, std::pair{it->first, offset}) != std::pair{it->first, offset})
        spdlog::error("{}: segment {}: the batch holding offset {} (or the next one) fails its CRC or header check; "
                      "reads of it get CORRUPT_MESSAGE",
                      dir_.string(), segment_file_name(it->first, ".log"), offset);
      return tl::unexpected(ErrorCode::CORRUPT_MESSAGE);
    }
    if (!r) return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
    if (!*r) continue;  // nothing at or after offset in this segment
    if ((*r)->length > 0) {
      out.bytes = (*r)->length;
      out.ranges.push_back(std::move(**r));
    }
    break;
  }
  return out;
}

tl::expected<std::optional<BatchInfo>, ErrorCode> PartitionLog::find_by_timestamp(int64_t timestamp) const {
  const int64_t end = high_watermark();
  for (const auto& [base, seg] : segments_) {
    if (base >= end) break;
    if (seg->max_timestamp() < timestamp) continue;
    auto r = seg->find_batch_by_timestamp(timestamp);
    if (!r) return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
    if (*r && (*r)->base_offset >= end) break;
    if (*r && (*r)->last_offset >= log_start_offset_) return *r;
  }
  return std::optional<BatchInfo>();
}

tl::expected<std::optional<BatchInfo>, ErrorCode> PartitionLog::find_max_timestamp() const {
  if (offline_) return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
  const Segment* best = nullptr;
  for (const auto& [base, seg] : segments_)
    if (!seg->empty() && (best == nullptr || seg->max_timestamp() > best->max_timestamp())) best = seg.get();
  if (best == nullptr) return std::optional<BatchInfo>();
  auto r = best->find_batch_by_timestamp(best->max_timestamp());
  if (!r) return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
  return *r;
}

tl::expected<void, ErrorCode> PartitionLog::truncate_to(int64_t offset) {
  if (offline_) return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
  // A compaction pass holds the closed segments; truncation waits for it to end.
  if (cleaning()) return tl::unexpected(ErrorCode::REQUEST_TIMED_OUT);
  offset = std::max(offset, log_start_offset_);
  if (offset >= log_end_offset()) return {};
  // Whole segments at or after the offset go; the last one left becomes the active segment.
  while (segments_.size() > 1 && segments_.rbegin()->first >= offset) delete_segment(std::prev(segments_.end()));
  if (segments_.rbegin()->first >= offset) {
    // Only one segment, entirely past the offset: empty it.
    int64_t base = segments_.rbegin()->first;
    delete_segment(std::prev(segments_.end()));
    auto seg = Segment::create(*env_, dir_, offset, config_.segment, 0);
    if (!seg) {
      go_offline("truncating", seg.error());
      return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
    }
    (void)base;
    segments_.emplace(offset, std::move(*seg));
  } else {
    int64_t base = segments_.rbegin()->first;
    segments_.erase(base);
    auto seg = Segment::open(*env_, dir_, base, config_.segment, false, true, nullptr);
    if (!seg) {
      go_offline("truncating", seg.error());
      return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
    }
    if (auto r = (*seg)->truncate_to(offset); !r) {
      go_offline("truncating", r.error());
      return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
    }
    segments_.emplace(base, std::move(*seg));
  }
  durable_offset_ = std::min(durable_offset_, log_end_offset());
  hw_ = std::min(hw_, log_end_offset());
  if (auto r = epochs_.truncate_from_end(log_end_offset()); !r) {
    go_offline("truncating the leader epochs", r.error());
    return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
  }
  if (auto r = flush(); !r) return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
  if (auto r = rebuild_producer_state(); !r) {
    go_offline("rebuilding the producer state", r.error());
    return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
  }
  return {};
}

tl::expected<void, ErrorCode> PartitionLog::reset_to(int64_t offset) {
  if (offline_) return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
  if (cleaning()) return tl::unexpected(ErrorCode::REQUEST_TIMED_OUT);
  while (!segments_.empty()) delete_segment(std::prev(segments_.end()));
  auto seg = Segment::create(*env_, dir_, offset, config_.segment, 0);
  if (!seg) {
    go_offline("starting the log over", seg.error());
    return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
  }
  segments_.emplace(offset, std::move(*seg));
  log_start_offset_ = offset;
  durable_offset_ = offset;
  hw_ = offset;
  first_dirty_offset_ = offset;
  producers_.clear();
  pending_snapshot_.reset();
  aborted_.clear();
  delete_old_snapshots(dir_, 0);
  if (auto r = epochs_.truncate_from_end(0); !r) {
    go_offline("clearing the leader epochs", r.error());
    return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
  }
  dir_sync_pending_ = true;
  if (auto r = flush(); !r) return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
  return {};
}

void PartitionLog::delete_segment(std::map<int64_t, std::shared_ptr<Segment>>::iterator it) {
  it->second->remove_files();
  if (txn_file_base_ == it->first) {
    txn_file_.reset();
    txn_file_base_ = -1;
  }
  std::error_code ec;
  fs::remove(txn_index_path(dir_, it->first), ec);
  segments_.erase(it);
}

int PartitionLog::enforce_retention(int64_t now_ms) {
  // A compaction pass holds the closed segments: they go at the next check after it.
  if (offline_ || cleaning()) return 0;
  int deleted = 0;
  uint64_t total = size_bytes();
  for (;;) {
    auto oldest = segments_.begin();
    const Segment& seg = *oldest->second;
    const bool last = segments_.size() == 1;
    // Below the log start offset (DeleteRecords), or emptied by compaction where the delete
    // policy also applies (a compact-only log keeps its start offset: later passes merge the
    // empty segment into the next group).
    const bool deletes = config_.retention_ms >= 0 || config_.retention_bytes >= 0;
    bool unreachable = !last && (std::next(oldest)->first <= log_start_offset_ || (seg.empty() && deletes));
    if (seg.empty() && !unreachable) break;
    bool expired = config_.retention_ms >= 0 && seg.max_timestamp() >= 0 &&
                   now_ms - seg.max_timestamp() > config_.retention_ms;
    bool over_size = config_.retention_bytes >= 0 &&
                     total - seg.size() >= static_cast<uint64_t>(config_.retention_bytes);
    if (!expired && !over_size && !unreachable) break;
    if (last) {
      // The active segment itself is due (Kafka's rule): roll an empty one after it first.
      if (auto r = roll(now_ms); !r) {
        go_offline("rolling a segment for retention", r.error());
        break;
      }
      oldest = segments_.begin();
    }
    total -= seg.size();
    int64_t next_base = std::next(oldest)->first;
    spdlog::info("{}: retention deletes segment {} ({} bytes, {})", dir_.string(), oldest->first, seg.size(),
                 unreachable ? (seg.empty() ? "empty" : "below the log start offset")
                 : expired   ? "older than retention.ms"
                             : "beyond retention.bytes");
    delete_segment(oldest);
    log_start_offset_ = std::max(log_start_offset_, next_base);
    ++deleted;
  }
  if (deleted > 0) {
    prune_aborted();
    trim_epochs();
  }
  return deleted;
}

tl::expected<int64_t, ErrorCode> PartitionLog::delete_records_before(int64_t offset) {
  if (offline_) return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
  if (offset == -1) offset = high_watermark();
  if (offset < 0 || offset > high_watermark()) return tl::unexpected(ErrorCode::OFFSET_OUT_OF_RANGE);
  if (offset <= log_start_offset_) return log_start_offset_;
  log_start_offset_ = offset;
  spdlog::info("{}: log start offset moved to {} (DeleteRecords)", dir_.string(), offset);
  prune_aborted();
  trim_epochs();
  if (cleaning()) return log_start_offset_;
  while (segments_.size() > 1 && std::next(segments_.begin())->first <= log_start_offset_) {
    spdlog::info("{}: deleting segment {} below the log start offset", dir_.string(), segments_.begin()->first);
    delete_segment(segments_.begin());
  }
  return log_start_offset_;
}

std::optional<CleanPlan> PartitionLog::plan_cleaning(int64_t now_ms) {
  const CompactionConfig& cc = config_.compaction;
  if (!cc.compact || cleaning() || offline_ || closed_ || now_ms < clean_retry_ms_) return std::nullopt;
  const int64_t first_dirty = std::max(first_dirty_offset_, log_start_offset_);
  // Cleanable: closed segments whose data is durable, from the one holding the log start on,
  // up to the first dirty one holding a record younger than min.compaction.lag.ms.
  std::vector<const std::pair<const int64_t, std::shared_ptr<Segment>>*> cleanable;
  uint64_t clean_bytes = 0, dirty_bytes = 0;
  int64_t first_dirty_batch_ts = -1;
  for (auto it = segments_.begin(); std::next(it) != segments_.end(); ++it) {
    const int64_t end = std::next(it)->first;
    if (end > durable_offset_) break;
    if (end <= log_start_offset_) continue;
    const bool dirty = end > first_dirty;
    if (dirty && cc.min_compaction_lag_ms > 0 && it->second->max_timestamp() > now_ms - cc.min_compaction_lag_ms) break;
    if (dirty && first_dirty_batch_ts < 0) first_dirty_batch_ts = it->second->first_batch_timestamp();
    (dirty ? dirty_bytes : clean_bytes) += it->second->size();
    cleanable.push_back(&*it);
  }
  if (cleanable.empty()) return std::nullopt;
  const bool has_dirty = std::next(segments_.find(cleanable.back()->first))->first > first_dirty;
  const double ratio = clean_bytes + dirty_bytes == 0
                           ? 1.0
                           : static_cast<double>(dirty_bytes) / static_cast<double>(clean_bytes + dirty_bytes);
  const bool overdue = cc.max_compaction_lag_ms != INT64_MAX && first_dirty_batch_ts >= 0 &&
                       now_ms - first_dirty_batch_ts > cc.max_compaction_lag_ms;
  const bool tombstones_due = now_ms >= next_delete_horizon_;
  if (!(has_dirty && (ratio >= cc.min_cleanable_dirty_ratio || overdue)) && !tombstones_due) return std::nullopt;

  CleanPlan plan;
  plan.dir = dir_;
  plan.name = dir_.filename().string();
  plan.first_dirty = first_dirty;
  plan.now_ms = now_ms;
  plan.delete_retention_ms = cc.delete_retention_ms;
  plan.index_interval_bytes = config_.segment.index_interval_bytes;
  cleaning_groups_.clear();
  uint64_t group_bytes = 0;
  for (const auto* entry : cleanable) {
    const Segment& seg = *entry->second;
    const int64_t end = std::next(segments_.find(entry->first))->first;
    // A group becomes one segment: within segment.bytes, relative offsets within 32 bits.
    bool fits = !plan.groups.empty() && group_bytes + seg.size() <= config_.segment_bytes &&
                end - plan.groups.back().front().base <= INT32_MAX;
    if (!fits) {
      plan.groups.emplace_back();
      plan.group_ends.push_back(end);
      cleaning_groups_.emplace_back();
      group_bytes = 0;
    }
    plan.groups.back().push_back(CleanerInput{entry->first, seg.log_file(), seg.size()});
    plan.group_ends.back() = end;
    cleaning_groups_.back().push_back(entry->first);
    group_bytes += seg.size();
  }
  clean_ticket_ = std::make_shared<CleanTicket>();
  clean_planned_ms_ = now_ms;
  return plan;
}

void PartitionLog::finish_cleaning(const CleanResult& result) {
  clean_ticket_.reset();
  auto groups = std::exchange(cleaning_groups_, {});
  if (result.partial && !result.cancelled) {
    // On disk the swap completes when the log is next opened; until then this log cannot know
    // which of its files are current.
    go_offline("swapping in a compacted segment (" + result.error + ")", std::make_error_code(std::errc::io_error));
    return;
  }
  for (size_t g : result.swapped) {
    if (g >= groups.size()) break;
    const int64_t base = groups[g].front();
    auto seg = Segment::open(*env_, dir_, base, config_.segment, false, false, nullptr);
    if (!seg) {
      go_offline("opening a compacted segment", seg.error());
      return;
    }
    for (int64_t b : groups[g]) segments_.erase(b);
    segments_.emplace(base, std::move(*seg));
  }
  if (result.next_dirty >= 0) {
    first_dirty_offset_ = std::max(first_dirty_offset_, result.next_dirty);
    next_delete_horizon_ = result.stats.next_delete_horizon;
  }
  if (!result.error.empty() && !result.cancelled) {
    // The same pass would fail again at once: wait, longer each time (Kafka instead marks the
    // log uncleanable until a restart).
    const int doublings = std::min(clean_failures_++, 6);
    clean_retry_ms_ = clean_planned_ms_ + std::min(kCleanRetryMs << doublings, kCleanRetryMaxMs);
  } else if (!result.cancelled) {
    clean_failures_ = 0;
    clean_retry_ms_ = 0;
  }
}

void PartitionLog::when_durable(int64_t offset, std::function<void(IoResult<>)> done) {
  if (offline_) {
    done(tl::unexpected(std::make_error_code(std::errc::io_error)));
    return;
  }
  if (offset <= durable_offset_) {
    done({});
    return;
  }
  durable_waiters_.emplace(offset, std::move(done));
  if (syncer_ == nullptr) {
    auto r = flush();
    auto waiters = std::move(durable_waiters_);
    durable_waiters_.clear();
    for (auto& [o, fn] : waiters) fn(r);
    return;
  }
  if (!sync_running_) start_sync();
}

std::vector<std::shared_ptr<File>> PartitionLog::take_files_to_sync() {
  std::vector<std::shared_ptr<File>> files;
  for (const auto& [base, seg] : segments_) {
    if (seg->next_offset() > durable_offset_ && !seg->empty()) files.push_back(seg->log_file());
    for (auto& f : seg->take_unsynced_index_files()) files.push_back(std::move(f));
  }
  for (auto& f : std::exchange(unsynced_txn_files_, {})) files.push_back(std::move(f));
  return files;
}

void PartitionLog::start_sync() {
  int64_t target = log_end_offset();
  std::vector<std::shared_ptr<File>> files = take_files_to_sync();
  const bool dir = std::exchange(dir_sync_pending_, false);
  sync_running_ = true;
  unflushed_messages_ = 0;
  syncer_->submit(
      std::move(files), executor_,
      [this, alive = alive_, target](IoResult<> r) {
        if (*alive) sync_finished(target, r);
      },
      dir ? env_ : nullptr, dir_);
}

void PartitionLog::sync_finished(int64_t target, IoResult<> result) {
  if (!result) {
    sync_running_ = false;
    go_offline("fdatasync", result.error());
    auto waiters = std::move(durable_waiters_);
    durable_waiters_.clear();
    for (auto& [o, fn] : waiters) fn(result);
    return;
  }
  durable_offset_ = std::max(durable_offset_, std::min(target, log_end_offset()));
  write_pending_snapshot();
  // sync_running_ stays set while the callbacks run: what they append and wait for is
  // gathered into the one sync started below, not a sync each.
  while (!durable_waiters_.empty() && durable_waiters_.begin()->first <= durable_offset_) {
    auto fn = std::move(durable_waiters_.begin()->second);
    durable_waiters_.erase(durable_waiters_.begin());
    fn({});
  }
  sync_running_ = false;
  if (!durable_waiters_.empty() || dir_sync_pending_) start_sync();
}

void PartitionLog::maybe_flush(int64_t now_ms) {
  if (durable_offset_ >= log_end_offset() || sync_running_) return;
  if (unflushed_messages_ >= config_.flush_messages || now_ms - last_flush_ms_ >= config_.flush_ms) {
    last_flush_ms_ = now_ms;
    when_durable(log_end_offset(), [](IoResult<>) {});
  }
}

IoResult<> PartitionLog::flush() {
  for (const auto& f : take_files_to_sync()) {
    if (auto r = f->sync(); !r) {
      go_offline("fdatasync", r.error());
      return r;
    }
  }
  if (std::exchange(dir_sync_pending_, false)) {
    if (auto r = env_->sync_dir(dir_); !r) {
      go_offline("syncing the directory", r.error());
      return r;
    }
  }
  durable_offset_ = log_end_offset();
  unflushed_messages_ = 0;
  write_pending_snapshot();
  return {};
}

void PartitionLog::write_pending_snapshot() {
  if (!pending_snapshot_ || pending_snapshot_->first > durable_offset_ || !unsynced_txn_files_.empty()) return;
  auto [offset, bytes] = std::move(*pending_snapshot_);
  pending_snapshot_.reset();
  write_producer_snapshot(offset, bytes);
}

IoResult<> PartitionLog::close() {
  closed_ = true;
  fail_replication_waiters(ErrorCode::NOT_LEADER_OR_FOLLOWER);
  if (auto r = active().seal(); !r) return r;
  if (auto r = flush(); !r) return r;
  if (txn_file_) {
    if (auto r = txn_file_->sync(); !r) return r;
  }
  // A clean start then loads the producers without reading the log.
  write_producer_snapshot(log_end_offset(), producers_.encode_snapshot());
  return {};
}

}  // namespace fjord::storage
