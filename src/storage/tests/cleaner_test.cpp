#include "storage/cleaner.h"

#include <gtest/gtest.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "base/crc32c.h"
#include "protocol/codec.h"
#include "protocol/compression.h"
#include "protocol/record_batch.h"
#include "protocol/record_batch_builder.h"
#include "storage/partition_log.h"
#include "storage/tests/test_util.h"

namespace fjord::storage {
namespace fs = std::filesystem;
using namespace storage::testing;
using protocol::Codec;

namespace {

Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }
std::string string_of(ByteView b) { return std::string(b.begin(), b.end()); }

struct Rec {
  std::optional<std::string> key;
  std::optional<std::string> value;  // nullopt: tombstone
};

struct ReadRec {
  int64_t offset;
  std::optional<std::string> key;
  std::optional<std::string> value;
  int64_t timestamp;
};

// The batch built uncompressed, then its records compressed with `codec` (as a client sends it).
Bytes make_batch(const std::vector<Rec>& recs, int64_t ts, Codec codec) {
  protocol::RecordBatchBuilder b(ts);
  for (size_t i = 0; i < recs.size(); ++i) {
    std::optional<Bytes> k, v;
    if (recs[i].key) k = bytes_of(*recs[i].key);
    if (recs[i].value) v = bytes_of(*recs[i].value);
    b.add(k, v, ts + static_cast<int64_t>(i));
  }
  return b.build_compressed(codec);
}

class Compaction {
 public:
  Compaction() {
    config_.segment_bytes = 2048;
    config_.segment.max_bytes = 2048;
    config_.segment.index_interval_bytes = 256;
    config_.segment.index_max_bytes = 4096;
    config_.retention_ms = -1;
    config_.compaction.compact = true;
    config_.compaction.min_cleanable_dirty_ratio = 0;
    config_.compaction.delete_retention_ms = 1000;
    open(true);
  }

  void open(bool clean) {
    log_.reset();
    auto l = PartitionLog::open(env_, dir_, config_, clean ? log_end_ : 0, 0, clean, now_, nullptr, io_.get_executor());
    ASSERT_TRUE(l.has_value()) << l.error().message();
    log_ = std::move(*l);
    log_->set_first_dirty_offset(first_dirty_);
  }

  void append(const std::vector<Rec>& recs, Codec codec = Codec::None) {
    Bytes b = make_batch(recs, now_, codec);
    auto r = log_->append(b, now_);
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->base_offset, static_cast<int64_t>(appended_.size()));
    for (const Rec& rec : recs) appended_.push_back(rec);
    log_end_ = log_->log_end_offset();
    now_ += 10;
  }

  // A pass as the broker runs it: planned and applied here, run on "the cleaner thread".
  // Returns false when none was due.
  bool pass(size_t map_budget = 1 << 20, CleanResult* out = nullptr) {
    auto plan = log_->plan_cleaning(now_);
    if (!plan) return false;
    OffsetMap map(map_budget);
    IoThrottle throttle(1e308);
    CleanResult result = clean_log(env_, *plan, map, throttle, *log_->clean_ticket());
    log_->finish_cleaning(result);
    first_dirty_ = log_->first_dirty_offset();
    if (out) *out = result;
    return true;
  }

  // A pass through a LogCleaner's threads, as the broker runs it. Returns false when none was due.
  bool pass_on(LogCleaner& cleaner) {
    auto plan = log_->plan_cleaning(now_);
    if (!plan) return false;
    bool done = false;
    cleaner.submit(std::move(*plan), log_->clean_ticket(), io_.get_executor(), [&](CleanResult r) {
      log_->finish_cleaning(r);
      done = true;
    });
    io_.restart();
    auto work = asio::make_work_guard(io_);
    while (!done) io_.run_one();
    first_dirty_ = log_->first_dirty_offset();
    return true;
  }

  std::vector<ReadRec> read_all(std::vector<protocol::BatchHeader>* headers = nullptr) {
    std::vector<ReadRec> out;
    int64_t offset = log_->log_start_offset();
    while (offset < log_->log_end_offset()) {
      auto r = log_->read(offset, 1 << 20, true);
      EXPECT_TRUE(r.has_value());
      if (!r || r->bytes == 0) break;
      Bytes data;
      for (const FileRange& range : r->ranges) {
        size_t at = data.size();
        data.resize(at + range.length);
        EXPECT_TRUE(range.file->read_at(range.position, std::span<uint8_t>(data.data() + at, range.length)).has_value());
      }
      size_t pos = 0;
      while (pos < data.size()) {
        auto h = protocol::read_batch_header(ByteView(data).subspan(pos));
        EXPECT_TRUE(h.has_value());
        ByteView whole = ByteView(data).subspan(pos, h->total_size());
        // Compacted batches have offset gaps (lastOffsetDelta above the count), so no
        // validate_batch: the CRC, and every record parsing, are what a consumer checks.
        EXPECT_TRUE(protocol::batch_crc_ok(whole)) << "offset " << h->base_offset;
        if (headers) headers->push_back(*h);
        Bytes scratch;
        auto body = protocol::batch_records(whole, *h, scratch, 1 << 24);
        EXPECT_TRUE(body.has_value());
        size_t visited = protocol::for_each_record(*body, *h, [&](const protocol::RecordView& v) {
          ReadRec rec{h->base_offset + v.offset_delta, std::nullopt, std::nullopt, v.timestamp};
          if (v.key) rec.key = string_of(*v.key);
          if (v.value) rec.value = string_of(*v.value);
          out.push_back(rec);
        });
        EXPECT_EQ(visited, static_cast<size_t>(h->records_count)) << "offset " << h->base_offset;
        EXPECT_LE(h->records_count, h->last_offset_delta + 1);
        offset = h->last_offset() + 1;
        pos += h->total_size();
      }
    }
    return out;
  }

  // What must hold at any time, crash or not: every record read is the one appended at its
  // offset, offsets increase, and the last record of every key is there (tombstones excepted:
  // they may go once their horizon passed).
  void check_nothing_lost() {
    auto got = read_all();
    std::map<std::string, int64_t> latest;
    for (size_t o = 0; o < appended_.size(); ++o)
      if (appended_[o].key) latest[*appended_[o].key] = static_cast<int64_t>(o);
    std::set<int64_t> present;
    int64_t prev = -1;
    for (const ReadRec& r : got) {
      ASSERT_GT(r.offset, prev);
      prev = r.offset;
      ASSERT_LT(r.offset, static_cast<int64_t>(appended_.size()));
      const Rec& want = appended_[static_cast<size_t>(r.offset)];
      ASSERT_EQ(r.key, want.key) << "offset " << r.offset;
      ASSERT_EQ(r.value, want.value) << "offset " << r.offset;
      present.insert(r.offset);
    }
    for (const auto& [key, offset] : latest) {
      if (!appended_[static_cast<size_t>(offset)].value) continue;
      ASSERT_TRUE(present.contains(offset)) << "the last record of " << key << " (offset " << offset << ") is gone";
    }
  }

  // After a whole pass: below `end`, no record has a later one with the same key below `end`,
  // and none lacks a key.
  void check_compacted_below(int64_t end) {
    auto got = read_all();
    std::map<std::string, int64_t> last_below;
    for (int64_t o = 0; o < end; ++o)
      if (appended_[static_cast<size_t>(o)].key) last_below[*appended_[static_cast<size_t>(o)].key] = o;
    for (const ReadRec& r : got) {
      if (r.offset >= end) break;
      ASSERT_TRUE(r.key.has_value()) << "keyless record at " << r.offset;
      ASSERT_EQ(last_below[*r.key], r.offset) << "superseded record of " << *r.key << " at " << r.offset;
    }
  }

  // The end of what a pass covers: the active segment's base.
  int64_t active_base() {
    int64_t base = 0;
    for (const auto& e : fs::directory_iterator(dir_)) {
      std::string n = e.path().filename().string();
      if (n.size() == 24 && n.ends_with(".log")) base = std::max<int64_t>(base, std::stoll(n.substr(0, 20)));
    }
    return base;
  }

  TempDir tmp_{"cleaner"};
  fs::path dir_ = tmp_.path / "t-0";
  FaultEnv env_;
  LogConfig config_;
  asio::io_context io_;
  std::unique_ptr<PartitionLog> log_;
  std::vector<Rec> appended_;
  int64_t log_end_ = 0;
  int64_t first_dirty_ = 0;
  int64_t now_ = 1'000'000;
};

std::vector<Rec> random_batch(std::mt19937_64& rng, int keys) {
  std::vector<Rec> recs(1 + rng() % 6);
  for (Rec& r : recs) {
    uint64_t roll = rng() % 100;
    if (roll >= 3) r.key = "k" + std::to_string(rng() % static_cast<uint64_t>(keys));
    if (roll >= 12) r.value = "v" + std::to_string(rng()) + std::string(rng() % 40, 'x');
  }
  return recs;
}

Codec random_codec(std::mt19937_64& rng) {
  static const Codec codecs[] = {Codec::None, Codec::None, Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd};
  return codecs[rng() % 6];
}

}  // namespace

TEST(OffsetMap, KeepsTheLastOffsetPerKeyAndGrowsToItsBudget) {
  OffsetMap map(24 * 4096);
  EXPECT_EQ(map.get(bytes_of("a")), -1);
  for (int i = 0; i < 3000; ++i) map.put(bytes_of("k" + std::to_string(i % 1000)), i);
  EXPECT_EQ(map.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(map.get(bytes_of("k" + std::to_string(i))), 2000 + i);
  EXPECT_EQ(map.get(bytes_of("k1000")), -1);
  EXPECT_LT(map.limit(), 4096u);
  EXPECT_TRUE(map.has_room(map.limit() - 1000));
  EXPECT_FALSE(map.has_room(map.limit() - 999));
  map.clear();
  EXPECT_EQ(map.get(bytes_of("k5")), -1);
  EXPECT_EQ(map.size(), 0u);
}

TEST(Compaction, KeepsTheLastValuePerKeyWithItsOffset) {
  Compaction c;
  for (int round = 0; round < 40; ++round)
    c.append({{"k" + std::to_string(round % 5), "v" + std::to_string(round)}, {"other", "o" + std::to_string(round)}});
  c.append({{std::nullopt, std::string("keyless")}});
  c.append({{"k0", "last"}});
  ASSERT_TRUE(c.pass());
  int64_t end = c.active_base();
  ASSERT_GT(end, 40);
  c.check_nothing_lost();
  c.check_compacted_below(end);
  // Nothing changed: a second pass has no dirty part.
  EXPECT_FALSE(c.pass());
  // Same after a restart, clean or not.
  c.open(false);
  c.check_nothing_lost();
  c.check_compacted_below(end);
}

TEST(LogCleaner, ReconfigureResizesThePoolAndPassesGoOn) {
  Compaction c;
  LogCleaner cleaner(c.env_, LogCleaner::Options{});
  EXPECT_EQ(cleaner.threads(), 1);
  int round = 0;
  auto write_and_clean = [&] {
    for (int i = 0; i < 40; ++i, ++round) c.append({{"k" + std::to_string(round % 7), "v" + std::to_string(round)}});
    ASSERT_TRUE(c.pass_on(cleaner));
    c.check_nothing_lost();
    c.check_compacted_below(c.active_base());
  };
  write_and_clean();
  LogCleaner::Options more;
  more.threads = 3;
  more.dedupe_bytes = 1 << 16;  // the map of a new generation has the new budget
  cleaner.reconfigure(more);
  EXPECT_EQ(cleaner.threads(), 3);
  write_and_clean();
  LogCleaner::Options fewer;
  fewer.threads = 1;
  cleaner.reconfigure(fewer);
  for (int i = 0; i < 500 && cleaner.threads() > 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(cleaner.threads(), 1) << "idle surplus threads end";
  write_and_clean();
}

TEST(Compaction, AFailedPassWaitsLongerEachTime) {
  Compaction c;
  for (int round = 0; round < 40; ++round) c.append({{"k" + std::to_string(round % 5), "v" + std::to_string(round)}});
  // Bit rot in the first closed segment: its CRC no longer matches.
  {
    std::fstream f(c.dir_ / "00000000000000000000.log", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(80);
    f.put('\x7f');
  }
  CleanResult failed;
  ASSERT_TRUE(c.pass(1 << 20, &failed));
  EXPECT_NE(failed.error.find("corrupt"), std::string::npos) << failed.error;
  const int64_t first = c.now_;
  EXPECT_FALSE(c.log_->plan_cleaning(first + PartitionLog::kCleanRetryMs - 1).has_value());
  c.now_ = first + PartitionLog::kCleanRetryMs;
  ASSERT_TRUE(c.pass(1 << 20, &failed));  // due again, and fails again: now twice as long
  EXPECT_FALSE(failed.error.empty());
  EXPECT_FALSE(c.log_->plan_cleaning(c.now_ + 2 * PartitionLog::kCleanRetryMs - 1).has_value());
  EXPECT_TRUE(c.log_->plan_cleaning(c.now_ + 2 * PartitionLog::kCleanRetryMs).has_value());
}

TEST(Compaction, CompressedBatchesKeepTheirCodec) {
  Compaction c;
  for (Codec codec : {Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd, Codec::None})
    for (int i = 0; i < 12; ++i)
      c.append({{"a" + std::to_string(static_cast<int>(codec)) + std::to_string(i % 3), "first" + std::string(50, 'p')},
                {"b" + std::to_string(static_cast<int>(codec)), "keep" + std::to_string(i)}},
               codec);
  ASSERT_TRUE(c.pass());
  c.check_nothing_lost();
  c.check_compacted_below(c.active_base());
  std::vector<protocol::BatchHeader> headers;
  c.read_all(&headers);
  std::set<int> codecs;
  for (const auto& h : headers) codecs.insert(h.compression());
  EXPECT_EQ(codecs, (std::set<int>{0, 1, 2, 3, 4}));
}

TEST(Compaction, TombstonesGoOnlyAfterDeleteRetention) {
  Compaction c;
  c.append({{"gone", "value"}, {"gone", std::nullopt}, {"stays", "s"}});
  for (int i = 0; i < 30; ++i) c.append({{"filler" + std::to_string(i), std::string(80, 'f')}});
  const int64_t first_pass = c.now_;
  ASSERT_TRUE(c.pass());
  auto got = c.read_all();
  std::vector<protocol::BatchHeader> headers;
  c.read_all(&headers);
  // The value is superseded by the tombstone; the tombstone stays, its batch carrying the horizon.
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(got[0].offset, 1);
  EXPECT_FALSE(got[0].value.has_value());
  EXPECT_EQ(got[0].timestamp, 1'000'000 + 1);  // record timestamps survive the re-basing
  EXPECT_TRUE(headers[0].has_delete_horizon());
  EXPECT_EQ(headers[0].base_timestamp, first_pass + 1000);
  EXPECT_EQ(got[1].key, "stays");

  // Before the horizon: still there. New data makes the log dirty again.
  c.now_ = first_pass + 500;
  for (int i = 0; i < 30; ++i) c.append({{"filler" + std::to_string(i), std::string(80, 'g')}});
  ASSERT_TRUE(c.pass());
  got = c.read_all();
  EXPECT_EQ(got[0].offset, 1);

  // Once the horizon passed, a pass is due even with nothing dirty.
  EXPECT_FALSE(c.pass());
  c.now_ = first_pass + 1001;
  ASSERT_TRUE(c.pass());
  got = c.read_all();
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].key, "stays");
  headers.clear();
  c.read_all(&headers);
  EXPECT_FALSE(headers[0].has_delete_horizon());
  c.check_nothing_lost();
}

TEST(Compaction, ASmallMapCleansInSeveralPasses) {
  Compaction c;
  for (int i = 0; i < 300; ++i) c.append({{"k" + std::to_string(i % 60), "v" + std::to_string(i)}});
  // 24-byte slots: a 40-slot map holds 36 keys, so each pass maps only part of the dirty log.
  CleanResult r;
  int passes = 0;
  while (c.pass(24 * 40, &r)) {
    ASSERT_TRUE(r.error.empty()) << r.error;
    c.check_nothing_lost();
    ASSERT_LT(++passes, 50);
  }
  EXPECT_GT(passes, 2);
  c.check_compacted_below(c.active_base());
}

TEST(Compaction, MinCompactionLagAndDirtyRatioHoldPassesBack) {
  Compaction c;
  c.config_.compaction.min_compaction_lag_ms = 100'000;
  c.log_->set_config(c.config_);
  for (int i = 0; i < 100; ++i) c.append({{"k" + std::to_string(i), std::string(40, 'v')}});
  EXPECT_FALSE(c.pass());  // every record is younger than the lag
  c.now_ += 200'000;
  ASSERT_TRUE(c.pass());
  c.check_compacted_below(c.active_base());

  c.config_.compaction.min_compaction_lag_ms = 0;
  c.config_.compaction.min_cleanable_dirty_ratio = 0.99;
  c.log_->set_config(c.config_);
  for (int i = 0; i < 40; ++i) c.append({{"k" + std::to_string(i % 3), std::string(40, 'w')}});
  EXPECT_FALSE(c.pass());  // a little dirt over a clean log
  c.config_.compaction.max_compaction_lag_ms = 1;
  c.log_->set_config(c.config_);
  EXPECT_TRUE(c.pass());  // ... unless it waited longer than max.compaction.lag.ms
}

// A crash at every point of a pass: the log reopened afterwards loses nothing and holds no
// record twice, and the next pass completes the work.
TEST(Compaction, ACrashAtAnyStepLeavesTheOldSegmentsOrTheNewOnes) {
  int completed_at = -1;
  for (int crash_at = 1; crash_at < 400 && completed_at < 0; ++crash_at) {
    SCOPED_TRACE("crash after " + std::to_string(crash_at) + " file operations");
    Compaction c;
    std::mt19937_64 rng(7);
    // A first pass shrinks the segments, so that the crashed second one merges several. Most
    // keys are written only before it: their last records sit in the segments being merged.
    for (int i = 0; i < 60; ++i) c.append(random_batch(rng, 40), random_codec(rng));
    ASSERT_TRUE(c.pass());
    for (int i = 0; i < 60; ++i) c.append(random_batch(rng, 4), random_codec(rng));
    ASSERT_TRUE(c.log_->flush().has_value());
    c.env_.crash_after(crash_at);
    CleanResult r;
    ASSERT_TRUE(c.pass(1 << 20, &r));
    const bool crashed = c.env_.has_crashed();
    c.env_.crash_after(-1);
    if (!crashed) completed_at = crash_at;
    c.env_.power_cut();
    c.open(false);
    c.check_nothing_lost();
    if (!crashed) c.check_compacted_below(c.active_base());
    // Whatever state the crash left, a pass now finishes the job.
    c.first_dirty_ = 0;
    c.log_->set_first_dirty_offset(0);
    ASSERT_TRUE(c.pass());
    c.check_nothing_lost();
    c.check_compacted_below(c.active_base());
    for (const auto& e : fs::directory_iterator(c.dir_)) {
      std::string n = e.path().filename().string();
      EXPECT_FALSE(n.ends_with(".cleaned") || n.ends_with(".swap")) << n;
    }
  }
  EXPECT_GT(completed_at, 20);  // the pass does run that many steps, each one crashed once
}

TEST(Compaction, RandomizedAgainstAModel) {
  for (uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Compaction c;
    std::mt19937_64 rng(seed);
    for (int step = 0; step < 120; ++step) {
      c.append(random_batch(rng, 20), random_codec(rng));
      if (rng() % 10 == 0) {
        c.now_ += static_cast<int64_t>(rng() % 800);
        if (rng() % 3 == 0) {
          ASSERT_TRUE(c.log_->flush().has_value());
          c.env_.crash_after(static_cast<int64_t>(1 + rng() % 80));
          c.pass();
          c.env_.crash_after(-1);
          c.env_.power_cut();
          c.open(false);
        } else {
          c.pass();
          c.check_compacted_below(std::min(c.active_base(), c.first_dirty_));
        }
        c.check_nothing_lost();
      }
    }
  }
}

TEST(PartitionLog, DeleteRecordsMovesTheLogStartAndDropsWholeSegments) {
  Compaction c;
  c.config_.compaction.compact = false;
  c.log_->set_config(c.config_);
  for (int i = 0; i < 80; ++i) c.append({{"k", std::string(60, 'd')}});
  const size_t segments = c.log_->segment_count();
  ASSERT_GT(segments, 3u);
  auto moved = c.log_->delete_records_before(50);
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(*moved, 50);
  EXPECT_EQ(c.log_->log_start_offset(), 50);
  EXPECT_LT(c.log_->segment_count(), segments);
  EXPECT_EQ(c.log_->read(49, 1024, true).error(), protocol::ErrorCode::OFFSET_OUT_OF_RANGE);
  auto got = c.read_all();
  // Reads from the log start may begin with the rest of the batch holding it; never below it.
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front().offset, 50);
  EXPECT_EQ(c.log_->delete_records_before(10).value(), 50);  // never backwards
  EXPECT_EQ(c.log_->delete_records_before(81).error(), protocol::ErrorCode::OFFSET_OUT_OF_RANGE);
  EXPECT_EQ(c.log_->delete_records_before(-1).value(), 80);  // -1: the high watermark
  EXPECT_EQ(c.log_->segment_count(), 1u);
}

}  // namespace fjord::storage
