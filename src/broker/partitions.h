// Reaching a partition's log from a request handler: the owning shard, the log (opened on first
// use if the topic's creation has not reached that shard yet), and waiting for durability.
#pragma once

#include <asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "broker/broker.h"
#include "metadata/image.h"
#include "storage/partition_log.h"

namespace fjord::broker {

// REQUIRES: called on the shard that owns (topic, partition). nullptr if it cannot be opened, or
// if this node holds no replica of it.
storage::PartitionLog* partition_log(Broker& broker, const metadata::TopicInfo& topic, int32_t partition);

// What a client request for (topic, partition) gets here before its log is touched: NONE if this
// node leads the partition, NOT_LEADER_OR_FOLLOWER if another node does or none does.
protocol::ErrorCode leader_error(const Broker& broker, const metadata::TopicInfo& topic, int32_t partition);

// For responses that tell a client where a partition's leader went (Produce v10+, Fetch v12+:
// current_leader and node_endpoints): fills `leader` and adds the leader's endpoint to `nodes`
// once.
template <typename LeaderIdAndEpoch, typename NodeEndpoint>
void hint_leader(const metadata::Image& image, const metadata::TopicInfo& topic, int32_t partition,
                 LeaderIdAndEpoch& leader, std::vector<NodeEndpoint>& nodes) {
  const metadata::PartitionState* state = topic.partition(partition);
  if (state == nullptr || state->leader < 0) return;
  leader.leader_id = state->leader;
  leader.leader_epoch = state->leader_epoch;
  for (const NodeEndpoint& n : nodes)
    if (n.node_id == state->leader) return;
  if (const metadata::BrokerInfo* b = image.broker(state->leader)) {
    NodeEndpoint& n = nodes.emplace_back();
    n.node_id = b->id;
    n.host = b->host;
    n.port = b->port;
    n.rack = b->rack;
  }
}

// Completes (on the log's shard) once every offset below `offset` is synced, or with nullopt
// after `timeout` (the sync itself goes on).
asio::awaitable<std::optional<storage::IoResult<>>> wait_durable_for(storage::PartitionLog& log, int64_t offset,
                                                                     std::chrono::milliseconds timeout);

// Completes (on the log's shard) once the high watermark reaches `offset` (NONE), with the error
// that ended the wait (the leadership moved), or with nullopt after `timeout`.
asio::awaitable<std::optional<protocol::ErrorCode>> wait_replicated_for(storage::PartitionLog& log, int64_t offset,
                                                                        std::chrono::milliseconds timeout);

int64_t now_ms();

// On the partition's shard: runs `append` on (topic, partition)'s log and calls `done` (on that
// shard) once what it appended is durable (and, when replicated, below the high watermark), or
// with the error that stopped it.
void append_durable(Broker& broker, std::string_view topic, int32_t partition,
                    const std::function<tl::expected<storage::AppendResult, protocol::ErrorCode>(storage::PartitionLog&)>& append,
                    std::function<void(protocol::ErrorCode)> done);

// Every shard's checkpoints, gathered on the calling shard; with `close_logs` each shard closes
// its logs first (and `all_closed` says whether all did).
asio::awaitable<storage::Checkpoints> gather_checkpoints(Broker& broker, bool close_logs, bool* all_closed);
// Gathers the checkpoints and writes them (on the controller shard, so that writes never
// overlap). DeleteRecords calls it so that a moved log start offset survives a crash.
asio::awaitable<storage::IoResult<>> write_checkpoints(Broker& broker);

}  // namespace fjord::broker
