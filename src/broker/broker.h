// The broker's shared context: configuration, metadata, the controller and the shards. Created
// once at start, read from every shard; only the metadata image and the live configuration
// change (atomically).
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <cstdint>
#include <string>

#include "base/config.h"
#include "broker/connection_limits.h"
#include "broker/live_config.h"
#include "broker/request_memory.h"
#include "broker/controller.h"
#include "broker/fetch_sessions.h"
#include "broker/shards.h"
#include "coordinator/group_coordinator.h"
#include "coordinator/transaction_coordinator.h"
#include "metadata/store.h"
#include "storage/log_manager.h"

namespace fjord::broker {

class ShardReplication;
class BrokerLiveness;

// The shard that writes the offset checkpoints and handles signals.
inline constexpr int kControllerShard = 0;

// The partitions of replicated coordinator topics (__consumer_offsets, __transaction_state) whose
// groups or transactions this node has loaded: it took over their leadership and replayed them.
// Until then their coordinator answers COORDINATOR_LOAD_IN_PROGRESS. Read from every shard.
class CoordinatorLoads {
 public:
  void set(std::string_view topic, int32_t partition, bool loaded) {
    std::lock_guard lock(mutex_);
    if (loaded) {
      loaded_.emplace(std::string(topic), partition);
    } else {
      loaded_.erase({std::string(topic), partition});
    }
  }
  bool loaded(std::string_view topic, int32_t partition) const {
    std::lock_guard lock(mutex_);
    return loaded_.contains({std::string(topic), partition});
  }

 private:
  mutable std::mutex mutex_;
  std::set<std::pair<std::string, int32_t>> loaded_;
};

struct Broker {
  LiveConfig& live_config;
  metadata::MetadataStore& store;
  Controller& controller;  // on the controller thread only: reach it through run_on(controller_context())
  Shards& shards;
  // One per shard; logs_[i] is used on shard i only.
  std::vector<std::unique_ptr<storage::LogManager>>& logs;
  // One per shard; fetch_sessions[i] is used on shard i only.
  std::vector<std::unique_ptr<FetchSessionCache>>& fetch_sessions;
  // One per shard; coordinators[i] is used on shard i only, for the groups whose
  // __consumer_offsets partition lives there.
  std::vector<std::unique_ptr<coordinator::GroupCoordinator>>* coordinators = nullptr;
  // One per shard, for the transactional ids whose __transaction_state partition lives there.
  std::vector<std::unique_ptr<coordinator::TransactionCoordinator>>* txn_coordinators = nullptr;
  // One per shard (cluster mode), for the replicated partitions that shard owns; null before
  // replication starts.
  std::atomic<std::vector<std::unique_ptr<ShardReplication>>*> replication{nullptr};
  ShardReplication* replication_of(int shard) const {
    auto* all = replication.load(std::memory_order_acquire);
    return all ? (*all)[static_cast<size_t>(shard)].get() : nullptr;
  }
  CoordinatorLoads coordinator_loads;
  // Cluster mode: fences brokers whose process is gone (controller thread only); null otherwise.
  std::shared_ptr<BrokerLiveness> liveness;
  int32_t node_id = 1;
  // What this node advertises: the first client listener's endpoint (the one a cluster node
  // registers with the controller) ...
  std::string advertised_host;
  int32_t advertised_port = 0;
  // ... and every client listener's, in the order of `listeners` (empty: only the above).
  struct Endpoint {
    std::string listener;
    std::string host;
    int32_t port = 0;
  };
  std::vector<Endpoint> endpoints;
  // Where a client that came in on `listener` reaches this node.
  std::pair<std::string, int32_t> advertised_for(int listener) const {
    if (listener >= 0 && static_cast<size_t>(listener) < endpoints.size())
      return {endpoints[static_cast<size_t>(listener)].host, endpoints[static_cast<size_t>(listener)].port};
    return {advertised_host, advertised_port};
  }
  int32_t max_request_bytes = 0;
  std::chrono::milliseconds idle_timeout{0};   // 0 or less: never
  std::chrono::milliseconds frame_timeout{0};  // socket.request.read.timeout.ms; 0 or less: none
  // max.connections and max.connections.per.ip; null: no limits.
  std::shared_ptr<ConnectionLimits> connection_limits;
  // One per shard (queued.max.request.bytes split over them); request_memory[i] is used on
  // shard i only. Null: no bound.
  std::vector<std::unique_ptr<RequestMemory>>* request_memory = nullptr;

  // The configuration now, dynamic broker configs included. Hold the pointer for one request.
  std::shared_ptr<const BrokerConfig> config() const { return live_config.get(); }
  const BrokerConfig& static_config() const { return live_config.static_config(); }

  asio::io_context& controller_context() { return shards.controller(); }
  int shard_of(const std::string& topic, int32_t partition) const {
    return storage::shard_of(topic, partition, shards.count());
  }
};

}  // namespace fjord::broker
