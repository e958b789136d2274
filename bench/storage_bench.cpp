// storage_bench: the storage engine next to the raw system calls it is built on, in one run.
// Prints a table; run it from a release build on the real disk (not tmpfs):
//   build/release/bench/storage_bench [--dir DIR] [--quick]
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "protocol/record_batch_builder.h"
#include "storage/log_manager.h"
#include "storage/partition_log.h"

namespace fs = std::filesystem;
using namespace fjord;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Bytes big_batch(int records, size_t value_size) {
  protocol::RecordBatchBuilder b(1'700'000'000'000);
  Bytes value(value_size, 'x');
  for (int i = 0; i < records; ++i) {
    value[0] = static_cast<uint8_t>(i);
    b.add(Bytes{'k', static_cast<uint8_t>(i)}, value, 1'700'000'000'000 + i);
  }
  return b.build();
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

int open_fds() {
  int n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

void drop_dir(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
}

std::unique_ptr<storage::PartitionLog> open_log(const fs::path& dir, const storage::LogConfig& config,
                                                asio::io_context& io, storage::Syncer* syncer = nullptr,
                                                bool clean = true, storage::RecoveryReport* report = nullptr) {
  auto log = storage::PartitionLog::open(storage::Env::posix(), dir, config, 0, 0, clean, 0, syncer,
                                         io.get_executor(), report);
  if (!log) {
    fmt::print(stderr, "cannot open {}: {}\n", dir.string(), log.error().message());
    std::exit(1);
  }
  return std::move(*log);
}

void row(const std::string& what, const std::string& fjord, const std::string& peer, const std::string& ratio) {
  fmt::print("| {:<52} | {:>22} | {:>22} | {:>8} |\n", what, fjord, peer, ratio);
}

}  // namespace

int main(int argc, char** argv) {
  fs::path root = fs::current_path() / "storage-bench-data";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--dir" && i + 1 < argc) root = argv[++i];
    if (std::string(argv[i]) == "--quick") quick = true;
  }
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  drop_dir(root);
  fs::create_directories(root);
  asio::io_context io;

  fmt::print("storage_bench: data in {}{}\n\n", root.string(), quick ? " (quick)" : "");
  fmt::print("| {:<52} | {:>22} | {:>22} | {:>8} |\n", "measure", "Fjord", "raw system calls", "ratio");
  fmt::print("|{:-<54}|{:-<24}|{:-<24}|{:-<10}|\n", "", "", "", "");

  // 1. Append 1 MiB batches (1,000 records of 1 KiB) vs write() of the same bytes. Each side
  // runs twice, alternating, after a sync() so both start with no dirty pages; best of two.
  const Bytes batch = big_batch(1000, 1000);
  const int batches = quick ? 256 : 512;  // 512 MiB: below the writeback threshold here
  const double mb = batches * static_cast<double>(batch.size()) / 1e6;
  {
    storage::LogConfig config;
    double fj = 1e9, raw = 1e9;
    std::unique_ptr<storage::PartitionLog> log;
    for (int round = 0; round < 2; ++round) {
      fs::remove(root / "raw.bin");
      ::sync();
      int fd = ::open((root / "raw.bin").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      auto t = Clock::now();
      for (int i = 0; i < batches; ++i) {
        if (::write(fd, batch.data(), batch.size()) != static_cast<ssize_t>(batch.size())) std::perror("write");
      }
      raw = std::min(raw, seconds_since(t));
      ::close(fd);

      log.reset();
      drop_dir(root / "append-0");
      ::sync();
      log = open_log(root / "append-0", config, io);
      Bytes work = batch;
      t = Clock::now();
      for (int i = 0; i < batches; ++i) {
        std::memcpy(work.data(), batch.data(), 12);  // fresh header bytes, as a new request would bring
        log->append(work, 0);
      }
      fj = std::min(fj, seconds_since(t));
    }
    row(fmt::format("append 1 MiB batches, {} MB (best of 2)", static_cast<int>(mb)), fmt::format("{:.0f} MB/s", mb / fj),
        fmt::format("{:.0f} MB/s", mb / raw), fmt::format("{:.2f}", raw / fj));

    // 3. Sequential read by offset vs read() of the same file.
    std::vector<uint8_t> buf(batch.size());
    auto t = Clock::now();
    int64_t offset = 0;
    uint64_t bytes = 0;
    while (offset < log->log_end_offset()) {
      auto r = log->read(offset, batch.size(), true);
      for (auto& range : r->ranges) {
        range.file->read_at(range.position, std::span<uint8_t>(buf.data(), range.length));
        bytes += range.length;
      }
      offset += 1000;
    }
    double fj_read = seconds_since(t);
    int fd = ::open((root / "raw.bin").c_str(), O_RDONLY);
    t = Clock::now();
    while (::read(fd, buf.data(), buf.size()) > 0) {
    }
    double raw_read = seconds_since(t);
    ::close(fd);
    row("sequential read by offset (page cache)", fmt::format("{:.0f} MB/s", bytes / 1e6 / fj_read),
        fmt::format("{:.0f} MB/s", mb / raw_read), fmt::format("{:.2f}", raw_read / fj_read));

    // 5. Recovery scan of that log after an unclean stop (CRC-32C of every batch).
    log.reset();
    storage::RecoveryReport report;
    t = Clock::now();
    auto recovered = open_log(root / "append-0", config, io, nullptr, false, &report);
    double rec = seconds_since(t);
    row("recovery scan after an unclean stop (page cache)", fmt::format("{:.2f} GB/s", report.bytes_scanned / 1e9 / rec),
        "-", "-");
  }
  drop_dir(root / "append-0");
  fs::remove(root / "raw.bin");

  // 2. acks=all: 64 writers, each appending and waiting for durability (group commit), vs one
  // fdatasync per append.
  {
    const Bytes small = big_batch(16, 1000);  // 16 KiB appends
    const int appends = quick ? 2000 : 8000;
    storage::Syncer syncer;
    auto work = asio::make_work_guard(io);
    auto log = open_log(root / "acks-0", storage::LogConfig{}, io, &syncer);
    int done = 0, issued = 0;
    std::function<void()> writer = [&] {
      if (issued >= appends) return;
      ++issued;
      Bytes b = small;
      auto r = log->append(b, 0);
      log->when_durable(r->last_offset + 1, [&](storage::IoResult<>) {
        ++done;
        writer();  // this writer's next append
      });
    };
    auto t = Clock::now();
    for (int w = 0; w < 64; ++w) writer();
    while (done < appends) io.run_one();
    double fj = seconds_since(t);
    double fj_mb = appends * static_cast<double>(small.size()) / 1e6;
    int fd = ::open((root / "fsync.bin").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int raw_appends = quick ? 300 : 1000;
    t = Clock::now();
    for (int i = 0; i < raw_appends; ++i) {
      if (::write(fd, small.data(), small.size()) < 0) std::perror("write");
      ::fdatasync(fd);
    }
    double raw = seconds_since(t);
    ::close(fd);
    double raw_mb = raw_appends * static_cast<double>(small.size()) / 1e6;
    row("acks=all 16 KiB appends, 64 writers (group commit)", fmt::format("{:.0f}/s {:.0f} MB/s", appends / fj, fj_mb / fj),
        fmt::format("{:.0f}/s {:.0f} MB/s", raw_appends / raw, raw_mb / raw), fmt::format("{:.1f}", (appends / fj) / (raw_appends / raw)));
    log.reset();
  }
  drop_dir(root / "acks-0");
  fs::remove(root / "fsync.bin");

  // 4. Offset lookup time against the number of batches in the log.
  {
    const Bytes tiny = big_batch(1, 8);
    std::vector<long> sizes = quick ? std::vector<long>{1000, 100000, 1000000} : std::vector<long>{1000, 100000, 10000000};
    std::string fj, peer;
    for (long n : sizes) {
      fs::path dir = root / fmt::format("lookup{}-0", n);
      auto log = open_log(dir, storage::LogConfig{}, io);
      Bytes b = tiny;
      for (long i = 0; i < n; ++i) {
        b = tiny;
        log->append(b, 0);
      }
      std::mt19937_64 rng(7);
      const int lookups = 20000;
      auto t = Clock::now();
      for (int i = 0; i < lookups; ++i) {
        auto r = log->read(static_cast<int64_t>(rng() % static_cast<uint64_t>(n)), 1, true);
        if (!r || r->ranges.empty()) std::abort();
      }
      double us = seconds_since(t) * 1e6 / lookups;
      row(fmt::format("offset lookup, {} batches in the log", n), fmt::format("{:.2f} us", us), "-", "-");
      log.reset();
      drop_dir(dir);
    }
  }

  // 6. Idle partitions: resident memory and descriptors per open partition.
  {
    const int partitions = quick ? 2000 : 10000;
    storage::Syncer syncer;
    storage::LogManager manager(storage::Env::posix(), root / "idle", syncer, io.get_executor());
    fs::create_directories(root / "idle");
    long rss_before = rss_kib();
    int fds_before = open_fds();
    storage::StartupState startup{true, {}, {}};
    for (int p = 0; p < partitions; ++p) {
      auto r = manager.open("idle", p, Uuid::random(), storage::LogConfig{}, startup, 0);
      if (!r) {
        fmt::print(stderr, "{}\n", r.error());
        return 1;
      }
    }
    long rss = rss_kib() - rss_before;
    int fds = open_fds() - fds_before;
    row(fmt::format("{} idle partitions: resident memory per partition", partitions),
        fmt::format("{:.1f} KiB", static_cast<double>(rss) / partitions), "-", "-");
    row(fmt::format("{} idle partitions: open descriptors per partition", partitions),
        fmt::format("{:.2f}", static_cast<double>(fds) / partitions), "-", "-");
  }
  drop_dir(root);
  return 0;
}
