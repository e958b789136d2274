#include "bench_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

namespace fs = std::filesystem;

namespace bench {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}

namespace {
// Nanoseconds on CPU from a task's schedstat (its first field): finer than stat's clock ticks,
// which a few-millisecond consume pass would round to nothing.
double schedstat_seconds(const fs::path& task) {
  std::ifstream in(task / "schedstat");
  double ns = 0;
  in >> ns;
  return ns / 1e9;
}
}  // namespace

double cpu_of_threads(const std::string& part) {
  double total = 0;
  for (const auto& t : fs::directory_iterator("/proc/self/task")) {
    std::ifstream comm(t.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name.find(part) != std::string::npos) total += schedstat_seconds(t.path());
  }
  return total;
}

double cpu_of_process(pid_t pid) {
  double total = 0;
  std::error_code ec;
  for (const auto& t : fs::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) total += schedstat_seconds(t.path());
  return total;
}

double pct(std::vector<int64_t> samples_us, double q) {
  if (samples_us.empty()) return 0;
  std::sort(samples_us.begin(), samples_us.end());
  size_t at = std::min(samples_us.size() - 1, static_cast<size_t>(q * static_cast<double>(samples_us.size())));
  return static_cast<double>(samples_us[at]) / 1000.0;
}

std::string default_fjord_binary() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return (self.parent_path().parent_path() / "fjord").string();
}

// The last few KiB of a broker's log, kept by the thread that drains it.
struct LogTail {
  static constexpr size_t kKeep = 16384;
  std::mutex mutex;
  std::string text;  // GUARDED_BY(mutex)
  void append(const char* data, size_t size) {
    std::lock_guard lock(mutex);
    text.append(data, size);
    if (text.size() > 2 * kKeep) text.erase(0, text.size() - kKeep);
  }
};

double Broker::cpu() const {
  if (pid > 0) return reaped ? 0 : cpu_of_process(pid);
  return cpu_of_threads("mock");
}

bool Broker::running() {
  if (pid <= 0) return mock != nullptr;
  if (reaped) return false;
  int status = 0;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == 0) return true;
  reaped = true;
  wait_status = r == pid ? status : 0;
  return false;
}

std::string Broker::exit_report() const {
  std::string how = !reaped                  ? "still running"
                    : WIFEXITED(wait_status)   ? fmt::format("exit status {}", WEXITSTATUS(wait_status))
                    : WIFSIGNALED(wait_status) ? fmt::format("signal {}", WTERMSIG(wait_status))
                                               : "unknown";
  std::string tail;
  if (log_tail) {
    std::lock_guard lock(log_tail->mutex);
    tail = log_tail->text.size() > 4096 ? log_tail->text.substr(log_tail->text.size() - 4096) : log_tail->text;
  }
  return fmt::format("fjord (pid {}): {}; the end of its log:\n{}", pid, how, tail);
}

int free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

Broker start_fjord(const std::string& binary, const fs::path& dir, const FjordOptions& options) {
  const int port = free_port();
  // Everything the child needs is built before fork: between fork and exec it may only call
  // async-signal-safe functions (this process may have other threads).
  std::vector<std::string> args = {binary, "serve", "--data-dir", dir.string(), "--listeners",
                                   fmt::format("PLAINTEXT://127.0.0.1:{}", port)};
  for (const std::string& kv : options.sets) {
    args.push_back("--set");
    args.push_back(kv);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) std::exit(1);
  const pid_t parent = getpid();
  auto started = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    dup2(pipefd[1], 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  if (pid < 0) {
    fmt::print(stderr, "cannot fork to start fjord\n");
    std::exit(1);
  }
  std::string log;
  char buf[4096];
  const auto deadline = started + options.start_timeout;
  while (log.find(" ready on ") == std::string::npos && Clock::now() < deadline) {
    pollfd p{pipefd[0], POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left))) <= 0) continue;
    ssize_t n = read(pipefd[0], buf, sizeof(buf));
    if (n <= 0) break;
    log.append(buf, static_cast<size_t>(n));
  }
  auto ready = Clock::now();
  if (log.find(" ready on ") == std::string::npos) {
    fmt::print(stderr, "fjord did not start within {} s:\n{}\n", options.start_timeout.count(), log);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    std::exit(1);
  }
  // Keep draining so the broker never blocks on a full pipe.
  FILE* copy = options.log_path.empty() ? nullptr : std::fopen(options.log_path.c_str(), "a");
  if (copy) std::fwrite(log.data(), 1, log.size(), copy);
  if (size_t end = log.find('\n', log.find(" ready on ")); end != std::string::npos) log.resize(end + 1);
  auto tail = std::make_shared<LogTail>();
  tail->append(log.data(), log.size());
  std::thread([fd = pipefd[0], copy, tail] {
    char b[4096];
    for (ssize_t n; (n = read(fd, b, sizeof(b))) > 0;) {
      tail->append(b, static_cast<size_t>(n));
      if (copy) std::fwrite(b, 1, static_cast<size_t>(n), copy);
    }
    if (copy) std::fclose(copy);
    close(fd);
  }).detach();
  Broker broker;
  broker.log_tail = tail;
  broker.bootstrap = fmt::format("127.0.0.1:{}", port);
  broker.pid = pid;
  broker.startup_log = std::move(log);
  broker.startup_ms = std::chrono::duration<double, std::milli>(ready - started).count();
  return broker;
}

Broker start_mock() {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  rd_kafka_mock_cluster_t* mock = rd_kafka_mock_cluster_new(rk, 1);
  Broker broker;
  broker.bootstrap = rd_kafka_mock_cluster_bootstraps(mock);
  broker.mock_owner = rk;
  broker.mock = mock;
  return broker;
}

void stop(Broker& broker) {
  if (broker.pid > 0 && !broker.running()) {
    fmt::print(stderr, "{}\n", broker.exit_report());
  } else if (broker.pid > 0) {
    kill(broker.pid, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (broker.running() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (broker.running()) {
      fmt::print(stderr, "fjord (pid {}) did not stop within 60 s of SIGTERM: killing it\n", broker.pid);
      kill(broker.pid, SIGKILL);
      waitpid(broker.pid, &broker.wait_status, 0);
      broker.reaped = true;
    }
  }
  broker.pid = -1;
  if (broker.mock) {
    rd_kafka_mock_cluster_destroy(broker.mock);
    rd_kafka_destroy(broker.mock_owner);
    broker.mock = nullptr;
    broker.mock_owner = nullptr;
  }
}

rd_kafka_conf_t* base_conf(const Broker& broker) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[256];
  rd_kafka_conf_set(conf, "bootstrap.servers", broker.bootstrap.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
  return conf;
}

bool create_topic(const Broker& broker, const std::string& topic, int partitions, int replication_factor,
                  const std::vector<std::pair<std::string, std::string>>& configs) {
  if (broker.mock)
    return rd_kafka_mock_topic_create(broker.mock, topic.c_str(), partitions, replication_factor) ==
           RD_KAFKA_RESP_ERR_NO_ERROR;
  char err[256];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(broker), err, sizeof(err));
  rd_kafka_NewTopic_t* t = rd_kafka_NewTopic_new(topic.c_str(), partitions, replication_factor, err, sizeof(err));
  for (const auto& [k, v] : configs) rd_kafka_NewTopic_set_config(t, k.c_str(), v.c_str());
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  // Thousands of partitions take a while on a debug build.
  rd_kafka_AdminOptions_set_request_timeout(options, 120000, err, sizeof(err));
  rd_kafka_AdminOptions_set_operation_timeout(options, 120000, err, sizeof(err));
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &t, 1, options, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 130000);
  std::string error = "no answer within 130 s";
  if (ev) {
    error.clear();
    if (rd_kafka_event_error(ev)) {
      error = rd_kafka_event_error_string(ev);
    } else if (const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(ev)) {
      size_t n = 0;
      const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &n);
      for (size_t i = 0; i < n; ++i)
        if (rd_kafka_topic_result_error(topics[i])) error = rd_kafka_topic_result_error_string(topics[i]);
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_NewTopic_destroy(t);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  if (!error.empty()) fmt::print(stderr, "creating topic {} ({} partitions): {}\n", topic, partitions, error);
  return error.empty();
}

namespace {
void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* r = static_cast<ProduceResult*>(opaque);
  if (m->err) {
    ++r->failed;
    return;
  }
  r->latencies_us.push_back(now_us() - reinterpret_cast<int64_t>(m->_private));
}
}  // namespace

ProduceResult produce(const Broker& b, const std::string& topic, int64_t records, size_t size, const char* acks,
                      int partitions, int rate_per_s, int keys) {
  ProduceResult result;
  result.latencies_us.reserve(static_cast<size_t>(records));
  rd_kafka_conf_t* conf = base_conf(b);
  char err[256];
  rd_kafka_conf_set(conf, "acks", acks, err, sizeof(err));
  rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
  rd_kafka_conf_set(conf, "batch.size", "1000000", err, sizeof(err));
  rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, sizeof(err));
  rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", "1048576", err, sizeof(err));
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &result);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  std::string value(size, 'x');
  char key[16];
  auto start = Clock::now();
  for (int64_t i = 0; i < records; ++i) {
    if (rate_per_s > 0) {
      auto due = start + std::chrono::microseconds(i * 1'000'000 / rate_per_s);
      while (Clock::now() < due) rd_kafka_poll(rk, 0);
    }
    int64_t t = now_us();
    std::memcpy(value.data(), &t, sizeof(t));
    size_t key_len = keys > 0 ? static_cast<size_t>(std::snprintf(key, sizeof(key), "k%09lld",
                                                                  static_cast<long long>(i % keys)))
                              : 0;
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(static_cast<int32_t>(i % partitions)),
                             RD_KAFKA_V_KEY((keys > 0 ? key : nullptr), key_len),
                             RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(t)), RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 1);
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 60000);
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  rd_kafka_destroy(rk);
  return result;
}

bool set_all(rd_kafka_conf_t* conf, const std::vector<std::pair<std::string, std::string>>& settings) {
  char err[512];
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      fmt::print(stderr, "{}={}: {}\n", key, value, err);
      return false;
    }
  }
  return true;
}

Child spawn_self(const std::string& argv0, std::vector<std::string> args) {
  args.insert(args.begin(), argv0);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) std::exit(1);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    dup2(p[1], 1);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    return Child{};
  }
  return Child{pid, p[0], {}};
}

void tell_parent(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = write(1, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(1);  // the parent is gone
    done += static_cast<size_t>(n);
  }
}

void read_lines(const std::vector<Child*>& children, int wait_ms, const OnLine& on_line) {
  std::vector<pollfd> fds;
  std::vector<size_t> owners;
  for (size_t i = 0; i < children.size(); ++i) {
    if (children[i]->fd < 0) continue;
    fds.push_back(pollfd{children[i]->fd, POLLIN, 0});
    owners.push_back(i);
  }
  if (fds.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    return;
  }
  if (poll(fds.data(), fds.size(), wait_ms) <= 0) return;
  char buf[65536];
  for (size_t k = 0; k < fds.size(); ++k) {
    if (!fds[k].revents) continue;
    Child& c = *children[owners[k]];
    ssize_t n = read(c.fd, buf, sizeof(buf));
    if (n <= 0) {
      close(c.fd);
      c.fd = -1;
      continue;
    }
    c.pending.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = c.pending.find('\n', start)) != std::string::npos; start = nl + 1)
      on_line(owners[k], c.pending.substr(start, nl - start));
    c.pending.erase(0, start);
  }
}

void end_children(const std::vector<Child*>& children, std::chrono::seconds grace, const OnLine& on_line) {
  for (Child* c : children)
    if (c->pid > 0) kill(c->pid, SIGTERM);
  const auto deadline = Clock::now() + grace;
  auto open = [&] { return std::any_of(children.begin(), children.end(), [](const Child* c) { return c->fd >= 0; }); };
  while (open() && Clock::now() < deadline) read_lines(children, 100, on_line);
  for (Child* c : children) {
    if (c->pid <= 0) continue;
    pid_t reaped = 0;
    while ((reaped = waitpid(c->pid, nullptr, WNOHANG)) == 0 && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (reaped == 0) {
      kill(c->pid, SIGKILL);
      waitpid(c->pid, nullptr, 0);
    }
    c->pid = -1;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
  }
}

int64_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  return 0;
}

}  // namespace bench
