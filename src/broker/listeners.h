// Listeners: the client listeners of `listeners`, checked as Kafka checks them, and bound on every
// shard. Every listener is bound or the broker does not start; a security protocol Fjord does
// not implement is refused, never served as plaintext; an address another process listens on is
// an error at start, although the shards of this process share it (SO_REUSEPORT).
#pragma once

#include <asio/ip/tcp.hpp>

#include <memory>
#include <string>
#include <vector>

#include "base/config.h"
#include "broker/shards.h"
#include "tl/expected.hpp"

namespace fjord::broker {

// One client listener as this broker serves it.
struct ListenerEndpoint {
  std::string name;      // as in `listeners`, e.g. PLAINTEXT or CLIENT
  std::string protocol;  // its security protocol (listener.security.protocol.map)
  std::string host;      // to bind ("" or 0.0.0.0: every address)
  uint16_t port = 0;     // to bind (0: a free one)
  // What Metadata and FindCoordinator tell clients that connect here (advertised.listeners; the
  // bound address where it gives none or a wildcard).
  std::string advertised_host;
  int32_t advertised_port = 0;
};

// The client listeners of `config`, in the order of `listeners`: names unique and mapped to a
// security protocol, ports unique, advertised.listeners naming only listeners there are.
// Listeners named in controller.listener.names are left out: the metadata quorum listens on the
// voters' addresses itself. A cluster node serves one client listener (it registers one
// endpoint with the controller): more is refused there.
tl::expected<std::vector<ListenerEndpoint>, std::string> plan_listeners(const BrokerConfig& config, bool cluster_mode);

// A listener bound on every shard: one acceptor per shard, in shard order, plus what keeps other
// processes off its address while this one runs.
class BoundListener {
 public:
  ~BoundListener();
  BoundListener(const BoundListener&) = delete;
  BoundListener& operator=(const BoundListener&) = delete;

  // Binds `endpoint` on every shard. Fails when the address is in use by any other process
  // (another Fjord included), the host does not resolve, or the bind fails.
  static tl::expected<std::unique_ptr<BoundListener>, std::string> bind(Shards& shards, const ListenerEndpoint& endpoint);

  asio::ip::tcp::endpoint local_endpoint() const { return local_; }
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>>& acceptors() { return acceptors_; }

 private:
  BoundListener() = default;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
  asio::ip::tcp::endpoint local_;
  int guard_fd_ = -1;  // an abstract unix socket named after the address: held for life
};

}  // namespace fjord::broker
