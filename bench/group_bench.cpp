// group_bench: consumer-group figures for a Fjord broker (a real process writing to disk).
//   build/release/bench/group_bench [--fjord PATH] [--dir DIR] [--quick] [--only failover|commits|load]
//                                   [--broker-log FILE]
// 1. Failover: from a member's clean leave (SIGTERM: it closes its consumer, which commits and sends
//    LeaveGroup) or crash (SIGKILL: the coordinator learns of it only by session timeout) to the
//    first record a survivor consumes from a partition the victim owned, while a producer writes
//    steadily. Members are child processes (this program run with --member) that report to the
//    parent over a pipe.
// 2. Commit throughput with 100 groups, one AlterConsumerGroupOffsets request in flight per group;
//    Fjord fsyncs every commit before acknowledging it.
// 3. Coordinator load at start: 1,000,000 offset records (100,000 with --quick) in
//    __consumer_offsets, the broker stopped and started again; the broker's own "loaded ... in X ms"
//    and the wall time from exec to its "ready on" line.
// Prints figures only; nothing here passes or fails.
#include <librdkafka/rdkafka.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace fs = std::filesystem;
using namespace bench;

namespace {

struct Settings {
  std::string binary;  // fjord
  fs::path dir;
  bool quick = false;
  fs::path broker_log;  // where to append the brokers' logs, or empty
};

FjordOptions broker_options(const Settings& s, std::chrono::seconds start_timeout = std::chrono::seconds(20)) {
  return FjordOptions{{"group.initial.rebalance.delay.ms=0"}, start_timeout, s.broker_log};
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// ------------------------------------------------------------------------------- the member process

// A group member: subscribes, consumes, and reports to the parent on stdout (a pipe), one line each:
//   assigned <mono_us> <partition>...     after every rebalance callback: its whole assignment
//   consumed <partition> <offset> <mono_us>
//   closed                                after rd_kafka_consumer_close
namespace member {

volatile sig_atomic_t stop_requested = 0;

void on_sigterm(int) { stop_requested = 1; }

void tell_assignment(rd_kafka_t* rk) {
  std::string line = fmt::format("assigned {}", now_us());
  rd_kafka_topic_partition_list_t* parts = nullptr;
  if (rd_kafka_assignment(rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < parts->cnt; ++i) line += fmt::format(" {}", parts->elems[i].partition);
    rd_kafka_topic_partition_list_destroy(parts);
  }
  tell_parent(line + "\n");
}

void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void*) {
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  rd_kafka_error_t* error = nullptr;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (cooperative)
      error = rd_kafka_incremental_assign(rk, parts);
    else
      rd_kafka_assign(rk, parts);
  } else if (cooperative) {
    error = rd_kafka_incremental_unassign(rk, parts);
  } else {
    rd_kafka_assign(rk, nullptr);
  }
  if (error) rd_kafka_error_destroy(error);
  tell_assignment(rk);
}

int run(const std::string& bootstrap, const std::string& group, const std::string& topic,
        const std::string& session_ms, const std::string& strategy) {
  struct sigaction sa {};
  sa.sa_handler = on_sigterm;
  sigaction(SIGTERM, &sa, nullptr);
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // Auto-commit every 200 ms: a survivor resumes close to where a crashed member stopped.
  if (!set_all(conf, {{"bootstrap.servers", bootstrap},
                      {"group.id", group},
                      {"session.timeout.ms", session_ms},
                      {"partition.assignment.strategy", strategy},
                      {"enable.auto.commit", "true"},
                      {"auto.commit.interval.ms", "200"},
                      {"auto.offset.reset", "latest"},
                      {"fetch.wait.max.ms", "100"},
                      {"log_level", "0"}}))
    return 2;
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (!rk) {
    fmt::print(stderr, "member: {}\n", err);
    return 1;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  // The parent ends every member within minutes; this bounds a member it forgot.
  const auto deadline = Clock::now() + std::chrono::minutes(10);
  while (!stop_requested && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (!m->err) tell_parent(fmt::format("consumed {} {} {}\n", m->partition, m->offset, now_us()));
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);  // revokes (committing what it consumed) and sends LeaveGroup
  rd_kafka_destroy(rk);
  tell_parent("closed\n");
  return 0;
}

}  // namespace member

// ------------------------------------------------------------------------------------ failover

struct Member : Child {
  bool reported = false;
  std::vector<int32_t> assigned;
  int64_t assigned_us = 0;
};

Member spawn_member(std::vector<std::string> args) {
  args.insert(args.begin(), "--member");
  Member m;
  static_cast<Child&>(m) = spawn_self("group_bench", std::move(args));
  return m;
}

using OnConsumed = std::function<void(size_t member, int32_t partition, int64_t offset, int64_t at_us)>;

void handle_line(std::vector<Member>& members, size_t i, const std::string& line, const OnConsumed& on_consumed) {
  std::istringstream in(line);
  std::string word;
  in >> word;
  if (word == "assigned") {
    Member& m = members[i];
    m.reported = true;
    m.assigned.clear();
    in >> m.assigned_us;
    int32_t p = 0;
    while (in >> p) m.assigned.push_back(p);
  } else if (word == "consumed") {
    int32_t partition = -1;
    int64_t offset = -1, at = 0;
    if (in >> partition >> offset >> at) on_consumed(i, partition, offset, at);
  }
}

// Reads what the members report within `wait_ms`.
void pump(std::vector<Member>& members, int wait_ms, const OnConsumed& on_consumed) {
  read_lines(child_ptrs(members), wait_ms,
             [&](size_t i, const std::string& line) { handle_line(members, i, line, on_consumed); });
}

// SIGTERM to every member still running, then SIGKILL to any not gone within 20 s; reaps all.
void end_members(std::vector<Member>& members, const OnConsumed& on_consumed) {
  end_children(child_ptrs(members), std::chrono::seconds(20),
               [&](size_t i, const std::string& line) { handle_line(members, i, line, on_consumed); });
}

struct FailoverCase {
  std::string strategy;
  int session_ms;
  bool crash;
  int runs;
};

struct FailoverSample {
  double first_ms = 0;  // kill to the first record a survivor consumed from any of the victim's partitions
  double all_ms = 0;    // kill to when every one of the victim's partitions had been consumed again
  int64_t reread = 0;   // records the victim had consumed that a survivor consumed again
  int64_t skipped = 0;  // records after the victim's last that no survivor consumed (lost to the group)
};

std::optional<FailoverSample> failover_once(const Broker& broker, const std::string& topic, int partitions,
                                            const FailoverCase& c, const std::string& group) {
  constexpr size_t kMembers = 3;
  std::vector<Member> members;
  for (size_t i = 0; i < kMembers; ++i)
    members.push_back(spawn_member({broker.bootstrap, group, topic, std::to_string(c.session_ms), c.strategy}));
  const auto parts = static_cast<size_t>(partitions);
  OnConsumed ignore = [](size_t, int32_t, int64_t, int64_t) {};
  if (std::any_of(members.begin(), members.end(), [](const Member& m) { return m.pid <= 0; })) {
    fmt::print(stderr, "  group {}: cannot start the member processes\n", group);
    end_members(members, ignore);
    return std::nullopt;
  }
  std::vector<std::vector<int64_t>> last_offset(kMembers, std::vector<int64_t>(parts, -1));
  std::vector<std::vector<int64_t>> last_at(kMembers, std::vector<int64_t>(parts, 0));
  int64_t killed_at = 0;
  size_t victim = kMembers;
  std::set<int32_t> victim_partitions;
  std::map<int32_t, std::pair<int64_t, int64_t>> resumed;  // victim partition -> (mono_us, offset) of a survivor's first record
  OnConsumed on_consumed = [&](size_t m, int32_t p, int64_t offset, int64_t at) {
    if (m >= kMembers || p < 0 || p >= partitions) return;
    last_offset[m][static_cast<size_t>(p)] = offset;
    last_at[m][static_cast<size_t>(p)] = at;
    if (killed_at && m != victim && at > killed_at && victim_partitions.count(p) && !resumed.count(p))
      resumed[p] = {at, offset};
  };
  // Stable: every member owns partitions, together all of them once each, and has consumed from
  // each since it was assigned.
  auto stable = [&] {
    std::vector<int> owner(parts, -1);
    for (size_t i = 0; i < kMembers; ++i) {
      const Member& m = members[i];
      if (m.fd < 0 || !m.reported || m.assigned.empty()) return false;
      for (int32_t p : m.assigned) {
        if (p < 0 || p >= partitions || owner[static_cast<size_t>(p)] != -1) return false;
        owner[static_cast<size_t>(p)] = static_cast<int>(i);
        if (last_at[i][static_cast<size_t>(p)] <= m.assigned_us) return false;
      }
    }
    return std::count(owner.begin(), owner.end(), -1) == 0;
  };
  auto deadline = Clock::now() + std::chrono::milliseconds(c.session_ms) + std::chrono::seconds(60);
  while (!stable() && Clock::now() < deadline) pump(members, 100, on_consumed);
  if (!stable()) {
    fmt::print(stderr, "  group {}: the 3 members did not settle on an assignment within {} s\n", group,
               c.session_ms / 1000 + 60);
    for (size_t i = 0; i < kMembers; ++i) {
      const Member& m = members[i];
      std::string state = "no assignment yet";
      if (m.reported) {
        std::string consumed;
        for (int32_t p : m.assigned) consumed += last_at[i][static_cast<size_t>(p)] > m.assigned_us ? " yes" : " no";
        state = fmt::format("assigned [{}] {} ms ago, consumed from each since:{}", fmt::join(m.assigned, " "),
                            (now_us() - m.assigned_us) / 1000, consumed);
      }
      fmt::print(stderr, "    member {} (pid {}, {}): {}\n", i, m.pid, m.fd >= 0 ? "running" : "exited", state);
    }
    end_members(members, on_consumed);
    return std::nullopt;
  }
  // A second of steady consuming: several auto-commits.
  for (auto until = Clock::now() + std::chrono::seconds(1); Clock::now() < until;) pump(members, 50, on_consumed);

  victim = 0;
  for (size_t i = 1; i < kMembers; ++i)
    if (members[i].assigned.size() > members[victim].assigned.size()) victim = i;
  victim_partitions = std::set<int32_t>(members[victim].assigned.begin(), members[victim].assigned.end());
  killed_at = now_us();
  kill(members[victim].pid, c.crash ? SIGKILL : SIGTERM);
  deadline = Clock::now() + std::chrono::milliseconds(c.session_ms) + std::chrono::seconds(60);
  while (resumed.size() < victim_partitions.size() && Clock::now() < deadline) pump(members, 50, on_consumed);
  // Read the victim's last reports: where it stopped.
  for (auto until = Clock::now() + std::chrono::seconds(20); members[victim].fd >= 0 && Clock::now() < until;)
    pump(members, 50, on_consumed);
  end_members(members, on_consumed);
  if (resumed.size() < victim_partitions.size()) {
    fmt::print(stderr, "  group {}: {} of the victim's {} partitions not consumed again within {} s\n", group,
               victim_partitions.size() - resumed.size(), victim_partitions.size(), c.session_ms / 1000 + 60);
    return std::nullopt;
  }
  FailoverSample s;
  s.first_ms = 1e18;
  for (const auto& [p, first] : resumed) {
    double ms = static_cast<double>(first.first - killed_at) / 1000.0;
    s.first_ms = std::min(s.first_ms, ms);
    s.all_ms = std::max(s.all_ms, ms);
    const int64_t next = last_offset[victim][static_cast<size_t>(p)] + 1;
    s.reread += std::max<int64_t>(0, next - first.second);
    s.skipped += std::max<int64_t>(0, first.second - next);
  }
  return s;
}

struct ProducerStats {
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> failed{0};
  std::atomic<rd_kafka_resp_err_t> first_error{RD_KAFKA_RESP_ERR_NO_ERROR};
  void fail(rd_kafka_resp_err_t e) {
    ++failed;
    auto none = RD_KAFKA_RESP_ERR_NO_ERROR;
    first_error.compare_exchange_strong(none, e);
  }
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* stats = static_cast<ProducerStats*>(opaque);
  if (m->err)
    stats->fail(m->err);
  else
    ++stats->delivered;
}

// Produces `rate` records/s round-robin over the partitions until `stop` or `deadline`; each value
// starts with its send time.
void produce_steadily(const Broker& broker, const std::string& topic, int partitions, int rate,
                      const std::atomic<bool>& stop, Clock::time_point deadline, ProducerStats& stats) {
  rd_kafka_conf_t* conf = base_conf(broker);
  set_all(conf, {{"linger.ms", "5"}});
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &stats);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  std::string value(100, 'x');
  const auto start = Clock::now();
  for (int64_t i = 0; !stop && Clock::now() < deadline; ++i) {
    const auto due = start + std::chrono::microseconds(i * 1'000'000 / rate);
    while (Clock::now() < due && !stop) rd_kafka_poll(rk, 1);
    int64_t t = now_us();
    std::memcpy(value.data(), &t, sizeof(t));
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(static_cast<int32_t>(i % partitions)),
        RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e) stats.fail(e);
  }
  rd_kafka_flush(rk, 10000);
  rd_kafka_destroy(rk);
}

void failover_section(const Settings& s) {
  const std::string topic = "failover";
  const int partitions = 6;
  const int rate = 2000;
  std::vector<FailoverCase> cases;
  if (s.quick) {
    cases = {{"range", 6000, false, 1}, {"range", 6000, true, 1}, {"range", 45000, false, 1},
             {"cooperative-sticky", 6000, false, 1}, {"cooperative-sticky", 6000, true, 1}};
  } else {
    cases = {{"range", 6000, false, 3},  {"range", 6000, true, 3},  {"range", 45000, false, 2},
             {"range", 45000, true, 2},  {"cooperative-sticky", 6000, false, 3}, {"cooperative-sticky", 6000, true, 3}};
  }
  fmt::print("1. Failover: 3 member processes, a {}-partition topic, {} records/s produced throughout; members use\n"
             "   enable.auto.commit (every 200 ms), heartbeat.interval.ms=3000 (librdkafka's default), broker\n"
             "   group.initial.rebalance.delay.ms=0. From the kill of one member to the first record a survivor\n"
             "   consumed from a partition it owned (\"all\": until every one of its partitions was consumed again).\n"
             "   re-read: records the victim had consumed that survivors consumed again (median of the runs);\n"
             "   skipped: records after the victim's last that survivors did not consume (total of the runs).\n\n",
             partitions, rate);
  auto row = [](const std::string& label, const std::string& runs, const std::string& median_ms, const std::string& min_ms,
                const std::string& max_ms, const std::string& all_ms, const std::string& reread, const std::string& skipped) {
    fmt::print("| {:<46} | {:>4} | {:>9} | {:>7} | {:>7} | {:>10} | {:>7} | {:>7} |\n", label, runs, median_ms, min_ms,
               max_ms, all_ms, reread, skipped);
  };
  row("strategy, session.timeout.ms, how", "runs", "median ms", "min ms", "max ms", "all med ms", "re-read", "skipped");
  fmt::print("|{:-<48}|{:-<6}|{:-<11}|{:-<9}|{:-<9}|{:-<12}|{:-<9}|{:-<9}|\n", "", "", "", "", "", "", "", "");
  std::fflush(stdout);

  Broker broker = start_fjord(s.binary, s.dir / "failover", broker_options(s));
  if (!create_topic(broker, topic, partitions)) {
    stop(broker);
    return;
  }
  int64_t budget_ms = 60'000;
  for (const FailoverCase& c : cases) budget_ms += c.runs * (2 * c.session_ms + 200'000);
  std::atomic<bool> stop_producing{false};
  ProducerStats produced;
  const auto produce_start = Clock::now();
  std::thread producer([&] {
    produce_steadily(broker, topic, partitions, rate, stop_producing, produce_start + std::chrono::milliseconds(budget_ms),
                     produced);
  });
  std::this_thread::sleep_for(std::chrono::seconds(1));

  int case_no = 0;
  for (const FailoverCase& c : cases) {
    std::vector<double> first, all, reread;
    int64_t skipped = 0;
    for (int run = 0; run < c.runs && broker.running(); ++run) {
      auto sample = failover_once(broker, topic, partitions, c, fmt::format("failover-{}-{}", case_no, run));
      if (!sample) continue;
      first.push_back(sample->first_ms);
      all.push_back(sample->all_ms);
      reread.push_back(static_cast<double>(sample->reread));
      skipped += sample->skipped;
    }
    ++case_no;
    std::string label = fmt::format("{}, {} ms, {}", c.strategy, c.session_ms,
                                    c.crash ? "crash (SIGKILL)" : "leave (SIGTERM)");
    std::string runs = fmt::format("{}/{}", first.size(), c.runs);
    if (first.empty()) {
      row(label, runs, "-", "-", "-", "-", "-", "-");
    } else {
      auto ms = [](double v) { return fmt::format("{:.0f}", v); };
      row(label, runs, ms(median(first)), ms(*std::min_element(first.begin(), first.end())),
          ms(*std::max_element(first.begin(), first.end())), ms(median(all)), ms(median(reread)), std::to_string(skipped));
    }
    std::fflush(stdout);
    if (!broker.running()) break;  // stop() below says how it ended
  }
  stop_producing = true;
  producer.join();
  double seconds = std::chrono::duration<double>(Clock::now() - produce_start).count();
  fmt::print("   producer: {} records delivered in {:.0f} s ({:.0f}/s), {} failed{}\n\n", produced.delivered.load(), seconds,
             static_cast<double>(produced.delivered.load()) / seconds, produced.failed.load(),
             produced.failed ? fmt::format(" (first: {})", rd_kafka_err2str(produced.first_error)) : std::string());
  stop(broker);
}

// ------------------------------------------------------------------------------ commit throughput

// True if the AlterConsumerGroupOffsets answer carries no error for the group or any partition.
bool commit_succeeded(rd_kafka_event_t* ev) {
  if (rd_kafka_event_error(ev)) return false;
  const rd_kafka_AlterConsumerGroupOffsets_result_t* result = rd_kafka_event_AlterConsumerGroupOffsets_result(ev);
  if (!result) return false;
  size_t n = 0;
  const rd_kafka_group_result_t** groups = rd_kafka_AlterConsumerGroupOffsets_result_groups(result, &n);
  if (n == 0) return false;
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_group_result_error(groups[i])) return false;
    const rd_kafka_topic_partition_list_t* parts = rd_kafka_group_result_partitions(groups[i]);
    for (int j = 0; parts && j < parts->cnt; ++j)
      if (parts->elems[j].err) return false;
  }
  return true;
}

void submit_commit(rd_kafka_t* rk, rd_kafka_queue_t* q, const std::string& group, const std::string& topic,
                   const std::vector<std::pair<int32_t, int64_t>>& offsets, size_t tag, int timeout_ms) {
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
  for (const auto& [partition, offset] : offsets) rd_kafka_topic_partition_list_add(parts, topic.c_str(), partition)->offset = offset;
  rd_kafka_AlterConsumerGroupOffsets_t* request = rd_kafka_AlterConsumerGroupOffsets_new(group.c_str(), parts);
  rd_kafka_topic_partition_list_destroy(parts);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
  char err[256];
  rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, err, sizeof(err));
  rd_kafka_AdminOptions_set_opaque(options, reinterpret_cast<void*>(tag));
  rd_kafka_AlterConsumerGroupOffsets(rk, &request, 1, options, q);  // copies the request and options
  rd_kafka_AlterConsumerGroupOffsets_destroy(request);
  rd_kafka_AdminOptions_destroy(options);
}

struct CommitStats {
  int64_t ok = 0;
  int64_t failed = 0;
  std::vector<int64_t> latency_us;
};

// One client connection committing for `groups`, one request (one partition) in flight per group,
// until `end`; counts the answers that arrive between `from` and `end`.
CommitStats commit_loop(const Broker& broker, const std::string& topic, int partitions,
                        const std::vector<std::string>& groups, Clock::time_point from, Clock::time_point end) {
  CommitStats stats;
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(broker), err, sizeof(err));
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  std::vector<int64_t> sent_at(groups.size(), 0);
  std::vector<int64_t> next_offset(groups.size(), 0);
  auto submit = [&](size_t g) {
    sent_at[g] = now_us();
    submit_commit(rk, q, groups[g], topic, {{static_cast<int32_t>(g % static_cast<size_t>(partitions)), ++next_offset[g]}},
                  g, 30000);
  };
  for (size_t g = 0; g < groups.size(); ++g) submit(g);
  size_t outstanding = groups.size();
  const auto hard_deadline = end + std::chrono::seconds(40);
  while (outstanding > 0 && Clock::now() < hard_deadline) {
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 100);
    if (!ev) continue;
    const auto g = reinterpret_cast<size_t>(rd_kafka_event_opaque(ev));
    const bool ok = commit_succeeded(ev);
    rd_kafka_event_destroy(ev);
    --outstanding;
    const auto now = Clock::now();
    if (now >= from && now <= end && g < groups.size()) {
      if (ok) {
        ++stats.ok;
        stats.latency_us.push_back(now_us() - sent_at[g]);
      } else {
        ++stats.failed;
      }
    }
    if (now < end && g < groups.size()) {
      submit(g);
      ++outstanding;
    }
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  return stats;
}

void commits_section(const Settings& s) {
  const std::string topic = "commits";
  const int partitions = 6;
  const int groups = 100;
  const auto duration = std::chrono::seconds(s.quick ? 3 : 10);
  fmt::print("2. Commit throughput: {} groups, each with one AlterConsumerGroupOffsets request (one partition) in\n"
             "   flight at a time, for {} s after 1 s of warm-up; every commit is fsynced before it is acknowledged.\n\n",
             groups, duration.count());
  fmt::print("| {:<28} | {:>10} | {:>9} | {:>9} | {:>6} | {:>20} |\n", "clients", "commits/s", "p50 ms", "p99 ms",
             "failed", "broker CPU us/commit");
  fmt::print("|{:-<30}|{:-<12}|{:-<11}|{:-<11}|{:-<8}|{:-<22}|\n", "", "", "", "", "", "");
  std::fflush(stdout);
  Broker broker = start_fjord(s.binary, s.dir / "commits", broker_options(s));
  if (!create_topic(broker, topic, partitions)) {
    stop(broker);
    return;
  }
  for (int connections : {1, 10}) {
    std::vector<std::vector<std::string>> by_connection(static_cast<size_t>(connections));
    for (int g = 0; g < groups; ++g)
      by_connection[static_cast<size_t>(g % connections)].push_back(fmt::format("commits-{}-{}", connections, g));
    const auto from = Clock::now() + std::chrono::seconds(1);
    const auto end = from + duration;
    std::vector<CommitStats> results(by_connection.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < by_connection.size(); ++i)
      threads.emplace_back([&, i] { results[i] = commit_loop(broker, topic, partitions, by_connection[i], from, end); });
    std::this_thread::sleep_until(from);
    const double cpu0 = broker.cpu();
    std::this_thread::sleep_until(end);
    const double cpu = broker.cpu() - cpu0;
    for (std::thread& t : threads) t.join();
    CommitStats all;
    for (CommitStats& r : results) {
      all.ok += r.ok;
      all.failed += r.failed;
      all.latency_us.insert(all.latency_us.end(), r.latency_us.begin(), r.latency_us.end());
    }
    const double seconds = std::chrono::duration<double>(duration).count();
    fmt::print("| {:<28} | {:>10.0f} | {:>9.2f} | {:>9.2f} | {:>6} | {:>20.0f} |\n",
               fmt::format("{} admin client{}", connections, connections > 1 ? "s" : ""),
               static_cast<double>(all.ok) / seconds, pct(all.latency_us, 0.5), pct(all.latency_us, 0.99), all.failed,
               all.ok ? cpu * 1e6 / static_cast<double>(all.ok) : 0.0);
    std::fflush(stdout);
  }
  fmt::print("\n");
  stop(broker);
}

// ---------------------------------------------------------------------------- coordinator load

// Commits `groups` x `partitions` offsets, one request per group, `in_flight` requests at a time.
// Returns the number of partition commits that failed (or were never answered).
int64_t write_offsets(const Broker& broker, const std::string& topic, int partitions, int groups, int in_flight) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(broker), err, sizeof(err));
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  std::vector<std::pair<int32_t, int64_t>> offsets;
  int next = 0, outstanding = 0;
  int64_t failed = 0;
  auto submit = [&] {
    offsets.clear();
    for (int p = 0; p < partitions; ++p) offsets.emplace_back(p, next + p);
    submit_commit(rk, q, fmt::format("load-{}", next), topic, offsets, static_cast<size_t>(next), 120000);
    ++next;
    ++outstanding;
  };
  const auto deadline = Clock::now() + std::chrono::minutes(30);
  while (next < groups && outstanding < in_flight) submit();
  while (outstanding > 0 && Clock::now() < deadline) {
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 100);
    if (!ev) continue;
    if (!commit_succeeded(ev)) failed += partitions;
    rd_kafka_event_destroy(ev);
    --outstanding;
    if (next < groups) submit();
  }
  failed += static_cast<int64_t>(outstanding + (groups - next)) * partitions;
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  return failed;
}

void load_section(const Settings& s) {
  const std::string topic = "load";
  const int partitions = 1000;
  const int groups = s.quick ? 100 : 1000;
  const int64_t records = static_cast<int64_t>(groups) * partitions;
  fmt::print("3. Coordinator load at start: {} groups x {} partitions = {} offset commits, each its own record\n"
             "   in __consumer_offsets (not compacted), written with AlterConsumerGroupOffsets (one request per\n"
             "   group); the broker stopped with SIGTERM and started again.\n\n",
             groups, partitions, records);
  std::fflush(stdout);
  Broker broker = start_fjord(s.binary, s.dir / "load", broker_options(s, std::chrono::seconds(600)));
  if (!create_topic(broker, topic, partitions)) {
    stop(broker);
    return;
  }
  const auto write_start = Clock::now();
  const int64_t failed = write_offsets(broker, topic, partitions, groups, 8);
  const double write_s = std::chrono::duration<double>(Clock::now() - write_start).count();
  fmt::print("   written in {:.1f} s ({:.0f} records/s), {} failed\n", write_s, static_cast<double>(records - failed) / write_s,
             failed);
  const double first_start_ms = broker.startup_ms;
  stop(broker);

  Broker again = start_fjord(s.binary, s.dir / "load", broker_options(s, std::chrono::seconds(600)));
  std::smatch m;
  static const std::regex loaded(
      R"(loaded (\d+) group\(s\) from (\d+) record\(s\) \((\d+) bytes\) of __consumer_offsets in (\d+) ms)");
  static const std::regex started(R"(started in (\d+) ms)");
  if (std::regex_search(again.startup_log, m, loaded)) {
    fmt::print("   broker: loaded {} groups from {} records ({:.1f} MB) in {} ms\n", m[1].str(), m[2].str(),
               std::stod(m[3].str()) / 1e6, m[4].str());
  } else {
    fmt::print("   broker: no \"loaded ... of __consumer_offsets\" line in its startup log\n");
  }
  if (std::regex_search(again.startup_log, m, started))
    fmt::print("   broker: started in {} ms (its own figure)\n", m[1].str());
  fmt::print("   wall time from exec to \"ready on\": {:.0f} ms (the first start, on an empty data dir: {:.0f} ms)\n\n",
             again.startup_ms, first_start_ms);
  stop(again);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "--member") {
    if (argc != 7) return 2;
    return member::run(argv[2], argv[3], argv[4], argv[5], argv[6]);
  }
  Settings s;
  s.binary = default_fjord_binary();
  s.dir = fs::current_path() / "group-bench-data";
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--fjord" && i + 1 < argc) {
      s.binary = argv[++i];
    } else if (a == "--dir" && i + 1 < argc) {
      s.dir = argv[++i];
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--broker-log" && i + 1 < argc) {
      s.broker_log = fs::absolute(argv[++i]);
    } else if (a == "--quick") {
      s.quick = true;
    } else {
      fmt::print(stderr, "usage: {} [--fjord PATH] [--dir DIR] [--quick] [--only failover|commits|load] [--broker-log FILE]\n",
                 argv[0]);
      return 2;
    }
  }
  fs::remove_all(s.dir);
  fs::create_directories(s.dir);
  fmt::print("group_bench: Fjord {} (data in {}), librdkafka {}{}\n\n", s.binary, s.dir.string(), rd_kafka_version_str(),
             s.quick ? " (quick)" : "");
  std::fflush(stdout);
  if (only.empty() || only == "failover") failover_section(s);
  if (only.empty() || only == "commits") commits_section(s);
  if (only.empty() || only == "load") load_section(s);
  fs::remove_all(s.dir);
  return 0;
}
