// Controller: the only writer of cluster metadata. Lives on the controller thread; every call must
// run there (use run_on(broker.controller_context())). On a single node it always writes; in a
// cluster only while this node leads the metadata quorum (NOT_CONTROLLER otherwise). What the
// records mean for this node (partition directories, logs, live configs) is done by whoever
// listens to the metadata store (broker/metadata_changes.h), on every node alike.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <chrono>
#include <string>

#include "base/config.h"
#include "broker/live_config.h"
#include "cluster/placement.h"
#include "metadata/store.h"
#include "protocol/generated/error_codes.h"
#include "tl/expected.hpp"

namespace fjord::broker {

struct TopicResult {
  protocol::ErrorCode error = protocol::ErrorCode::NONE;
  std::string message;
  std::shared_ptr<const metadata::TopicInfo> topic;  // the topic as created / changed

  bool ok() const { return error == protocol::ErrorCode::NONE; }
};

struct NewTopic {
  std::string name;
  int32_t partitions = -1;          // -1: num.partitions
  int16_t replication_factor = -1;  // -1: default.replication.factor
  std::map<std::string, std::string> configs;
  std::optional<std::string> null_config;  // name of a config sent with a null value
};

// Whether `node` holds a replica of the partition. Partitions without a PartitionRecord (made by
// a single node before they existed) live on the node that has them.
bool hosts(const metadata::TopicInfo& topic, int32_t partition, int32_t node);
// Whether the partition has more than one replica.
bool is_replicated(const metadata::TopicInfo& topic, int32_t partition);
// The partition's leader (-1: none); `node` for a partition without a PartitionRecord.
int32_t leader_of(const metadata::TopicInfo& topic, int32_t partition, int32_t node);

class Controller {
 public:
  // Brings `config` up to the image's dynamic broker configs.
  Controller(LiveConfig& config, metadata::MetadataStore& store, std::filesystem::path data_dir);

  TopicResult create_topic(const NewTopic& spec, bool validate_only);
  TopicResult delete_topic(const metadata::TopicInfo& topic);
  TopicResult create_partitions(const std::string& name, int32_t count, bool validate_only);
  // AlterPartitionReassignments for one partition: moves it to `target` replicas (registered
  // brokers, no repeats), or with nullopt cancels the reassignment in progress. The new replicas
  // catch up as followers; it ends when they are all in sync (see finish_reassignment).
  TopicResult reassign_partition(const std::string& name, int32_t partition,
                                 const std::optional<std::vector<int32_t>>& target);
  // ElectLeaders (KIP-460): preferred or unclean elections for the partitions asked for (nullopt:
  // every partition; those whose election is not needed are then left out, as Kafka does).
  // NOT_CONTROLLER as the whole answer off the active controller.
  struct ElectionAnswer {
    std::string topic;
    int32_t partition = 0;
    protocol::ErrorCode error = protocol::ErrorCode::NONE;
    std::string message;
  };
  tl::expected<std::vector<ElectionAnswer>, protocol::ErrorCode> elect_leaders(
      cluster::ElectionType type, const std::optional<std::vector<std::pair<std::string, int32_t>>>& partitions);
  // auto.leader.rebalance.enable: preferred elections for the partitions of brokers that lead
  // fewer of their preferred partitions than leader.imbalance.per.broker.percentage allows.
  // Returns how many moved. Called on a timer (leader.imbalance.check.interval.seconds).
  size_t balance_leaders();

  // Replaces the topic's config overrides with `configs` (validated first).
  TopicResult set_topic_configs(const std::string& name, const std::map<std::string, std::string>& configs,
                                bool validate_only);

  // Replaces the dynamic broker configs of `resource` (a registered broker's id, or "" for the
  // cluster-wide defaults) with `configs` (validated first: INVALID_REQUEST for an unknown broker
  // or a key that cannot change without a restart, INVALID_CONFIG for an unknown key or a bad
  // value).
  TopicResult set_broker_configs(const std::string& resource, const std::map<std::string, std::string>& configs,
                                 bool validate_only);

  // Producer ids (InitProducerId) are taken from the metadata log in blocks of kProducerIdBlock,
  // so no id is handed out twice, across restarts and brokers (Kafka's scheme).
  static constexpr int64_t kProducerIdBlock = 1000;
  // (Active controller) a block of kProducerIdBlock ids for `broker_id`: its first id.
  tl::expected<int64_t, protocol::ErrorCode> allocate_producer_ids(int32_t broker_id);
  // This node's block of ids (see broker/forward.h's next_producer_id): the next id, nullopt
  // when the block is used up.
  std::optional<int64_t> take_producer_id();
  void add_producer_id_block(int64_t start, int64_t count);

  // --- Cluster membership (cluster mode; on the active controller) ---

  // BrokerRegistration: records `broker` (fenced until its first heartbeat) with a new epoch.
  // DUPLICATE_BROKER_REGISTRATION while another incarnation with that id is alive,
  // INCONSISTENT_CLUSTER_ID for a broker of another cluster. The same incarnation again gets its
  // epoch back.
  struct Registration {
    protocol::ErrorCode error = protocol::ErrorCode::NONE;
    std::string message;
    int64_t epoch = -1;
  };
  Registration register_broker(metadata::BrokerInfo broker, const std::string& cluster_id);

  // BrokerHeartbeat: the broker is alive. A fenced broker that does not want to be is unfenced
  // (and partitions it may lead get it as leader); STALE_BROKER_EPOCH if `epoch` is not its
  // registration's.
  struct Heartbeat {
    protocol::ErrorCode error = protocol::ErrorCode::NONE;
    bool fenced = true;
    bool shut_down = false;
  };
  Heartbeat heartbeat(int32_t broker_id, int64_t epoch, bool want_fence, bool want_shut_down);

  // AlterPartition: the leader `broker_id` asks for the ISR in `asked` (whose leader epoch and
  // partition epoch must be the current ones: FENCED_LEADER_EPOCH / INVALID_UPDATE_VERSION
  // otherwise). Members must be replicas, and new ones unfenced (INELIGIBLE_REPLICA).
  // `broker_epoch` -1: not checked (the request came from this node).
  protocol::ErrorCode alter_partition(int32_t broker_id, int64_t broker_epoch, const Uuid& topic_id, int32_t partition,
                                      const metadata::PartitionState& asked);

  // Fences the brokers whose last heartbeat is older than broker.session.timeout.ms, elects
  // leaders where they are missing, and gives a new quorum its cluster id. Called on a timer.
  void check_brokers();
  // Unfenced brokers (other than this node) whose last heartbeat is older than `after`.
  std::vector<int32_t> overdue_brokers(std::chrono::milliseconds after);
  // Fences `broker_id` (registration `epoch`) at once, with new leaders for what it led: its
  // process is gone (see broker/liveness.h). Nothing if it is fenced already or registered again
  // since. True when it was fenced.
  bool fence_gone(int32_t broker_id, int64_t epoch, const std::string& why);

  // Makes sure every partition this node hosts has its directory (after a crash between the
  // metadata commit and the mkdir) and removes the directories of partitions it does not host.
  // REQUIRES: the image is current (in a cluster: the quorum has been caught up with).
  void reconcile_partition_dirs();

 private:
  TopicResult fail(protocol::ErrorCode code, std::string message) const { return {code, std::move(message), nullptr}; }
  TopicResult not_controller() const;
  TopicResult commit(const metadata::Record& record);
  TopicResult commit(const std::vector<metadata::Record>& records);
  // Brokers new replicas may go to: this node alone on a single node, the unfenced ones in a cluster.
  std::vector<cluster::BrokerSlot> usable_brokers(const metadata::Image& image) const;
  // PartitionRecords for partitions [first, first + count) of a topic.
  std::vector<metadata::Record> new_partitions(const metadata::Image& image, const Uuid& topic_id, int32_t first,
                                               int32_t count, int32_t rf);

  LiveConfig& config_;
  metadata::MetadataStore& store_;
  std::filesystem::path data_dir_;
  uint32_t placement_start_ = 0;  // rotates the first replica across topics

  // Leader elections for every partition given who is live now (the unfenced brokers, changed by
  // `fence`/`unfence`): PartitionRecords for those whose leader or ISR must change.
  std::vector<metadata::Record> elections(const metadata::Image& image, const std::set<int32_t>& live) const;
  std::set<int32_t> live_brokers(const metadata::Image& image) const;
  // Heartbeat times, as this controller has seen them since it took over (a new controller
  // counts every broker as just seen).
  void refresh_liveness(const metadata::Image& image);
  std::map<int32_t, std::chrono::steady_clock::time_point> last_seen_;
  uint64_t liveness_term_ = 0;
  int64_t producer_id_next_ = 0;  // the block being handed out: [next, end)
  int64_t producer_id_end_ = 0;
};

}  // namespace fjord::broker
