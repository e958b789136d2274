// Partition replication (Kafka's ISR protocol) for the partitions one shard owns. Lives on that
// shard; every call is made there.
//
// Leader side: every follower's fetch says how far its log is durable (a follower fetches from its
// log end only after that end is fdatasync'ed), so the high watermark, the minimum over the
// in-sync replicas, only covers records every one of them holds on disk. A follower that has not
// caught up for replica.lag.time.max.ms leaves the ISR, one that catches up joins it again, both
// through AlterPartition to the active controller; the ISR changes when the controller's
// PartitionRecord comes back through the metadata.
//
// Follower side: one fetcher per leader node, fetching all this shard's partitions that leader
// leads (Fetch v12 with replica_id). Before its first fetch in a new leader epoch a partition asks
// the leader where its own last epoch ended (OffsetForLeaderEpoch) and cuts what diverged.
#pragma once

#include <asio/awaitable.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "cluster/peer_client.h"
#include "metadata/image.h"
#include "protocol/generated/error_codes.h"
#include "storage/checkpoint.h"

namespace fjord::broker {

class ShardReplication {
 public:
  ShardReplication(Broker& broker, int shard);
  ~ShardReplication();
  ShardReplication(const ShardReplication&) = delete;
  ShardReplication& operator=(const ShardReplication&) = delete;

  // Starts the timer that shrinks ISRs.
  void start();
  // Fetchers and timers end (shutdown).
  void stop();

  // Brings (topic, partition) to its state in the current image: leads it, follows its leader,
  // or forgets it (gone from here, or a single replica).
  void refresh(const std::string& topic, int32_t partition);

  // Whether this node leads (topic, partition) as far as its replication is concerned, after a
  // refresh() now if the replication lags the current image (the posted refresh may still be on
  // its way). True for a partition with one replica that the image has led here.
  bool leads(const std::string& topic, int32_t partition);

  // Leader: `replica` fetched from `offset` (its durable log end) in `leader_epoch` (-1: not
  // said). NOT_LEADER_OR_FOLLOWER when this node does not lead the partition or `replica` does
  // not hold it, FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH when the epochs differ.
  protocol::ErrorCode follower_fetched(const std::string& topic, int32_t partition, int32_t replica,
                                       int32_t leader_epoch, int64_t offset, int64_t now_ms);

  // For tests and tools: the partitions this shard leads / follows.
  size_t leading() const;
  size_t following() const;

 private:
  struct Follower {
    int64_t end = -1;             // its durable log end offset, as its last fetch said
    int64_t caught_up_ms = 0;     // when it last had everything the leader had
    int64_t last_fetch_ms = 0;
    int64_t leader_end_at_last_fetch = -1;
  };
  struct Part {
    std::string topic;
    Uuid topic_id;
    int32_t partition = 0;
    metadata::PartitionState state;
    bool leader = false;
    // Leader side.
    std::map<int32_t, Follower> followers;
    int64_t epoch_start = 0;             // the log end when this leader epoch began
    std::vector<int32_t> pending_isr;    // an AlterPartition in flight asks for this ISR
    int64_t alter_retry_ms = 0;          // no new AlterPartition before this (after a failure)
    // Follower side.
    bool truncated = false;              // diverging records cut since following this leader epoch
    int64_t retry_ms = 0;                // no fetch before this (after an error)
  };
  using Key = storage::TopicPartition;

  storage::PartitionLog* log_of(const Part& part) const;
  void become_leader(Part& part, storage::PartitionLog& log, int64_t now);
  // The high watermark: the lowest durable end of the leader and the ISR (with the members an
  // AlterPartition in flight adds: they may be in it already).
  void advance_high_watermark(Part& part, storage::PartitionLog& log);
  void maybe_expand_isr(Part& part, int32_t replica, const storage::PartitionLog& log, int64_t now);
  void shrink_isrs(int64_t now);
  void alter_isr(Part& part, std::vector<int32_t> isr, int64_t now);
  asio::awaitable<void> send_alter(Key key, metadata::PartitionState asked, Uuid topic_id);
  // Starts the fetch loop for `leader`, or (`wake`) ends the long poll a running one is in, so
  // that a partition that just started following it is fetched at once.
  void ensure_fetcher(int32_t leader, bool wake);
  asio::awaitable<void> fetch_loop(int32_t leader);
  asio::awaitable<void> tick_loop();

  Broker& broker_;
  int shard_;
  bool stopped_ = false;
  bool refreshing_ = false;  // in refresh(): leads() answers from parts_ as they are
  std::map<Key, Part> parts_;
  struct Fetcher {
    cluster::PeerConnection* peer = nullptr;  // while it exists
    bool woken = false;                       // its call was cut short on purpose
  };
  std::map<int32_t, std::shared_ptr<Fetcher>> fetchers_;  // by leader, while its loop runs
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Posts refresh(topic, partition) to the partition's shard (no-op before replication starts).
void refresh_replication(Broker& broker, const std::string& topic, int32_t partition);

// On the partition's shard, for leader-side work (appends, markers, reads up to the high
// watermark, offsets lookups): NOT_LEADER_OR_FOLLOWER unless this node's replication leads the
// partition in the image's leader epoch. The image can name this node leader before the
// replication has taken over (become_leader), and a log written then would answer acks=all
// without its followers and stamp the previous leader epoch. NONE on a single node.
protocol::ErrorCode replication_leader_error(Broker& broker, const std::string& topic, int32_t partition);

}  // namespace fjord::broker
