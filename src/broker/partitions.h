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

// REQUIRES: called on the shard that owns (topic, partition). nullptr if it cannot be opened.
storage::PartitionLog* partition_log(Broker& broker, const metadata::TopicInfo& topic, int32_t partition);

// Completes (on the log's shard) once every offset below `offset` is synced, or with nullopt
// after `timeout` (the sync itself goes on).
asio::awaitable<std::optional<storage::IoResult<>>> wait_durable_for(storage::PartitionLog& log, int64_t offset,
                                                                     std::chrono::milliseconds timeout);

int64_t now_ms();

// On the partition's shard: runs `append` on (topic, partition)'s log and calls `done` (on that
// shard) once what it appended is durable, or with the error that stopped it.
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
