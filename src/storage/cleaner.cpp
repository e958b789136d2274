#include "storage/cleaner.h"

#include <asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "base/crc32c.h"
#include "protocol/codec.h"
#include "protocol/compression.h"
#include "protocol/record_batch.h"
#include "storage/index.h"
#include "storage/segment.h"

namespace fjord::storage {
namespace fs = std::filesystem;
namespace batch = protocol::batch;
using protocol::BatchHeader;
using protocol::RecordView;

namespace {

// Produce refuses batches that inflate past this, so no stored batch does.
constexpr size_t kMaxInflated = 128 << 20;
constexpr size_t kCopyChunk = 1 << 20;

fs::path cleaned_path(const fs::path& dir, int64_t base, std::string_view suffix) {
  return dir / (segment_file_name(base, suffix) + ".cleaned");
}

fs::path swap_path(const fs::path& dir, int64_t base, int64_t end) {
  return dir / fmt::format("{:020d}.log.{:020d}.swap", base, end);
}

std::string io_error(std::string_view what, const std::error_code& ec) { return fmt::format("{}: {}", what, ec.message()); }

enum class Fate { Keep, Drop, Rewrite };

// Decides what one batch becomes, and builds the rewritten batch.
class BatchFilter {
 public:
  BatchFilter(const OffsetMap& map, int64_t now_ms, int64_t delete_retention_ms, CleanStats& stats)
      : map_(map), now_ms_(now_ms), delete_retention_ms_(delete_retention_ms), stats_(stats) {}

  tl::expected<Fate, std::string> run(ByteView whole, const BatchHeader& h) {
    if (h.is_control()) return Fate::Keep;
    auto body = protocol::batch_records(whole, h, scratch_, kMaxInflated);
    if (!body) return tl::unexpected("cannot decompress a batch: " + body.error());
    kept_.clear();
    uint64_t removed = 0, tombstones_removed = 0;
    bool tombstone_kept = false;
    const bool horizon_passed = h.has_delete_horizon() && now_ms_ >= h.base_timestamp;
    size_t visited = protocol::for_each_record(*body, h, [&](const RecordView& r) {
      const int64_t offset = h.base_offset + r.offset_delta;
      bool keep = r.key.has_value() && map_.get(*r.key) <= offset;
      const bool tombstone = !r.value.has_value();
      if (keep && tombstone && horizon_passed) {
        keep = false;
        ++tombstones_removed;
      }
      if (keep) {
        kept_.push_back(Kept{r.timestamp, r.offset_delta, r.after_timestamp});
        tombstone_kept |= tombstone;
      } else {
        ++removed;
      }
    });
    if (visited != static_cast<size_t>(h.records_count)) return tl::unexpected(std::string("a record does not parse"));
    const bool set_horizon = tombstone_kept && !h.has_delete_horizon();
    const bool drop_horizon = !tombstone_kept && h.has_delete_horizon();
    if (tombstone_kept) {
      const int64_t horizon = set_horizon ? now_ms_ + delete_retention_ms_ : h.base_timestamp;
      stats_.next_delete_horizon = std::min(stats_.next_delete_horizon, horizon);
    }
    if (removed == 0 && !set_horizon && !drop_horizon) return Fate::Keep;
    stats_.records_removed += removed;
    stats_.tombstones_removed += tombstones_removed;
    if (kept_.empty()) return Fate::Drop;
    rebuild(h, tombstone_kept);
    ++stats_.batches_rewritten;
    return Fate::Rewrite;
  }

  // The rewritten batch (valid after run() returned Rewrite).
  const Bytes& rebuilt() const { return out_; }

 private:
  struct Kept {
    int64_t timestamp;
    int32_t offset_delta;
    ByteView after_timestamp;
  };

  // Same base offset, epoch, producer fields and codec; the kept records with their offsets;
  // timestamps re-based on the first record, or on the delete horizon while tombstones remain.
  void rebuild(const BatchHeader& h, bool tombstone_kept) {
    int64_t base_ts = kept_.front().timestamp;
    uint16_t attributes = static_cast<uint16_t>(h.attributes) & ~batch::kDeleteHorizonBit;
    if (tombstone_kept) {
      base_ts = h.has_delete_horizon() ? h.base_timestamp : now_ms_ + delete_retention_ms_;
      attributes |= batch::kDeleteHorizonBit;
    }
    records_.clear();
    protocol::Writer w(records_);
    int64_t max_ts = -1;
    Bytes record;
    for (const Kept& k : kept_) {
      record.clear();
      protocol::Writer rw(record);
      rw.write_int8(0);
      rw.write_varlong(k.timestamp - base_ts);
      rw.write_raw(k.after_timestamp.data(), k.after_timestamp.size());
      w.write_varint(static_cast<int32_t>(record.size()));
      w.write_raw(record.data(), record.size());
      max_ts = std::max(max_ts, k.timestamp);
    }
    if (h.log_append_time()) max_ts = h.max_timestamp;
    const Bytes* payload = &records_;
    if (h.compression() != 0) {
      auto packed = protocol::compress(static_cast<protocol::Codec>(h.compression()), records_);
      if (packed) {
        packed_ = std::move(*packed);
        payload = &packed_;
      } else {
        // Cannot happen for a codec that just inflated this batch; keep the records readable.
        attributes &= ~batch::kCompressionMask;
      }
    }
    out_.clear();
    protocol::Writer o(out_);
    o.write_int64(h.base_offset);
    o.write_int32(static_cast<int32_t>(batch::kHeaderSize - batch::kLogOverhead + payload->size()));
    o.write_int32(h.partition_leader_epoch);
    o.write_int8(2);
    o.write_uint32(0);
    o.write_int16(static_cast<int16_t>(attributes));
    o.write_int32(kept_.back().offset_delta);
    o.write_int64(base_ts);
    o.write_int64(max_ts);
    o.write_int64(h.producer_id);
    o.write_int16(h.producer_epoch);
    o.write_int32(h.base_sequence);
    o.write_int32(static_cast<int32_t>(kept_.size()));
    o.write_raw(payload->data(), payload->size());
    o.patch_int32(batch::kCrc,
                  static_cast<int32_t>(crc32c(out_.data() + batch::kAttributes, out_.size() - batch::kAttributes)));
  }

  const OffsetMap& map_;
  int64_t now_ms_;
  int64_t delete_retention_ms_;
  CleanStats& stats_;
  Bytes scratch_, records_, packed_, out_;
  std::vector<Kept> kept_;
};

// Fills the map with the keys at or after plan.first_dirty, in offset order, until the map is
// full. Returns the offset it covers up to (the plan's end when it all fit).
tl::expected<int64_t, std::string> build_map(const CleanPlan& plan, OffsetMap& map, IoThrottle& throttle,
                                             CleanTicket& ticket, CleanStats& stats) {
  map.clear();
  int64_t map_end = plan.group_ends.back();
  Bytes scratch;
  std::string error;
  bool full = false;
  for (size_t g = 0; g < plan.groups.size() && !full; ++g) {
    const auto& inputs = plan.groups[g];
    for (size_t i = 0; i < inputs.size() && !full; ++i) {
      const int64_t input_end = i + 1 < inputs.size() ? inputs[i + 1].base : plan.group_ends[g];
      if (input_end <= plan.first_dirty) continue;
      if (ticket.cancelled()) return tl::unexpected(std::string());
      const CleanerInput& in = inputs[i];
      auto stopped = scan_log(*in.log, in.size, 0, OffsetRule{in.base, input_end}, true, [&](const BatchInfo& b, ByteView whole) {
        if (b.last_offset < plan.first_dirty) return true;
        auto h = protocol::read_batch_header(whole);
        if (h->is_control()) return true;
        if (!map.has_room(static_cast<size_t>(std::max(h->records_count, 0)))) {
          map_end = b.base_offset;
          full = true;
          return false;
        }
        auto body = protocol::batch_records(whole, *h, scratch, kMaxInflated);
        if (!body) {
          error = fmt::format("cannot decompress the batch at offset {}: {}", b.base_offset, body.error());
          return false;
        }
        protocol::for_each_record(*body, *h, [&](const RecordView& r) {
          int64_t offset = h->base_offset + r.offset_delta;
          if (r.key && offset >= plan.first_dirty) map.put(*r.key, offset);
        });
        return true;
      });
      stats.bytes_read += in.size;
      throttle.account(in.size);
      if (!stopped) return tl::unexpected(io_error(fmt::format("reading segment {}", in.base), stopped.error()));
      if (!error.empty()) return tl::unexpected(error);
      if (!full && *stopped != in.size)
        return tl::unexpected(fmt::format("segment {} holds a corrupt batch at position {}", in.base, *stopped));
    }
  }
  if (full && map_end <= plan.first_dirty)
    return tl::unexpected(fmt::format("log.cleaner.dedupe.buffer.size holds {} keys, fewer than the batch at offset {}",
                                      map.limit(), map_end));
  return map_end;
}

enum class GroupOutcome { Unchanged, Swapped };

struct GroupError {
  std::string message;
  bool partial = false;
  bool cancelled = false;
};

class GroupCleaner {
 public:
  GroupCleaner(Env& env, const CleanPlan& plan, size_t group, const OffsetMap& map, IoThrottle& throttle,
               CleanTicket& ticket, CleanStats& stats)
      : env_(env), plan_(plan), inputs_(plan.groups[group]), base_(inputs_.front().base), end_(plan.group_ends[group]),
        throttle_(throttle), ticket_(ticket), stats_(stats), filter_(map, plan.now_ms, plan.delete_retention_ms, stats),
        index_(base_, plan.index_interval_bytes) {}

  tl::expected<GroupOutcome, GroupError> run() {
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const CleanerInput& in = inputs_[i];
      const int64_t input_end = i + 1 < inputs_.size() ? inputs_[i + 1].base : end_;
      std::string error;
      auto stopped = scan_log(*in.log, in.size, 0, OffsetRule{in.base, input_end}, true, [&](const BatchInfo& b, ByteView whole) {
        auto h = protocol::read_batch_header(whole);
        auto fate = filter_.run(whole, *h);
        if (!fate) {
          error = fmt::format("batch at offset {}: {}", b.base_offset, fate.error());
          return false;
        }
        if (*fate != Fate::Keep && !out_) {
          // The first change: everything before this batch is copied as it was.
          if (auto r = start_output(i, b.position); !r) {
            error = r.error();
            return false;
          }
        }
        if (*fate == Fate::Drop) return true;
        ByteView bytes = *fate == Fate::Keep ? whole : ByteView(filter_.rebuilt());
        auto h2 = protocol::read_batch_header(bytes);
        index_.add(h2->last_offset(), out_position_, bytes.size(), h2->max_timestamp);
        out_position_ += bytes.size();
        if (out_) {
          if (auto r = write(bytes); !r) {
            error = r.error();
            return false;
          }
        }
        return true;
      });
      stats_.bytes_read += in.size;
      throttle_.account(in.size);
      if (!stopped) return fail(io_error(fmt::format("reading segment {}", in.base), stopped.error()));
      if (!error.empty()) return fail(fmt::format("segment {}: {}", in.base, error));
      if (*stopped != in.size)
        return fail(fmt::format("segment {} holds a corrupt batch at position {}", in.base, *stopped));
      if (ticket_.cancelled()) return cancelled();
    }
    if (!out_) return GroupOutcome::Unchanged;
    if (auto r = finish_output(); !r) return fail(r.error());
    return swap();
  }

 private:
  tl::expected<GroupOutcome, GroupError> fail(std::string message, bool partial = false) {
    if (!partial) remove_cleaned();
    return tl::unexpected(GroupError{std::move(message), partial, false});
  }
  tl::expected<GroupOutcome, GroupError> cancelled(bool partial = false) {
    return tl::unexpected(GroupError{"cancelled", partial, true});
  }

  // Best effort: what is left is removed when the log next opens.
  void remove_cleaned() {
    ticket_.run([&] {
      for (const char* suffix : {".log", ".index", ".timeindex"}) (void)env_.remove(cleaned_path(plan_.dir, base_, suffix));
    });
  }

  tl::expected<std::unique_ptr<File>, std::string> create(const char* suffix) {
    IoResult<std::unique_ptr<File>> f = tl::unexpected(std::make_error_code(std::errc::operation_canceled));
    if (!ticket_.run([&] { f = env_.open(cleaned_path(plan_.dir, base_, suffix), true); }))
      return tl::unexpected(std::string("cancelled"));
    if (!f) return tl::unexpected(io_error("creating a cleaned segment", f.error()));
    if (auto r = (*f)->truncate(0); !r) return tl::unexpected(io_error("creating a cleaned segment", r.error()));
    return std::move(*f);
  }

  tl::expected<void, std::string> start_output(size_t input, uint64_t position) {
    auto f = create(".log");
    if (!f) return tl::unexpected(f.error());
    out_ = std::move(*f);
    // Inputs before `input` were kept whole, and so was `input` up to `position`.
    for (size_t i = 0; i <= input; ++i) {
      uint64_t upto = i < input ? inputs_[i].size : position;
      Bytes chunk;
      for (uint64_t at = 0; at < upto; at += chunk.size()) {
        chunk.resize(std::min<uint64_t>(kCopyChunk, upto - at));
        auto n = inputs_[i].log->read_at(at, chunk);
        if (!n || *n != chunk.size()) return tl::unexpected(std::string("reading a segment to copy it failed"));
        if (auto r = write(chunk); !r) return r;
      }
    }
    return {};
  }

  tl::expected<void, std::string> write(ByteView bytes) {
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
    if (pending_.size() >= kCopyChunk) return flush();
    return {};
  }

  tl::expected<void, std::string> flush() {
    if (pending_.empty()) return {};
    if (auto r = out_->write_at(written_, pending_); !r) return tl::unexpected(io_error("writing a cleaned segment", r.error()));
    written_ += pending_.size();
    stats_.bytes_written += pending_.size();
    throttle_.account(pending_.size());
    pending_.clear();
    return {};
  }

  tl::expected<void, std::string> finish_output() {
    if (auto r = flush(); !r) return r;
    if (auto r = out_->sync(); !r) return tl::unexpected(io_error("syncing a cleaned segment", r.error()));
    for (auto [suffix, bytes] : {std::pair{".index", &index_.offset_entries()}, std::pair{".timeindex", &index_.time_entries()}}) {
      auto f = create(suffix);
      if (!f) return tl::unexpected(f.error());
      if (!bytes->empty()) {
        if (auto r = (*f)->write_at(0, *bytes); !r) return tl::unexpected(io_error("writing an index", r.error()));
      }
      if (auto r = (*f)->sync(); !r) return tl::unexpected(io_error("syncing an index", r.error()));
    }
    return {};
  }

  tl::expected<GroupOutcome, GroupError> swap() {
    const fs::path& dir = plan_.dir;
    const fs::path swap_file = swap_path(dir, base_, end_);
    IoResult<> r;
    if (!ticket_.run([&] { r = env_.rename(cleaned_path(dir, base_, ".log"), swap_file); })) return cancelled();
    if (!r) return fail(io_error("renaming the cleaned segment", r.error()));
    if (r = env_.sync_dir(dir); !r) return fail(io_error("syncing the directory", r.error()), true);
    // Committed: from here on a crash completes the swap (finish_interrupted_cleaning).
    if (!ticket_.run([&] {
          for (size_t i = 1; i < inputs_.size() && r; ++i)
            for (const char* suffix : {".log", ".index", ".timeindex"})
              if (r) r = env_.remove(dir / segment_file_name(inputs_[i].base, suffix));
          for (const char* suffix : {".index", ".timeindex"})
            if (r) r = env_.rename(cleaned_path(dir, base_, suffix), dir / segment_file_name(base_, suffix));
        }))
      return cancelled(true);
    if (!r) return fail(io_error("removing the cleaned segments", r.error()), true);
    if (r = env_.sync_dir(dir); !r) return fail(io_error("syncing the directory", r.error()), true);
    if (!ticket_.run([&] { r = env_.rename(swap_file, dir / segment_file_name(base_, ".log")); })) return cancelled(true);
    if (!r) return fail(io_error("renaming the swap file", r.error()), true);
    return GroupOutcome::Swapped;
  }

  Env& env_;
  const CleanPlan& plan_;
  const std::vector<CleanerInput>& inputs_;
  int64_t base_;
  int64_t end_;
  IoThrottle& throttle_;
  CleanTicket& ticket_;
  CleanStats& stats_;
  BatchFilter filter_;
  IndexBuilder index_;
  std::unique_ptr<File> out_;  // created at the first change
  uint64_t out_position_ = 0;  // where the next kept batch goes in the new segment
  uint64_t written_ = 0;
  Bytes pending_;
};

}  // namespace

OffsetMap::OffsetMap(size_t budget_bytes, double load_factor)
    : max_slots_(std::max<size_t>(budget_bytes / sizeof(Slot), 16)), load_factor_(load_factor) {
  limit_ = std::clamp<size_t>(static_cast<size_t>(static_cast<double>(max_slots_) * load_factor), 1, max_slots_ - 1);
  resize(std::min<size_t>(max_slots_, 1024));
}

void OffsetMap::resize(size_t slots) {
  std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(slots, Slot{0, 0, -1}));
  grow_at_ = slots == max_slots_ ? limit_ : static_cast<size_t>(static_cast<double>(slots) * load_factor_);
  for (const Slot& s : old)
    if (s.offset >= 0) slots_[find(s.lo, s.hi)] = s;
}

void OffsetMap::clear() {
  if (size_ == 0) return;
  // Back to a small table: a map that held a big log's keys gives its memory back.
  slots_.clear();
  size_ = 0;
  resize(std::min<size_t>(max_slots_, 1024));
}

size_t OffsetMap::find(uint64_t lo, uint64_t hi) const {
  size_t i = lo % slots_.size();
  while (slots_[i].offset >= 0 && !(slots_[i].lo == lo && slots_[i].hi == hi)) i = i + 1 == slots_.size() ? 0 : i + 1;
  return i;
}

void OffsetMap::put(ByteView key, int64_t offset) {
  XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  size_t i = find(h.low64, h.high64);
  if (slots_[i].offset < 0) {
    if (size_ + 1 > grow_at_ && slots_.size() < max_slots_) {
      resize(std::min(max_slots_, slots_.size() * 2));
      i = find(h.low64, h.high64);
    }
    ++size_;
  }
  slots_[i] = Slot{h.low64, h.high64, offset};
}

int64_t OffsetMap::get(ByteView key) const {
  XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  return slots_[find(h.low64, h.high64)].offset;
}

void IoThrottle::account(uint64_t bytes) {
  if (!(rate_ > 0) || rate_ >= 1e300) return;
  using namespace std::chrono;
  window_bytes_ += static_cast<double>(bytes);
  const double elapsed = duration<double>(steady_clock::now() - window_start_).count();
  const double wanted = window_bytes_ / rate_;
  if (wanted > elapsed) std::this_thread::sleep_for(duration<double>(wanted - elapsed));
  if (elapsed > 1.0) {
    window_start_ = steady_clock::now();
    window_bytes_ = 0;
  }
}

CleanResult clean_log(Env& env, const CleanPlan& plan, OffsetMap& map, IoThrottle& throttle, CleanTicket& ticket) {
  CleanResult result;
  if (plan.groups.empty()) {
    result.next_dirty = plan.first_dirty;
    return result;
  }
  auto map_end = build_map(plan, map, throttle, ticket, result.stats);
  if (!map_end) {
    result.cancelled = map_end.error().empty();
    result.error = result.cancelled ? "cancelled" : map_end.error();
    return result;
  }
  bool swapped_any = false;
  for (size_t g = 0; g < plan.groups.size(); ++g) {
    GroupCleaner cleaner(env, plan, g, map, throttle, ticket, result.stats);
    auto outcome = cleaner.run();
    if (!outcome) {
      result.error = outcome.error().message;
      result.partial = outcome.error().partial;
      result.cancelled = outcome.error().cancelled;
      break;
    }
    if (*outcome == GroupOutcome::Swapped) {
      swapped_any = true;
      result.swapped.push_back(g);
      ++result.stats.groups_rewritten;
    }
    ++result.groups_done;
  }
  // The last renames need no sync for safety (either name is whole); make them durable anyway.
  if (swapped_any) (void)env.sync_dir(plan.dir);
  if (result.groups_done == plan.groups.size()) result.next_dirty = *map_end;
  return result;
}

IoResult<> finish_interrupted_cleaning(Env& env, const fs::path& dir) {
  struct Swap {
    fs::path path;
    int64_t base;
    int64_t end;
  };
  std::vector<Swap> swaps;
  std::vector<fs::path> cleaned;
  std::vector<int64_t> bases;
  std::error_code ec;
  auto digits = [](std::string_view s) { return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }); };
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    // 20 digits ".log." 20 digits ".swap"
    if (name.size() == 50 && name.ends_with(".swap") && name.substr(20, 5) == ".log." && digits(name.substr(0, 20)) &&
        digits(name.substr(25, 20)))
      swaps.push_back({e.path(), std::stoll(name.substr(0, 20)), std::stoll(name.substr(25, 20))});
    else if (name.ends_with(".cleaned"))
      cleaned.push_back(e.path());
    else if (name.size() == 24 && name.ends_with(".log") && digits(name.substr(0, 20)))
      bases.push_back(std::stoll(name.substr(0, 20)));
  }
  if (ec) return tl::unexpected(ec);
  for (const Swap& s : swaps) {
    spdlog::warn("{}: completing the compaction swap of segments [{}, {}) that a stop interrupted", dir.string(), s.base,
                 s.end);
    for (int64_t b : bases) {
      if (b <= s.base || b >= s.end) continue;
      for (const char* suffix : {".log", ".index", ".timeindex"})
        if (auto r = env.remove(dir / segment_file_name(b, suffix)); !r) return r;
    }
    for (const char* suffix : {".index", ".timeindex"}) {
      fs::path from = cleaned_path(dir, s.base, suffix);
      if (fs::exists(from, ec)) {
        if (auto r = env.rename(from, dir / segment_file_name(s.base, suffix)); !r) return r;
      }
    }
    if (auto r = env.sync_dir(dir); !r) return r;
    if (auto r = env.rename(s.path, dir / segment_file_name(s.base, ".log")); !r) return r;
  }
  for (const fs::path& p : cleaned) {
    if (fs::exists(p, ec)) {
      if (auto r = env.remove(p); !r) return r;
    }
  }
  if (!swaps.empty() || !cleaned.empty()) return env.sync_dir(dir);
  return {};
}

LogCleaner::LogCleaner(Env& env, Options options) : env_(env) { reconfigure(options); }

bool LogCleaner::reconfigure(Options options) {
  std::lock_guard lock(mutex_);
  options.threads = std::max(1, options.threads);
  if (generation_ > 0 && options == options_) return false;
  options_ = options;
  ++generation_;
  for (; alive_ < options_.threads; ++alive_) threads_.emplace_back([this] { run(); });
  wake_.notify_all();  // surplus threads waiting for work end now
  return true;
}

int LogCleaner::threads() const {
  std::lock_guard lock(mutex_);
  return alive_;
}

LogCleaner::~LogCleaner() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& t : running_) t->cancel();
    dropped = std::move(jobs_);
    jobs_.clear();
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
  for (Job& job : dropped) {
    CleanResult r;
    r.cancelled = true;
    r.error = "cancelled";
    asio::post(job.reply_to, [done = std::move(job.done), r] { done(r); });
  }
}

void LogCleaner::submit(CleanPlan plan, std::shared_ptr<CleanTicket> ticket, asio::any_io_executor reply_to,
                        std::function<void(CleanResult)> done) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(Job{std::move(plan), std::move(ticket), std::move(reply_to), std::move(done)});
  }
  wake_.notify_one();
}

void LogCleaner::run() {
  // The map's memory is taken at the first pass, not at start; map and throttle follow the
  // options of the generation they were made for.
  std::optional<OffsetMap> map;
  std::optional<IoThrottle> throttle;
  uint64_t generation = 0;
  for (;;) {
    Job job;
    Options options;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty() || alive_ > options_.threads; });
      if (stopping_) return;
      if (alive_ > options_.threads) {
        --alive_;
        return;
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
      running_.push_back(job.ticket);
      if (generation != generation_) {
        map.reset();
        throttle.reset();
        generation = generation_;
      }
      options = options_;
    }
    const auto threads = static_cast<size_t>(options.threads);
    if (!map) map.emplace(options.dedupe_bytes / threads, options.load_factor);
    if (!throttle) throttle.emplace(options.io_bytes_per_second / static_cast<double>(threads));
    auto started = std::chrono::steady_clock::now();
    CleanResult result = clean_log(env_, job.plan, *map, *throttle, *job.ticket);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    if (!result.error.empty() && !result.cancelled)
      spdlog::error("{}: compaction failed: {}", job.plan.name, result.error);
    else if (result.stats.groups_rewritten > 0)
      spdlog::info("{}: compaction read {} bytes, wrote {}, removed {} records ({} tombstones) in {} ms; dirty from {}",
                   job.plan.name, result.stats.bytes_read, result.stats.bytes_written, result.stats.records_removed,
                   result.stats.tombstones_removed, ms, result.next_dirty);
    {
      std::lock_guard lock(mutex_);
      std::erase(running_, job.ticket);
    }
    asio::post(job.reply_to, [done = std::move(job.done), result = std::move(result)] { done(result); });
  }
}

}  // namespace fjord::storage
