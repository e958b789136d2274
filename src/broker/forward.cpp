#include "broker/forward.h"

#include <asio/co_spawn.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "broker/shards.h"
#include "protocol/generated/allocate_producer_ids_request.h"
#include "protocol/generated/allocate_producer_ids_response.h"
#include "protocol/generated/create_topics_request.h"
#include "protocol/generated/create_topics_response.h"

namespace fjord::broker {
namespace {

using namespace std::chrono_literals;
using protocol::ErrorCode;

constexpr auto kForwardTimeout = 10000ms;

}  // namespace

const metadata::BrokerInfo* remote_controller(const Broker& broker, const metadata::Image& image, ErrorCode* error) {
  *error = ErrorCode::NONE;
  if (broker.store.quorum() == nullptr || broker.store.can_commit()) return nullptr;
  const int32_t id = broker.store.controller_id();
  const metadata::BrokerInfo* c = id < 0 || id == broker.node_id ? nullptr : image.broker(id);
  if (c == nullptr) *error = ErrorCode::NOT_CONTROLLER;  // no leader now, or not reachable yet
  return c;
}

asio::awaitable<TopicResult> create_topic_via_controller(Broker& broker, NewTopic spec) {
  auto image = broker.store.image();
  ErrorCode error;
  const metadata::BrokerInfo* controller = remote_controller(broker, *image, &error);
  if (error != ErrorCode::NONE) co_return TopicResult{error, "the metadata quorum has no reachable leader now", nullptr};
  if (controller == nullptr) {
    auto create = [&broker, spec] { return broker.controller.create_topic(spec, false); };
    co_return co_await run_on(broker.controller_context(), std::move(create));
  }
  protocol::CreateTopicsRequest req;
  auto& t = req.topics.emplace_back();
  t.name = spec.name;
  t.num_partitions = spec.partitions;
  t.replication_factor = spec.replication_factor;
  for (const auto& [k, v] : spec.configs) {
    auto& c = t.configs.emplace_back();
    c.name = k;
    c.value = v;
  }
  req.timeout_ms = static_cast<int32_t>(kForwardTimeout.count());
  auto resp = co_await forward_to_controller<protocol::CreateTopicsResponse>(broker, req, 7);
  if (!resp) co_return TopicResult{ErrorCode::NOT_CONTROLLER, "the active controller did not answer", nullptr};
  if (resp->topics.size() != 1)
    co_return TopicResult{ErrorCode::UNKNOWN_SERVER_ERROR, "malformed CreateTopics response", nullptr};
  const auto& out = resp->topics.front();
  auto code = static_cast<ErrorCode>(out.error_code);
  if (code != ErrorCode::NONE) co_return TopicResult{code, out.error_message.value_or(""), nullptr};
  // The controller has committed it; the quorum brings it here within a heartbeat or so.
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int i = 0; i < 200; ++i) {
    if (auto made = broker.store.topic(spec.name))
      co_return TopicResult{ErrorCode::NONE, "", std::make_shared<const metadata::TopicInfo>(*made)};
    timer.expires_after(10ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return TopicResult{ErrorCode::LEADER_NOT_AVAILABLE, "the new topic has not reached this broker yet", nullptr};
}

namespace {

asio::awaitable<tl::expected<int64_t, ErrorCode>> next_producer_id_here(Broker& broker) {
  if (auto id = broker.controller.take_producer_id()) co_return *id;
  auto image = broker.store.image();
  ErrorCode error;
  const metadata::BrokerInfo* controller = remote_controller(broker, *image, &error);
  if (error != ErrorCode::NONE) co_return tl::unexpected(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS);
  if (controller == nullptr) {
    auto start = broker.controller.allocate_producer_ids(broker.node_id);
    if (!start) co_return tl::unexpected(start.error() == ErrorCode::NOT_CONTROLLER ? ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
                                                                                      : start.error());
    broker.controller.add_producer_id_block(*start, Controller::kProducerIdBlock);
  } else {
    protocol::AllocateProducerIdsRequest req;
    req.broker_id = broker.node_id;
    req.broker_epoch = image->broker(broker.node_id) ? image->broker(broker.node_id)->epoch : -1;
    auto resp = co_await forward_to_controller<protocol::AllocateProducerIdsResponse>(broker, req, 0);
    // Retriable for the client: InitProducerId is tried again.
    if (!resp || resp->error_code != 0) {
      spdlog::warn("no producer ids from controller {}: {}", controller->id,
                   !resp ? std::string("no answer")
                         : std::string(protocol::error_name(static_cast<ErrorCode>(resp->error_code))));
      co_return tl::unexpected(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS);
    }
    // Another call may have taken a block meanwhile: the newer block wins, the rest is unused.
    broker.controller.add_producer_id_block(resp->producer_id_start, resp->producer_id_len);
  }
  if (auto id = broker.controller.take_producer_id()) co_return *id;
  co_return tl::unexpected(ErrorCode::UNKNOWN_SERVER_ERROR);
}

}  // namespace

asio::awaitable<tl::expected<int64_t, ErrorCode>> next_producer_id(Broker& broker) {
  // The block lives on the controller thread.
  co_return co_await asio::co_spawn(broker.controller_context(), next_producer_id_here(broker), asio::use_awaitable);
}

}  // namespace fjord::broker
