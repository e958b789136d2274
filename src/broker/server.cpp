#include "broker/server.h"

#include <sys/resource.h>

#include <csignal>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "broker/broker.h"
#include "broker/connection.h"
#include "broker/groups.h"
#include "broker/controller.h"
#include "broker/log_config.h"
#include "broker/listeners.h"
#include "broker/membership.h"
#include "broker/replication.h"
#include "broker/metadata_changes.h"
#include "broker/partitions.h"
#include "coordinator/group_coordinator.h"
#include "broker/transactions.h"
#include "metadata/store.h"
#include "storage/dir_lock.h"
#include "storage/log_manager.h"

namespace fjord::broker {
namespace {

using asio::ip::tcp;

asio::awaitable<void> accept_loop(Broker& broker, int shard, int listener, tcp::acceptor& acceptor) {
  asio::steady_timer wait(acceptor.get_executor());
  auto last_warning = std::chrono::steady_clock::time_point();
  auto warn_now = [&last_warning] {  // at most one line a second about refused connections
    auto now = std::chrono::steady_clock::now();
    if (now - last_warning < std::chrono::seconds(1)) return false;
    last_warning = now;
    return true;
  };
  for (;;) {
    std::error_code ec;
    // max.connections: no accept while the broker holds that many; clients wait in the backlog.
    while (broker.connection_limits && broker.connection_limits->full() && acceptor.is_open()) {
      wait.expires_after(std::chrono::milliseconds(20));
      co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    std::unique_ptr<ConnectionLimits::Slot> slot;
    if (broker.connection_limits) {
      auto peer = socket.remote_endpoint(ec);
      std::string address = ec ? "" : peer.address().to_string();
      auto admitted = broker.connection_limits->admit(address);
      // Another shard took the last place while this acceptor waited in accept: hold this one
      // unread until a place frees up.
      while (admitted == ConnectionLimits::Admit::TotalLimit && acceptor.is_open()) {
        wait.expires_after(std::chrono::milliseconds(20));
        co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        admitted = broker.connection_limits->admit(address);
      }
      if (admitted != ConnectionLimits::Admit::Ok) {
        if (warn_now()) {
          spdlog::warn("refused a connection from {}: it has {} already (max.connections.per.ip)", address,
                       broker.connection_limits->limit_for(address));
        }
        socket.close(ec);
        continue;
      }
      slot = std::make_unique<ConnectionLimits::Slot>(broker.connection_limits, address);
    }
    auto conn = std::make_shared<Connection>(broker, shard, std::move(socket), std::move(slot), listener);
    asio::co_spawn(acceptor.get_executor(), conn->run(), asio::detached);
  }
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Retention, flush.ms and compaction on every shard; checkpoints from the controller shard.
// log.cleaner.backoff.ms is dynamic: it is read at every wake, and a wake comes at least every
// second, so a shorter backoff applies within a second.
asio::awaitable<void> housekeeping(Broker& broker, int shard, std::chrono::milliseconds retention_every,
                                   std::chrono::milliseconds checkpoint_every) {
  using std::chrono::steady_clock;
  asio::steady_timer timer(broker.shards.context(shard));
  auto clean_every = [&broker] { return std::chrono::milliseconds(broker.config()->get_long("log.cleaner.backoff.ms")); };
  auto next_retention = steady_clock::now() + retention_every;
  auto next_checkpoint = steady_clock::now() + checkpoint_every;
  auto last_clean = steady_clock::now();
  for (;;) {
    auto next_clean = last_clean + clean_every();
    auto wake = std::min({next_retention, next_clean, steady_clock::now() + std::chrono::seconds(1)});
    if (shard == kControllerShard) wake = std::min(wake, next_checkpoint);
    timer.expires_at(wake);
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    auto now = steady_clock::now();
    if (now >= next_retention) {
      broker.logs[static_cast<size_t>(shard)]->tick(wall_ms());
      next_retention = now + retention_every;
    }
    if (now >= last_clean + clean_every()) {
      broker.logs[static_cast<size_t>(shard)]->clean(wall_ms());
      last_clean = now;
    }
    if (shard == kControllerShard && now >= next_checkpoint) {
      co_await write_checkpoints(broker);
      next_checkpoint = now + checkpoint_every;
    }
  }
}

// Expires committed offsets of long-empty groups (offsets.retention.check.interval.ms).
asio::awaitable<void> expire_offsets_loop(Broker& broker, int shard, std::chrono::milliseconds every) {
  asio::steady_timer timer(broker.shards.context(shard));
  for (;;) {
    timer.expires_after(every);
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    (*broker.coordinators)[static_cast<size_t>(shard)]->expire_offsets();
  }
}

void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

storage::LogCleaner::Options cleaner_options(const BrokerConfig& config) {
  storage::LogCleaner::Options options;
  options.threads = config.get_int("log.cleaner.threads");
  options.dedupe_bytes = static_cast<size_t>(config.get_long("log.cleaner.dedupe.buffer.size"));
  options.load_factor = config.get_double("log.cleaner.io.buffer.load.factor");
  options.io_bytes_per_second = config.get_double("log.cleaner.io.max.bytes.per.second");
  return options;
}

}  // namespace

int serve(const BrokerConfig& static_config) {
  auto started = std::chrono::steady_clock::now();
  raise_fd_limit();
  // sendfile() to a peer that has gone raises SIGPIPE (it has no MSG_NOSIGNAL): the error must
  // end that connection, not the broker.
  ::signal(SIGPIPE, SIG_IGN);
  const std::string data_dir = static_config.data_dir();
  auto voters = metadata::parse_voters(static_config.get("controller.quorum.voters").value_or(""));
  if (!voters) {
    spdlog::error("{}", voters.error());
    return 2;
  }
  const bool cluster_mode = !voters->empty();
  if (cluster_mode) {
    auto roles = static_config.get("process.roles").value_or("");
    if (!roles.empty() && (roles.find("broker") == std::string::npos || roles.find("controller") == std::string::npos)) {
      spdlog::error("process.roles={}: every node of a Fjord cluster is both broker and controller for now "
                    "(process.roles=broker,controller)", roles);
      return 2;
    }
  }
  auto planned = plan_listeners(static_config, cluster_mode);
  if (!planned) {
    spdlog::error("{}", planned.error());
    return 2;
  }
  // One process per data directory, for its whole life: taken before anything in it is read.
  auto dir_lock = storage::DirLock::acquire(data_dir);
  if (!dir_lock) {
    spdlog::error("{}", dir_lock.error());
    return 1;
  }
  int shard_count = static_config.num_shards();
  if (shard_count <= 0) shard_count = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Shards shards(shard_count);
  // Every listener bound now, before the logs load: an address in use fails the start at once.
  // Connections wait in the backlog until the broker is ready to accept them.
  std::vector<std::unique_ptr<BoundListener>> bound;
  for (const ListenerEndpoint& l : *planned) {
    auto b = BoundListener::bind(shards, l);
    if (!b) {
      spdlog::error("{}", b.error());
      return 1;
    }
    bound.push_back(std::move(*b));
  }

  // Changes of the metadata image reach the broker here, from the controller thread on a single
  // node and from the quorum's thread in a cluster; they are handled on the controller thread in
  // the order they were applied. Until the broker exists they need no handling: it starts from
  // the image it reads after `reactor` is set.
  std::atomic<Broker*> reactor{nullptr};
  std::unique_ptr<storage::LogCleaner> cleaner;
  auto on_change = [&reactor, &cleaner, cluster_mode](std::shared_ptr<const metadata::Image> before,
                                                      std::shared_ptr<const metadata::Image> after) {
    Broker* b = reactor.load(std::memory_order_acquire);
    if (b == nullptr) return;
    auto apply = [b, &cleaner, before = std::move(before), after = std::move(after)] {
      if (!apply_metadata_change(*b, *before, *after) || !cleaner) return;
      auto options = cleaner_options(*b->config());
      if (!cleaner->reconfigure(options)) return;
      spdlog::info("log cleaner: {} thread(s), {} bytes of key map, {} bytes/s", options.threads, options.dedupe_bytes,
                   options.io_bytes_per_second);
    };
    // A single node commits on the controller thread: done before the request that made the
    // change is answered. A cluster's changes come from the quorum's thread.
    if (cluster_mode) {
      asio::post(b->controller_context(), std::move(apply));
    } else {
      apply();
    }
  };
  tl::expected<std::unique_ptr<metadata::MetadataStore>, std::string> store;
  if (cluster_mode) {
    metadata::RaftQuorum::Options options;
    options.node_id = static_config.node_id();
    options.voters = *voters;
    options.election_timeout_ms = static_cast<unsigned>(static_config.get_int("controller.quorum.election.timeout.ms"));
    options.heartbeat_timeout_ms = std::max(10u, options.election_timeout_ms / 20);
    store = metadata::MetadataStore::open_quorum(data_dir, std::move(options), on_change);
  } else {
    store = metadata::MetadataStore::open(data_dir, static_config.node_id());
    if (store) (*store)->set_listener(on_change);
  }
  if (!store) {
    spdlog::error("cannot open metadata in {}: {}", data_dir, store.error());
    return 1;
  }
  if ((*store)->truncated_bytes() > 0)
    spdlog::warn("metadata log: cut {} bytes of a torn or corrupt tail", (*store)->truncated_bytes());

  LiveConfig live_config(static_config);
  if (cluster_mode) {
    // A node serves nothing before it knows the metadata: it waits for the quorum, saying why.
    auto waiting_since = std::chrono::steady_clock::now();
    auto next_note = waiting_since + std::chrono::seconds(5);
    while (!(*store)->quorum()->caught_up()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (std::chrono::steady_clock::now() >= next_note) {
        spdlog::warn("waiting for the metadata quorum ({}): no leader reachable yet; a majority of the voters must "
                     "be up and reach each other on their controller ports",
                     static_config.get("controller.quorum.voters").value_or(""));
        next_note += std::chrono::seconds(10);
      }
    }
    spdlog::info("metadata quorum: leader {}, caught up after {} ms", (*store)->quorum()->leader(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - waiting_since)
                     .count());
  }
  Controller controller(live_config, **store, data_dir);  // applies the dynamic broker configs
  auto start_config = live_config.get();
  const BrokerConfig& config = *start_config;  // as of start: for the settings read only here
  auto limits = ConnectionLimits::create(config.get_long("max.connections"), config.get_long("max.connections.per.ip"),
                                         *config.get("max.connections.per.ip.overrides"));
  if (!limits) {
    spdlog::error("{}", limits.error());
    return 2;
  }

  // Partition logs: each opened by the shard that owns it, after recovery if the last stop was
  // not clean.
  storage::Syncer syncer(config.get_int("num.io.threads"));
  // Compaction passes run on the cleaner's threads; the shards plan them and apply their results.
  if (config.get_bool("log.cleaner.enable")) {
    cleaner = std::make_unique<storage::LogCleaner>(storage::Env::posix(), cleaner_options(config));
  }
  std::vector<std::unique_ptr<storage::LogManager>> logs;
  for (int i = 0; i < shard_count; ++i)
    logs.push_back(std::make_unique<storage::LogManager>(storage::Env::posix(), data_dir, syncer,
                                                         shards.context(i).get_executor(), cleaner.get()));
  auto startup = storage::read_startup_state(storage::Env::posix(), data_dir);
  if (!startup) {
    spdlog::error("cannot read the state of {}: {}", data_dir, startup.error());
    return 1;
  }
  std::vector<std::unique_ptr<FetchSessionCache>> fetch_sessions;
  int slots = config.get_int("max.incremental.fetch.session.cache.slots");
  for (int i = 0; i < shard_count; ++i)
    fetch_sessions.push_back(std::make_unique<FetchSessionCache>((slots + shard_count - 1) / shard_count, i, shard_count));
  Broker broker{live_config, **store, controller, shards, logs, fetch_sessions};
  broker.node_id = config.node_id();
  reactor.store(&broker, std::memory_order_release);
  // On the way out, whichever way: the quorum's thread stops before what it reports to goes.
  struct StopQuorum {
    metadata::MetadataStore& store;
    std::atomic<Broker*>& reactor;
    ~StopQuorum() {
      store.stop();
      reactor.store(nullptr);
    }
  } stop_quorum{**store, reactor};
  controller.reconcile_partition_dirs();
  {
    storage::RecoveryReport report;
    size_t opened = 0;
    auto image = (*store)->image();
    for (const auto& [name, topic] : image->topics()) {
      storage::LogConfig log_config = log_config_for(config, *topic);
      for (int32_t p = 0; p < topic->partitions; ++p) {
        if (!hosts(*topic, p, broker.node_id)) continue;
        int shard = storage::shard_of(name, p, shard_count);
        auto log = logs[static_cast<size_t>(shard)]->open(name, p, topic->id, log_config, *startup, wall_ms(), &report);
        if (!log) {
          spdlog::error("{}", log.error());
          continue;
        }
        ++opened;
      }
    }
    if (opened == 0 && report.segments == 0) {
      spdlog::info("no partition logs to load");
    } else {
      spdlog::info("loaded {} partition log(s) after a{} shutdown: {} segment(s), {} scanned ({} bytes), {} bytes "
                   "truncated",
                   opened, startup->clean_shutdown ? " clean" : "n unclean", report.segments, report.segments_scanned,
                   report.bytes_scanned, report.bytes_truncated);
    }
  }

  std::vector<std::unique_ptr<coordinator::GroupCoordinator>> coordinators;
  for (int i = 0; i < shard_count; ++i)
    coordinators.push_back(make_coordinator(broker, i));
  broker.coordinators = &coordinators;
  if (!load_groups(broker)) return 1;
  std::vector<std::unique_ptr<coordinator::TransactionCoordinator>> txn_coordinators;
  for (int i = 0; i < shard_count; ++i) txn_coordinators.push_back(make_txn_coordinator(broker, i));
  broker.txn_coordinators = &txn_coordinators;
  if (!load_transactions(broker)) return 1;
  broker.max_request_bytes = config.get_int("socket.request.max.bytes");
  broker.idle_timeout = std::chrono::milliseconds(config.get_long("connections.max.idle.ms"));
  broker.frame_timeout = std::chrono::milliseconds(config.get_long("socket.request.read.timeout.ms"));
  broker.connection_limits = std::move(*limits);
  std::vector<std::unique_ptr<RequestMemory>> request_memory;
  const int64_t queued_bytes = config.get_long("queued.max.request.bytes");
  for (int i = 0; i < shard_count; ++i)
    request_memory.push_back(std::make_unique<RequestMemory>(
        shards.context(i).get_executor(), queued_bytes > 0 ? static_cast<size_t>(queued_bytes / shard_count) : 0));
  broker.request_memory = &request_memory;

  for (size_t i = 0; i < bound.size(); ++i) {
    const ListenerEndpoint& l = (*planned)[i];
    const tcp::endpoint at = bound[i]->local_endpoint();
    Broker::Endpoint e{l.name, l.advertised_host, l.advertised_port};
    if (e.host.empty()) e.host = at.address().is_unspecified() ? "127.0.0.1" : at.address().to_string();
    if (e.port == 0) e.port = at.port();
    broker.endpoints.push_back(std::move(e));
  }
  broker.advertised_host = broker.endpoints.front().host;
  broker.advertised_port = broker.endpoints.front().port;

  // Replication: every shard brings its hosted partitions to their state in the image (leading
  // or following); metadata changes refresh them from then on. In place before the first
  // request: without it a replicated partition's log would answer acks=all alone.
  std::vector<std::unique_ptr<ShardReplication>> replication;
  if (cluster_mode) {
    for (int i = 0; i < shard_count; ++i) replication.push_back(std::make_unique<ShardReplication>(broker, i));
    // Refreshes read the image when they run: a change handled meanwhile is not missed.
    broker.replication.store(&replication, std::memory_order_release);
    for (auto& r : replication) r->start();
    auto image = broker.store.image();
    for (const auto& [name, topic] : image->topics())
      for (int32_t p = 0; p < topic->partitions; ++p)
        if (hosts(*topic, p, broker.node_id)) refresh_replication(broker, name, p);
  }
  for (size_t l = 0; l < bound.size(); ++l)
    for (int i = 0; i < shard_count; ++i)
      asio::co_spawn(shards.context(i),
                     accept_loop(broker, i, static_cast<int>(l), *bound[l]->acceptors()[static_cast<size_t>(i)]),
                     asio::detached);
  std::shared_ptr<Membership> membership;
  if (cluster_mode) membership = start_membership(broker);

  auto retention_every = std::chrono::milliseconds(config.get_long("log.retention.check.interval.ms"));
  auto checkpoint_every = std::chrono::milliseconds(std::max<int64_t>(1000, config.get_long("log.flush.offset.checkpoint.interval.ms")));
  for (int i = 0; i < shard_count; ++i)
    asio::co_spawn(shards.context(i), housekeeping(broker, i, retention_every, checkpoint_every), asio::detached);

  auto expire_every = std::chrono::milliseconds(config.get_long("offsets.retention.check.interval.ms"));
  for (int i = 0; i < shard_count; ++i)
    asio::co_spawn(shards.context(i), expire_offsets_loop(broker, i, expire_every), asio::detached);

  asio::signal_set signals(shards.context(kControllerShard), SIGINT, SIGTERM);
  signals.async_wait([&](const std::error_code& error, int signal) {
    if (error) return;
    spdlog::info("received signal {}, shutting down", signal);
    for (auto& listener : bound) {
      for (auto& a : listener->acceptors()) {
        asio::post(a->get_executor(), [&a] {
          std::error_code ignored;
          a->close(ignored);
        });
      }
    }
    // Flush and close every log on its shard, then checkpoint and mark the stop clean.
    asio::co_spawn(shards.context(kControllerShard), [&]() -> asio::awaitable<void> {
      if (membership) co_await leave_cluster(membership);
      for (size_t i = 0; i < replication.size(); ++i) {
        ShardReplication* r = replication[i].get();
        co_await run_on(shards.context(static_cast<int>(i)), [r] { r->stop(); });
      }
      bool all_closed = true;
      auto checkpoints = co_await gather_checkpoints(broker, true, &all_closed);
      if (auto r = storage::write_shutdown_state(storage::Env::posix(), data_dir, checkpoints, all_closed); !r)
        spdlog::error("writing the shutdown state: {}", r.error().message());
      if (!all_closed) spdlog::warn("some logs could not be closed cleanly: the next start recovers them");
      shards.stop();
    }, asio::detached);
  });

  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  std::string on;
  for (size_t i = 0; i < bound.size(); ++i) {
    const tcp::endpoint at = bound[i]->local_endpoint();
    const Broker::Endpoint& e = broker.endpoints[i];
    on += fmt::format("{}{} {}:{} (advertised {}:{})", i ? ", " : "", e.listener, at.address().to_string(), at.port(),
                      e.host, e.port);
  }
  const size_t topics = broker.store.image().get()->topics().size();
  spdlog::info("Fjord broker {} ready on {}, {} shard(s), {} topic(s), data dir {}, started in {} ms", broker.node_id, on,
               shard_count, topics, data_dir, elapsed.count());
  shards.run();
  spdlog::info("broker stopped");
  return 0;
}

}  // namespace fjord::broker
