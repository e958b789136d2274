#include "broker/listeners.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>

namespace fjord::broker {
namespace {

using asio::ip::tcp;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::set<std::string> names_of(const std::string& list) {
  std::set<std::string> out;
  std::string_view rest = list;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view one = rest.substr(0, comma);
    while (!one.empty() && std::isspace(static_cast<unsigned char>(one.front()))) one.remove_prefix(1);
    while (!one.empty() && std::isspace(static_cast<unsigned char>(one.back()))) one.remove_suffix(1);
    if (!one.empty()) out.insert(upper(one));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

bool is_wildcard(const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

// Kafka (KIP-797) lets two listeners share a port when one is on an IPv4 and the other on an
// IPv6 address; otherwise ports are unique.
bool may_share_port(const std::string& a, const std::string& b) {
  std::error_code ea, eb;
  auto x = asio::ip::make_address(a, ea);
  auto y = asio::ip::make_address(b, eb);
  return !ea && !eb && x.is_v4() != y.is_v4();
}

std::string describe(const ListenerEndpoint& l) { return fmt::format("{}://{}:{}", l.name, l.host, l.port); }

tl::expected<tcp::endpoint, std::string> resolve(const ListenerEndpoint& l) {
  std::error_code ec;
  auto address = asio::ip::make_address(l.host.empty() ? "0.0.0.0" : l.host, ec);
  if (!ec) return tcp::endpoint(address, l.port);
  asio::io_context resolve_ctx;
  tcp::resolver resolver(resolve_ctx);
  auto results = resolver.resolve(l.host, std::to_string(l.port), ec);
  if (ec || results.empty())
    return tl::unexpected(fmt::format("listener {}: cannot resolve host '{}': {}", describe(l), l.host, ec.message()));
  return results.begin()->endpoint();
}

// A name in the abstract unix socket namespace, per network namespace like the port itself: a
// second Fjord on the same address finds it taken even in the instant before either listens.
tl::expected<int, std::string> take_guard(const tcp::endpoint& at) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return tl::unexpected(fmt::format("socket(AF_UNIX): {}", std::strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string name = fmt::format("fjord-listener {}:{}", at.address().to_string(), at.port());
  std::memcpy(addr.sun_path + 1, name.data(), std::min(name.size(), sizeof(addr.sun_path) - 2));
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + std::min(name.size(), sizeof(addr.sun_path) - 2));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EADDRINUSE) return tl::unexpected(std::string("another Fjord broker listens there"));
    return tl::unexpected(fmt::format("cannot guard the address: {}", std::strerror(err)));
  }
  return fd;
}

// True when some socket (of any process) listens on `at`: binding without SO_REUSEPORT fails
// then, where this process's own SO_REUSEPORT sockets would quietly join the other's.
std::error_code probe(const tcp::endpoint& at) {
  asio::io_context ctx;
  tcp::acceptor probe(ctx);
  std::error_code ec;
  probe.open(at.protocol(), ec);
  if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) probe.bind(at, ec);
  return ec;
}

}  // namespace

tl::expected<std::vector<ListenerEndpoint>, std::string> plan_listeners(const BrokerConfig& config, bool cluster_mode) {
  auto listeners = parse_listeners(config.listeners());
  if (!listeners) return tl::unexpected("listeners: " + listeners.error());
  auto map = parse_protocol_map(*config.get("listener.security.protocol.map"));
  if (!map) return tl::unexpected("listener.security.protocol.map: " + map.error());
  std::map<std::string, std::string> protocol_of;
  for (auto& [name, protocol] : *map) protocol_of[upper(name)] = protocol;
  const std::set<std::string> controller_names = names_of(config.get("controller.listener.names").value_or(""));
  // As Kafka: without an explicit map a controller listener is PLAINTEXT.
  if (!config.is_set("listener.security.protocol.map"))
    for (const auto& name : controller_names) protocol_of.emplace(name, "PLAINTEXT");

  std::vector<ListenerEndpoint> out;
  std::set<std::string> seen;
  for (const Listener& l : *listeners) {
    const std::string name = upper(l.name);
    if (!seen.insert(name).second)
      return tl::unexpected(fmt::format("listeners: the name {} is used twice (each listener needs its own name)", name));
    auto it = protocol_of.find(name);
    if (it == protocol_of.end())
      return tl::unexpected(fmt::format("listeners: no security protocol for listener {} in "
                                        "listener.security.protocol.map",
                                        name));
    const std::string& protocol = it->second;
    if (protocol != "PLAINTEXT" && protocol != "SSL" && protocol != "SASL_PLAINTEXT" && protocol != "SASL_SSL")
      return tl::unexpected(fmt::format("listener {}: unknown security protocol {} (PLAINTEXT, SSL, SASL_PLAINTEXT or "
                                        "SASL_SSL)",
                                        name, protocol));
    if (controller_names.count(name)) continue;  // the quorum's: it binds the voter address itself
    if (protocol != "PLAINTEXT")
      return tl::unexpected(fmt::format("listener {}://{}:{}: security protocol {} is not supported by this Fjord "
                                        "(TLS and SASL are not implemented yet); refusing to start rather than "
                                        "serve it as plaintext",
                                        name, l.host, l.port, protocol));
    ListenerEndpoint e;
    e.name = name;
    e.protocol = protocol;
    e.host = l.host;
    e.port = l.port;
    for (const ListenerEndpoint& other : out) {
      if (e.port != 0 && other.port == e.port && !may_share_port(other.host, e.host))
        return tl::unexpected(fmt::format("listeners: {} and {} use the same port", describe(other), describe(e)));
    }
    e.advertised_host = is_wildcard(e.host) ? "" : e.host;
    e.advertised_port = e.port;
    out.push_back(std::move(e));
  }
  if (out.empty()) return tl::unexpected(std::string("listeners: no client listener (only controller listeners)"));

  if (auto advertised = config.get("advertised.listeners")) {
    auto parsed = parse_listeners(*advertised);
    if (!parsed) return tl::unexpected("advertised.listeners: " + parsed.error());
    std::set<std::string> named;
    for (const Listener& a : *parsed) {
      const std::string name = upper(a.name);
      if (!named.insert(name).second)
        return tl::unexpected(fmt::format("advertised.listeners: the name {} is used twice", name));
      if (controller_names.count(name)) continue;
      auto match = std::find_if(out.begin(), out.end(), [&](const ListenerEndpoint& e) { return e.name == name; });
      if (match == out.end())
        return tl::unexpected(fmt::format("advertised.listeners: {} is not a listener in listeners", name));
      if (a.host == "0.0.0.0" || a.host == "::")
        return tl::unexpected(fmt::format("advertised.listeners: {} advertises the non-routable address {}; clients "
                                          "need an address they can reach",
                                          name, a.host));
      match->advertised_host = a.host;
      match->advertised_port = a.port;
    }
  }

  if (cluster_mode && out.size() > 1) {
    if (auto inter = config.get("inter.broker.listener.name"); inter && !inter->empty()) {
      auto match = std::find_if(out.begin(), out.end(), [&](const ListenerEndpoint& e) { return e.name == upper(*inter); });
      if (match == out.end())
        return tl::unexpected(fmt::format("inter.broker.listener.name: {} is not a client listener in listeners", *inter));
    }
    return tl::unexpected(fmt::format("listeners: a cluster node serves one client listener for now ({} given); "
                                      "brokers register a single endpoint with the controller",
                                      out.size()));
  }
  return out;
}

BoundListener::~BoundListener() {
  acceptors_.clear();
  if (guard_fd_ >= 0) ::close(guard_fd_);
}

tl::expected<std::unique_ptr<BoundListener>, std::string> BoundListener::bind(Shards& shards,
                                                                              const ListenerEndpoint& listener) {
  auto at = resolve(listener);
  if (!at) return tl::unexpected(at.error());
  std::unique_ptr<BoundListener> bound(new BoundListener());
  auto in_use = [&](const std::string& why) {
    return tl::unexpected(fmt::format("cannot listen on {} ({}:{}): the address is in use: {}; is another broker "
                                      "running?",
                                      describe(listener), at->address().to_string(), at->port(), why));
  };
  if (at->port() != 0) {
    auto guard = take_guard(*at);
    if (!guard) return in_use(guard.error());
    bound->guard_fd_ = *guard;
    if (auto ec = probe(*at); ec == asio::error::address_in_use) {
      return in_use("another process listens there");
    } else if (ec) {
      return tl::unexpected(fmt::format("cannot listen on {}: {}", describe(listener), ec.message()));
    }
  }
  tcp::endpoint endpoint = *at;
  for (int i = 0; i < shards.count(); ++i) {
    auto acceptor = std::make_unique<tcp::acceptor>(shards.context(i));
    std::error_code ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->set_option(ReusePort(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec == asio::error::address_in_use) return in_use(ec.message());
    if (ec)
      return tl::unexpected(fmt::format("cannot listen on {} ({}:{}): {}", describe(listener),
                                        endpoint.address().to_string(), endpoint.port(), ec.message()));
    if (i == 0) {
      endpoint = acceptor->local_endpoint();  // port 0: the one picked, for the other shards
      if (at->port() == 0) {
        auto guard = take_guard(endpoint);
        if (!guard) return in_use(guard.error());
        bound->guard_fd_ = *guard;
      }
    }
    bound->acceptors_.push_back(std::move(acceptor));
  }
  bound->local_ = endpoint;
  return bound;
}

}  // namespace fjord::broker
