#include "storage/segment.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "base/crc32c.h"
#include "protocol/record_batch.h"

namespace fjord::storage {
namespace fs = std::filesystem;
namespace batch = protocol::batch;

namespace {
constexpr size_t kCrcScanChunk = 1 << 20;  // recovery reads everything: big reads
// Lookups need headers only: start with a read the size of two index intervals, double it each
// time a scan needs more (long scans amortise), and read just a header after a big batch.
constexpr size_t kHeaderScanFirst = 8 << 10;
constexpr size_t kHeaderScanMax = 256 << 10;
constexpr size_t kBigBatch = 16 << 10;
constexpr size_t kMinBatchLength = batch::kHeaderSize - batch::kLogOverhead;
// Reads reuse one buffer per thread: a fresh megabyte per fetch costs its page faults every time.
std::vector<uint8_t>& read_buffer() {
  thread_local std::vector<uint8_t> buffer;
  if (buffer.capacity() > 2 * kCrcScanChunk) std::vector<uint8_t>().swap(buffer);  // after a huge batch
  return buffer;
}

}  // namespace

std::string segment_file_name(int64_t base_offset, std::string_view suffix) {
  return fmt::format("{:020d}{}", base_offset, suffix);
}

std::vector<int64_t> offset_named_files(const std::filesystem::path& dir, std::string_view suffix) {
  std::vector<int64_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() != 20 + suffix.size() || !name.ends_with(suffix)) continue;
    if (std::all_of(name.begin(), name.begin() + 20, [](char c) { return c >= '0' && c <= '9'; }))
      out.push_back(std::stoll(name.substr(0, 20)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

IoResult<std::unique_ptr<Segment>> Segment::create(Env& env, const fs::path& dir, int64_t base_offset,
                                                   const SegmentConfig& config, int64_t now_ms) {
  std::unique_ptr<Segment> seg(new Segment(dir, base_offset, config));
  seg->next_offset_ = base_offset;
  seg->created_ms_ = now_ms;
  auto log = env.open(dir / segment_file_name(base_offset, ".log"), true);
  if (!log) return tl::unexpected(log.error());
  seg->log_ = std::move(*log);
  if (auto r = seg->log_->truncate(0); !r) return tl::unexpected(r.error());
  for (const char* suffix : {".index", ".timeindex"}) {
    auto f = env.open(dir / segment_file_name(base_offset, suffix), true);
    if (!f) return tl::unexpected(f.error());
    if (auto r = (*f)->truncate(0); !r) return tl::unexpected(r.error());
  }
  if (auto r = seg->offset_index_.open(env, dir / segment_file_name(base_offset, ".index"), config.index_max_bytes, true);
      !r)
    return tl::unexpected(r.error());
  if (auto r = seg->time_index_.open(env, dir / segment_file_name(base_offset, ".timeindex"), config.index_max_bytes,
                                     true);
      !r)
    return tl::unexpected(r.error());
  return seg;
}

IoResult<std::unique_ptr<Segment>> Segment::open(Env& env, const fs::path& dir, int64_t base_offset,
                                                 const SegmentConfig& config, bool recover, bool active,
                                                 uint64_t* truncated_bytes, int64_t next_base) {
  std::unique_ptr<Segment> seg(new Segment(dir, base_offset, config));
  seg->next_offset_ = base_offset;
  auto log = env.open(dir / segment_file_name(base_offset, ".log"), false);
  if (!log) return tl::unexpected(log.error());
  seg->log_ = std::move(*log);
  auto size = seg->log_->size();
  if (!size) return tl::unexpected(size.error());
  seg->size_ = *size;
  std::error_code ec;
  auto mtime = fs::last_write_time(dir / segment_file_name(base_offset, ".log"), ec);
  seg->created_ms_ = ec ? 0
                        : std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::file_clock::to_sys(mtime).time_since_epoch())
                              .count();
  uint64_t max_index = active ? config.index_max_bytes : 0;
  if (auto r = seg->offset_index_.open(env, dir / segment_file_name(base_offset, ".index"), max_index, active); !r)
    return tl::unexpected(r.error());
  if (auto r = seg->time_index_.open(env, dir / segment_file_name(base_offset, ".timeindex"), max_index, active); !r)
    return tl::unexpected(r.error());

  if (truncated_bytes) *truncated_bytes = 0;
  if (recover) {
    // Scan everything with CRCs; cut after the last whole valid batch.
    uint64_t end = 0;
    OffsetRule rule{base_offset, next_base, next_base == INT64_MAX};
    auto stopped = scan_log(*seg->log_, seg->size_, 0, rule, true, [&](const BatchInfo& b, ByteView) {
      end = b.position + b.size;
      return true;
    });
    if (!stopped) return tl::unexpected(stopped.error());
    if (end < seg->size_) {
      if (truncated_bytes) *truncated_bytes = seg->size_ - end;
      if (auto r = seg->log_->truncate(end); !r) return tl::unexpected(r.error());
      if (auto r = seg->log_->sync(); !r) return tl::unexpected(r.error());
      seg->size_ = end;
    }
    if (auto r = seg->rebuild_indexes(); !r) return tl::unexpected(r.error());
    return seg;
  }
  // Trusted: find the last batch (from the last index entry) and check the indexes.
  bool sane = seg->offset_index_.sane(seg->size_);
  uint64_t from = 0;
  if (sane) {
    if (auto last = seg->offset_index_.last()) from = last->position;
  }
  auto stopped = seg->scan(from, false, [&](const BatchInfo& b) {
    seg->next_offset_ = b.last_offset + 1;
    seg->max_timestamp_ = std::max(seg->max_timestamp_, b.max_timestamp);
    return true;
  });
  if (!stopped) return tl::unexpected(stopped.error());
  if (*stopped != seg->size_ || !sane || !seg->time_index_.sane(seg->next_offset_)) {
    // The index disagrees with the log, or the log has a tail that is not whole: rebuild
    // from a full scan (and cut that tail).
    return open(env, dir, base_offset, config, true, active, truncated_bytes, next_base);
  }
  if (auto last = seg->time_index_.last()) seg->max_timestamp_ = std::max(seg->max_timestamp_, last->timestamp);
  if (seg->size_ > 0) {
    uint8_t header[batch::kHeaderSize];
    auto n = seg->log_->read_at(0, header);
    if (n && *n == sizeof(header)) {
      auto h = protocol::read_batch_header(ByteView(header, sizeof(header)));
      if (h) seg->first_batch_timestamp_ = h->max_timestamp;
    }
  }
  return seg;
}

IoResult<uint64_t> scan_log(const File& log, uint64_t size, uint64_t position, const OffsetRule& rule, bool check_crc,
                            const LogBatchVisitor& fn, size_t crc_chunk, std::vector<uint8_t>* scratch) {
  std::vector<uint8_t> own;
  std::vector<uint8_t>& buf = scratch != nullptr ? *scratch : own;
  buf.clear();
  uint64_t buf_start = position;  // file position of buf[0]
  int64_t expected_min_offset = rule.min;
  const uint64_t first_position = position;
  size_t header_chunk = kHeaderScanFirst;
  uint64_t last_size = 0;
  for (;;) {
    if (position + batch::kHeaderSize > size) return position;
    // Make sure the header is in the buffer.
    if (position < buf_start || position + batch::kHeaderSize > buf_start + buf.size()) {
      size_t want = check_crc ? crc_chunk : last_size >= kBigBatch ? batch::kHeaderSize : header_chunk;
      if (!check_crc && last_size < kBigBatch) header_chunk = std::min(header_chunk * 2, kHeaderScanMax);
      buf.resize(std::min<uint64_t>(want, size - position));
      auto n = log.read_at(position, buf);
      if (!n) return tl::unexpected(n.error());
      buf.resize(*n);
      buf_start = position;
      if (buf.size() < batch::kHeaderSize) return position;
    }
    const uint8_t* p = buf.data() + (position - buf_start);
    auto h = protocol::read_batch_header(ByteView(p, batch::kHeaderSize));
    if (!h || h->magic != 2 || h->batch_length < static_cast<int32_t>(kMinBatchLength) || h->last_offset_delta < 0 ||
        h->base_offset < expected_min_offset || h->last_offset() >= rule.end || position + h->total_size() > size)
      return position;
    if (rule.contiguous && position > first_position && h->base_offset != expected_min_offset) return position;
    ByteView whole;
    if (check_crc) {
      if (position + h->total_size() > buf_start + buf.size()) {
        buf.resize(std::max<uint64_t>(crc_chunk, h->total_size()));
        buf.resize(std::min<uint64_t>(buf.size(), size - position));
        auto n = log.read_at(position, buf);
        if (!n) return tl::unexpected(n.error());
        buf.resize(*n);
        buf_start = position;
        if (buf.size() < h->total_size()) return position;
        p = buf.data();
      }
      if (h->last_offset() >= rule.crc_from &&
          crc32c(p + batch::kAttributes, h->total_size() - batch::kAttributes) != h->crc)
        return position;
      whole = ByteView(p, h->total_size());
    } else {
      whole = ByteView(p, batch::kHeaderSize);
    }
    BatchInfo info{h->base_offset, h->last_offset(), h->max_timestamp, position, h->total_size()};
    if (!fn(info, whole)) return position;
    expected_min_offset = h->last_offset() + 1;
    position += h->total_size();
    last_size = h->total_size();
  }
}

IoResult<uint64_t> Segment::scan(uint64_t position, bool check_crc, const BatchVisitor& fn) const {
  return scan_log(*log_, size_, position, OffsetRule{base_offset_}, check_crc,
                  [&](const BatchInfo& b, ByteView) { return fn(b); });
}

IoResult<uint64_t> Segment::scan_headers_from(int64_t offset, const LogBatchVisitor& fn) const {
  return scan_log(*log_, size_, start_position(offset), OffsetRule{base_offset_}, false,
                  [&](const BatchInfo& b, ByteView header) { return b.last_offset < offset || fn(b, header); });
}

void Segment::index_batch(const BatchInfo& b) {
  if (first_batch_timestamp_ < 0) first_batch_timestamp_ = b.max_timestamp;
  // Index the first batch, then one batch every index.interval.bytes (Kafka's rule).
  if (b.position == 0 || bytes_since_index_ >= config_.index_interval_bytes) {
    offset_index_.append(b.last_offset, static_cast<uint32_t>(b.position));
    bytes_since_index_ = 0;
  }
  if (b.max_timestamp > max_timestamp_) {
    max_timestamp_ = b.max_timestamp;
    time_index_.maybe_append(b.max_timestamp, b.last_offset);
  }
  bytes_since_index_ += b.size;
  next_offset_ = b.last_offset + 1;
}

IoResult<> Segment::rebuild_indexes() {
  offset_index_.clear();
  time_index_.clear();
  bytes_since_index_ = 0;
  max_timestamp_ = -1;
  first_batch_timestamp_ = -1;
  next_offset_ = base_offset_;
  auto r = scan(0, false, [&](const BatchInfo& b) {
    index_batch(b);
    return true;
  });
  if (!r) return tl::unexpected(r.error());
  return {};
}

void Segment::reserve_to(uint64_t target) {
  target = std::min(target, std::max(config_.max_bytes, size_));
  if (target <= reserved_) return;
  // Best effort: where it fails (not supported, no space) the writes are plain ones, which
  // report ENOSPC themselves; the next try waits for the next step.
  (void)log_->reserve(size_, target - size_);
  reserved_ = target;
}

IoResult<> Segment::append(ByteView data, int64_t base_offset, int64_t last_offset, int64_t max_timestamp) {
  const uint64_t end = size_ + data.size();
  if (end > reserved_) {
    // Reserve ahead as much as the segment holds (1 to 64 MiB): a busy partition reserves in
    // big steps, an idle one wastes little. seal() gives back what was not used.
    constexpr uint64_t kMin = 1 << 20, kMax = 64 << 20;
    reserve_to(end + std::clamp(end, kMin, kMax));
    reserved_ = std::max(reserved_, end);
  }
  if (auto r = log_->write_at(size_, data); !r) return r;
  BatchInfo b{base_offset, last_offset, max_timestamp, size_, data.size()};
  size_ += data.size();
  index_batch(b);
  return {};
}

uint64_t Segment::start_position(int64_t offset) const {
  auto e = offset_index_.floor(offset);
  return e ? e->position : 0;
}

IoResult<std::optional<FileRange>> Segment::read(int64_t offset, uint64_t max_bytes, bool min_one_batch,
                                                 int64_t end_offset, bool verify) const {
  std::optional<uint64_t> start;
  uint64_t end = 0;
  bool wanted_more = true;
  // With `verify`, every batch served is CRC-checked first (the scan reads it whole): a byte that
  // went bad on disk is refused here, not sent to a consumer as data.
  const size_t chunk = std::clamp<uint64_t>(max_bytes + config_.index_interval_bytes, kHeaderScanMax, kCrcScanChunk);
  auto visit = [&](const BatchInfo& b) {
    if (b.last_offset >= end_offset) return false;  // past what may be read
    if (!start) {
      if (b.last_offset < offset) return true;  // before the wanted offset
      start = b.position;
      end = b.size <= max_bytes || min_one_batch ? b.position + b.size : b.position;
      return end > b.position;
    }
    if (b.position + b.size - *start > max_bytes) return false;
    end = b.position + b.size;
    return true;
  };
  OffsetRule rule{.min = base_offset_, .crc_from = offset};
  auto r = scan_log(
      *log_, size_, start_position(offset), rule, verify,
      [&](const BatchInfo& b, ByteView) { return wanted_more = visit(b); }, chunk, &read_buffer());
  if (!r) return tl::unexpected(r.error());
  // The scan stopped early on its own: the batch there is not whole and valid. What came before
  // it is served; when nothing did, the read fails.
  if (!start && wanted_more && *r < size_) return tl::unexpected(std::make_error_code(std::errc::illegal_byte_sequence));
  if (!start) return std::optional<FileRange>();
  return std::optional<FileRange>(FileRange{log_, *start, end - *start});
}

IoResult<std::optional<BatchInfo>> Segment::find_batch_by_timestamp(int64_t timestamp) const {
  if (max_timestamp_ < timestamp) return std::optional<BatchInfo>();
  uint64_t from = 0;
  if (auto t = time_index_.floor(timestamp)) {
    // The indexed batch ends at offset t->offset with max timestamp t->timestamp <= timestamp:
    // the answer is at or after it.
    from = start_position(t->offset);
  }
  std::optional<BatchInfo> found;
  auto r = scan(from, false, [&](const BatchInfo& b) {
    if (b.max_timestamp >= timestamp) {
      found = b;
      return false;
    }
    return true;
  });
  if (!r) return tl::unexpected(r.error());
  return found;
}

IoResult<uint64_t> Segment::truncate_to(int64_t offset) {
  uint64_t cut = size_;
  auto r = scan(start_position(offset - 1), false, [&](const BatchInfo& b) {
    if (b.base_offset >= offset) {
      cut = b.position;
      return false;
    }
    return true;
  });
  if (!r) return tl::unexpected(r.error());
  uint64_t removed = size_ - cut;
  if (removed == 0) return 0;
  if (auto t = log_->truncate(cut); !t) return tl::unexpected(t.error());
  size_ = cut;
  reserved_ = cut;
  if (auto rb = rebuild_indexes(); !rb) return tl::unexpected(rb.error());
  return removed;
}

IoResult<> Segment::sync() {
  if (auto r = log_->sync(); !r) return r;
  if (auto r = offset_index_.sync(); !r) return r;
  return time_index_.sync();
}

IoResult<> Segment::seal() {
  if (reserved_ > size_) {
    if (auto r = log_->truncate(size_); !r) return r;  // frees the reserved blocks past the end
    reserved_ = size_;
  }
  auto offsets = offset_index_.seal();
  if (!offsets) return tl::unexpected(offsets.error());
  auto times = time_index_.seal();
  if (!times) return tl::unexpected(times.error());
  unsynced_index_files_ = {std::move(*offsets), std::move(*times)};
  return {};
}

void Segment::remove_files() {
  std::error_code ec;
  for (const char* suffix : {".log", ".index", ".timeindex"}) fs::remove(dir_ / segment_file_name(base_offset_, suffix), ec);
}

}  // namespace fjord::storage
