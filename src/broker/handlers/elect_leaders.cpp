// ElectLeaders (KIP-460): preferred or unclean leader elections, run by the active controller
// (other brokers forward the request there).
#include "broker/forward.h"
#include "broker/handlers/handlers.h"
#include "broker/shards.h"

namespace fjord::broker {
using namespace protocol;

asio::awaitable<ElectLeadersResponse> handle_elect_leaders(RequestContext& ctx, ElectLeadersRequest& req) {
  Broker& broker = ctx.broker;
  ElectLeadersResponse resp;
  const int16_t version = ctx.api_version();
  // v0 knows preferred elections only.
  const int8_t type = version >= 1 ? req.election_type : 0;
  if (type != 0 && type != 1) {
    resp.error_code = code(ErrorCode::INVALID_REQUEST);
    co_return resp;
  }
  if (auto forwarded = co_await forward_to_controller<ElectLeadersResponse>(broker, req, version))
    co_return std::move(*forwarded);
  std::optional<std::vector<std::pair<std::string, int32_t>>> asked;
  if (req.topic_partitions) {
    asked.emplace();
    for (const auto& t : *req.topic_partitions)
      for (int32_t p : t.partitions) asked->emplace_back(t.topic, p);
  }
  auto work = [&broker, type, asked] {
    return broker.controller.elect_leaders(static_cast<cluster::ElectionType>(type), asked);
  };
  auto answers = co_await run_on(broker.controller_context(), std::move(work));
  if (!answers) {
    // v0 has no top-level error: the code goes on every partition asked for.
    resp.error_code = code(answers.error());
    if (version == 0 && asked) {
      for (const auto& [topic, p] : *asked) {
        if (resp.replica_election_results.empty() || resp.replica_election_results.back().topic != topic)
          resp.replica_election_results.emplace_back().topic = topic;
        auto& out = resp.replica_election_results.back().partition_result.emplace_back();
        out.partition_id = p;
        out.error_code = code(answers.error());
        out.error_message = std::nullopt;
      }
    }
    co_return resp;
  }
  for (const auto& a : *answers) {
    if (resp.replica_election_results.empty() || resp.replica_election_results.back().topic != a.topic)
      resp.replica_election_results.emplace_back().topic = a.topic;
    auto& out = resp.replica_election_results.back().partition_result.emplace_back();
    out.partition_id = a.partition;
    out.error_code = code(a.error);
    out.error_message = a.error == ErrorCode::NONE ? std::nullopt : std::optional<std::string>(a.message);
  }
  co_return resp;
}

}  // namespace fjord::broker
