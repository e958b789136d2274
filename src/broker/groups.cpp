#include "broker/groups.h"

#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

#include "broker/controller.h"
#include "broker/forward.h"
#include "broker/partitions.h"
#include "broker/shards.h"

namespace fjord::broker {

using protocol::ErrorCode;

asio::awaitable<tl::expected<int32_t, ErrorCode>> ensure_internal_topic(Broker& broker, NewTopic spec) {
  if (auto t = broker.store.topic(spec.name)) co_return t->partitions;
  spec.configs["cleanup.policy"] = "compact";
  TopicResult result = co_await create_topic_via_controller(broker, spec);
  if (result.ok()) co_return result.topic->partitions;
  // Another request may have created it meanwhile.
  if (auto t = broker.store.topic(spec.name)) co_return t->partitions;
  spdlog::error("cannot create {}: {}", spec.name, result.message);
  co_return tl::unexpected(ErrorCode::COORDINATOR_NOT_AVAILABLE);
}

int32_t coordinator_node(const Broker& broker, std::string_view topic, int32_t partition) {
  auto t = broker.store.topic(topic);
  return t == nullptr ? -1 : leader_of(*t, partition, broker.node_id);
}

ErrorCode coordinator_error(const Broker& broker, std::string_view topic, int32_t partition) {
  const int32_t node = coordinator_node(broker, topic, partition);
  if (node == broker.node_id) {
    // A replicated partition's groups are loaded when its leadership arrives here.
    auto t = broker.store.topic(topic);
    const metadata::PartitionState* state = t ? t->partition(partition) : nullptr;
    if (state != nullptr && state->replicas.size() > 1 && !broker.coordinator_loads.loaded(topic, partition))
      return ErrorCode::COORDINATOR_LOAD_IN_PROGRESS;
    return ErrorCode::NONE;
  }
  return node < 0 ? ErrorCode::COORDINATOR_NOT_AVAILABLE : ErrorCode::NOT_COORDINATOR;
}

asio::awaitable<tl::expected<int32_t, ErrorCode>> ensure_offsets_topic(Broker& broker) {
  NewTopic spec;
  spec.name = std::string(coordinator::kOffsetsTopic);
  spec.partitions = broker.config()->get_int("offsets.topic.num.partitions");
  spec.configs["compression.type"] = "producer";
  spec.configs["segment.bytes"] = std::to_string(broker.config()->get_int("offsets.topic.segment.bytes"));
  spec.replication_factor = static_cast<int16_t>(broker.config()->get_int("offsets.topic.replication.factor"));
  co_return co_await ensure_internal_topic(broker, std::move(spec));
}

asio::awaitable<tl::expected<GroupHome, ErrorCode>> group_home(Broker& broker, const std::string& group) {
  auto partitions = co_await ensure_offsets_topic(broker);
  if (!partitions) co_return tl::unexpected(partitions.error());
  GroupHome home;
  home.partition = coordinator::partition_for(group, *partitions);
  home.shard = broker.shard_of(std::string(coordinator::kOffsetsTopic), home.partition);
  if (auto e = coordinator_error(broker, coordinator::kOffsetsTopic, home.partition); e != ErrorCode::NONE)
    co_return tl::unexpected(e);
  co_return home;
}

namespace {

coordinator::CoordinatorConfig coordinator_config(const BrokerConfig& config) {
  coordinator::CoordinatorConfig c;
  c.min_session_timeout_ms = config.get_int("group.min.session.timeout.ms");
  c.max_session_timeout_ms = config.get_int("group.max.session.timeout.ms");
  c.initial_rebalance_delay_ms = config.get_int("group.initial.rebalance.delay.ms");
  c.max_group_size = config.get_int("group.max.size");
  c.offsets_retention_ms = config.get_long("offsets.retention.minutes") * 60 * 1000;
  c.max_metadata_bytes = config.get_int("offset.metadata.max.bytes");
  return c;
}

}  // namespace

std::unique_ptr<coordinator::GroupCoordinator> make_coordinator(Broker& broker, int shard) {
  asio::io_context& context = broker.shards.context(shard);
  // Offset and group records, and (TxnOffsetCommit) transactional offset records: acknowledged
  // only once durable, as acks=all produce requests are.
  auto write = [&broker, &context](int32_t partition, std::vector<coordinator::OffsetsRecord> records,
                                   int64_t producer_id, int16_t producer_epoch,
                                   std::function<void(protocol::ErrorCode)> done) {
    const int64_t now = now_ms();
    append_durable(
        broker, coordinator::kOffsetsTopic, partition,
        [&](storage::PartitionLog& log) {
          Bytes batch = coordinator::build_batch(records, now, producer_id, producer_epoch);
          return log.append(batch, now);
        },
        [&context, done = std::move(done)](protocol::ErrorCode e) { asio::post(context, [done, e] { done(e); }); });
  };
  auto coordinator = std::make_unique<coordinator::GroupCoordinator>(
      context, coordinator_config(*broker.config()),
      [write](int32_t partition, std::vector<coordinator::OffsetsRecord> records,
              std::function<void(protocol::ErrorCode)> done) { write(partition, std::move(records), -1, -1, std::move(done)); },
      now_ms);
  coordinator->set_txn_append([write](int32_t partition, int64_t producer_id, int16_t producer_epoch,
                                      std::vector<coordinator::OffsetsRecord> records,
                                      std::function<void(protocol::ErrorCode)> done) {
    write(partition, std::move(records), producer_id, producer_epoch, std::move(done));
  });
  return coordinator;
}

bool load_groups(Broker& broker) {
  auto topic = broker.store.topic(coordinator::kOffsetsTopic);
  if (!topic) return true;
  auto started = std::chrono::steady_clock::now();
  coordinator::ReplayStats total;
  for (int32_t p = 0; p < topic->partitions; ++p) {
    // Replicated partitions are loaded when this node takes over their leadership.
    if (is_replicated(*topic, p) || !hosts(*topic, p, broker.node_id)) continue;
    int shard = broker.shard_of(topic->name, p);
    storage::PartitionLog* log = partition_log(broker, *topic, p);
    if (!log) {
      spdlog::error("{}-{} cannot be opened: its groups are not loaded", topic->name, p);
      continue;
    }
    auto stats = (*broker.coordinators)[static_cast<size_t>(shard)]->load(p, *log);
    if (!stats) {
      spdlog::error("loading groups from {}-{}: {}", topic->name, p, stats.error());
      return false;
    }
    total.records += stats->records;
    total.skipped += stats->skipped;
    if (stats->corrupt_batches > 0)
      spdlog::error("{}-{}: {} record batch(es) failed their CRC check; the groups and offsets they held are not loaded",
                    topic->name, p, stats->corrupt_batches);
    total.bytes += stats->bytes;
  }
  size_t groups = 0;
  for (auto& c : *broker.coordinators) groups += c->group_count();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  spdlog::info("loaded {} group(s) from {} record(s) ({} bytes) of {} in {} ms{}", groups, total.records, total.bytes,
               topic->name, ms, total.skipped ? fmt::format(" ({} records skipped)", total.skipped) : std::string());
  return true;
}

void take_over_coordinator(Broker& broker, int shard, const std::string& topic, int32_t partition,
                           const storage::PartitionLog* log, bool leading) {
  const bool groups = topic == coordinator::kOffsetsTopic;
  if (!groups && topic != coordinator::kTransactionTopic) return;
  broker.coordinator_loads.set(topic, partition, false);
  auto* g = groups ? (*broker.coordinators)[static_cast<size_t>(shard)].get() : nullptr;
  auto* t = groups ? nullptr : (*broker.txn_coordinators)[static_cast<size_t>(shard)].get();
  const size_t dropped = g ? g->unload(partition) : t->unload(partition);
  if (!leading || log == nullptr) {
    if (dropped > 0) spdlog::info("{}-{}: leadership moved away: unloaded {} {}", topic, partition, dropped,
                                  groups ? "group(s)" : "transactional id(s)");
    return;
  }
  auto started = std::chrono::steady_clock::now();
  auto stats = g ? g->load(partition, *log) : t->load(partition, *log);
  if (!stats) {
    // It stays COORDINATOR_LOAD_IN_PROGRESS: clients keep asking, nothing is served from half a state.
    spdlog::error("{}-{}: loading after taking over failed: {}", topic, partition, stats.error());
    return;
  }
  if (t) t->resume(partition);
  broker.coordinator_loads.set(topic, partition, true);
  spdlog::info("{}-{}: took over as coordinator: {} record(s) replayed in {} ms", topic, partition, stats->records,
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
}

}  // namespace fjord::broker
