// produce_consume_bench: a librdkafka producer and consumer against a Fjord broker (a real
// process writing to disk) and, in the same run, against librdkafka's in-memory mock cluster.
//   build/release/bench/produce_consume_bench [--fjord PATH] [--dir DIR] [--quick] [--case SIZE/ACKS/PARTITIONS]...
//       [--records N] [--passes N] [--repeat N] [--set KEY=VALUE]... [--broker-log FILE]
// Prints one table: throughput, delivery latency, end-to-end latency, broker CPU per GB (Fjord's
// process; the mock cluster's thread), ratios, each the median of --repeat runs per side (3; 1
// with --quick) with Fjord and the mock taking turns; under each case, "disk alone": the same bytes
// written by the bench itself to the data dir (with an fdatasync per MiB for acks=all): what the
// disk and page cache allow here, for reference. `--case 1024/all/8` runs only the cases named.
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace fs = std::filesystem;
using namespace bench;

namespace {

struct ConsumeResult {
  double seconds = 0;
  int64_t records = 0;
  std::vector<int64_t> e2e_us;
};

// Reads `records` records from the start of every partition (or from the end when `from_end`),
// recording end-to-end latency from the timestamp in the value. `passes` times, by one consumer
// that seeks back to the start between passes.
ConsumeResult consume(const Broker& b, const std::string& topic, int partitions, int64_t records, bool from_end,
                      std::function<void()> while_waiting = nullptr, int passes = 1) {
  ConsumeResult result;
  rd_kafka_conf_t* conf = base_conf(b);
  char err[256];
  rd_kafka_conf_set(conf, "group.id", "bench", err, sizeof(err));  // librdkafka's consumer needs one
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
  rd_kafka_conf_set(conf, "fetch.wait.max.ms", "100", err, sizeof(err));
  rd_kafka_conf_set(conf, "fetch.max.bytes", "52428800", err, sizeof(err));
  // The mock drops old data: a start offset it no longer holds must mean "its earliest".
  rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  std::thread side;
  for (int pass = 0; pass < passes; ++pass) {
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p)
      rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset =
          from_end ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (while_waiting && pass == 0) side = std::thread(while_waiting);
    // Timed from the first record to the last: connecting and assigning are not consume
    // throughput, and a log that holds fewer records than asked (the mock drops old data) ends
    // the pass after a second of silence.
    auto start = Clock::now();
    auto last = start;
    auto deadline = start + std::chrono::seconds(120);
    int64_t got = 0;
    while (got < records && Clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (!m) {
        auto quiet = Clock::now() - last;
        if (!from_end && ((got > 0 && quiet > std::chrono::seconds(1)) || quiet > std::chrono::seconds(10))) break;
        continue;
      }
      if (!m->err) {
        if (got == 0) start = Clock::now();
        last = Clock::now();
        ++got;
        if (from_end && m->len >= 8) {
          int64_t t;
          std::memcpy(&t, m->payload, sizeof(t));
          result.e2e_us.push_back(now_us() - t);
        }
      }
      rd_kafka_message_destroy(m);
    }
    result.records += got;
    result.seconds += std::chrono::duration<double>(last - start).count();
    rd_kafka_assign(rk, nullptr);
  }
  if (side.joinable()) side.join();
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return result;
}

// What the disk allows a produce case here: `bytes` written by this
// program to a file in `dir` in 1 MiB pwrites, each followed by an fdatasync when `sync` (into
// reserved blocks, as Fjord's segments are). Returns MB/s and CPU seconds per GB.
std::pair<double, double> write_ceiling(const fs::path& dir, uint64_t bytes, bool sync) {
  fs::path path = dir / "write-ceiling";
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return {0, 0};
  constexpr size_t kChunk = 1 << 20;
  std::string chunk(kChunk, 'x');
  timespec cpu0{}, cpu1{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
  auto start = Clock::now();
  if (sync) ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(bytes));
  for (uint64_t at = 0; at < bytes; at += kChunk) {
    if (::pwrite(fd, chunk.data(), kChunk, static_cast<off_t>(at)) != static_cast<ssize_t>(kChunk)) break;
    if (sync) ::fdatasync(fd);
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
  ::close(fd);
  fs::remove(path);
  double cpu = static_cast<double>(cpu1.tv_sec - cpu0.tv_sec) + static_cast<double>(cpu1.tv_nsec - cpu0.tv_nsec) / 1e9;
  return {static_cast<double>(bytes) / 1e6 / seconds, cpu / (static_cast<double>(bytes) / 1e9)};
}

}  // namespace

int main(int argc, char** argv) {
  std::string binary = default_fjord_binary();
  fs::path dir = fs::current_path() / "produce-consume-bench-data";
  bool quick = false;
  std::vector<std::string> only;
  int64_t records_override = 0;
  int passes_override = 0;
  int repetitions = 0;
  FjordOptions fjord_options;  // --set key=value: broker configs
  const char* usage =
      "usage: produce_consume_bench [--fjord PATH] [--dir DIR] [--quick] [--case SIZE/ACKS/PARTITIONS]...\n"
      "                             [--records N] [--passes N] [--repeat N] [--set KEY=VALUE]...\n"
      "                             [--broker-log FILE]\n";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--case" && has_value) only.push_back(argv[++i]);
    else if (a == "--records" && has_value) records_override = std::stoll(argv[++i]);
    else if (a == "--passes" && has_value) passes_override = std::stoi(argv[++i]);
    else if (a == "--repeat" && has_value) repetitions = std::max(1, std::stoi(argv[++i]));
    else if (a == "--set" && has_value) fjord_options.sets.push_back(argv[++i]);
    else if (a == "--broker-log" && has_value) fjord_options.log_path = argv[++i];
    else if (a == "--fjord" && has_value) binary = argv[++i];
    else if (a == "--dir" && has_value) dir = argv[++i];
    else if (a == "--quick") quick = true;
    else if (a == "--help" || a == "-h") {
      fmt::print("{}", usage);
      return 0;
    } else {
      fmt::print(stderr, "produce_consume_bench: unknown or incomplete option '{}'\n{}", a, usage);
      return 2;
    }
  }
  struct Case {
    size_t size;
    const char* acks;
    int partitions;
  };
  std::vector<Case> cases = {{100, "1", 1}, {1024, "1", 1}, {1024, "all", 1}, {1024, "1", 8}, {1024, "all", 8}, {100, "all", 8}};
  for (const std::string& name : only) {
    if (std::none_of(cases.begin(), cases.end(), [&](const Case& c) {
          return name == fmt::format("{}/{}/{}", c.size, c.acks, c.partitions);
        })) {
      fmt::print(stderr, "produce_consume_bench: no case '{}' (cases: 100/1/1 1024/1/1 1024/all/1 1024/1/8 1024/all/8 100/all/8)\n", name);
      return 2;
    }
  }
  if (repetitions == 0) repetitions = quick ? 1 : 3;
  fs::remove_all(dir);
  fs::create_directories(dir);
  fmt::print("produce_consume_bench: Fjord {} (data in {}) vs librdkafka {} mock cluster{}\n", binary, dir.string(),
             rd_kafka_version_str(), quick ? " (quick)" : "");
  fmt::print("librdkafka producer: linger.ms=5 batch.size=1000000; one producer, one consumer; same settings both\n");
  fmt::print("each case: {} run(s) of each side, Fjord and the mock taking turns; medians shown (latencies: all runs)\n\n",
             repetitions);
  fmt::print("| {:<20} | {:>22} | {:>18} | {:>20} | {:>22} | {:>19} | {:>19} |\n", "case", "Fjord produce",
             "mock produce", "Fjord p50/p99/p99.9", "consume Fjord / mock", "produce CPU s/GB", "consume CPU s/GB");
  fmt::print("| {:<20} | {:>22} | {:>18} | {:>20} | {:>22} | {:>19} | {:>19} |\n", "", "", "(Fjord/mock)", "ms", "(ratio)",
             "Fjord / mock", "Fjord / mock");
  fmt::print("|{:-<22}|{:-<24}|{:-<20}|{:-<22}|{:-<24}|{:-<21}|{:-<21}|\n", "", "", "", "", "", "", "");

  int case_no = 0;
  for (const Case& c : cases) {
    const std::string name = fmt::format("{}/{}/{}", c.size, c.acks, c.partitions);
    if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) {
      ++case_no;
      continue;
    }
    // Both produce the same records. The mock keeps only about 5 MiB per partition, so both
    // consume the same 4 MiB per partition from the start of what they hold.
    int64_t consume_records = static_cast<int64_t>(4 * 1024 * 1024 / (c.size + 70)) * c.partitions;
    int64_t records = quick ? consume_records : std::max<int64_t>(consume_records, (c.size < 500 ? 2'000'000 : 300'000));
    if (records_override > 0) records = std::max(records_override, consume_records);
    double mb = static_cast<double>(records) * static_cast<double>(c.size) / 1e6;
    std::string topic = fmt::format("bench-{}", case_no++);

    // A 4 MiB read takes milliseconds: one consumer reads it many times, seeking back to the
    // start between passes, and the passes add up. The first pass is a
    // warm-up, neither timed nor counted: the group.id librdkafka insists on makes Fjord create
    // __consumer_offsets (50 partitions) on the first FindCoordinator.
    const int passes = passes_override > 0 ? passes_override : quick ? 3 : 10;
    auto consume_passes = [&](Broker& b, double& cpu) {
      consume(b, topic, c.partitions, consume_records, false);
      double before = b.cpu();
      ConsumeResult total = consume(b, topic, c.partitions, consume_records, false, nullptr, passes);
      cpu = b.cpu() - before;
      return total;
    };
    // One run of one side: produce, then consume passes.
    struct Run {
      double produce_mbs = 0, produce_rps = 0, produce_cpu_gb = 0, consume_mbs = 0, consume_cpu_gb = 0;
    };
    std::vector<int64_t> fj_latencies_us;
    int failed = 0;
    auto run_side = [&](Broker b) {
      create_topic(b, topic, c.partitions);
      double cpu0 = b.cpu();
      ProduceResult p = produce(b, topic, records, c.size, c.acks, c.partitions);
      Run r;
      r.produce_cpu_gb = (b.cpu() - cpu0) / (mb / 1000.0);
      r.produce_mbs = mb / p.seconds;
      r.produce_rps = static_cast<double>(records) / p.seconds;
      failed += p.failed;
      if (b.mock == nullptr) fj_latencies_us.insert(fj_latencies_us.end(), p.latencies_us.begin(), p.latencies_us.end());
      double consume_cpu = 0;
      ConsumeResult cr = consume_passes(b, consume_cpu);
      double consumed_mb = static_cast<double>(cr.records) * static_cast<double>(c.size) / 1e6;
      r.consume_mbs = consumed_mb / cr.seconds;
      r.consume_cpu_gb = consume_cpu / (consumed_mb / 1000.0);
      stop(b);
      return r;
    };
    // Fjord and the mock take turns, the order swapped every repetition, so neither always
    // meets the machine in the same state (page cache, freed memory); medians are shown.
    std::vector<Run> fj_runs, mock_runs;
    for (int rep = 0; rep < repetitions; ++rep) {
      for (int side = 0; side < 2; ++side) {
        if ((side == 0) == (rep % 2 == 0)) {
          fs::path fj_dir = dir / fmt::format("{}-{}", topic, rep);
          fj_runs.push_back(run_side(start_fjord(binary, fj_dir, fjord_options)));
          fs::remove_all(fj_dir);
        } else {
          mock_runs.push_back(run_side(start_mock()));
        }
      }
    }
    auto med = [](const std::vector<Run>& runs, double Run::*field) {
      std::vector<double> v;
      for (const Run& r : runs) v.push_back(r.*field);
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    const double fj_produce = med(fj_runs, &Run::produce_mbs), mock_produce = med(mock_runs, &Run::produce_mbs);
    const double fj_consume = med(fj_runs, &Run::consume_mbs), mock_consume = med(mock_runs, &Run::consume_mbs);
    const std::vector<int64_t>& lat = fj_latencies_us;
    fmt::print("| {:<20} | {:>22} | {:>18} | {:>20} | {:>22} | {:>19} | {:>19} |\n",
               fmt::format("{} B acks={} {}p", c.size, c.acks, c.partitions),
               fmt::format("{:.0f} MB/s {:.2f}M/s", fj_produce, med(fj_runs, &Run::produce_rps) / 1e6),
               fmt::format("{:.0f} MB/s ({:.2f}x)", mock_produce, fj_produce / mock_produce),
               fmt::format("{:.1f}/{:.1f}/{:.1f}", pct(lat, 0.5), pct(lat, 0.99), pct(lat, 0.999)),
               fmt::format("{:.0f}/{:.0f} MB/s ({:.2f}x)", fj_consume, mock_consume, fj_consume / mock_consume),
               fmt::format("{:.2f} / {:.2f}", med(fj_runs, &Run::produce_cpu_gb), med(mock_runs, &Run::produce_cpu_gb)),
               fmt::format("{:.2f} / {:.2f}", med(fj_runs, &Run::consume_cpu_gb), med(mock_runs, &Run::consume_cpu_gb)));
    auto [ceiling_mbs, ceiling_cpu] = write_ceiling(dir, static_cast<uint64_t>(mb * 1e6), std::string(c.acks) == "all");
    fmt::print("|   disk alone         | {:>22} | {:>18} | {:>20} | {:>22} | {:>19} | {:>19} |\n",
               fmt::format("{:.0f} MB/s", ceiling_mbs), "", std::string(c.acks) == "all" ? "1 MiB + fdatasync" : "1 MiB writes",
               "", fmt::format("{:.2f}", ceiling_cpu), "");
    if (repetitions > 1) {
      auto runs = [](const std::vector<Run>& v, double Run::*field) {
        std::vector<std::string> out;
        for (const Run& r : v) out.push_back(fmt::format("{:.0f}", r.*field));
        return fmt::format("{}", fmt::join(out, "/"));
      };
      fmt::print("|   each run (MB/s)    | {:>22} | {:>18} | {:>20} | {:>22} | {:>19} | {:>19} |\n",
                 runs(fj_runs, &Run::produce_mbs), runs(mock_runs, &Run::produce_mbs), "",
                 runs(fj_runs, &Run::consume_mbs) + " / " + runs(mock_runs, &Run::consume_mbs), "", "");
    }
    if (failed) fmt::print("  (failed deliveries: {})\n", failed);
  }

  // End-to-end latency at a moderate fixed rate: 2,000 records/s of 1 KiB, acks=all.
  for (int which = 0; which < 2 && only.empty(); ++which) {
    Broker b = which == 0 ? start_fjord(binary, dir / "e2e", fjord_options) : start_mock();
    create_topic(b, "e2e", 1);
    const int64_t n = quick ? 2000 : 6000;
    ConsumeResult r = consume(b, "e2e", 1, n, true, [&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the consumer reach the end
      produce(b, "e2e", n, 1024, "all", 1, 2000);
    });
    fmt::print("end-to-end latency at 2,000 records/s, 1 KiB, acks=all, {}: p50 {:.2f} ms, p99 {:.2f} ms ({} records)\n",
               which == 0 ? "Fjord" : "mock", pct(r.e2e_us, 0.5), pct(r.e2e_us, 0.99), r.records);
    stop(b);
  }
  fs::remove_all(dir);
  return 0;
}
