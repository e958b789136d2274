#include "broker/membership.h"

#include "broker/liveness.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "cluster/peer_client.h"
#include "protocol/generated/broker_heartbeat_request.h"
#include "protocol/generated/broker_heartbeat_response.h"
#include "protocol/generated/broker_registration_request.h"
#include "protocol/generated/broker_registration_response.h"

namespace fjord::broker {
namespace {

using namespace std::chrono_literals;
using protocol::ErrorCode;

// What one attempt got: the error, and for registrations the epoch.
struct Answer {
  ErrorCode error = ErrorCode::NONE;
  std::string message;
  int64_t epoch = -1;
  bool fenced = true;
  bool waiting = false;  // for the quorum's cluster id: nothing sent
};

}  // namespace

class Membership {
 public:
  explicit Membership(Broker& broker)
      : broker_(broker), peer_(broker.controller_context().get_executor(), "fjord-broker-" + std::to_string(broker.node_id)) {
    self_.id = broker.node_id;
    self_.incarnation = Uuid::random();
    self_.host = broker.advertised_host;
    self_.port = broker.advertised_port;
    self_.rack = broker.static_config().get("broker.rack");
  }

  // Asks to be fenced until it is (or `tries` run out); heartbeats stop for good.
  asio::awaitable<void> leave() {
    leaving_ = true;
    // Its own connection: the heartbeat loop may be waiting on peer_ right now.
    cluster::PeerConnection peer(executor(), "fjord-broker-" + std::to_string(self_.id));
    for (int i = 0; i < 15; ++i) {
      if (epoch_ < 0) co_return;  // never registered: nothing to hand over
      Answer a = co_await step(peer);
      if (a.error == ErrorCode::NONE && fenced_) {
        spdlog::info("broker {}: left the cluster (fenced, its partitions moved)", self_.id);
        co_return;
      }
      asio::steady_timer timer(broker_.controller_context());
      timer.expires_after(200ms);
      std::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    spdlog::warn("broker {}: the controller did not confirm the controlled shutdown", self_.id);
  }

  asio::any_io_executor executor() { return broker_.controller_context().get_executor(); }

  asio::awaitable<void> run() {
    asio::steady_timer timer(broker_.controller_context());
    for (;;) {
      if (leaving_) co_return;
      const auto interval = std::chrono::milliseconds(broker_.config()->get_long("broker.heartbeat.interval.ms"));
      Answer a = co_await step(peer_);
      if (leaving_) co_return;  // what it heard predates the shutdown
      note(a);
      // Until registered and unfenced, try again soon.
      timer.expires_after(epoch_ < 0 || fenced_ ? std::min<std::chrono::milliseconds>(interval, 200ms) : interval);
      std::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
  }

 private:
  asio::awaitable<Answer> step(cluster::PeerConnection& peer) {
    const int32_t controller = broker_.store.controller_id();
    if (controller < 0) co_return Answer{ErrorCode::NOT_CONTROLLER, "the metadata quorum has no leader"};
    // A new node's meta.properties holds an id of its own until the quorum's cluster id (written
    // by the first controller) reaches it: registering before then would be refused as
    // INCONSISTENT_CLUSTER_ID.
    if (epoch_ < 0 && broker_.store.image().get()->cluster_id().empty()) {
      Answer wait;
      wait.waiting = true;
      co_return wait;
    }
    Answer a;
    if (controller == broker_.node_id) {
      if (epoch_ < 0) {
        auto r = broker_.controller.register_broker(self_, broker_.store.cluster_id());
        a = {r.error, r.message, r.epoch, true};
      } else {
        auto h = broker_.controller.heartbeat(self_.id, epoch_, leaving_, leaving_);
        a = {h.error, "", epoch_, h.fenced};
      }
    } else {
      auto image = broker_.store.image();
      const metadata::BrokerInfo* c = image->broker(controller);
      // The controller registers itself before anyone else can reach it.
      if (c == nullptr) co_return Answer{ErrorCode::NOT_CONTROLLER, fmt::format("controller {} is not registered yet", controller)};
      // A controller that went silent (a network partition drops packets: no reset) must not
      // hold this broker's heartbeats past its session at the next one: half a session at most.
      const auto timeout = std::chrono::milliseconds(
          std::clamp<int64_t>(broker_.config()->get_long("broker.session.timeout.ms") / 2, 100, 3000));
      if (epoch_ < 0) {
        protocol::BrokerRegistrationRequest req;
        req.broker_id = self_.id;
        req.cluster_id = broker_.store.cluster_id();
        req.incarnation_id = self_.incarnation;
        auto& l = req.listeners.emplace_back();
        l.name = "PLAINTEXT";
        l.host = self_.host;
        l.port = static_cast<uint16_t>(self_.port);
        req.rack = self_.rack;
        auto r = co_await peer.call<protocol::BrokerRegistrationResponse>(c->host, c->port, req, 3, timeout);
        if (!r) co_return Answer{ErrorCode::NETWORK_EXCEPTION, r.error()};
        a = {static_cast<ErrorCode>(r->error_code), "", r->broker_epoch, true};
      } else {
        protocol::BrokerHeartbeatRequest req;
        req.broker_id = self_.id;
        req.broker_epoch = epoch_;
        req.want_fence = leaving_;
        req.want_shut_down = leaving_;
        auto r = co_await peer.call<protocol::BrokerHeartbeatResponse>(c->host, c->port, req, 1, timeout);
        if (!r) co_return Answer{ErrorCode::NETWORK_EXCEPTION, r.error()};
        a = {static_cast<ErrorCode>(r->error_code), "", epoch_, r->is_fenced};
      }
    }
    if (a.error == ErrorCode::NONE) {
      epoch_ = a.epoch;
      fenced_ = a.fenced;
    } else if (a.error == ErrorCode::STALE_BROKER_EPOCH) {
      epoch_ = -1;  // registers again
      fenced_ = true;
    }
    co_return a;
  }

  // One log line per change of state, not per attempt.
  void note(const Answer& a) {
    std::string state = a.waiting ? "waiting"
                        : a.error == ErrorCode::NONE ? (fenced_ ? "fenced" : "active")
                                                     : std::string(protocol::error_name(a.error));
    if (state == last_state_) return;
    last_state_ = state;
    if (a.waiting) {
      spdlog::info("broker {}: waiting for the cluster id from the controller before registering", self_.id);
    } else if (a.error == ErrorCode::NONE) {
      spdlog::info("broker {}: {} in the cluster (epoch {})", self_.id, state, epoch_);
    } else if (a.error == ErrorCode::DUPLICATE_BROKER_REGISTRATION || a.error == ErrorCode::INCONSISTENT_CLUSTER_ID) {
      spdlog::error("broker {}: the controller refuses this broker: {}{}{} (retrying)", self_.id, state,
                    a.message.empty() ? "" : ": ", a.message);
    } else {
      spdlog::warn("broker {}: cannot reach the controller: {}{}{} (retrying)", self_.id, state,
                   a.message.empty() ? "" : ": ", a.message);
    }
  }

  Broker& broker_;
  cluster::PeerConnection peer_;
  metadata::BrokerInfo self_;
  int64_t epoch_ = -1;
  bool fenced_ = true;
  bool leaving_ = false;
  std::string last_state_;
};

namespace {

asio::awaitable<void> check_loop(Broker& broker) {
  asio::steady_timer timer(broker.controller_context());
  bool leading = false;
  for (;;) {
    broker.controller.check_brokers();
    // Brokers whose process may be gone: every one when this node takes over (a controller that
    // died took its heartbeat connections with it), and those a heartbeat and a half late.
    const bool now_leading = broker.store.can_commit();
    if (now_leading && !leading) {
      auto image = broker.store.image();
      for (const auto& [id, b] : image->brokers())
        if (!b.fenced) broker.liveness->suspect(id, "this node took over as controller", true);
    }
    leading = now_leading;
    const auto interval = std::chrono::milliseconds(broker.config()->get_long("broker.heartbeat.interval.ms"));
    for (int32_t id : broker.controller.overdue_brokers(interval * 3 / 2))
      broker.liveness->suspect(id, "its heartbeat is overdue", true);
    timer.expires_after(std::chrono::milliseconds(
        std::clamp<int64_t>(broker.config()->get_long("broker.session.timeout.ms") / 8, 10, 250)));
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

// auto.leader.rebalance.enable: every leader.imbalance.check.interval.seconds, as Kafka.
asio::awaitable<void> balance_loop(Broker& broker) {
  asio::steady_timer timer(broker.controller_context());
  for (;;) {
    timer.expires_after(std::chrono::seconds(broker.config()->get_long("leader.imbalance.check.interval.seconds")));
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    broker.controller.balance_leaders();
  }
}

}  // namespace

std::shared_ptr<Membership> start_membership(Broker& broker) {
  broker.liveness = std::make_shared<BrokerLiveness>(broker);
  auto membership = std::make_shared<Membership>(broker);
  asio::co_spawn(broker.controller_context(), [membership]() -> asio::awaitable<void> { co_await membership->run(); },
                 asio::detached);
  asio::co_spawn(broker.controller_context(), check_loop(broker), asio::detached);
  asio::co_spawn(broker.controller_context(), balance_loop(broker), asio::detached);
  return membership;
}

asio::awaitable<void> leave_cluster(std::shared_ptr<Membership> membership) {
  co_await asio::co_spawn(membership->executor(), membership->leave(), asio::use_awaitable);
}

}  // namespace fjord::broker
