#include "broker/server.h"

#include <sys/resource.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "broker/broker.h"
#include "broker/connection.h"
#include "broker/controller.h"
#include "metadata/store.h"

namespace fjord::broker {
namespace {

using asio::ip::tcp;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

asio::awaitable<void> accept_loop(Broker& broker, tcp::acceptor& acceptor) {
  for (;;) {
    std::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    auto conn = std::make_shared<Connection>(broker, std::move(socket));
    asio::co_spawn(acceptor.get_executor(), conn->run(), asio::detached);
  }
}

void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

int serve(const BrokerConfig& config) {
  auto started = std::chrono::steady_clock::now();
  raise_fd_limit();
  const std::string data_dir = config.data_dir();
  auto store = metadata::MetadataStore::open(data_dir, config.node_id());
  if (!store) {
    spdlog::error("cannot open metadata in {}: {}", data_dir, store.error());
    return 1;
  }
  if ((*store)->truncated_bytes() > 0)
    spdlog::warn("metadata log: cut {} bytes of a torn or corrupt tail", (*store)->truncated_bytes());

  int shard_count = config.num_shards();
  if (shard_count <= 0) shard_count = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Shards shards(shard_count);
  Controller controller(config, **store, data_dir);
  controller.reconcile_partition_dirs();

  auto listener = parse_listener(config.listeners());
  auto advertised = parse_listener(config.advertised_listeners());
  Broker broker{config, **store, controller, shards};
  broker.node_id = config.node_id();
  broker.max_request_bytes = config.get_int("socket.request.max.bytes");
  broker.idle_timeout = std::chrono::milliseconds(config.get_long("connections.max.idle.ms"));

  // One acceptor per shard on the same address. The first binds (port 0 picks a free port).
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::error_code ec;
  tcp::endpoint endpoint;
  {
    auto address = asio::ip::make_address(listener->host.empty() ? "0.0.0.0" : listener->host, ec);
    if (ec) {
      asio::io_context resolve_ctx;
      tcp::resolver resolver(resolve_ctx);
      auto results = resolver.resolve(listener->host, std::to_string(listener->port), ec);
      if (ec || results.empty()) {
        spdlog::error("listeners: cannot resolve host '{}': {}", listener->host, ec.message());
        return 1;
      }
      endpoint = results.begin()->endpoint();
    } else {
      endpoint = tcp::endpoint(address, listener->port);
    }
  }
  for (int i = 0; i < shard_count; ++i) {
    auto acceptor = std::make_unique<tcp::acceptor>(shards.context(i));
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->set_option(ReusePort(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      spdlog::error("cannot listen on {}:{}: {}", endpoint.address().to_string(), endpoint.port(), ec.message());
      return 1;
    }
    if (i == 0) endpoint = acceptor->local_endpoint();
    acceptors.push_back(std::move(acceptor));
  }

  broker.advertised_host = advertised->host;
  broker.advertised_port = advertised->port;
  if (broker.advertised_host.empty() || broker.advertised_host == "0.0.0.0" || broker.advertised_host == "::")
    broker.advertised_host = endpoint.address().is_unspecified() ? "127.0.0.1" : endpoint.address().to_string();
  if (!config.is_set("advertised.listeners") || broker.advertised_port == 0) broker.advertised_port = endpoint.port();

  for (int i = 0; i < shard_count; ++i)
    asio::co_spawn(shards.context(i), accept_loop(broker, *acceptors[static_cast<size_t>(i)]), asio::detached);

  asio::signal_set signals(shards.context(kControllerShard), SIGINT, SIGTERM);
  signals.async_wait([&](const std::error_code& error, int signal) {
    if (error) return;
    spdlog::info("received signal {}, shutting down", signal);
    for (auto& a : acceptors) {
      asio::post(a->get_executor(), [&a] {
        std::error_code ignored;
        a->close(ignored);
      });
    }
    shards.stop();
  });

  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  spdlog::info("Fjord broker {} ready on {}:{} (advertised {}:{}), {} shard(s), {} topic(s), data dir {}, started in {} ms",
               broker.node_id, endpoint.address().to_string(), endpoint.port(), broker.advertised_host,
               broker.advertised_port, shard_count, (*store)->image()->topics().size(), data_dir, elapsed.count());
  shards.run();
  spdlog::info("broker stopped");
  return 0;
}

}  // namespace fjord::broker
