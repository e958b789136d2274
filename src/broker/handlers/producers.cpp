// InitProducerId for idempotent producers: a fresh producer id with epoch 0, from the blocks the
// controller records in the metadata log.
#include <spdlog/spdlog.h>

#include "broker/handlers/handlers.h"
#include "broker/shards.h"

namespace fjord::broker {
using namespace protocol;

asio::awaitable<InitProducerIdResponse> handle_init_producer_id(RequestContext& ctx, InitProducerIdRequest& req) {
  Broker& broker = ctx.broker;
  InitProducerIdResponse resp;
  resp.producer_id = -1;
  resp.producer_epoch = -1;
  if (req.transactional_id) {
    // An empty id is no id (Kafka's rule); a real one needs the transaction coordinator.
    resp.error_code = code(ErrorCode::INVALID_REQUEST);
    spdlog::debug("InitProducerId with transactional id '{}' refused: transactions are not served yet",
                  *req.transactional_id);
    co_return resp;
  }
  // Without a transactional id the producer gets a new id whatever it asks for (Kafka's rule:
  // an idempotent producer bumps its epoch itself).
  auto id = co_await run_on(broker.controller_context(), [&broker] { return broker.controller.next_producer_id(); });
  if (!id) {
    resp.error_code = code(id.error());
    co_return resp;
  }
  resp.producer_id = *id;
  resp.producer_epoch = 0;
  co_return resp;
}

}  // namespace fjord::broker
