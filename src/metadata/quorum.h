// The controller quorum: the metadata log replicated by Raft (Debian's libraft, the C library)
// among the voters of `controller.quorum.voters`. libraft runs on its own thread with its own libuv
// loop; committed entries reach the state machine on that thread, and callers on other threads
// hand proposals in by message.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "metadata/image.h"
#include "tl/expected.hpp"

namespace fjord::metadata {

struct Voter {
  int32_t id = -1;
  std::string host;
  int port = 0;
  std::string address() const { return host + ":" + std::to_string(port); }
};

// `controller.quorum.voters`: "1@host:9093,2@host:9094". Ids are unique and >= 0.
tl::expected<std::vector<Voter>, std::string> parse_voters(std::string_view text);

// One log entry: a batch of records applied together (8-byte aligned, as libraft wants).
Bytes encode_entry(const std::vector<Record>& records);
tl::expected<std::vector<Record>, std::string> decode_entry(ByteView entry);

// What the quorum replicates into. Every call comes on the quorum's thread, in log order.
class StateMachine {
 public:
  virtual ~StateMachine() = default;
  virtual void apply(const std::vector<Record>& records) = 0;
  // The whole state as bytes, and back (Raft snapshots).
  virtual Bytes snapshot() = 0;
  virtual tl::expected<void, std::string> restore(ByteView snapshot) = 0;
};

class RaftQuorum {
 public:
  struct Options {
    int32_t node_id = -1;
    std::vector<Voter> voters;
    std::string dir;  // libraft's files (created if missing)
    unsigned election_timeout_ms = 1000;
    unsigned heartbeat_timeout_ms = 100;
    unsigned snapshot_threshold = 1024;  // entries between snapshots
    unsigned snapshot_trailing = 128;
  };

  // Starts the quorum thread. The node must be one of the voters. A pristine directory is
  // bootstrapped with the voters (every voter does the same, so they agree).
  static tl::expected<std::unique_ptr<RaftQuorum>, std::string> start(Options options, StateMachine& machine);
  ~RaftQuorum();  // stops the thread
  RaftQuorum(const RaftQuorum&) = delete;
  RaftQuorum& operator=(const RaftQuorum&) = delete;

  // Proposes `records` as one entry. `done` runs on the quorum thread once the entry is applied
  // on this node (empty error), or with the reason it was not (not the leader, leadership lost,
  // shutting down). Callable from any thread.
  using Done = std::function<void(std::string error)>;
  void propose(std::vector<Record> records, Done done);

  // The leader's node id as this node last saw it, -1 when unknown.
  int32_t leader() const { return leader_.load(std::memory_order_acquire); }
  // True when this node leads and has applied everything committed before its term began, so
  // its state machine is current enough to decide on new records.
  bool leader_ready() const { return ready_.load(std::memory_order_acquire); }
  // True once a leader is known and this node has applied everything it knows to be committed:
  // its image is as current as the quorum's (give or take what is in flight).
  bool caught_up() const { return caught_up_.load(std::memory_order_acquire); }
  int32_t node_id() const { return options_.node_id; }
  uint64_t term() const { return term_.load(std::memory_order_acquire); }

  struct Impl;

 private:
  explicit RaftQuorum(Options options);

  Options options_;
  std::atomic<int32_t> leader_{-1};
  std::atomic<bool> ready_{false};
  std::atomic<bool> caught_up_{false};
  std::atomic<uint64_t> term_{0};
  std::unique_ptr<Impl> impl_;
};

}  // namespace fjord::metadata
