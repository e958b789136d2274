#include "broker/transactions.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

#include "broker/controller.h"
#include "broker/forward.h"
#include "broker/partitions.h"
#include "broker/shards.h"

namespace fjord::broker {

using coordinator::TopicPartition;
using protocol::ErrorCode;

asio::awaitable<tl::expected<int32_t, ErrorCode>> ensure_transaction_topic(Broker& broker) {
  NewTopic spec;
  spec.name = std::string(coordinator::kTransactionTopic);
  spec.partitions = broker.config()->get_int("transaction.state.log.num.partitions");
  spec.configs["compression.type"] = "uncompressed";
  spec.configs["segment.bytes"] = std::to_string(broker.config()->get_int("transaction.state.log.segment.bytes"));
  co_return co_await ensure_internal_topic(broker, std::move(spec));
}

asio::awaitable<tl::expected<TxnHome, ErrorCode>> txn_home(Broker& broker, const std::string& transactional_id) {
  auto partitions = co_await ensure_transaction_topic(broker);
  if (!partitions) co_return tl::unexpected(partitions.error());
  TxnHome home;
  home.partition = coordinator::partition_for(transactional_id, *partitions);
  home.shard = broker.shard_of(std::string(coordinator::kTransactionTopic), home.partition);
  if (auto e = coordinator_error(broker, coordinator::kTransactionTopic, home.partition); e != ErrorCode::NONE)
    co_return tl::unexpected(e);
  co_return home;
}

void write_marker(Broker& broker, const TopicPartition& tp, int64_t producer_id, int16_t producer_epoch,
                  protocol::TxnMarker marker, int64_t now, std::function<void(ErrorCode)> done) {
  // On __consumer_offsets, the group coordinator of this shard applies (or drops) the
  // producer's pending offsets once the marker is durable.
  auto* groups = tp.topic == coordinator::kOffsetsTopic
                     ? (*broker.coordinators)[static_cast<size_t>(broker.shard_of(tp.topic, tp.partition))].get()
                     : nullptr;
  append_durable(
      broker, tp.topic, tp.partition,
      [&](storage::PartitionLog& log) { return log.append_marker(producer_id, producer_epoch, marker, now); },
      [groups, tp, producer_id, marker, done = std::move(done)](ErrorCode e) {
        if (groups && e == ErrorCode::NONE) groups->complete_txn(tp.partition, producer_id, marker.commit);
        done(e);
      });
}

namespace {

// Writes the markers on every partition's shard; `done` runs on `home` with the first error
// that matters. A partition whose topic is gone needs no marker; an epoch or coordinator-epoch
// refusal means a newer producer or coordinator already ended it there.
void write_markers(Broker& broker, asio::io_context& home, int64_t producer_id, int16_t producer_epoch, bool commit,
                   std::vector<TopicPartition> partitions, std::function<void(ErrorCode)> done) {
  if (partitions.empty()) return asio::post(home, [done = std::move(done)] { done(ErrorCode::NONE); });
  struct State {
    size_t left;
    ErrorCode error = ErrorCode::NONE;
    std::function<void(ErrorCode)> done;
  };
  auto state = std::make_shared<State>(State{partitions.size(), ErrorCode::NONE, std::move(done)});
  const int64_t now = now_ms();
  for (TopicPartition& tp : partitions) {
    int shard = broker.shard_of(tp.topic, tp.partition);
    asio::post(broker.shards.context(shard), [&broker, &home, tp, state, producer_id, producer_epoch, commit, now] {
      auto report = [&home, state, tp](ErrorCode e) {
        asio::post(home, [state, tp, e] {
          const bool ignorable = e == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION || e == ErrorCode::INVALID_PRODUCER_EPOCH ||
                                 e == ErrorCode::TRANSACTION_COORDINATOR_FENCED;
          if (e != ErrorCode::NONE && ignorable)
            spdlog::info("transaction marker for {}-{} not written (error {}): not needed there", tp.topic, tp.partition,
                         static_cast<int>(e));
          if (e != ErrorCode::NONE && !ignorable && state->error == ErrorCode::NONE) state->error = e;
          if (--state->left == 0) state->done(state->error);
        });
      };
      write_marker(broker, tp, producer_id, producer_epoch, protocol::TxnMarker{commit, 0}, now, report);
    });
  }
}

coordinator::TxnConfig txn_config(const BrokerConfig& config) {
  coordinator::TxnConfig c;
  c.max_timeout_ms = config.get_int("transaction.max.timeout.ms");
  c.abort_check_interval_ms = config.get_int("transaction.abort.timed.out.transaction.cleanup.interval.ms");
  return c;
}

}  // namespace

std::unique_ptr<coordinator::TransactionCoordinator> make_txn_coordinator(Broker& broker, int shard) {
  asio::io_context& context = broker.shards.context(shard);
  coordinator::TxnEnv env;
  env.append = [&broker, &context](int32_t partition, coordinator::OffsetsRecord record,
                                   std::function<void(ErrorCode)> done) {
    auto back = [&context, done = std::move(done)](ErrorCode e) { asio::post(context, [done, e] { done(e); }); };
    const int64_t now = now_ms();
    append_durable(
        broker, std::string(coordinator::kTransactionTopic), partition,
        [&](storage::PartitionLog& log) {
          Bytes batch = coordinator::build_batch({record}, now);
          return log.append(batch, now);
        },
        back);
  };
  env.write_markers = [&broker, &context](int64_t producer_id, int16_t producer_epoch, bool commit,
                                          std::vector<TopicPartition> partitions, std::function<void(ErrorCode)> done) {
    write_markers(broker, context, producer_id, producer_epoch, commit, std::move(partitions), std::move(done));
  };
  env.new_producer_id = [&broker, &context](std::function<void(tl::expected<int64_t, ErrorCode>)> done) {
    auto take = [&broker, &context, done = std::move(done)]() -> asio::awaitable<void> {
      auto id = co_await next_producer_id(broker);
      asio::post(context, [done, id] { done(id); });
    };
    asio::co_spawn(broker.controller_context(), std::move(take), asio::detached);
  };
  env.clock = now_ms;
  return std::make_unique<coordinator::TransactionCoordinator>(context, txn_config(*broker.config()), std::move(env));
}

bool load_transactions(Broker& broker) {
  const metadata::TopicInfo* topic = broker.store.image()->find(coordinator::kTransactionTopic);
  auto started = std::chrono::steady_clock::now();
  coordinator::ReplayStats total;
  for (int32_t p = 0; topic && p < topic->partitions; ++p) {
    int shard = broker.shard_of(topic->name, p);
    storage::PartitionLog* log = partition_log(broker, *topic, p);
    if (!log) {
      spdlog::error("{}-{} cannot be opened: its transactions are not loaded", topic->name, p);
      continue;
    }
    auto stats = (*broker.txn_coordinators)[static_cast<size_t>(shard)]->load(p, *log);
    if (!stats) {
      spdlog::error("loading transactions from {}-{}: {}", topic->name, p, stats.error());
      return false;
    }
    total.records += stats->records;
    total.skipped += stats->skipped;
    total.bytes += stats->bytes;
  }
  size_t count = 0;
  for (auto& c : *broker.txn_coordinators) count += c->size();
  if (topic) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    spdlog::info("loaded {} transactional id(s) from {} record(s) ({} bytes) of {} in {} ms", count, total.records,
                 total.bytes, topic->name, ms);
  }
  for (size_t i = 0; i < broker.txn_coordinators->size(); ++i) {
    auto* c = (*broker.txn_coordinators)[i].get();
    asio::post(broker.shards.context(static_cast<int>(i)), [c] { c->start(); });
  }
  return true;
}

}  // namespace fjord::broker
