#include "broker/transactions.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

#include "broker/controller.h"
#include "broker/forward.h"
#include "cluster/peer_client.h"
#include "protocol/generated/add_partitions_to_txn_request.h"
#include "protocol/generated/add_partitions_to_txn_response.h"
#include "protocol/generated/write_txn_markers_request.h"
#include "protocol/generated/write_txn_markers_response.h"
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
  spec.replication_factor =
      static_cast<int16_t>(broker.config()->get_int("transaction.state.log.replication.factor"));
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

namespace {

// The broker that coordinates transactional id `id` when it is not this one (nullptr otherwise,
// or when none does now: `error` says which).
const metadata::BrokerInfo* remote_txn_coordinator(Broker& broker, const metadata::Image& image, const std::string& id,
                                                   ErrorCode* error) {
  *error = ErrorCode::NONE;
  const metadata::TopicInfo* topic = image.find(coordinator::kTransactionTopic);
  if (topic == nullptr || broker.store.quorum() == nullptr) return nullptr;
  const int32_t node = coordinator_node(broker, coordinator::kTransactionTopic,
                                        coordinator::partition_for(id, topic->partitions));
  if (node == broker.node_id) return nullptr;
  const metadata::BrokerInfo* b = image.broker(node);
  if (b == nullptr || b->fenced) *error = ErrorCode::COORDINATOR_NOT_AVAILABLE;
  return *error == ErrorCode::NONE ? b : nullptr;
}

}  // namespace

asio::awaitable<std::vector<ErrorCode>> verify_txn_partitions(Broker& broker, std::string id,
                                                              std::vector<TxnVerify> asks, bool for_produce) {
  const ErrorCode unavailable = for_produce ? ErrorCode::NOT_ENOUGH_REPLICAS : ErrorCode::COORDINATOR_NOT_AVAILABLE;
  std::vector<ErrorCode> out(asks.size(), ErrorCode::NONE);
  auto image = broker.store.image();
  ErrorCode error;
  const metadata::BrokerInfo* remote = remote_txn_coordinator(broker, *image, id, &error);
  if (error != ErrorCode::NONE) co_return std::vector<ErrorCode>(asks.size(), unavailable);
  if (remote == nullptr) {
    auto home = co_await txn_home(broker, id);
    if (!home) {
      const ErrorCode e = home.error() == ErrorCode::NOT_COORDINATOR || home.error() == ErrorCode::COORDINATOR_NOT_AVAILABLE
                              ? unavailable
                              : home.error();
      co_return std::vector<ErrorCode>(asks.size(), e);
    }
    auto start = [id, asks](coordinator::TransactionCoordinator& c, std::function<void(std::vector<ErrorCode>)> done) {
      std::vector<ErrorCode> verdicts;
      for (const TxnVerify& a : asks) verdicts.push_back(c.verify(id, a.producer_id, a.producer_epoch, a.partition));
      done(std::move(verdicts));
    };
    co_return co_await on_txn_coordinator<std::vector<ErrorCode>>(broker, home->shard, std::move(start));
  }
  // One verify-only transaction per producer id and epoch (a request normally has one).
  cluster::PeerConnection peer(co_await asio::this_coro::executor, "fjord-broker-" + std::to_string(broker.node_id));
  std::map<std::pair<int64_t, int16_t>, std::vector<size_t>> by_producer;
  for (size_t i = 0; i < asks.size(); ++i) by_producer[{asks[i].producer_id, asks[i].producer_epoch}].push_back(i);
  for (const auto& [producer, indexes] : by_producer) {
    protocol::AddPartitionsToTxnRequest req;
    auto& txn = req.transactions.emplace_back();
    txn.transactional_id = id;
    txn.producer_id = producer.first;
    txn.producer_epoch = producer.second;
    txn.verify_only = true;
    std::map<std::string, std::vector<int32_t>> topics;
    for (size_t i : indexes) topics[asks[i].partition.topic].push_back(asks[i].partition.partition);
    for (auto& [name, parts] : topics) txn.topics.push_back({name, parts});
    auto resp = co_await peer.call<protocol::AddPartitionsToTxnResponse>(remote->host, remote->port, req, 4,
                                                                         std::chrono::milliseconds(10000));
    std::map<std::pair<std::string, int32_t>, ErrorCode> verdicts;
    if (resp && resp->error_code == 0) {
      for (const auto& r : resp->results_by_transaction)
        for (const auto& t : r.topic_results)
          for (const auto& p : t.results_by_partition)
            verdicts[{t.name, p.partition_index}] = static_cast<ErrorCode>(p.partition_error_code);
    } else if (!resp) {
      spdlog::warn("verifying transactional partitions with broker {}: {}", remote->id, resp.error());
    }
    const ErrorCode fallback = !resp ? unavailable  // retriable: the client tries again
                                     : resp->error_code != 0 ? static_cast<ErrorCode>(resp->error_code)
                                                             : ErrorCode::INVALID_TXN_STATE;
    for (size_t i : indexes) {
      auto it = verdicts.find({asks[i].partition.topic, asks[i].partition.partition});
      out[i] = it == verdicts.end() ? fallback : it->second;
    }
  }
  // Kafka's rule: a produce request answers coordinator trouble with NOT_ENOUGH_REPLICAS, which
  // every producer retries.
  for (ErrorCode& e : out)
    if (e == ErrorCode::NOT_COORDINATOR || e == ErrorCode::COORDINATOR_NOT_AVAILABLE ||
        e == ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)
      e = unavailable;
  co_return out;
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
  // Runs on `home`.
  auto report = [state](const TopicPartition& tp, ErrorCode e) {
    const bool ignorable = e == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION || e == ErrorCode::INVALID_PRODUCER_EPOCH ||
                           e == ErrorCode::TRANSACTION_COORDINATOR_FENCED;
    if (e != ErrorCode::NONE && ignorable)
      spdlog::info("transaction marker for {}-{} not written (error {}): not needed there", tp.topic, tp.partition,
                   static_cast<int>(e));
    if (e != ErrorCode::NONE && !ignorable && state->error == ErrorCode::NONE) state->error = e;
    if (--state->left == 0) state->done(state->error);
  };
  const int64_t now = now_ms();
  auto image = broker.store.image();
  // Partitions led by other brokers get their markers with WriteTxnMarkers, one request per broker.
  std::map<int32_t, std::vector<TopicPartition>> remote;
  for (TopicPartition& tp : partitions) {
    const metadata::TopicInfo* topic = image->find(tp.topic);
    const int32_t leader = topic == nullptr ? broker.node_id : leader_of(*topic, tp.partition, broker.node_id);
    if (leader != broker.node_id) {
      remote[leader].push_back(tp);
      continue;
    }
    int shard = broker.shard_of(tp.topic, tp.partition);
    asio::post(broker.shards.context(shard), [&broker, &home, tp, report, producer_id, producer_epoch, commit, now] {
      write_marker(broker, tp, producer_id, producer_epoch, protocol::TxnMarker{commit, 0}, now,
                   [&home, tp, report](ErrorCode e) { asio::post(home, [tp, report, e] { report(tp, e); }); });
    });
  }
  for (auto& [leader, tps] : remote) {
    const metadata::BrokerInfo* b = leader < 0 ? nullptr : image->broker(leader);
    if (b == nullptr || b->fenced) {  // offline now: the coordinator tries again later
      for (const TopicPartition& tp : tps) asio::post(home, [tp, report] { report(tp, ErrorCode::NOT_LEADER_OR_FOLLOWER); });
      continue;
    }
    protocol::WriteTxnMarkersRequest req;
    auto& m = req.markers.emplace_back();
    m.producer_id = producer_id;
    m.producer_epoch = producer_epoch;
    m.transaction_result = commit;
    std::map<std::string, std::vector<int32_t>> topics;
    for (const TopicPartition& tp : tps) topics[tp.topic].push_back(tp.partition);
    for (auto& [name, parts] : topics) {
      auto& t = m.topics.emplace_back();
      t.name = name;
      t.partition_indexes = parts;
    }
    auto send = [&broker, &home, host = b->host, port = b->port, req, tps = tps, report]() -> asio::awaitable<void> {
      cluster::PeerConnection peer(home.get_executor(), "fjord-txn-" + std::to_string(broker.node_id));
      auto resp = co_await peer.call<protocol::WriteTxnMarkersResponse>(host, port, req, 1, std::chrono::milliseconds(10000));
      std::map<std::pair<std::string, int32_t>, ErrorCode> got;
      if (resp)
        for (const auto& mr : resp->markers)
          for (const auto& t : mr.topics)
            for (const auto& p : t.partitions) got[{t.name, p.partition_index}] = static_cast<ErrorCode>(p.error_code);
      else
        spdlog::warn("transaction markers to {}:{}: {}", host, port, resp.error());
      for (const TopicPartition& tp : tps) {
        auto it = got.find({tp.topic, tp.partition});
        report(tp, it == got.end() ? ErrorCode::NETWORK_EXCEPTION : it->second);
      }
    };
    asio::co_spawn(home, std::move(send), asio::detached);
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
  auto topic = broker.store.topic(coordinator::kTransactionTopic);
  auto started = std::chrono::steady_clock::now();
  coordinator::ReplayStats total;
  for (int32_t p = 0; topic && p < topic->partitions; ++p) {
    // Replicated partitions are loaded when this node takes over their leadership.
    if (is_replicated(*topic, p) || !hosts(*topic, p, broker.node_id)) continue;
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
