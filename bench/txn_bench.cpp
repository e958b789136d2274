// txn_bench: produce throughput of librdkafka's plain acks=all, idempotent and transactional
// producers against one Fjord broker (a real process writing to disk), in the same run.
//   build/release/bench/txn_bench [--fjord PATH] [--dir DIR] [--records N] [--size BYTES]
//       [--partitions N] [--txn-records N]... [--repeat N] [--mock]
// Prints one row per mode: records/s, MB/s, delivery latency p50/p99 (from produce() to the
// delivery report; for transactions, to the end of the commit holding the record), commit
// latency p50/p99 for transactions, and broker CPU seconds per GB. Each figure is the median of
// --repeat runs (3), the modes taking turns. With --mock, the same against librdkafka's
// in-memory mock cluster (no disk, no fsync: a reference, not a bar).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "bench_util.h"

namespace fs = std::filesystem;
using namespace bench;

namespace {

struct Mode {
  std::string name;
  bool idempotent = false;
  int64_t txn_records = 0;  // > 0: transactions of this many records
};

struct Run {
  double seconds = 0;
  double cpu = 0;
  std::vector<int64_t> latencies_us;
  std::vector<int64_t> commits_us;
  int failed = 0;
};

struct Delivery {
  std::vector<int64_t>* latencies;
  std::vector<int64_t> pending_sent;  // transactional: send times of records not yet committed
  int failed = 0;
  bool transactional = false;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Delivery*>(opaque);
  if (m->err) {
    ++d->failed;
    return;
  }
  int64_t sent = reinterpret_cast<int64_t>(m->_private);
  if (d->transactional)
    d->pending_sent.push_back(sent);  // delivered only counts once committed
  else
    d->latencies->push_back(now_us() - sent);
}

bool check(rd_kafka_error_t* e, const char* what) {
  if (!e) return true;
  fmt::print(stderr, "{}: {}\n", what, rd_kafka_error_string(e));
  rd_kafka_error_destroy(e);
  return false;
}

Run run_mode(const Broker& b, const Mode& mode, const std::string& topic, int64_t records, size_t size,
             int partitions, int round) {
  Run run;
  run.latencies_us.reserve(static_cast<size_t>(records));
  Delivery d{&run.latencies_us, {}, 0, mode.txn_records > 0};
  rd_kafka_conf_t* conf = base_conf(b);
  std::vector<std::pair<std::string, std::string>> settings{
      {"acks", "all"}, {"linger.ms", "5"}, {"batch.size", "1000000"}, {"queue.buffering.max.messages", "1000000"},
      {"queue.buffering.max.kbytes", "1048576"}, {"enable.idempotence", mode.idempotent ? "true" : "false"}};
  if (mode.txn_records > 0) settings.emplace_back("transactional.id", fmt::format("bench-{}-{}", mode.name, round));
  if (!set_all(conf, settings)) std::exit(2);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &d);
  char err[256];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) {
    fmt::print(stderr, "producer: {}\n", err);
    std::exit(2);
  }
  if (mode.txn_records > 0 && !check(rd_kafka_init_transactions(rk, 30000), "init_transactions")) std::exit(2);
  std::string value(size, 'x');
  const double cpu_before = b.cpu();
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < records; ++i) {
    if (mode.txn_records > 0 && i % mode.txn_records == 0 && !check(rd_kafka_begin_transaction(rk), "begin")) std::exit(2);
    int64_t t = now_us();
    std::memcpy(value.data(), &t, sizeof(t));
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(static_cast<int32_t>(i % partitions)),
                             RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(t)), RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 1);
    rd_kafka_poll(rk, 0);
    const bool txn_end = mode.txn_records > 0 && ((i + 1) % mode.txn_records == 0 || i + 1 == records);
    if (txn_end) {
      int64_t before = now_us();
      // commit flushes first; its delivery reports are served by the poll inside it
      if (!check(rd_kafka_commit_transaction(rk, 60000), "commit")) std::exit(2);
      rd_kafka_poll(rk, 0);
      int64_t after = now_us();
      run.commits_us.push_back(after - before);
      for (int64_t sent : d.pending_sent) run.latencies_us.push_back(after - sent);
      d.pending_sent.clear();
    }
  }
  rd_kafka_flush(rk, 60000);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.cpu = b.cpu() - cpu_before;
  run.failed = d.failed;
  rd_kafka_destroy(rk);
  return run;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string fjord = default_fjord_binary();
  fs::path dir = fs::temp_directory_path() / "fjord-txn-bench";
  int64_t records = 500'000;
  size_t size = 1024;
  int partitions = 4;
  std::vector<int64_t> txn_sizes;
  int repeat = 3;
  bool with_mock = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "{} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--fjord") fjord = next();
    else if (a == "--dir") dir = next();
    else if (a == "--records") records = std::stoll(next());
    else if (a == "--size") size = std::stoul(next());
    else if (a == "--partitions") partitions = std::stoi(next());
    else if (a == "--txn-records") txn_sizes.push_back(std::stoll(next()));
    else if (a == "--repeat") repeat = std::stoi(next());
    else if (a == "--mock") with_mock = true;
    else {
      fmt::print(stderr, "unknown argument {}\n", a);
      return 2;
    }
  }
  if (txn_sizes.empty()) txn_sizes = {1000, 10000};
  std::vector<Mode> modes{{"acks=all", false, 0}, {"idempotent", true, 0}};
  for (int64_t n : txn_sizes) modes.push_back({fmt::format("txn/{}", n), true, n});

  struct Side {
    std::string name;
    Broker broker;
  };
  std::vector<Side> sides;
  fs::remove_all(dir);
  fs::create_directories(dir);
  sides.push_back({"fjord", start_fjord(fjord, dir / "fjord")});
  if (with_mock) sides.push_back({"mock", start_mock()});

  fmt::print("txn_bench: {} records of {} bytes over {} partitions, median of {} runs\n", records, size, partitions,
             repeat);
  fmt::print("{:<6} {:<12} {:>10} {:>8} {:>9} {:>9} {:>11} {:>11} {:>9}\n", "broker", "mode", "records/s", "MB/s",
             "p50 ms", "p99 ms", "commit p50", "commit p99", "CPU-s/GB");
  for (Side& side : sides) {
    std::map<std::string, std::vector<Run>> runs;
    int topic_n = 0;
    for (int round = 0; round < repeat; ++round) {
      for (const Mode& mode : modes) {
        std::string topic = fmt::format("txn-bench-{}", topic_n++);
        if (!create_topic(side.broker, topic, partitions)) return 1;
        runs[mode.name].push_back(run_mode(side.broker, mode, topic, records, size, partitions, round));
      }
    }
    for (const Mode& mode : modes) {
      std::vector<double> rate, mbs, p50, p99, c50, c99, cpu;
      int failed = 0;
      for (Run& r : runs[mode.name]) {
        rate.push_back(static_cast<double>(records) / r.seconds);
        mbs.push_back(static_cast<double>(records) * static_cast<double>(size) / r.seconds / 1e6);
        p50.push_back(pct(r.latencies_us, 0.50));  // pct() answers in ms
        p99.push_back(pct(r.latencies_us, 0.99));
        c50.push_back(r.commits_us.empty() ? 0 : pct(r.commits_us, 0.50));
        c99.push_back(r.commits_us.empty() ? 0 : pct(r.commits_us, 0.99));
        cpu.push_back(r.cpu / (static_cast<double>(records) * static_cast<double>(size) / 1e9));
        failed += r.failed;
      }
      const bool txn = mode.txn_records > 0;
      fmt::print("{:<6} {:<12} {:>10.0f} {:>8.1f} {:>9.2f} {:>9.2f} {:>11} {:>11} {:>9.2f}{}\n", side.name, mode.name,
                 median(rate), median(mbs), median(p50), median(p99),
                 txn ? fmt::format("{:.2f} ms", median(c50)) : "-", txn ? fmt::format("{:.2f} ms", median(c99)) : "-",
                 median(cpu), failed ? fmt::format("  ({} failed)", failed) : "");
    }
  }
  for (Side& side : sides) stop(side.broker);
  fs::remove_all(dir);
  return 0;
}
