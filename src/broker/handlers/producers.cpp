// InitProducerId: for idempotent producers a fresh producer id with epoch 0, from the blocks the
// controller records in the metadata log; for transactional ones, the transaction coordinator's
// answer (the id's producer id with a new epoch).
#include <spdlog/spdlog.h>

#include "broker/handlers/handlers.h"
#include "broker/shards.h"
#include "broker/forward.h"
#include "broker/transactions.h"

namespace fjord::broker {
using namespace protocol;

asio::awaitable<InitProducerIdResponse> handle_init_producer_id(RequestContext& ctx, InitProducerIdRequest& req) {
  Broker& broker = ctx.broker;
  InitProducerIdResponse resp;
  resp.producer_id = -1;
  resp.producer_epoch = -1;
  if (req.transactional_id) {
    if (req.transactional_id->empty()) {
      resp.error_code = code(ErrorCode::INVALID_REQUEST);  // Kafka's rule: an empty id is no id
      co_return resp;
    }
    auto home = co_await txn_home(broker, *req.transactional_id);
    if (!home) {
      resp.error_code = code(home.error());
      co_return resp;
    }
    std::string id = *req.transactional_id;
    int32_t partition = home->partition;
    int32_t timeout = req.transaction_timeout_ms;
    int64_t pid = req.producer_id;
    int16_t epoch = req.producer_epoch;
    auto start = [id, partition, timeout, pid, epoch](coordinator::TransactionCoordinator& c,
        std::function<void(coordinator::InitProducerIdResult)> done) {
      c.init_producer_id(partition, id, timeout, pid, epoch, std::move(done));
    };
    auto r = co_await on_txn_coordinator<coordinator::InitProducerIdResult>(broker, home->shard, std::move(start));
    // PRODUCER_FENCED is known from v4 (KIP-588); older clients get INVALID_PRODUCER_EPOCH.
    if (r.error == ErrorCode::PRODUCER_FENCED && ctx.api_version() < 4) r.error = ErrorCode::INVALID_PRODUCER_EPOCH;
    resp.error_code = code(r.error);
    if (r.error == ErrorCode::NONE) {
      resp.producer_id = r.producer_id;
      resp.producer_epoch = r.producer_epoch;
    }
    co_return resp;
  }
  // Without a transactional id the producer gets a new id whatever it asks for (Kafka's rule:
  // an idempotent producer bumps its epoch itself).
  auto id = co_await next_producer_id(broker);
  if (!id) {
    resp.error_code = code(id.error());
    co_return resp;
  }
  resp.producer_id = *id;
  resp.producer_epoch = 0;
  co_return resp;
}

}  // namespace fjord::broker
