// soak_bench: a bounded soak of a Fjord broker (a real process, data on disk) under mixed traffic
// while clients are killed (SIGKILL) at random and restarted.
//   build/release/bench/soak_bench [--seconds 600] [--dir DIR] [--fjord PATH] [--producers 2]
//       [--consumers 3] [--rate 1000] [--size 512] [--partitions 6] [--kill-every 20] [--seed N]
//       [--broker-log FILE]
// Producers (acks=all, each at --rate records/s) and the members of one consumer group
// (auto-commit of the offsets they have reported) are child processes (this program run with
// --producer / --consumer) that report every acknowledgement and every record consumed to the
// parent over a pipe. Every --kill-every seconds (0.5x to 1.5x, from --seed) one client, chosen at
// random, is killed and a new one started a second later. At the end the producers stop, the group
// reads on until it has every acknowledged record (or 60 s pass without progress), and the program
// prints records sent, acknowledged, consumed, lost (acknowledged, never consumed: must be 0),
// duplicated (consumed again after a member died before committing), records read back with other
// contents than acknowledged at their offset (must be 0), and every 10 s the broker's RSS and the
// produce latency (p50/p99). Exits 1 when anything was lost or mismatched, or the broker died.
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench_util.h"

namespace fs = std::filesystem;
using namespace bench;

namespace {

volatile sig_atomic_t stop_requested = 0;
void on_sigterm(int) { stop_requested = 1; }

void catch_sigterm() {
  struct sigaction sa {};
  sa.sa_handler = on_sigterm;
  sigaction(SIGTERM, &sa, nullptr);
}

// A record's identity, in its value: the producer (index, incarnation) and its sequence number.
uint64_t record_id(uint64_t producer, uint64_t incarnation, uint64_t seq) {
  return (producer << 48) | (incarnation << 32) | seq;
}

// The children bound themselves: a parent that lost track of one does not leave it running.
constexpr auto kChildLifetime = std::chrono::minutes(90);

// ------------------------------------------------------------------------------------- producer
// Reports: "A <partition> <offset> <id> <latency_us>" per acknowledged record, "F" per failed
// one, "S <sent>" every second and at the end.
namespace producer {

struct State {
  std::vector<int64_t> sent_us;  // by sequence number
  uint64_t base_id = 0;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* s = static_cast<State*>(opaque);
  const auto seq = reinterpret_cast<uintptr_t>(m->_private);
  if (m->err) {
    tell_parent("F\n");
    return;
  }
  tell_parent(fmt::format("A {} {} {} {}\n", m->partition, m->offset, s->base_id + seq, now_us() - s->sent_us[seq]));
}

int run(const std::string& bootstrap, const std::string& topic, uint64_t index, uint64_t incarnation, int rate,
        size_t size) {
  catch_sigterm();
  State state;
  state.base_id = record_id(index, incarnation, 0);
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (!set_all(conf, {{"bootstrap.servers", bootstrap},
                      {"acks", "all"},
                      {"linger.ms", "5"},
                      {"enable.idempotence", "false"},
                      {"message.timeout.ms", "30000"},
                      {"log_level", "0"}}))
    return 2;
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &state);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) return 1;
  const auto start = Clock::now();
  auto last_report = start;
  uint64_t sent = 0;
  std::string value(size, '.');
  while (!stop_requested && Clock::now() - start < kChildLifetime) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    while (!stop_requested && static_cast<double>(sent) < elapsed * rate) {
      const uint64_t id = state.base_id + sent;
      const std::string head = fmt::format("rid={} ", id);
      std::memcpy(value.data(), head.data(), std::min(head.size(), value.size()));
      state.sent_us.push_back(now_us());
      rd_kafka_resp_err_t e = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_VALUE(value.data(), value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(sent)), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        state.sent_us.pop_back();
        rd_kafka_poll(rk, 10);
        continue;
      }
      ++sent;
    }
    rd_kafka_poll(rk, 1);
    if (Clock::now() - last_report >= std::chrono::seconds(1)) {
      tell_parent(fmt::format("S {}\n", sent));
      last_report = Clock::now();
    }
  }
  rd_kafka_flush(rk, 15000);
  tell_parent(fmt::format("S {}\n", sent));
  rd_kafka_destroy(rk);
  return 0;
}

}  // namespace producer

// ------------------------------------------------------------------------------------- consumer
// A group member. Reports "C <partition> <offset> <id>" per record, before it stores the record's
// offset for the next auto-commit: a commit never covers a record the parent has not been told of.
namespace consumer {

int run(const std::string& bootstrap, const std::string& topic, const std::string& group) {
  catch_sigterm();
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (!set_all(conf, {{"bootstrap.servers", bootstrap},
                      {"group.id", group},
                      {"enable.auto.commit", "true"},
                      {"auto.commit.interval.ms", "500"},
                      {"enable.auto.offset.store", "false"},
                      {"auto.offset.reset", "earliest"},
                      {"session.timeout.ms", "6000"},
                      {"heartbeat.interval.ms", "1000"},
                      {"fetch.wait.max.ms", "100"},
                      {"log_level", "0"}}))
    return 2;
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (!rk) return 1;
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  const auto start = Clock::now();
  while (!stop_requested && Clock::now() - start < kChildLifetime) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (!m->err) {
      uint64_t id = 0;
      std::string_view v(static_cast<const char*>(m->payload), m->len);
      if (v.rfind("rid=", 0) == 0) id = std::strtoull(std::string(v.substr(4, 24)).c_str(), nullptr, 10);
      tell_parent(fmt::format("C {} {} {}\n", m->partition, m->offset, id));
      rd_kafka_topic_partition_list_t* at = rd_kafka_topic_partition_list_new(1);
      rd_kafka_topic_partition_list_add(at, rd_kafka_topic_name(m->rkt), m->partition)->offset = m->offset + 1;
      rd_kafka_offsets_store(rk, at);
      rd_kafka_topic_partition_list_destroy(at);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);  // commits what was stored, leaves the group
  rd_kafka_destroy(rk);
  return 0;
}

}  // namespace consumer

// --------------------------------------------------------------------------------------- parent

struct Settings {
  std::string binary;
  fs::path dir;
  fs::path broker_log;
  int seconds = 600;
  int producers = 2;
  int consumers = 3;
  int rate = 1000;
  size_t size = 512;
  int partitions = 6;
  double kill_every = 20;
  uint64_t seed = 0;
};

struct Client : Child {
  bool is_producer = false;
  int index = 0;
  int incarnation = 0;
  int64_t sent = 0;                  // producers: the last count reported
  int64_t settled = 0;               // producers: records acknowledged or failed
  Clock::time_point restart_at{};    // when killed: when its successor starts
  bool waiting = false;              // killed, successor not started yet
};

struct Ledger {
  // Per partition, by offset: the acknowledged record's id + 1 (0: none), and how often consumed.
  std::vector<std::vector<uint64_t>> acked;
  std::vector<std::vector<uint64_t>> consumed_id;
  std::vector<std::vector<uint16_t>> consumed;
  int64_t acks = 0, failures = 0, consumptions = 0, duplicates = 0, mismatched = 0;
  int64_t sent_by_dead = 0;  // what killed producers had sent (their last report, or what was settled since)
  std::vector<int64_t> window_latencies_us;

  explicit Ledger(int partitions) : acked(partitions), consumed_id(partitions), consumed(partitions) {}

  template <typename T>
  static T& at(std::vector<std::vector<T>>& v, int32_t p, int64_t off) {
    auto& row = v[static_cast<size_t>(p)];
    if (row.size() <= static_cast<size_t>(off)) row.resize(static_cast<size_t>(off) + 1 + row.size() / 2);
    return row[static_cast<size_t>(off)];
  }

  void check(int32_t p, int64_t off) {
    const uint64_t a = at(acked, p, off), c = at(consumed_id, p, off);
    if (a != 0 && c != 0 && a != c) ++mismatched;
  }

  void on_line(Client& client, const std::string& line) {
    std::istringstream in(line);
    char kind = 0;
    in >> kind;
    int32_t p = -1;
    int64_t off = -1;
    uint64_t id = 0;
    if (kind == 'A' && in >> p >> off >> id) {
      int64_t latency = 0;
      in >> latency;
      if (p < 0 || static_cast<size_t>(p) >= acked.size() || off < 0) return;
      uint64_t& slot = at(acked, p, off);
      if (slot != 0 && slot != id + 1) ++mismatched;  // two records acknowledged at one offset
      slot = id + 1;
      ++acks;
      ++client.settled;
      window_latencies_us.push_back(latency);
      check(p, off);
    } else if (kind == 'C' && in >> p >> off >> id) {
      if (p < 0 || static_cast<size_t>(p) >= acked.size() || off < 0) return;
      ++consumptions;
      uint16_t& n = at(consumed, p, off);
      if (n > 0) ++duplicates;
      if (n < UINT16_MAX) ++n;
      uint64_t& cid = at(consumed_id, p, off);
      if (cid != 0 && cid != id + 1) ++mismatched;  // read back with other contents than before
      cid = id + 1;
      check(p, off);
    } else if (kind == 'F') {
      ++failures;
      ++client.settled;
    } else if (kind == 'S') {
      in >> client.sent;
    }
  }

  // Acknowledged records not consumed (yet).
  int64_t missing() const {
    int64_t n = 0;
    for (size_t p = 0; p < acked.size(); ++p)
      for (size_t off = 0; off < acked[p].size(); ++off)
        if (acked[p][off] != 0 && (off >= consumed[p].size() || consumed[p][off] == 0)) ++n;
    return n;
  }
  int64_t unique_consumed() const {
    int64_t n = 0;
    for (const auto& row : consumed) n += std::count_if(row.begin(), row.end(), [](uint16_t c) { return c > 0; });
    return n;
  }
};

Client start_client(const Settings& s, const std::string& bootstrap, bool is_producer, int index, int incarnation) {
  Client c;
  std::vector<std::string> args;
  if (is_producer)
    args = {"--producer", bootstrap, "soak", std::to_string(index), std::to_string(incarnation), std::to_string(s.rate),
            std::to_string(s.size)};
  else
    args = {"--consumer", bootstrap, "soak", "soak-group"};
  static_cast<Child&>(c) = spawn_self("soak_bench", std::move(args));
  c.is_producer = is_producer;
  c.index = index;
  c.incarnation = incarnation;
  return c;
}

int run(const Settings& s) {
  fmt::print("soak_bench: {} s, {} producers at {} records/s of {} B (acks=all), {} consumers in one group, "
             "{} partitions, a client killed every ~{} s, seed {}\n",
             s.seconds, s.producers, s.rate, s.size, s.consumers, s.partitions, s.kill_every, s.seed);
  fs::remove_all(s.dir);
  fs::create_directories(s.dir);
  FjordOptions options{{"group.initial.rebalance.delay.ms=0"}, std::chrono::seconds(20), s.broker_log};
  Broker broker = start_fjord(s.binary, s.dir / "data", options);
  if (!create_topic(broker, "soak", s.partitions)) return 1;

  std::vector<Client> clients;
  for (int i = 0; i < s.producers; ++i) clients.push_back(start_client(s, broker.bootstrap, true, i, 0));
  for (int i = 0; i < s.consumers; ++i) clients.push_back(start_client(s, broker.bootstrap, false, i, 0));
  Ledger ledger(s.partitions);
  auto on_line = [&](size_t i, const std::string& line) { ledger.on_line(clients[i], line); };

  std::mt19937_64 rng(s.seed);
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(s.seconds);
  auto next_kill = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s.kill_every * jitter(rng)));
  auto next_row = start + std::chrono::seconds(10);
  int kills = 0;
  int64_t rss_max = 0, acks_at_row = 0, consumed_at_row = 0;
  double p99_max = 0;
  fmt::print("{:>6} {:>9} {:>9} {:>11} {:>8} {:>8} {:>6}\n", "t (s)", "RSS (MB)", "acked/s", "consumed/s", "p50 ms",
             "p99 ms", "kills");
  auto print_row = [&](double t, double span) {
    const int64_t rss = rss_kib(broker.pid);
    rss_max = std::max(rss_max, rss);
    const double p99 = pct(ledger.window_latencies_us, 0.99);
    p99_max = std::max(p99_max, p99);
    fmt::print("{:>6.0f} {:>9.1f} {:>9.0f} {:>11.0f} {:>8.1f} {:>8.1f} {:>6}\n", t, rss / 1024.0,
               (ledger.acks - acks_at_row) / span, (ledger.consumptions - consumed_at_row) / span,
               pct(ledger.window_latencies_us, 0.5), p99, kills);
    std::fflush(stdout);
    ledger.window_latencies_us.clear();
    acks_at_row = ledger.acks;
    consumed_at_row = ledger.consumptions;
  };

  while (Clock::now() < end && broker.running()) {
    read_lines(child_ptrs(clients), 50, on_line);
    const auto now = Clock::now();
    if (now >= next_kill) {
      std::vector<size_t> alive;
      for (size_t i = 0; i < clients.size(); ++i)
        if (clients[i].pid > 0 && !clients[i].waiting) alive.push_back(i);
      if (!alive.empty()) {
        Client& victim = clients[alive[std::uniform_int_distribution<size_t>(0, alive.size() - 1)(rng)]];
        kill(victim.pid, SIGKILL);
        waitpid(victim.pid, nullptr, 0);
        fmt::print("{:>6.1f}  killed {}{}.{}\n", std::chrono::duration<double>(now - start).count(),
                   victim.is_producer ? "producer" : "consumer", victim.index, victim.incarnation);
        victim.pid = -1;
        victim.waiting = true;
        victim.restart_at = now + std::chrono::seconds(1);
        ++kills;
      }
      next_kill = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s.kill_every * jitter(rng)));
    }
    for (Client& c : clients) {
      if (!c.waiting || now < c.restart_at) continue;
      // Whatever is still in the dead one's pipe is read first, then the successor takes its slot.
      std::vector<Child*> one{&c};
      while (c.fd >= 0) read_lines(one, 100, [&](size_t, const std::string& line) { ledger.on_line(c, line); });
      if (c.is_producer) ledger.sent_by_dead += std::max(c.sent, c.settled);
      c = start_client(s, broker.bootstrap, c.is_producer, c.index, c.incarnation + 1);
    }
    if (now >= next_row) {
      print_row(std::chrono::duration<double>(now - start).count(), 10.0);
      next_row += std::chrono::seconds(10);
    }
  }
  const bool broker_died = !broker.running();
  if (broker_died) fmt::print("the broker died: {}\n", broker.exit_report());

  // Producers end (flushing what they hold); the group reads on until it has every
  // acknowledged record, or 60 s pass without progress.
  std::vector<Child*> producers, consumers;
  for (Client& c : clients) {
    if (c.waiting) {  // killed, successor not started: a producer stays dead, a consumer comes back
      std::vector<Child*> one{&c};
      while (c.fd >= 0) read_lines(one, 100, [&](size_t, const std::string& line) { ledger.on_line(c, line); });
      c.waiting = false;
      if (c.is_producer) {
        ledger.sent_by_dead += std::max(std::exchange(c.sent, 0), std::exchange(c.settled, 0));
        continue;
      }
      c = start_client(s, broker.bootstrap, false, c.index, c.incarnation + 1);
    }
    (c.is_producer ? producers : consumers).push_back(&c);
  }
  end_children(producers, std::chrono::seconds(30), on_line);
  int64_t sent = ledger.sent_by_dead;
  for (Child* c : producers) sent += static_cast<Client*>(c)->sent;
  auto last_progress = Clock::now(), last_count = Clock::now();
  int64_t missing = ledger.missing(), seen = ledger.consumptions;
  while (missing > 0 && Clock::now() - last_progress < std::chrono::seconds(60) && !broker_died) {
    read_lines(consumers, 200, on_line);
    if (ledger.consumptions != seen) {
      seen = ledger.consumptions;
      last_progress = Clock::now();
    }
    if (Clock::now() - last_count >= std::chrono::milliseconds(500)) {
      missing = ledger.missing();
      last_count = Clock::now();
    }
  }
  end_children(consumers, std::chrono::seconds(30), on_line);
  missing = ledger.missing();
  print_row(std::chrono::duration<double>(Clock::now() - start).count(),
            std::max(1.0, std::chrono::duration<double>(Clock::now() - next_row).count() + 10.0));
  const int64_t broker_rss = rss_kib(broker.pid);
  stop(broker);

  fmt::print("\nrecords sent {}, acknowledged {}, failed {}, consumed {} ({} distinct offsets)\n", sent, ledger.acks,
             ledger.failures, ledger.consumptions, ledger.unique_consumed());
  fmt::print("lost (acknowledged, never consumed): {}\n", missing);
  fmt::print("duplicated (consumed again after a member died or the group rebalanced): {}\n", ledger.duplicates);
  fmt::print("mismatched (other contents than acknowledged at an offset): {}\n", ledger.mismatched);
  fmt::print("client kills: {}; broker RSS at the end {:.1f} MB, highest {:.1f} MB; worst 10 s p99 {:.1f} ms\n", kills,
             broker_rss / 1024.0, rss_max / 1024.0, p99_max);
  const bool ok = missing == 0 && ledger.mismatched == 0 && !broker_died;
  fmt::print("{}\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (!a.empty() && a[0] == "--producer" && a.size() == 7)
    return producer::run(a[1], a[2], std::stoull(a[3]), std::stoull(a[4]), std::stoi(a[5]), std::stoull(a[6]));
  if (!a.empty() && a[0] == "--consumer" && a.size() == 4) return consumer::run(a[1], a[2], a[3]);
  Settings s;
  s.binary = default_fjord_binary();
  s.dir = fs::current_path() / "soak-bench-data";
  s.seed = std::random_device{}();
  for (size_t i = 0; i < a.size(); ++i) {
    const bool has_value = i + 1 < a.size();
    if (a[i] == "--seconds" && has_value) s.seconds = std::stoi(a[++i]);
    else if (a[i] == "--dir" && has_value) s.dir = a[++i];
    else if (a[i] == "--fjord" && has_value) s.binary = a[++i];
    else if (a[i] == "--broker-log" && has_value) s.broker_log = a[++i];
    else if (a[i] == "--producers" && has_value) s.producers = std::max(1, std::stoi(a[++i]));
    else if (a[i] == "--consumers" && has_value) s.consumers = std::max(1, std::stoi(a[++i]));
    else if (a[i] == "--rate" && has_value) s.rate = std::max(1, std::stoi(a[++i]));
    else if (a[i] == "--size" && has_value) s.size = std::max<size_t>(32, std::stoull(a[++i]));
    else if (a[i] == "--partitions" && has_value) s.partitions = std::max(1, std::stoi(a[++i]));
    else if (a[i] == "--kill-every" && has_value) s.kill_every = std::max(1.0, std::stod(a[++i]));
    else if (a[i] == "--seed" && has_value) s.seed = std::stoull(a[++i]);
    else {
      fmt::print(stderr,
                 "usage: soak_bench [--seconds N] [--dir DIR] [--fjord PATH] [--producers N] [--consumers N] "
                 "[--rate N] [--size N] [--partitions N] [--kill-every S] [--seed N] [--broker-log FILE]\n");
      return 2;
    }
  }
  return run(s);
}
