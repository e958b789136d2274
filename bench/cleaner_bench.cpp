// cleaner_bench: log compaction's speed, and what it costs producers, in one run.
//   build/release/bench/cleaner_bench [--fjord PATH] [--dir DIR] [--quick] [--repeat N] [--broker-log FILE]
// 1. A compaction pass over a log written here (1 KiB values, half random, over 10,000 keys;
//    uncompressed and lz4): MB of log cleaned per second, next to what reading those bytes and CRC-checking them
//    takes alone (the floor for any cleaner that must look at every record), plus writing and
//    fdatasyncing what the pass kept.
// 2. A Fjord broker: acks=all producers of keyed 1 KiB records into a compacted topic, with the
//    cleaner running passes all along (backoff 100 ms, dirty ratio 0.01) and with it off
//    (log.cleaner.enable=false), taking turns: flood throughput, and p50/p99 delivery latency at
//    a fixed moderate rate; the passes the cleaner ran during each are counted from the log.
//    Medians of --repeat runs a side (3; 1 with --quick).
// Run it from a release build on the real disk (not tmpfs).
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <asio/io_context.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <span>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "base/crc32c.h"
#include "bench_util.h"
#include "protocol/record_batch_builder.h"
#include "storage/cleaner.h"
#include "storage/partition_log.h"

namespace fs = std::filesystem;
using namespace fjord;
using bench::Clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void row(const std::string& what, const std::string& a, const std::string& b, const std::string& ratio) {
  fmt::print("| {:<56} | {:>24} | {:>24} | {:>8} |\n", what, a, b, ratio);
}

struct PassFigures {
  uint64_t log_bytes = 0;  // the segments the pass covered
  double pass_s = 0;
  storage::CleanStats stats;
  double floor_s = 0;  // read + CRC of the same bytes, then write + fdatasync of the kept bytes
};

// Writes `total` bytes of batches (100 records each, keys cycling over `keys`) with `codec`, then
// times one compaction pass and the floor.
PassFigures pass_once(const fs::path& dir, uint64_t total, int keys, size_t value_size, protocol::Codec codec) {
  fs::remove_all(dir);
  asio::io_context io;
  storage::LogConfig config;
  config.segment_bytes = config.segment.max_bytes = 64u << 20;
  config.retention_ms = -1;
  config.segment_ms = 3'600'000;
  config.compaction.compact = true;
  config.compaction.min_cleanable_dirty_ratio = 0;
  auto opened = storage::PartitionLog::open(storage::Env::posix(), dir, config, 0, 0, true, 0, nullptr,
                                            io.get_executor());
  if (!opened) {
    fmt::print(stderr, "cannot open {}: {}\n", dir.string(), opened.error().message());
    std::exit(1);
  }
  auto log = std::move(*opened);
  const int64_t now = 1'700'000'000'000;
  // Half random hex, half repeated: lz4 takes it to about 60%, as it does structured records.
  Bytes value(value_size, 'v');
  std::mt19937_64 rng(7);
  uint64_t written = 0;
  int64_t n = 0;
  while (written < total) {
    protocol::RecordBatchBuilder b(now);
    for (int i = 0; i < 100; ++i, ++n) {
      std::string key = fmt::format("key-{:08}", n % keys);
      for (size_t j = 0; j < value_size / 2; ++j) value[j] = "0123456789abcdef"[rng() & 15];
      b.add(Bytes(key.begin(), key.end()), value, now + i);
    }
    Bytes batch = b.build_compressed(codec);
    written += batch.size();
    if (!log->append(batch, now)) {
      fmt::print(stderr, "append failed\n");
      std::exit(1);
    }
  }
  // A batch an hour later rolls a new segment: everything written before is in closed segments.
  protocol::RecordBatchBuilder last(now + 7'200'000);
  last.add(Bytes{'x'}, value, now + 7'200'000);
  Bytes last_batch = last.build();
  if (!log->append(last_batch, now + 7'200'000)) std::exit(1);
  ::sync();

  PassFigures f;
  auto plan = log->plan_cleaning(now + 7'200'000);
  if (!plan) {
    fmt::print(stderr, "no pass was due\n");
    std::exit(1);
  }
  for (const auto& group : plan->groups)
    for (const auto& in : group) f.log_bytes += in.size;
  storage::OffsetMap map(128u << 20);
  storage::IoThrottle throttle(1e308);
  storage::CleanTicket ticket;
  auto t = Clock::now();
  storage::CleanResult result = storage::clean_log(storage::Env::posix(), *plan, map, throttle, ticket);
  f.pass_s = seconds_since(t);
  f.stats = result.stats;
  if (!result.error.empty()) {
    fmt::print(stderr, "the pass failed: {}\n", result.error);
    std::exit(1);
  }
  log->finish_cleaning(result);

  // The floor: read every byte the pass covered (from the page cache, as the pass did) and
  // CRC it; write the bytes the pass kept and fdatasync them.
  std::vector<uint8_t> buf(1 << 20);
  t = Clock::now();
  uint32_t crc = 0;
  for (const auto& group : plan->groups) {
    for (const auto& in : group) {
      for (uint64_t pos = 0; pos < in.size; pos += buf.size()) {
        size_t chunk = std::min<uint64_t>(buf.size(), in.size - pos);
        if (!in.log->read_at(pos, std::span<uint8_t>(buf.data(), chunk))) std::exit(1);
        crc ^= crc32c(buf.data(), chunk);
      }
    }
  }
  int fd = ::open((dir / "floor.bin").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  for (uint64_t left = f.stats.bytes_written; left > 0;) {
    size_t chunk = std::min<uint64_t>(left, buf.size());
    if (::write(fd, buf.data(), chunk) != static_cast<ssize_t>(chunk)) break;
    left -= chunk;
  }
  ::fdatasync(fd);
  ::close(fd);
  f.floor_s = seconds_since(t);
  if (crc == 0x12345678) fmt::print("");  // keeps the CRC loop from being optimised away
  return f;
}

// The cleaner's "compaction read" lines in the broker's log so far.
int passes_logged(const fs::path& log_path) {
  std::ifstream in(log_path);
  std::string line;
  int n = 0;
  while (std::getline(in, line))
    if (line.find("compaction read") != std::string::npos) ++n;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path root = fs::current_path() / "cleaner-bench-data";
  std::string fjord = bench::default_fjord_binary();
  fs::path broker_log;
  bool quick = false;
  int repeat = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) root = argv[++i];
    else if (a == "--fjord" && i + 1 < argc) fjord = argv[++i];
    else if (a == "--broker-log" && i + 1 < argc) broker_log = argv[++i];
    else if (a == "--quick") quick = true;
    else if (a == "--repeat" && i + 1 < argc) repeat = std::max(1, std::atoi(argv[++i]));
    else {
      fmt::print(stderr, "usage: cleaner_bench [--fjord PATH] [--dir DIR] [--quick] [--repeat N] [--broker-log FILE]\n");
      return 2;
    }
  }
  if (repeat == 0) repeat = quick ? 1 : 3;
  fs::remove_all(root);
  fs::create_directories(root);
  if (broker_log.empty()) broker_log = root / "broker.log";
  fmt::print("cleaner_bench: data in {}{}\n\n", root.string(), quick ? " (quick)" : "");

  // 1. One pass, storage only.
  const uint64_t total = quick ? (64u << 20) : (512u << 20);
  fmt::print("| {:<56} | {:>24} | {:>24} | {:>8} |\n", "compaction pass", "Fjord's cleaner", "read+CRC, write+sync", "ratio");
  fmt::print("|{:-<58}|{:-<26}|{:-<26}|{:-<10}|\n", "", "", "", "");
  for (auto [codec, name] : {std::pair{protocol::Codec::None, "uncompressed"}, std::pair{protocol::Codec::Lz4, "lz4"}}) {
    PassFigures f = pass_once(root / "pass-0", total, 10'000, 1024, codec);
    double mb = static_cast<double>(f.log_bytes) / 1e6;
    row(fmt::format("{} MB {}, 10,000 keys: log MB cleaned per s", static_cast<int>(mb), name),
        fmt::format("{:.0f} MB/s", mb / f.pass_s), fmt::format("{:.0f} MB/s", mb / f.floor_s),
        fmt::format("{:.2f}", f.floor_s / f.pass_s));
    row(fmt::format("  kept {:.1f} MB, removed {} records", static_cast<double>(f.stats.bytes_written) / 1e6,
                    f.stats.records_removed),
        fmt::format("{:.2f} s", f.pass_s), fmt::format("{:.2f} s", f.floor_s), "");
  }
  fs::remove_all(root / "pass-0");

  // 2. Producers with and without the cleaner, taking turns.
  fmt::print("\n| {:<56} | {:>24} | {:>24} | {:>8} |\n", "acks=all keyed 1 KiB produce, compacted topic",
             "cleaner running", "cleaner off", "ratio");
  fmt::print("|{:-<58}|{:-<26}|{:-<26}|{:-<10}|\n", "", "", "", "");
  const int64_t flood_records = quick ? 100'000 : 400'000;
  const int rate = 20'000;  // records/s: about 20 MB/s
  const int64_t rate_records = quick ? 40'000 : 100'000;
  const int keys = 10'000;
  struct Side {
    double flood_mb_s = 0, flood_p99 = 0, rate_p50 = 0, rate_p99 = 0;
    int passes = 0;
    double cpu_s_per_gb = 0;
    int failed = 0;
  };
  auto run_side = [&](bool cleaner) {
    Side s;
    bench::FjordOptions options;
    options.log_path = broker_log;
    options.sets = {"log.cleaner.enable=" + std::string(cleaner ? "true" : "false"), "log.cleaner.backoff.ms=100"};
    fs::path data = root / (cleaner ? "with" : "without");
    fs::remove_all(data);
    int passes_before = passes_logged(broker_log);
    // bench::create_topic sends no topic configs: the broker's defaults make the topic compacted.
    options.sets.insert(options.sets.end(), {"log.cleanup.policy=compact", "log.segment.bytes=16777216",
                                             "log.cleaner.min.cleanable.ratio=0.01"});
    bench::Broker b = bench::start_fjord(fjord, data, options);
    if (!bench::create_topic(b, "table", 1)) std::exit(1);
    double cpu0 = b.cpu();
    auto flood = bench::produce(b, "table", flood_records, 1024, "all", 1, 0, keys);
    double cpu1 = b.cpu();
    double mb = static_cast<double>(flood_records) * 1024 / 1e6;
    s.flood_mb_s = mb / flood.seconds;
    s.flood_p99 = bench::pct(flood.latencies_us, 0.99);
    s.cpu_s_per_gb = (cpu1 - cpu0) / (mb / 1000);
    auto steady = bench::produce(b, "table", rate_records, 1024, "all", 1, rate, keys);
    s.rate_p50 = bench::pct(steady.latencies_us, 0.5);
    s.rate_p99 = bench::pct(steady.latencies_us, 0.99);
    s.failed = flood.failed + steady.failed;
    bench::stop(b);
    s.passes = passes_logged(broker_log) - passes_before;
    fs::remove_all(data);
    return s;
  };
  // Taking turns, `repeat` runs a side; each figure is the median of its side's runs.
  std::vector<Side> withs, withouts;
  for (int r = 0; r < repeat; ++r) {
    withs.push_back(run_side(true));
    withouts.push_back(run_side(false));
  }
  auto median = [](const std::vector<Side>& runs, auto field) {
    std::vector<double> v;
    for (const Side& s : runs) v.push_back(static_cast<double>(s.*field));
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto summary = [&](const std::vector<Side>& runs) {
    Side m;
    m.flood_mb_s = median(runs, &Side::flood_mb_s);
    m.flood_p99 = median(runs, &Side::flood_p99);
    m.rate_p50 = median(runs, &Side::rate_p50);
    m.rate_p99 = median(runs, &Side::rate_p99);
    m.cpu_s_per_gb = median(runs, &Side::cpu_s_per_gb);
    m.passes = static_cast<int>(median(runs, &Side::passes));
    for (const Side& s : runs) m.failed += s.failed;
    return m;
  };
  Side with = summary(withs);
  Side without = summary(withouts);
  row(fmt::format("flood, {} records over {} keys", flood_records, keys), fmt::format("{:.0f} MB/s", with.flood_mb_s),
      fmt::format("{:.0f} MB/s", without.flood_mb_s), fmt::format("{:.2f}", with.flood_mb_s / without.flood_mb_s));
  row("flood: broker CPU per GB", fmt::format("{:.2f} CPU-s", with.cpu_s_per_gb),
      fmt::format("{:.2f} CPU-s", without.cpu_s_per_gb), fmt::format("{:.2f}", with.cpu_s_per_gb / without.cpu_s_per_gb));
  row(fmt::format("{} records/s: delivery p50", rate), fmt::format("{:.2f} ms", with.rate_p50),
      fmt::format("{:.2f} ms", without.rate_p50), fmt::format("{:.2f}", with.rate_p50 / without.rate_p50));
  row(fmt::format("{} records/s: delivery p99", rate), fmt::format("{:.2f} ms", with.rate_p99),
      fmt::format("{:.2f} ms", without.rate_p99), fmt::format("{:.2f}", with.rate_p99 / without.rate_p99));
  row("flood: delivery p99", fmt::format("{:.1f} ms", with.flood_p99), fmt::format("{:.1f} ms", without.flood_p99),
      fmt::format("{:.2f}", with.flood_p99 / without.flood_p99));
  row("compaction passes that rewrote segments", fmt::format("{}", with.passes), fmt::format("{}", without.passes), "");
  if (with.failed + without.failed > 0) {
    fmt::print(stderr, "{} deliveries failed\n", with.failed + without.failed);
    return 1;
  }
  fs::remove_all(root);
  return 0;
}
