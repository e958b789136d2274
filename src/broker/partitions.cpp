#include "broker/partitions.h"

#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

#include "broker/controller.h"
#include "broker/log_config.h"
#include "broker/replication.h"

namespace fjord::broker {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

asio::awaitable<storage::Checkpoints> gather_checkpoints(Broker& broker, bool close_logs, bool* all_closed) {
  storage::Checkpoints all;
  for (int i = 0; i < broker.shards.count(); ++i) {
    storage::LogManager* logs = broker.logs[static_cast<size_t>(i)].get();
    auto collect = [logs, close_logs] {
      bool ok = close_logs ? logs->close_all() : true;
      return std::make_pair(ok, logs->collect_checkpoints());
    };
    auto [ok, cp] = co_await run_on(broker.shards.context(i), std::move(collect));
    if (all_closed && !ok) *all_closed = false;
    all.merge(cp);
  }
  co_return all;
}

asio::awaitable<storage::IoResult<>> write_checkpoints(Broker& broker) {
  auto checkpoints = co_await gather_checkpoints(broker, false, nullptr);
  auto write = [&broker, &checkpoints] {
    auto r = storage::write_shutdown_state(storage::Env::posix(), broker.static_config().data_dir(), checkpoints, false);
    if (!r) spdlog::error("writing offset checkpoints: {}", r.error().message());
    return r;
  };
  co_return co_await run_on(broker.controller_context(), std::move(write));
}

storage::PartitionLog* partition_log(Broker& broker, const metadata::TopicInfo& topic, int32_t partition) {
  if (!hosts(topic, partition, broker.node_id)) return nullptr;
  int shard = broker.shard_of(topic.name, partition);
  storage::LogManager& logs = *broker.logs[static_cast<size_t>(shard)];
  if (storage::PartitionLog* log = logs.find(topic.name, partition, topic.id)) return log;
  // A request that read an older image must not bring back a log that has left this node since.
  auto now = broker.store.topic(topic.id);
  if (now == nullptr || !hosts(*now, partition, broker.node_id)) return nullptr;
  auto opened = logs.open(topic.name, partition, topic.id, log_config_for(*broker.config(), topic),
                          storage::StartupState{true, {}, {}}, now_ms());
  if (!opened) {
    spdlog::error("{}", opened.error());
    return nullptr;
  }
  return *opened;
}

protocol::ErrorCode leader_error(const Broker& broker, const metadata::TopicInfo& topic, int32_t partition) {
  return leader_of(topic, partition, broker.node_id) == broker.node_id ? protocol::ErrorCode::NONE
                                                                         : protocol::ErrorCode::NOT_LEADER_OR_FOLLOWER;
}

namespace {

// Completes with what `start` reports (it is given a callback, callable from this shard once),
// or with nullopt after `timeout`, whichever comes first.
template <typename Result, typename Start>
asio::awaitable<std::optional<Result>> race_timeout(std::chrono::milliseconds timeout, Start start) {
  using Out = std::optional<Result>;
  auto executor = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(Out)>(
      [timeout, executor, &start](auto completion) {
        struct Race {
          decltype(completion) handler;
          asio::steady_timer timer;
          bool done = false;
        };
        auto race = std::make_shared<Race>(Race{std::move(completion), asio::steady_timer(executor), false});
        auto finish = [race](Out result) {
          if (race->done) return;
          race->done = true;
          race->timer.cancel();
          asio::post(race->timer.get_executor(), [race, result] { race->handler(result); });
        };
        race->timer.expires_after(timeout);
        race->timer.async_wait([finish](std::error_code ec) {
          if (!ec) finish(std::nullopt);
        });
        start([finish, executor](Result result) { asio::post(executor, [finish, result] { finish(result); }); });
      },
      asio::use_awaitable);
}

}  // namespace

asio::awaitable<std::optional<storage::IoResult<>>> wait_durable_for(storage::PartitionLog& log, int64_t offset,
                                                                     std::chrono::milliseconds timeout) {
  auto start = [&log, offset](auto done) { log.when_durable(offset, std::move(done)); };
  co_return co_await race_timeout<storage::IoResult<>>(timeout, start);
}

asio::awaitable<std::optional<protocol::ErrorCode>> wait_replicated_for(storage::PartitionLog& log, int64_t offset,
                                                                        std::chrono::milliseconds timeout) {
  auto start = [&log, offset](auto done) { log.when_replicated(offset, std::move(done)); };
  co_return co_await race_timeout<protocol::ErrorCode>(timeout, start);
}

void append_durable(Broker& broker, std::string_view topic_name, int32_t partition,
                    const std::function<tl::expected<storage::AppendResult, protocol::ErrorCode>(storage::PartitionLog&)>& append,
                    std::function<void(protocol::ErrorCode)> done) {
  auto topic = broker.store.topic(topic_name);
  storage::PartitionLog* log = topic ? partition_log(broker, *topic, partition) : nullptr;
  if (!log) return done(topic ? protocol::ErrorCode::KAFKA_STORAGE_ERROR : protocol::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  if (auto e = replication_leader_error(broker, topic->name, partition); e != protocol::ErrorCode::NONE) return done(e);
  auto appended = append(*log);
  if (!appended) return done(appended.error());
  // Durable here, then (a replicated partition) on every in-sync replica.
  const int64_t end = appended->last_offset + 1;
  log->when_durable(end, [log, end, alive = log->alive(), done = std::move(done)](storage::IoResult<> r) mutable {
    if (!r || !*alive) return done(protocol::ErrorCode::KAFKA_STORAGE_ERROR);
    log->when_replicated(end, std::move(done));
  });
}

}  // namespace fjord::broker
