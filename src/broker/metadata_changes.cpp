#include "broker/metadata_changes.h"

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include "broker/controller.h"
#include "broker/log_config.h"
#include "broker/partitions.h"
#include "broker/replication.h"
#include "storage/log_dirs.h"

namespace fjord::broker {

bool apply_metadata_change(Broker& broker, const metadata::Image& before, const metadata::Image& after) {
  const int32_t node = broker.node_id;
  const std::string node_key = std::to_string(node);
  const bool configs_changed = before.broker_configs("") != after.broker_configs("") ||
                               before.broker_configs(node_key) != after.broker_configs(node_key);
  if (configs_changed) broker.live_config.update(after);
  const std::filesystem::path data_dir = broker.static_config().data_dir();

  // Partitions this node no longer hosts: the topic went, or the partition moved away. The
  // directory moves on the partition's own shard, after its log is forgotten there: an append,
  // a roll or a cleaner pass of that shard never finds it renamed under an open log (nor, with
  // the topic made again, writes into the new one's directory).
  for (const auto& [name, was] : before.topics()) {
    const metadata::TopicInfo* now = after.find(was->id);
    if (now == was.get()) continue;
    for (int32_t p = 0; p < was->partitions; ++p) {
      if (!hosts(*was, p, node) || (now != nullptr && hosts(*now, p, node))) continue;
      storage::LogManager* logs = broker.logs[static_cast<size_t>(broker.shard_of(was->name, p))].get();
      refresh_replication(broker, was->name, p);
      asio::post(broker.shards.context(broker.shard_of(was->name, p)),
                 [logs, topic = was->name, p, dir = storage::partition_dir(data_dir, was->name, p)] {
                   logs->forget(topic, p);
                   auto marked = storage::mark_dir_deleted(dir);
                   if (!marked) {
                     spdlog::warn("{}-{} is gone but its directory could not be moved: {}", topic, p, marked.error());
                     return;
                   }
                   storage::remove_in_background({std::move(*marked)});
                 });
    }
  }

  // New partitions here, and new configs for the ones already here.
  for (const auto& [name, topic] : after.topics()) {
    const metadata::TopicInfo* was = before.find(topic->id);
    if (was == topic.get() && !configs_changed) continue;
    const bool reconfigure = configs_changed || (was != nullptr && was->configs != topic->configs);
    for (int32_t p = 0; p < topic->partitions; ++p) {
      if (!hosts(*topic, p, node)) continue;
      const bool added = was == nullptr || !hosts(*was, p, node);
      // Leader, ISR or replicas changed: this node may now lead or follow it.
      const metadata::PartitionState* state = topic->partition(p);
      const metadata::PartitionState* old_state = was ? was->partition(p) : nullptr;
      const bool moved = state != nullptr && (old_state == nullptr || *state != *old_state);
      if (added || reconfigure) {
        if (added) {
          if (auto r = storage::create_partition_dir(data_dir, topic->name, p, topic->id); !r) {
            spdlog::error("partition directory for {}-{}: {}", topic->name, p, r.error());
            continue;
          }
        }
        int shard = broker.shard_of(topic->name, p);
        asio::post(broker.shards.context(shard), [&broker, topic, p, added] {
          if (added) {
            partition_log(broker, *topic, p);  // opens it
            return;
          }
          storage::LogManager& logs = *broker.logs[static_cast<size_t>(broker.shard_of(topic->name, p))];
          if (storage::PartitionLog* log = logs.find(topic->name, p, topic->id))
            log->set_config(log_config_for(*broker.config(), *topic));
        });
      }
      // After the open (the same shard's queue). Leader-side requests that get there first
      // refresh it themselves (replication_leader_error).
      if (moved) refresh_replication(broker, topic->name, p);
    }
  }
  return configs_changed;
}

}  // namespace fjord::broker
