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

void BrokerLiveness::suspect(int32_t broker_id, std::string why) {
  if (broker_id == broker_.node_id) return;
  const auto now = std::chrono::steady_clock::now();
  auto it = next_probe_.find(broker_id);
  if (it != next_probe_.end() && now < it->second) return;
  next_probe_[broker_id] = now + kProbeTimeout + kQuietAfterAlive;  // until this probe ends
  asio::co_spawn(broker_.controller_context(),
                 [self = shared_from_this(), broker_id, why = std::move(why)]() mutable -> asio::awaitable<void> {
                   co_await self->probe(broker_id, std::move(why));
                 },
                 asio::detached);
}

asio::awaitable<void> BrokerLiveness::probe(int32_t broker_id, std::string why) {
  std::string host;
  int32_t port = 0;
  int64_t epoch = -1;
  {
    auto image = broker_.store.image();
    const metadata::BrokerInfo* b = image->broker(broker_id);
    if (b == nullptr || b->fenced) co_return;
    host = b->host;
    port = b->port;
    epoch = b->epoch;
  }
  auto executor = co_await asio::this_coro::executor;
  std::error_code ec;
  tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(host, std::to_string(port), asio::redirect_error(asio::use_awaitable, ec));
  if (ec || endpoints.empty()) co_return;
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
  if (ec != asio::error::connection_refused) {
    next_probe_[broker_id] = std::chrono::steady_clock::now() + kQuietAfterAlive;
    co_return;  // listening, or no answer: it keeps its session
  }
  broker_.controller.fence_gone(broker_id, epoch,
                                fmt::format("{}, and nothing listens on {}:{} (connection refused)", why, host, port));
  next_probe_.erase(broker_id);
}

}  // namespace fjord::broker
