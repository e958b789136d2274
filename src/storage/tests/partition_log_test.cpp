#include "storage/partition_log.h"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "storage/tests/test_util.h"

namespace fjord::storage {
namespace fs = std::filesystem;
using namespace storage::testing;
using protocol::ErrorCode;

namespace {

struct ModelBatch {
  int64_t base;
  int64_t last;
  int64_t max_ts;
  Bytes bytes;  // with offsets assigned
};

Bytes read_ranges(const ReadResult& r) {
  Bytes out;
  for (const FileRange& range : r.ranges) {
    size_t at = out.size();
    out.resize(at + range.length);
    auto n = range.file->read_at(range.position, std::span<uint8_t>(out.data() + at, range.length));
    EXPECT_TRUE(n.has_value());
    EXPECT_EQ(*n, range.length);
  }
  return out;
}

class Harness {
 public:
  Harness(Env& env, fs::path dir, LogConfig config) : env_(env), dir_(std::move(dir)), config_(config) {}

  void open(bool clean, int64_t recovery_point, RecoveryReport* report = nullptr) {
    log_.reset();
    auto l = PartitionLog::open(env_, dir_, config_, recovery_point, 0, clean, now_, nullptr, io_.get_executor(), report);
    ASSERT_TRUE(l.has_value()) << l.error().message();
    log_ = std::move(*l);
  }

  void append(int records, size_t value_size, int64_t ts) {
    Bytes b = make_batch(records, value_size, ts);
    auto r = log_->append(b, now_);
    ASSERT_TRUE(r.has_value());
    int64_t base = model_.empty() ? log_start_ : model_.back().last + 1;
    if (!model_.empty()) base = model_.back().last + 1;
    ASSERT_EQ(r->base_offset, base);
    ASSERT_EQ(r->last_offset, base + records - 1);
    protocol::assign_offsets(b.data(), base, 0);
    model_.push_back({base, base + records - 1, ts + records - 1, b});
  }

  int64_t model_end() const { return model_.empty() ? log_start_ : model_.back().last + 1; }

  void check_read(int64_t offset, uint64_t max_bytes) {
    auto r = log_->read(offset, max_bytes, true);
    ASSERT_TRUE(r.has_value()) << "offset " << offset;
    Bytes got = read_ranges(*r);
    Bytes want;
    for (const ModelBatch& b : model_) {
      if (b.last < offset) continue;
      if (!want.empty() && want.size() + b.bytes.size() > max_bytes) break;
      want.insert(want.end(), b.bytes.begin(), b.bytes.end());
      if (want.size() >= max_bytes) break;
    }
    // A read stays within one segment, so it may stop early at a segment end: it must be a
    // prefix of `want` holding at least the first batch.
    ASSERT_LE(got.size(), want.size());
    ASSERT_TRUE(std::equal(got.begin(), got.end(), want.begin())) << "offset " << offset;
    if (!want.empty()) {
      auto first = protocol::read_batch_header(want);
      ASSERT_GE(got.size(), first->total_size()) << "offset " << offset;
    }
  }

  void check_timestamp(int64_t ts) {
    auto r = log_->find_by_timestamp(ts);
    ASSERT_TRUE(r.has_value());
    const ModelBatch* want = nullptr;
    for (const ModelBatch& b : model_)
      if (b.max_ts >= ts) {
        want = &b;
        break;
      }
    if (want == nullptr) {
      EXPECT_FALSE(r->has_value()) << ts;
    } else {
      ASSERT_TRUE(r->has_value()) << ts;
      EXPECT_EQ((*r)->base_offset, want->base) << ts;
    }
  }

  void truncate(int64_t offset) {
    ASSERT_TRUE(log_->truncate_to(offset).has_value());
    while (!model_.empty() && model_.back().base >= offset) model_.pop_back();
  }

  Env& env_;
  fs::path dir_;
  LogConfig config_;
  asio::io_context io_;
  std::unique_ptr<PartitionLog> log_;
  std::vector<ModelBatch> model_;
  int64_t log_start_ = 0;
  int64_t now_ = 1'000'000;
};

LogConfig small_config() {
  LogConfig c;
  c.segment_bytes = 16 * 1024;
  c.segment.index_interval_bytes = 256;
  c.segment.index_max_bytes = 1024;
  return c;
}

}  // namespace

TEST(PartitionLog, RandomizedAgainstAModel) {
  const uint32_t seed = 20261125;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  TempDir dir("model");
  Harness h(Env::posix(), dir.path / "t-0", small_config());
  h.open(true, 0);
  int64_t ts = 5000;
  for (int step = 0; step < 3000; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    int op = static_cast<int>(rng() % 100);
    if (op < 65) {
      ts += static_cast<int64_t>(rng() % 50) - 10;  // mostly rising, sometimes not
      h.append(1 + static_cast<int>(rng() % 20), rng() % 300, ts);
    } else if (op < 85) {
      int64_t end = h.model_end();
      int64_t offset = end == 0 ? 0 : static_cast<int64_t>(rng() % static_cast<uint64_t>(end + 1));
      h.check_read(offset, 1 + rng() % 8000);
    } else if (op < 92) {
      h.check_timestamp(4900 + static_cast<int64_t>(rng() % static_cast<uint64_t>(ts - 4800)));
    } else if (op < 94) {
      int64_t end = h.model_end();
      h.truncate(std::max<int64_t>(0, end - static_cast<int64_t>(rng() % 60)));
    } else if (op < 97) {
      ASSERT_TRUE(h.log_->close().has_value());
      h.open(true, h.model_end());
    } else {
      int64_t end = h.model_end();
      h.open(false, end == 0 ? 0 : static_cast<int64_t>(rng() % static_cast<uint64_t>(end + 1)));
    }
    if (::testing::Test::HasFatalFailure()) return;
    ASSERT_EQ(h.log_->log_end_offset(), h.model_end());
  }
  EXPECT_GT(h.log_->segment_count(), 20u);  // many rolls happened
  for (int64_t o = 0; o < h.model_end(); o += 7) h.check_read(o, 100000);
}

TEST(PartitionLog, RecoveryCutsATornTailAtEveryByte) {
  TempDir dir("torn");
  LogConfig config;
  config.segment.index_interval_bytes = 100;
  config.segment.index_max_bytes = 4096;
  fs::path pdir = dir.path / "t-0";
  std::vector<int64_t> ends;      // byte position after each batch
  std::vector<int64_t> next_off;  // log end offset after each batch
  {
    Harness h(Env::posix(), pdir, config);
    h.open(true, 0);
    for (int i = 0; i < 12; ++i) {
      h.append(1 + i % 4, 40 + i * 7, 1000 + i * 10);
      ends.push_back(static_cast<int64_t>(h.log_->size_bytes()));
      next_off.push_back(h.log_->log_end_offset());
    }
    ASSERT_TRUE(h.log_->flush().has_value());
  }
  auto read_file = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
  };
  auto write_file = [](const fs::path& p, const Bytes& b, size_t n) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(n));
  };
  fs::path log_path = pdir / segment_file_name(0, ".log");
  fs::path index_path = pdir / segment_file_name(0, ".index");
  fs::path time_path = pdir / segment_file_name(0, ".timeindex");
  Bytes log_bytes = read_file(log_path), index_bytes = read_file(index_path), time_bytes = read_file(time_path);
  ASSERT_EQ(log_bytes.size(), static_cast<size_t>(ends.back()));

  for (int64_t cut = ends[8]; cut <= ends.back(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    write_file(log_path, log_bytes, static_cast<size_t>(cut));
    write_file(index_path, index_bytes, index_bytes.size());  // indexes from before the cut
    write_file(time_path, time_bytes, time_bytes.size());
    size_t whole = 0;
    while (whole < ends.size() && ends[whole] <= cut) ++whole;
    Harness h(Env::posix(), pdir, config);
    RecoveryReport report;
    h.open(false, 0, &report);
    ASSERT_EQ(h.log_->log_end_offset(), next_off[whole - 1]);
    EXPECT_EQ(report.bytes_truncated, static_cast<uint64_t>(cut - ends[whole - 1]));
    EXPECT_EQ(h.log_->size_bytes(), static_cast<uint64_t>(ends[whole - 1]));
    for (int64_t o = 0; o < h.log_->log_end_offset(); ++o) {
      auto r = h.log_->read(o, 1, true);
      ASSERT_TRUE(r.has_value());
      auto hdr = protocol::read_batch_header(read_ranges(*r));
      ASSERT_TRUE(hdr.has_value());
      ASSERT_LE(hdr->base_offset, o);
      ASSERT_GE(hdr->last_offset(), o);
    }
    // Appends continue right after the last whole batch.
    Bytes b = make_batch(2, 10, 5000);
    auto a = h.log_->append(b, 0);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->base_offset, next_off[whole - 1]);
    h.log_.reset();
  }
}

TEST(PartitionLog, RecoveryStopsAtAFlippedByte) {
  TempDir dir("flip");
  fs::path pdir = dir.path / "t-0";
  std::vector<int64_t> starts, next_off;
  {
    Harness h(Env::posix(), pdir, LogConfig{});
    h.open(true, 0);
    for (int i = 0; i < 6; ++i) {
      starts.push_back(static_cast<int64_t>(h.log_->size_bytes()));
      h.append(3, 30, 1000 + i);
      next_off.push_back(h.log_->log_end_offset());
    }
  }
  fs::path log_path = pdir / segment_file_name(0, ".log");
  std::ifstream in(log_path, std::ios::binary);
  Bytes original((std::istreambuf_iterator<char>(in)), {});
  in.close();
  for (size_t batch = 3; batch < 6; ++batch) {
    size_t begin = static_cast<size_t>(starts[batch]);
    size_t end = batch + 1 < starts.size() ? static_cast<size_t>(starts[batch + 1]) : original.size();
    for (size_t pos = begin; pos < end; ++pos) {
      if (pos - begin >= protocol::batch::kPartitionLeaderEpoch && pos - begin < protocol::batch::kMagic)
        continue;  // the leader epoch is outside the CRC and not checked
      SCOPED_TRACE("flip at " + std::to_string(pos));
      Bytes bytes = original;
      bytes[pos] ^= 0x01;
      {
        std::ofstream out(log_path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      }
      Harness h(Env::posix(), pdir, LogConfig{});
      h.open(false, 0);
      ASSERT_EQ(h.log_->log_end_offset(), next_off[batch - 1]);
    }
  }
}

TEST(PartitionLog, AppendsAfterCloseAreRefused) {
  TempDir dir("closed");
  Harness h(Env::posix(), dir.path / "t-0", LogConfig{});
  h.open(true, 0);
  h.append(3, 10, 100);
  ASSERT_TRUE(h.log_->close().has_value());
  Bytes late = make_batch(1, 10, 200);
  auto r = h.log_->append(late, 0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), protocol::ErrorCode::NOT_LEADER_OR_FOLLOWER);
  EXPECT_EQ(h.log_->log_end_offset(), 3);
  h.open(true, 3);  // the clean restart finds exactly what was there at close
  EXPECT_EQ(h.log_->log_end_offset(), 3);
  h.check_read(0, 1 << 20);
}

TEST(PartitionLog, CorruptOrMissingIndexesAreRebuilt) {
  TempDir dir("index");
  LogConfig config;
  config.segment.index_interval_bytes = 64;
  fs::path pdir = dir.path / "t-0";
  Harness h(Env::posix(), pdir, config);
  h.open(true, 0);
  for (int i = 0; i < 50; ++i) h.append(2, 20, 100 + i);
  ASSERT_TRUE(h.log_->close().has_value());
  std::vector<std::function<void()>> damage = {
      [&] { fs::remove(pdir / segment_file_name(0, ".index")); },
      [&] { fs::remove(pdir / segment_file_name(0, ".timeindex")); },
      [&] {
        std::fstream f(pdir / segment_file_name(0, ".index"), std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(12);
        f.put(static_cast<char>(0x7f));  // a position far past the log end
      },
      [&] {
        std::fstream f(pdir / segment_file_name(0, ".timeindex"), std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(0);
        f.put(static_cast<char>(0x7f));  // timestamps no longer increase
      },
  };
  for (size_t i = 0; i < damage.size(); ++i) {
    SCOPED_TRACE("damage " + std::to_string(i));
    h.log_.reset();
    damage[i]();
    h.open(true, h.model_end());
    ASSERT_EQ(h.log_->log_end_offset(), h.model_end());
    for (int64_t o = 0; o < h.model_end(); o += 3) h.check_read(o, 200);
    for (int64_t t = 90; t < 160; t += 5) h.check_timestamp(t);
    ASSERT_TRUE(h.log_->close().has_value());
  }
}

TEST(PartitionLog, RetentionByTimeAndSize) {
  TempDir dir("retention");
  LogConfig config;
  config.segment_bytes = 2000;
  config.retention_ms = 10'000;
  Harness h(Env::posix(), dir.path / "t-0", config);
  h.open(true, 0);
  for (int i = 0; i < 40; ++i) h.append(2, 100, 1'000'000 + i * 1000);  // timestamps 1,000,000..1,039,000
  size_t segments = h.log_->segment_count();
  ASSERT_GT(segments, 5u);
  const int64_t cutoff = 1'040'000 - config.retention_ms;
  EXPECT_GT(h.log_->enforce_retention(1'040'000), 0);
  int64_t start = h.log_->log_start_offset();
  EXPECT_GT(start, 0);
  for (const ModelBatch& b : h.model_) {
    if (b.max_ts >= cutoff) EXPECT_GE(b.base, start) << "a record newer than retention.ms was deleted";
    if (b.last + 1 == start) EXPECT_LT(b.max_ts, cutoff) << "the segment before the log start was not expired";
  }
  auto below = h.log_->read(start - 1, 100, true);
  ASSERT_FALSE(below.has_value());
  EXPECT_EQ(below.error(), ErrorCode::OFFSET_OUT_OF_RANGE);
  EXPECT_TRUE(h.log_->read(start, 100, true).has_value());
  // When everything is expired the active segment goes too (after a roll), as in Kafka: the
  // log is empty and starts at its end offset.
  size_t left = h.log_->segment_count();
  EXPECT_EQ(h.log_->enforce_retention(INT64_MAX / 2), static_cast<int>(left));
  EXPECT_EQ(h.log_->segment_count(), 1u);
  EXPECT_EQ(h.log_->log_start_offset(), h.log_->log_end_offset());
  EXPECT_EQ(h.log_->size_bytes(), 0u);

  LogConfig by_size = config;
  by_size.retention_ms = -1;
  by_size.retention_bytes = 5000;
  Harness s(Env::posix(), dir.path / "s-0", by_size);
  s.open(true, 0);
  for (int i = 0; i < 40; ++i) s.append(2, 100, 1000 + i);
  s.log_->enforce_retention(0);
  EXPECT_LE(s.log_->size_bytes(), 5000u + by_size.segment_bytes);
  EXPECT_GE(s.log_->size_bytes(), 5000u - by_size.segment_bytes);
  // The log start survives a restart through the first segment's base offset.
  int64_t s_start = s.log_->log_start_offset();
  ASSERT_TRUE(s.log_->close().has_value());
  s.open(true, s.model_end());
  EXPECT_EQ(s.log_->log_start_offset(), s_start);
}

TEST(PartitionLog, GroupCommitCoversConcurrentWaitersAndSurvivesAPowerCut) {
  TempDir dir("group");
  FaultEnv env;
  asio::io_context io;
  Syncer syncer;
  fs::path pdir = dir.path / "t-0";
  auto log = PartitionLog::open(env, pdir, LogConfig{}, 0, 0, true, 0, &syncer, io.get_executor());
  ASSERT_TRUE(log.has_value());
  auto work = asio::make_work_guard(io);  // completions arrive from the syncer thread
  int acked = 0;
  int64_t highest_acked = -1;
  int syncs_before = env.syncs();
  for (int i = 0; i < 64; ++i) {
    Bytes b = make_batch(10, 100, 1000 + i);
    auto r = (*log)->append(b, 0);
    ASSERT_TRUE(r.has_value());
    int64_t last = r->last_offset;
    (*log)->when_durable(last + 1, [&, last](IoResult<> res) {
      ASSERT_TRUE(res.has_value());
      ++acked;
      highest_acked = std::max(highest_acked, last);
    });
  }
  for (int i = 0; i < 1000 && acked < 64; ++i) io.run_one_for(std::chrono::milliseconds(100));
  EXPECT_EQ(acked, 64);
  int syncs = env.syncs() - syncs_before;
  // The first wait starts a sync of the first batch; the other 63 arrive while it runs and
  // share the next one.
  EXPECT_EQ(syncs, 2) << "one fdatasync covers every waiter registered meanwhile";
  EXPECT_EQ((*log)->durable_offset(), 640);
  // Appends nobody waits for are not synced (flush.messages / flush.ms are unlimited).
  for (int i = 0; i < 20; ++i) {
    Bytes b = make_batch(10, 100, 2000 + i);
    ASSERT_TRUE((*log)->append(b, 0).has_value());
  }
  EXPECT_EQ((*log)->log_end_offset(), 840);
  EXPECT_EQ((*log)->durable_offset(), 640);
  log->reset();

  env.power_cut();  // the 20 unacknowledged batches may vanish; the acked ones may not
  auto reopened = PartitionLog::open(env, pdir, LogConfig{}, 0, 0, false, 0, nullptr, io.get_executor());
  ASSERT_TRUE(reopened.has_value());
  EXPECT_GE((*reopened)->log_end_offset(), highest_acked + 1);
  EXPECT_EQ((*reopened)->log_end_offset(), 640) << "only the synced part survives this power cut";
}

TEST(PartitionLog, RollingSyncsNothingOnTheShardThreadAndTheSyncerMakesTheRolledSegmentsDurable) {
  TempDir dir("roll-sync");
  FaultEnv env;
  asio::io_context io;
  Syncer syncer;
  fs::path pdir = dir.path / "t-0";
  LogConfig config;
  config.segment_bytes = 8192;
  auto log = PartitionLog::open(env, pdir, config, 0, 0, true, 0, &syncer, io.get_executor());
  ASSERT_TRUE(log.has_value());
  auto work = asio::make_work_guard(io);  // completions arrive from the syncer thread
  for (int i = 0; i < 40; ++i) {
    Bytes b = make_batch(10, 100, 1000 + i);
    ASSERT_TRUE((*log)->append(b, 0).has_value());
  }
  ASSERT_GE((*log)->segment_count(), 4u);
  EXPECT_EQ(env.syncs_on(std::this_thread::get_id()), 0)
      << "a roll must not sync a segment, index or directory on the appending (shard) thread";
  int64_t active_base = 0;
  for (const auto& e : fs::directory_iterator(pdir))
    if (e.path().extension() == ".log") active_base = std::max<int64_t>(active_base, std::stoll(e.path().stem()));
  ASSERT_GT(active_base, 0);
  // Nobody waits for these appends (flush.ms / flush.messages are unlimited), yet each roll
  // syncs the segment it closed.
  for (int i = 0; i < 100 && (*log)->durable_offset() < active_base; ++i) io.run_one_for(std::chrono::milliseconds(100));
  EXPECT_GE((*log)->durable_offset(), active_base);
  // The trimmed index files of the rolled segments were synced too.
  for (int i = 0; i < 100; ++i) io.run_one_for(std::chrono::milliseconds(1));
  int sealed_indexes = 0;
  for (const auto& e : fs::directory_iterator(pdir)) {
    if (e.path().extension() != ".index" && e.path().extension() != ".timeindex") continue;
    if (std::stoll(e.path().stem()) == active_base) continue;
    ++sealed_indexes;
    EXPECT_EQ(env.synced_size(e.path()), fs::file_size(e.path())) << e.path();
  }
  EXPECT_GE(sealed_indexes, 6);
  EXPECT_EQ(env.syncs_on(std::this_thread::get_id()), 0);
  log->reset();

  env.power_cut();
  auto reopened = PartitionLog::open(env, pdir, config, active_base, 0, false, 0, nullptr, io.get_executor());
  ASSERT_TRUE(reopened.has_value());
  EXPECT_GE((*reopened)->log_end_offset(), active_base) << "every sealed segment was synced";
  EXPECT_EQ((*reopened)->log_start_offset(), 0);
}

TEST(PartitionLog, WriteFailureTakesThePartitionOfflineAndKeepsAckedData) {
  TempDir dir("enospc");
  FaultEnv env;
  asio::io_context io;
  fs::path pdir = dir.path / "t-0";
  auto log = PartitionLog::open(env, pdir, LogConfig{}, 0, 0, true, 0, nullptr, io.get_executor());
  ASSERT_TRUE(log.has_value());
  for (int i = 0; i < 5; ++i) {
    Bytes b = make_batch(2, 10, i);
    ASSERT_TRUE((*log)->append(b, 0).has_value());
  }
  ASSERT_TRUE((*log)->flush().has_value());
  env.fail_writes(true);
  Bytes b = make_batch(2, 10, 99);
  auto r = (*log)->append(b, 0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), ErrorCode::KAFKA_STORAGE_ERROR);
  EXPECT_TRUE((*log)->offline());
  env.fail_writes(false);
  EXPECT_EQ((*log)->append(b, 0).error(), ErrorCode::KAFKA_STORAGE_ERROR) << "stays offline";
  log->reset();
  auto reopened = PartitionLog::open(env, pdir, LogConfig{}, 0, 0, false, 0, nullptr, io.get_executor());
  ASSERT_TRUE(reopened.has_value());
  EXPECT_EQ((*reopened)->log_end_offset(), 10);
}

TEST(PartitionLog, AnOfflinePartitionServesWhatWasSyncedAndNothingAfter) {
  TempDir dir("offline-read");
  FaultEnv env;
  asio::io_context io;
  auto log = PartitionLog::open(env, dir.path / "t-0", LogConfig{}, 0, 0, true, 0, nullptr, io.get_executor());
  ASSERT_TRUE(log.has_value());
  uint64_t synced_bytes = 0;
  for (int i = 0; i < 5; ++i) {
    Bytes b = make_batch(2, 10, i);
    synced_bytes += b.size();
    ASSERT_TRUE((*log)->append(b, 0).has_value());
  }
  ASSERT_TRUE((*log)->flush().has_value());
  for (int i = 5; i < 7; ++i) {  // written, not yet synced
    Bytes b = make_batch(2, 10, i);
    ASSERT_TRUE((*log)->append(b, 0).has_value());
  }
  EXPECT_EQ((*log)->high_watermark(), 14);
  env.fail_writes(true);
  Bytes b = make_batch(2, 10, 99);
  ASSERT_EQ((*log)->append(b, 0).error(), ErrorCode::KAFKA_STORAGE_ERROR);
  ASSERT_TRUE((*log)->offline());
  EXPECT_EQ((*log)->high_watermark(), 10) << "what was synced before the failure";
  auto all = (*log)->read(0, 1 << 20, true);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->bytes, synced_bytes);
  auto tail = (*log)->read(8, 1 << 20, true);
  ASSERT_TRUE(tail.has_value());
  EXPECT_EQ(tail->bytes, synced_bytes / 5) << "the last synced batch only";
  auto at_end = (*log)->read(10, 1 << 20, true);
  ASSERT_TRUE(at_end.has_value());
  EXPECT_EQ(at_end->bytes, 0u);
  EXPECT_EQ((*log)->read(12, 1 << 20, true).error(), ErrorCode::OFFSET_OUT_OF_RANGE);
}

TEST(PartitionLog, ACorruptBatchIsRefusedOnReadAndTheOthersServed) {
  TempDir dir("corrupt-read");
  FaultEnv env;
  asio::io_context io;
  LogConfig config;
  config.segment_bytes = 1024;  // several closed segments
  auto log = PartitionLog::open(env, dir.path / "t-0", config, 0, 0, true, 0, nullptr, io.get_executor());
  ASSERT_TRUE(log.has_value());
  std::vector<Bytes> batches;
  for (int i = 0; i < 20; ++i) {
    batches.push_back(make_batch(2, 40, i, static_cast<uint8_t>('a' + i)));
    ASSERT_TRUE((*log)->append(batches.back(), 0).has_value());
  }
  ASSERT_TRUE((*log)->flush().has_value());
  ASSERT_GE((*log)->segment_count(), 3u);
  const uint64_t batch_size = batches[0].size();
  // Batch 1 of the first segment (offsets 2-3): one bit of its last value byte flips on disk.
  {
    std::fstream f(dir.path / "t-0" / segment_file_name(0, ".log"), std::ios::in | std::ios::out | std::ios::binary);
    const auto at = static_cast<std::streamoff>(2 * batch_size - 1);
    f.seekg(at);
    char c = 0;
    f.get(c);
    f.seekp(at);
    f.put(static_cast<char>(c ^ 0x10));
  }
  auto before = (*log)->read(0, 1 << 20, true);
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->bytes, batch_size) << "the batch before the bad one";
  EXPECT_EQ((*log)->read(2, 1 << 20, true).error(), ErrorCode::CORRUPT_MESSAGE);
  EXPECT_EQ((*log)->read(3, 1 << 20, true).error(), ErrorCode::CORRUPT_MESSAGE);
  // A consumer may seek past it: the batch's header still gives its length.
  auto after = (*log)->read(4, batch_size, true);
  ASSERT_TRUE(after.has_value());
  ASSERT_EQ(after->ranges.size(), 1u);
  EXPECT_EQ(after->ranges[0].position, 2 * batch_size);
  EXPECT_EQ(after->bytes, batch_size);
  // Other segments are untouched.
  auto later = (*log)->read(30, 1 << 20, true);
  ASSERT_TRUE(later.has_value());
  EXPECT_GT(later->bytes, 0u);
}

TEST(PartitionLog, RollsBySegmentMsAndLogAppendTime) {
  TempDir dir("roll");
  LogConfig config;
  config.segment_ms = 1000;
  config.log_append_time = true;
  Harness h(Env::posix(), dir.path / "t-0", config);
  h.open(true, 0);
  Bytes b1 = make_batch(1, 10, 0);
  auto r1 = h.log_->append(b1, 5000);
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(r1->log_append_time, 5000);
  Bytes b2 = make_batch(1, 10, 0);
  h.log_->append(b2, 5500);
  EXPECT_EQ(h.log_->segment_count(), 1u);
  Bytes b3 = make_batch(1, 10, 0);
  h.log_->append(b3, 6100);
  EXPECT_EQ(h.log_->segment_count(), 2u);
  auto found = h.log_->find_by_timestamp(5400);
  ASSERT_TRUE(found.has_value() && found->has_value());
  EXPECT_EQ((*found)->base_offset, 1);
  auto max = h.log_->find_max_timestamp();
  ASSERT_TRUE(max.has_value() && max->has_value());
  EXPECT_EQ((*max)->base_offset, 2);
}

}  // namespace fjord::storage

namespace fjord::storage {

// The active segment's .log has blocks reserved past its end (fallocate KEEP_SIZE), so its
// size stays the data's; rolling gives back what was not used.
TEST(PartitionLog, ReservesBlocksAheadOfTheActiveSegmentAndFreesThemOnRoll) {
  TempDir dir("reserve");
  LogConfig config;
  config.segment_bytes = 3 << 20;
  config.segment.max_bytes = 3 << 20;
  Harness h(Env::posix(), dir.path / "t-0", config);
  h.open(true, 0);
  auto disk_bytes = [](const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  };
  // A nearly full file system gets no reservations (reservation_leaves_room); then the files
  // hold only their data.
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs(dir.path.c_str(), &vfs), 0);
  const bool room = reservation_leaves_room(uint64_t(vfs.f_bavail) * vfs.f_frsize,
                                            uint64_t(vfs.f_blocks) * vfs.f_frsize, 3 << 20);
  const fs::path first = dir.path / "t-0" / segment_file_name(0, ".log");
  Bytes b = make_batch(10, 10'000, 0);  // ~100 KB
  ASSERT_TRUE(h.log_->append(b, 0).has_value());
  EXPECT_EQ(fs::file_size(first), b.size());
  if (room)
    EXPECT_GE(disk_bytes(first), 1u << 20);  // reserved ahead (ext4, xfs, tmpfs all support it)
  else
    EXPECT_LE(disk_bytes(first), b.size() + 4096);
  // Fill past segment.bytes: the first segment rolls and is trimmed to its data.
  for (int i = 0; i < 40 && h.log_->segment_count() < 2; ++i) {
    Bytes more = make_batch(10, 10'000, 0);
    ASSERT_TRUE(h.log_->append(more, 0).has_value());
  }
  ASSERT_EQ(h.log_->segment_count(), 2u);
  EXPECT_LE(disk_bytes(first), fs::file_size(first) + 4096);
  EXPECT_LE(fs::file_size(first), 3u << 20);
  // The next segment starts with as much reserved as the first one held.
  const fs::path second = dir.path / "t-0" / segment_file_name(h.log_->log_end_offset() - 10, ".log");
  ASSERT_TRUE(fs::exists(second));
  EXPECT_LT(fs::file_size(second), 1u << 20);
  if (room) EXPECT_GE(disk_bytes(second), fs::file_size(first));
}

}  // namespace fjord::storage
