// Helpers shared by the client benchmarks (produce_consume_bench, group_bench): start and stop a
// Fjord broker as a child process, or librdkafka's in-memory mock cluster; librdkafka configs;
// topic creation; clocks, CPU time and percentiles.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

// Microseconds on the monotonic clock: comparable between the processes of one machine.
int64_t now_us();

// CPU seconds of the threads of this process whose name contains `part` (the mock cluster's thread).
double cpu_of_threads(const std::string& part);

// CPU seconds of a process's live threads (from schedstat, in nanoseconds).
double cpu_of_process(pid_t pid);

// The q-quantile (0..1) of samples in microseconds, in milliseconds.
double pct(std::vector<int64_t> samples_us, double q);

// The Fjord binary a benchmark uses when not told: <build>/fjord, for a benchmark in <build>/bench/.
std::string default_fjord_binary();

struct FjordOptions {
  std::vector<std::string> sets;  // key=value pairs, each passed as `--set key=value`
  std::chrono::seconds start_timeout{20};
  std::filesystem::path log_path;  // where to append the broker's log; empty: discard it
};

struct LogTail;

// A broker under test: a Fjord child process (pid > 0) or a mock cluster owned by this process.
struct Broker {
  std::string bootstrap;
  pid_t pid = -1;
  bool reaped = false;  // Fjord has exited and been waited for: its pid must not be signalled
  int wait_status = 0;  // from waitpid, once reaped
  rd_kafka_t* mock_owner = nullptr;
  rd_kafka_mock_cluster_t* mock = nullptr;
  std::string startup_log;  // Fjord's log up to and including its "ready on" line
  double startup_ms = 0;    // from fork + exec to the "ready on" line
  std::shared_ptr<LogTail> log_tail;

  double cpu() const;  // CPU seconds the broker has used so far
  // False once Fjord has exited (it is then reaped); a mock is always running.
  bool running();
  // How Fjord ended ("exit status 1", "signal 6") and the last lines of its log.
  std::string exit_report() const;
};

// Starts Fjord on a free loopback port with its data in `dir`; exits the program if it is not
// ready within options.start_timeout. The broker gets SIGTERM if this process dies.
Broker start_fjord(const std::string& binary, const std::filesystem::path& dir, const FjordOptions& options = {});
Broker start_mock();

// SIGTERM and wait for Fjord's clean shutdown (SIGKILL after a minute); says so on stderr if it
// had already exited. Destroys a mock cluster.
void stop(Broker& broker);

// A config with bootstrap.servers and quiet logging; rd_kafka_new takes ownership of it.
rd_kafka_conf_t* base_conf(const Broker& broker);

// Creates a topic and waits for the answer; prints why on failure.
bool create_topic(const Broker& broker, const std::string& topic, int partitions, int replication_factor = 1,
                  const std::vector<std::pair<std::string, std::string>>& configs = {});
// A loopback port free now.
int free_port();

struct ProduceResult {
  double seconds = 0;
  std::vector<int64_t> latencies_us;  // per record, from produce() to its delivery report
  int failed = 0;
};

// Produces `records` values of `size` bytes (the send time in the first 8) round-robin over
// `partitions`, with `acks`, as fast as the client goes or at `rate_per_s`; keys "k<n>" over `keys`
// distinct keys when keys > 0, else none.
ProduceResult produce(const Broker& b, const std::string& topic, int64_t records, size_t size, const char* acks,
                      int partitions, int rate_per_s = 0, int keys = 0);

// Sets each key=value on `conf`; prints the first one librdkafka refuses and returns false.
bool set_all(rd_kafka_conf_t* conf, const std::vector<std::pair<std::string, std::string>>& settings);

// Client processes: this program re-executed (exec of /proc/self/exe, not only forked: the parent
// has librdkafka threads) with `args`, reporting to the parent in lines on its stdout, a pipe.
// A child dies with its parent.
struct Child {
  pid_t pid = -1;       // -1 once reaped
  int fd = -1;          // read end of its report pipe; -1 after end of file
  std::string pending;  // an incomplete line
};
Child spawn_self(const std::string& argv0, std::vector<std::string> args);
// In a child: writes `line` whole to the parent; exits at once if the parent is gone.
void tell_parent(const std::string& line);

using OnLine = std::function<void(size_t child, const std::string& line)>;
// Reads what the children report within `wait_ms`, a line at a time.
void read_lines(const std::vector<Child*>& children, int wait_ms, const OnLine& on_line);
// SIGTERM to every child still running, reading their last lines; SIGKILL to any not gone within
// `grace`; reaps all.
void end_children(const std::vector<Child*>& children, std::chrono::seconds grace, const OnLine& on_line);
template <typename T>
std::vector<Child*> child_ptrs(std::vector<T>& children) {
  std::vector<Child*> out;
  for (T& c : children) out.push_back(&c);
  return out;
}

// The resident set size of a process, in KiB (0 when it is gone).
int64_t rss_kib(pid_t pid);

}  // namespace bench
