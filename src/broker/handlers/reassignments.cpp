// AlterPartitionReassignments (KIP-455): the active controller starts, replaces or cancels moves
// of partitions to other replicas (other brokers forward the request there);
// ListPartitionReassignments: the moves in progress, from this node's metadata image.
#include <set>

#include "broker/forward.h"
#include "broker/handlers/handlers.h"
#include "broker/shards.h"

namespace fjord::broker {
using namespace protocol;

asio::awaitable<AlterPartitionReassignmentsResponse> handle_alter_partition_reassignments(
    RequestContext& ctx, AlterPartitionReassignmentsRequest& req) {
  Broker& broker = ctx.broker;
  if (auto forwarded = co_await forward_to_controller<AlterPartitionReassignmentsResponse>(broker, req, ctx.api_version()))
    co_return std::move(*forwarded);
  AlterPartitionReassignmentsResponse resp;
  resp.error_message = std::nullopt;
  std::set<std::string> names;
  for (const auto& t : req.topics) {
    if (!names.insert(t.name).second) {
      resp.error_code = code(ErrorCode::INVALID_REQUEST);
      resp.error_message = "Duplicate topic " + t.name + " in the request.";
      co_return resp;
    }
  }
  for (const auto& t : req.topics) {
    auto& tout = resp.responses.emplace_back();
    tout.name = t.name;
    for (const auto& p : t.partitions) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = p.partition_index;
      pout.error_message = std::nullopt;
      auto work = [&broker, name = t.name, partition = p.partition_index, target = p.replicas] {
        return broker.controller.reassign_partition(name, partition, target);
      };
      TopicResult result = co_await run_on(broker.controller_context(), std::move(work));
      if (result.error == ErrorCode::NOT_CONTROLLER) {
        resp.error_code = code(result.error);
        resp.error_message = result.message;
        resp.responses.clear();
        co_return resp;
      }
      pout.error_code = code(result.error);
      if (!result.ok()) pout.error_message = result.message;
    }
  }
  co_return resp;
}

asio::awaitable<ListPartitionReassignmentsResponse> handle_list_partition_reassignments(
    RequestContext& ctx, ListPartitionReassignmentsRequest& req) {
  auto image = ctx.broker.store.image();
  ListPartitionReassignmentsResponse resp;
  resp.error_message = std::nullopt;
  auto add = [&resp](const metadata::TopicInfo& topic, int32_t partition) {
    const metadata::PartitionState* state = topic.partition(partition);
    if (state == nullptr || !state->reassigning()) return;
    if (resp.topics.empty() || resp.topics.back().name != topic.name) resp.topics.emplace_back().name = topic.name;
    auto& out = resp.topics.back().partitions.emplace_back();
    out.partition_index = partition;
    out.replicas = state->replicas;
    out.adding_replicas = state->adding;
    out.removing_replicas = state->removing;
  };
  if (req.topics) {
    for (const auto& t : *req.topics) {
      const metadata::TopicInfo* topic = image->find(t.name);
      if (topic == nullptr) continue;  // Kafka leaves out what does not exist
      for (int32_t p : t.partition_indexes) add(*topic, p);
    }
  } else {
    for (const auto& [name, topic] : image->topics())
      for (int32_t p = 0; p < topic->partitions; ++p) add(*topic, p);
  }
  co_return resp;
}

}  // namespace fjord::broker
