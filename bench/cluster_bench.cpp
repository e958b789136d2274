// cluster_bench: a 3-node Fjord cluster on this machine (3 processes, one data dir each under
// --dir, all on the same disk).
//   build/release/bench/cluster_bench [--fjord PATH] [--dir DIR] [--records N] [--size BYTES]
//       [--failovers N] [--session-ms MS] [--heartbeat-ms MS] [--keep]
// 1. Produce throughput and delivery latency with librdkafka, replication factor 3 vs 1
//    (min.insync.replicas 2 for 3), acks=all and acks=1, 8 partitions, in the same run. With
//    replication factor 3 every record is written and fdatasync'ed three times on this one disk;
//    "disk alone" is the bench writing the same bytes three times with an fdatasync per MiB.
// 2. Leader failover: an acks=all producer sends a record every millisecond to a partition with
//    replication factor 3; the partition's leader gets SIGKILL; the time from the kill to the
//    first record sent after it and acknowledged (by the new leader) is printed, per kill, with
//    the time until Metadata names the new leader and the configured detection time
//    (broker.session.timeout.ms). The killed node is restarted and back
//    in the ISR before the next kill.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace fs = std::filesystem;
using namespace bench;

namespace {

struct Options {
  std::string fjord = default_fjord_binary();
  fs::path dir = fs::temp_directory_path();
  int64_t records = 300000;
  size_t size = 1024;
  int failovers = 5;
  int session_ms = 9000;  // Kafka's defaults: what a user runs with
  int heartbeat_ms = 2000;
  bool keep = false;  // leave the data dirs and logs
};

struct Node {
  int id = 0;
  int raft_port = 0;
  fs::path dir;
  Broker broker;
};

std::vector<std::string> node_sets(const Options& o, const std::vector<Node>& nodes, int id) {
  std::string voters;
  for (const Node& n : nodes) voters += fmt::format("{}{}@127.0.0.1:{}", voters.empty() ? "" : ",", n.id, n.raft_port);
  return {fmt::format("node.id={}", id),
          "process.roles=broker,controller",
          "controller.quorum.voters=" + voters,
          fmt::format("broker.session.timeout.ms={}", o.session_ms),
          fmt::format("broker.heartbeat.interval.ms={}", o.heartbeat_ms),
          "controller.quorum.election.timeout.ms=500",
          "replica.fetch.backoff.ms=100"};
}

// The threads that started brokers: a child gets SIGTERM when the thread that forked it ends
// (PR_SET_PDEATHSIG), so each stays until the bench is done.
std::vector<std::thread> keepers;
std::atomic<bool> done{false};

// Starts the nodes together (each waits for a quorum, so not one after another).
void start_nodes(const Options& o, std::vector<Node>& nodes, const std::vector<size_t>& which) {
  std::atomic<size_t> ready{0};
  for (size_t i : which) {
    keepers.emplace_back([&o, &nodes, &ready, i] {
      FjordOptions fo;
      fo.sets = node_sets(o, nodes, nodes[i].id);
      fo.start_timeout = std::chrono::seconds(60);
      fo.log_path = nodes[i].dir.string() + ".log";
      nodes[i].broker = start_fjord(o.fjord, nodes[i].dir, fo);
      ready.fetch_add(1);
      while (!done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    });
  }
  while (ready.load() < which.size()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

Broker all_of(const std::vector<Node>& nodes) {
  Broker b;
  for (const Node& n : nodes) b.bootstrap += (b.bootstrap.empty() ? "" : ",") + n.broker.bootstrap;
  return b;
}

// Metadata for one topic: (leader of partition 0, ISR size of every partition, minimum).
std::pair<int32_t, int> leader_and_min_isr(const Broker& b, const std::string& topic) {
  char err[256];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(b), err, sizeof(err));
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  std::pair<int32_t, int> out{-1, 0};
  if (rd_kafka_metadata(rk, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
    const rd_kafka_metadata_topic_t& mt = md->topics[0];
    int min_isr = INT32_MAX;
    for (int p = 0; p < mt.partition_cnt; ++p) {
      if (mt.partitions[p].id == 0) out.first = mt.partitions[p].leader;
      min_isr = std::min(min_isr, mt.partitions[p].isr_cnt);
    }
    out.second = mt.partition_cnt > 0 ? min_isr : 0;
  }
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
  rd_kafka_destroy(rk);
  return out;
}

bool wait_isr(const Broker& b, const std::string& topic, int size, std::chrono::seconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (leader_and_min_isr(b, topic).second >= size) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The same bytes written `copies` times at once (a thread per copy, as the brokers write them),
// each copy fdatasync'ed every MiB: what this disk does for replication factor `copies` on one
// machine. MB/s of the data (not of the copies).
double disk_alone_mb_s(const fs::path& dir, uint64_t bytes, int copies) {
  auto start = Clock::now();
  std::vector<std::thread> writers;
  for (int c = 0; c < copies; ++c) {
    writers.emplace_back([&dir, bytes, c] {
      std::vector<char> chunk(1 << 20, 'x');
      const fs::path path = dir / fmt::format("disk-alone-{}", c);
      int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
      for (uint64_t done = 0; done < bytes && fd >= 0; done += chunk.size()) {
        if (::write(fd, chunk.data(), chunk.size()) < 0) break;
        ::fdatasync(fd);
      }
      if (fd >= 0) ::close(fd);
    });
  }
  for (auto& w : writers) w.join();
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  for (int c = 0; c < copies; ++c) fs::remove(dir / fmt::format("disk-alone-{}", c));
  return static_cast<double>(bytes) / 1e6 / s;
}

struct Failover {
  double ms = -1;           // kill -> first acknowledgement after it
  double metadata_ms = -1;  // kill -> Metadata names a new leader
  int64_t failed = 0;       // records that failed (none should: they are retried)
};

// Kills the leader of `topic`'s partition 0 while a producer sends a record every millisecond.
Failover failover_once(const Options& o, std::vector<Node>& nodes, const std::string& topic) {
  Broker all = all_of(nodes);
  const int32_t leader = leader_and_min_isr(all, topic).first;
  Failover out;
  if (leader < 0) return out;
  struct State {
    std::atomic<int64_t> killed_us{0};
    std::atomic<int64_t> first_after_us{0};
    std::atomic<int64_t> failed{0};
  } state;
  rd_kafka_conf_t* conf = base_conf(all);
  // librdkafka 2.0 looks for a lost leader at topic.metadata.refresh.fast.interval.ms, but only
  // until a refresh succeeds: one that still names the dead leader (not fenced yet) ends it, and
  // the next look comes at topic.metadata.refresh.interval.ms. Both are short here, so that the
  // figure is the cluster's failover, not the client's polling.
  set_all(conf, {{"acks", "all"}, {"enable.idempotence", "true"}, {"linger.ms", "0"},
                 {"message.timeout.ms", "60000"}, {"retry.backoff.ms", "20"}, {"reconnect.backoff.ms", "20"},
                 {"reconnect.backoff.max.ms", "100"}, {"topic.metadata.refresh.interval.ms", "100"},
                 {"topic.metadata.refresh.fast.interval.ms", "50"}});
  rd_kafka_conf_set_opaque(conf, &state);
  rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* s = static_cast<State*>(opaque);
    if (m->err) {
      s->failed.fetch_add(1);
      return;
    }
    // The first record sent after the kill that is acknowledged.
    const int64_t sent = reinterpret_cast<int64_t>(m->_private);
    const int64_t killed = s->killed_us.load();
    if (killed > 0 && sent > killed && s->first_after_us.load() == 0) s->first_after_us.store(now_us());
  });
  char err[256];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  std::string value(100, 'x');
  std::thread metadata_watch;
  int64_t new_leader_us = 0;
  auto next = Clock::now();
  auto kill_at = Clock::now() + std::chrono::seconds(2);
  auto give_up = kill_at + std::chrono::seconds(60);
  while (Clock::now() < give_up) {
    if (state.killed_us.load() == 0 && Clock::now() >= kill_at) {
      Node& victim = nodes[static_cast<size_t>(leader)];
      state.killed_us.store(now_us());
      kill(victim.broker.pid, SIGKILL);
      waitpid(victim.broker.pid, nullptr, 0);
      victim.broker.reaped = true;
      // The brokers' side: Metadata (asked of the others every 10 ms) names a new leader.
      Broker others;
      for (const Node& n : nodes)
        if (n.id != leader) others.bootstrap += (others.bootstrap.empty() ? "" : ",") + n.broker.bootstrap;
      metadata_watch = std::thread([others, topic, leader, &new_leader_us] {
        auto until = Clock::now() + std::chrono::seconds(30);
        while (Clock::now() < until) {
          int32_t now_leader = leader_and_min_isr(others, topic).first;
          if (now_leader >= 0 && now_leader != leader) {
            new_leader_us = now_us();
            return;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      });
    }
    if (state.first_after_us.load() > 0 && Clock::now() > kill_at + std::chrono::milliseconds(200)) break;
    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                      RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(now_us())), RD_KAFKA_V_END);
    next += std::chrono::milliseconds(1);
    while (Clock::now() < next) rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 60000);
  rd_kafka_destroy(rk);
  if (metadata_watch.joinable()) metadata_watch.join();
  if (new_leader_us > 0) out.metadata_ms = static_cast<double>(new_leader_us - state.killed_us.load()) / 1000.0;
  if (state.first_after_us.load() > 0)
    out.ms = static_cast<double>(state.first_after_us.load() - state.killed_us.load()) / 1000.0;
  out.failed = state.failed.load();
  // The killed node comes back (a follower now) and catches up into the ISR.
  start_nodes(o, nodes, {static_cast<size_t>(leader)});
  if (!wait_isr(all_of(nodes), topic, 3, std::chrono::seconds(60))) fmt::print(stderr, "ISR did not recover\n");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "{} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--fjord") o.fjord = next();
    else if (a == "--dir") o.dir = next();
    else if (a == "--records") o.records = std::stoll(next());
    else if (a == "--size") o.size = std::stoul(next());
    else if (a == "--failovers") o.failovers = std::stoi(next());
    else if (a == "--session-ms") o.session_ms = std::stoi(next());
    else if (a == "--heartbeat-ms") o.heartbeat_ms = std::stoi(next());
    else if (a == "--keep") o.keep = true;
    else {
      fmt::print(stderr, "unknown argument {}\n", a);
      return 2;
    }
  }
  const fs::path root = o.dir / fmt::format("fjord-cluster-bench-{}", getpid());
  fs::create_directories(root);
  std::vector<Node> nodes(3);
  for (int i = 0; i < 3; ++i) {
    nodes[static_cast<size_t>(i)].id = i;
    nodes[static_cast<size_t>(i)].raft_port = free_port();
    nodes[static_cast<size_t>(i)].dir = root / fmt::format("node{}", i);
  }
  start_nodes(o, nodes, {0, 1, 2});
  Broker all = all_of(nodes);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // every broker registered

  fmt::print("cluster_bench: 3 nodes on one machine, data under {}\n", root.string());
  fmt::print("{:<34} {:>10} {:>10} {:>10} {:>8}\n", "case", "MB/s", "p50 ms", "p99 ms", "failed");
  const int partitions = 8;
  for (const char* acks : {"all", "1"}) {
    for (int rf : {1, 3}) {
      std::string topic = fmt::format("rf{}-acks{}", rf, acks);
      std::vector<std::pair<std::string, std::string>> configs;
      if (rf == 3) configs.emplace_back("min.insync.replicas", "2");
      if (!create_topic(all, topic, partitions, rf, configs)) return 1;
      if (rf == 3 && !wait_isr(all, topic, 3, std::chrono::seconds(30))) fmt::print(stderr, "ISR of {} not full\n", topic);
      ProduceResult r = produce(all, topic, o.records, o.size, acks, partitions);
      double mb = static_cast<double>(o.records) * static_cast<double>(o.size) / 1e6 / r.seconds;
      fmt::print("{:<34} {:>10.1f} {:>10.1f} {:>10.1f} {:>8}\n",
                 fmt::format("{} B, acks={}, RF {}, {} partitions", o.size, acks, rf, partitions), mb,
                 pct(r.latencies_us, 0.5) / 1000.0, pct(r.latencies_us, 0.99) / 1000.0, r.failed);
    }
  }
  const uint64_t bytes = static_cast<uint64_t>(o.records) * o.size;
  fmt::print("disk alone, same bytes, fdatasync per MiB: 1 copy {:.1f} MB/s, 3 copies at once {:.1f} MB/s of data\n",
             disk_alone_mb_s(root, bytes, 1), disk_alone_mb_s(root, bytes, 3));

  const std::string topic = "failover";
  if (!create_topic(all, topic, 1, 3, {{"min.insync.replicas", "2"}})) return 1;
  wait_isr(all, topic, 3, std::chrono::seconds(30));
  std::vector<double> times, metadata_times;
  for (int k = 0; k < o.failovers; ++k) {
    Failover f = failover_once(o, nodes, topic);
    fmt::print("failover {}: kill -9 of the leader -> new leader in Metadata {:.0f} ms, first acknowledged record "
               "{:.0f} ms ({} failed)\n",
               k + 1, f.metadata_ms, f.ms, f.failed);
    if (f.ms >= 0) times.push_back(f.ms);
    if (f.metadata_ms >= 0) metadata_times.push_back(f.metadata_ms);
  }
  auto spread = [](std::vector<double> v) {
    if (v.empty()) return std::string("-");
    std::sort(v.begin(), v.end());
    return fmt::format("min {:.0f} / median {:.0f} / max {:.0f} ms", v.front(), v[v.size() / 2], v.back());
  };
  fmt::print("failover over {} kill(s): new leader in Metadata {}; first acknowledged record {}\n"
             "  (broker.session.timeout.ms={}, heartbeats every {} ms: a broker whose process is gone is fenced "
             "when its heartbeat connection closes and its port refuses, without waiting out the session)\n",
             times.size(), spread(metadata_times), spread(times), o.session_ms, o.heartbeat_ms);
  for (Node& n : nodes) stop(n.broker);
  done.store(true);
  for (auto& t : keepers) t.join();
  if (!o.keep) fs::remove_all(root);
  return 0;
}
