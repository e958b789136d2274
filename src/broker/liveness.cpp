#include "broker/liveness.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "broker/broker.h"

namespace fjord::broker {

using asio::ip::tcp;

void BrokerLiveness::suspect(int32_t broker_id, std::string why, bool repeatable) {
  if (broker_id == broker_.node_id) return;
  if (in_flight_[broker_id]) {
    if (!repeatable) again_[broker_id] = std::move(why);
    return;
  }
  if (auto it = quiet_until_.find(broker_id);
      repeatable && it != quiet_until_.end() && std::chrono::steady_clock::now() < it->second)
    return;
  in_flight_[broker_id] = true;
  asio::co_spawn(broker_.controller_context(),
                 // `why` stays in the closure, which lives as long as the coroutine (no by-value
                 // coroutine parameters: see shards.h).
                 [self = shared_from_this(), broker_id, why = std::move(why)]() -> asio::awaitable<void> {
                   co_await self->probe(broker_id, why);
                 },
                 asio::detached);
}

asio::awaitable<void> BrokerLiveness::probe(int32_t broker_id, const std::string& why) {
  std::string host;
  int32_t port = 0;
  int64_t epoch = -1;
  {
    auto image = broker_.store.image();
    const metadata::BrokerInfo* b = image->broker(broker_id);
    if (b == nullptr || b->fenced) {
      in_flight_[broker_id] = false;
      co_return;
    }
    host = b->host;
    port = b->port;
    epoch = b->epoch;
  }
  auto executor = co_await asio::this_coro::executor;
  std::error_code ec;
  tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(host, std::to_string(port), asio::redirect_error(asio::use_awaitable, ec));
  if (ec || endpoints.empty()) {
    in_flight_[broker_id] = false;
    co_return;
  }
  // Shared with the deadline's handler, which may run after this coroutine is done.
  auto socket = std::make_shared<tcp::socket>(executor);
  asio::steady_timer deadline(executor);
  deadline.expires_after(kProbeTimeout);
  deadline.async_wait([socket](const std::error_code& e) {
    if (e) return;
    std::error_code ignored;
    socket->cancel(ignored);
  });
  co_await socket->async_connect(*endpoints.begin(), asio::redirect_error(asio::use_awaitable, ec));
  deadline.cancel();
  in_flight_[broker_id] = false;
  if (ec != asio::error::connection_refused) {
    quiet_until_[broker_id] = std::chrono::steady_clock::now() + kQuietAfterAlive;
    // Listening, or no answer: it keeps its session, unless its connection closed meanwhile.
    if (auto again = again_.find(broker_id); again != again_.end()) {
      std::string next = std::move(again->second);
      again_.erase(again);
      suspect(broker_id, std::move(next));
    }
    co_return;
  }
  again_.erase(broker_id);
  broker_.controller.fence_gone(broker_id, epoch,
                                fmt::format("{}, and nothing listens on {}:{} (connection refused)", why, host, port));
  quiet_until_.erase(broker_id);
}

}  // namespace fjord::broker
