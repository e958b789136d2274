// Reaching a consumer group's coordinator from a request handler: __consumer_offsets (created on
// first use, as Kafka does), the group's partition and shard, and calls that run on that shard.
#pragma once

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <memory>
#include <string>

#include "broker/broker.h"
#include "broker/controller.h"
#include "protocol/generated/error_codes.h"
#include "tl/expected.hpp"

namespace fjord::broker {

// Shard `shard`'s coordinator, writing to the __consumer_offsets partitions that shard owns.
std::unique_ptr<coordinator::GroupCoordinator> make_coordinator(Broker& broker, int shard);

// Replays every __consumer_offsets partition into its shard's coordinator (at start, before
// serving, on the starting thread). False if a partition cannot be read.
bool load_groups(Broker& broker);

// On `shard`, when this node starts (`leading`) or stops leading a replicated partition of a
// coordinator topic: its groups or transactions are dropped, and (leading) replayed from `log`
// (null: only dropped).
// Until that is done, its coordinator answers COORDINATOR_LOAD_IN_PROGRESS. Other topics: nothing.
void take_over_coordinator(Broker& broker, int shard, const std::string& topic, int32_t partition,
                           const storage::PartitionLog* log, bool leading);

// The node that coordinates the keys of `partition` of the coordinator topic `topic`: its leader
// (-1: none, or no such topic).
int32_t coordinator_node(const Broker& broker, std::string_view topic, int32_t partition);
// NONE if this node coordinates them, NOT_COORDINATOR if another does, COORDINATOR_NOT_AVAILABLE
// if none does now.
protocol::ErrorCode coordinator_error(const Broker& broker, std::string_view topic, int32_t partition);

struct GroupHome {
  int32_t partition = 0;  // of __consumer_offsets
  int shard = 0;
};

// Creates the compacted internal topic `spec` names (a coordinator's log) if it does not exist
// yet; its partition count, or COORDINATOR_NOT_AVAILABLE.
asio::awaitable<tl::expected<int32_t, protocol::ErrorCode>> ensure_internal_topic(Broker& broker, NewTopic spec);

// Creates __consumer_offsets if it does not exist yet; its partition count, or
// COORDINATOR_NOT_AVAILABLE.
asio::awaitable<tl::expected<int32_t, protocol::ErrorCode>> ensure_offsets_topic(Broker& broker);

// Where `group` lives, creating __consumer_offsets if needed.
asio::awaitable<tl::expected<GroupHome, protocol::ErrorCode>> group_home(Broker& broker, const std::string& group);

// Runs `start(*coord, done)` on `target` (coord's shard); the awaitable completes, back on the
// caller's executor, with what `done` is called with. `start` must copy what it keeps of anything
// it refers to before returning (the caller stays suspended until `done`).
template <typename Resp, typename Coordinator, typename Start>
asio::awaitable<Resp> call_coordinator(asio::io_context& target, Coordinator* coord, Start start) {  // not a coroutine
  auto initiate = [&target, coord, start = std::move(start)](auto handler) mutable {
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    asio::post(target, [coord, start = std::move(start), shared]() mutable {
      start(*coord, [shared](Resp resp) {
        auto home = asio::get_associated_executor(*shared);
        asio::post(home, [shared, resp = std::move(resp)]() mutable { (*shared)(std::move(resp)); });
      });
    });
  };
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Resp)>(std::move(initiate), asio::use_awaitable);
}

// The group coordinator of `shard`, as call_coordinator.
template <typename Resp, typename Start>
asio::awaitable<Resp> on_coordinator(Broker& broker, int shard, Start start) {  // not a coroutine
  return call_coordinator<Resp>(broker.shards.context(shard), (*broker.coordinators)[static_cast<size_t>(shard)].get(),
                                std::move(start));
}

}  // namespace fjord::broker
