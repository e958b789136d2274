// GroupCoordinator: the classic consumer-group protocol (Empty -> PreparingRebalance ->
// CompletingRebalance -> Stable, Dead) and committed offsets, for the groups whose
// __consumer_offsets partition lives on this shard. One instance per shard, used only on that
// shard's thread; it lives as long as the shard's io_context runs.
//
// Requests that wait (JoinGroup until the rebalance completes, SyncGroup until the leader's
// assignment, commits until durable) take a completion callback, always called on this shard.
// Timers are per member (session deadline, re-armed lazily) and per group (join phase, initial
// delay, and the wait for SyncGroups after a join completes).
#pragma once

#include <asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coordinator/records.h"
#include "protocol/generated/delete_groups_response.h"
#include "protocol/generated/describe_groups_response.h"
#include "protocol/generated/error_codes.h"
#include "protocol/generated/heartbeat_request.h"
#include "protocol/generated/heartbeat_response.h"
#include "protocol/generated/join_group_request.h"
#include "protocol/generated/join_group_response.h"
#include "protocol/generated/leave_group_request.h"
#include "protocol/generated/leave_group_response.h"
#include "protocol/generated/list_groups_response.h"
#include "protocol/generated/offset_commit_request.h"
#include "protocol/generated/offset_commit_response.h"
#include "protocol/generated/offset_delete_request.h"
#include "protocol/generated/offset_delete_response.h"
#include "protocol/generated/offset_fetch_request.h"
#include "protocol/generated/offset_fetch_response.h"
#include "protocol/generated/sync_group_request.h"
#include "protocol/generated/sync_group_response.h"
#include "protocol/generated/txn_offset_commit_request.h"
#include "protocol/generated/txn_offset_commit_response.h"

namespace fjord::coordinator {

struct CoordinatorConfig {
  int32_t min_session_timeout_ms = 6000;       // group.min.session.timeout.ms
  int32_t max_session_timeout_ms = 1800000;    // group.max.session.timeout.ms
  int32_t initial_rebalance_delay_ms = 3000;   // group.initial.rebalance.delay.ms
  int32_t max_group_size = INT32_MAX;          // group.max.size
  int64_t offsets_retention_ms = 7 * 86400000LL;  // offsets.retention.minutes
  int32_t max_metadata_bytes = 4096;           // offset.metadata.max.bytes
};

// Appends records to a partition of __consumer_offsets (owned by this shard) and calls `done`
// on this shard once they are durable, or with the error that stopped them.
using AppendFn = std::function<void(int32_t partition, std::vector<OffsetsRecord> records,
                                    std::function<void(protocol::ErrorCode)> done)>;
using Clock = std::function<int64_t()>;  // wall clock, milliseconds
// Appends records as one transactional batch of (producer id, epoch), as AppendFn does.
using TxnAppendFn = std::function<void(int32_t partition, int64_t producer_id, int16_t producer_epoch,
                                       std::vector<OffsetsRecord> records, std::function<void(protocol::ErrorCode)> done)>;

enum class GroupState { Empty, PreparingRebalance, CompletingRebalance, Stable, Dead };
const char* state_name(GroupState state);

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

// Who sent the request (for DescribeGroups and member ids).
struct ClientInfo {
  std::string client_id;
  std::string client_host;
};

struct GroupSummary {
  std::string group_id;
  std::string protocol_type;
  GroupState state = GroupState::Empty;
};

class GroupCoordinator {
 public:
  GroupCoordinator(asio::io_context& context, CoordinatorConfig config, AppendFn append, Clock clock);
  ~GroupCoordinator();
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  // Rebuilds groups and offsets of `partition` from its log (at start, before serving).
  tl::expected<ReplayStats, std::string> load(int32_t partition, const storage::PartitionLog& log);

  // Drops the groups and offsets of `partition` (its leadership moved to another broker): their
  // waiting JoinGroup and SyncGroup calls get NOT_COORDINATOR. Returns how many groups went.
  size_t unload(int32_t partition);

  using JoinDone = std::function<void(protocol::JoinGroupResponse)>;
  using SyncDone = std::function<void(protocol::SyncGroupResponse)>;

  void join_group(int32_t partition, const protocol::JoinGroupRequest& req, int16_t version, const ClientInfo& client,
                  JoinDone done);
  void sync_group(const protocol::SyncGroupRequest& req, int16_t version, SyncDone done);
  protocol::HeartbeatResponse heartbeat(const protocol::HeartbeatRequest& req);
  protocol::LeaveGroupResponse leave_group(const protocol::LeaveGroupRequest& req, int16_t version);

  // `valid` says, per requested partition, the error found before reaching the coordinator
  // (unknown topic, metadata too large); NONE ones are committed.
  void commit_offsets(int32_t partition, const protocol::OffsetCommitRequest& req,
                      std::function<void(protocol::OffsetCommitResponse)> done);
  // One group's committed offsets: every one when `topics` is null. With `require_stable`
  // (KIP-447), a partition with an offset pending in an open transaction gets
  // UNSTABLE_OFFSET_COMMIT instead.
  protocol::OffsetFetchResponse::OffsetFetchResponseGroup fetch_offsets(
      const std::string& group_id,
      const std::optional<std::vector<protocol::OffsetFetchRequest::OffsetFetchRequestTopics>>& topics,
      bool require_stable = false) const;

  // TxnOffsetCommit: the offsets are written to the group's partition in the producer's
  // transaction and count as committed once its commit marker lands there (complete_txn).
  void set_txn_append(TxnAppendFn fn) { txn_append_ = std::move(fn); }
  void txn_commit_offsets(int32_t partition, const protocol::TxnOffsetCommitRequest& req,
                          std::function<void(protocol::TxnOffsetCommitResponse)> done);
  // A transaction marker of `producer_id` is durable on `partition` of __consumer_offsets.
  void complete_txn(int32_t partition, int64_t producer_id, bool commit);

  std::vector<GroupSummary> list_groups() const;
  protocol::DescribeGroupsResponse::DescribedGroup describe_group(const std::string& group_id) const;
  void delete_group(const std::string& group_id, std::function<void(protocol::ErrorCode)> done);
  void delete_offsets(const protocol::OffsetDeleteRequest& req, std::function<void(protocol::OffsetDeleteResponse)> done);

  // Drops committed offsets of groups empty for longer than the retention, and then groups with
  // nothing left (offsets.retention.minutes). Returns how many offsets went.
  size_t expire_offsets();

  size_t group_count() const { return groups_.size(); }

 private:
  struct Member;
  struct Group;

  Group* find(const std::string& id) const;
  Group& get_or_create(const std::string& id, int32_t partition);

  void join_new_member(Group& g, const protocol::JoinGroupRequest& req, int16_t version, const ClientInfo& client,
                       JoinDone& done);
  void join_known_member(Group& g, const protocol::JoinGroupRequest& req, const ClientInfo& client, JoinDone& done);
  void replace_static_member(Group& g, std::string old_id, const std::string& new_id,
                             const protocol::JoinGroupRequest& req, JoinDone& done);
  Member& add_member(Group& g, const std::string& id, const protocol::JoinGroupRequest& req, const ClientInfo& client);
  void update_member(Group& g, Member& m, const protocol::JoinGroupRequest& req, JoinDone& done);
  void remove_member(Group& g, const std::string& member_id, protocol::ErrorCode pending_error);
  void member_left(Group& g, const std::string& why);

  void prepare_rebalance(Group& g, const std::string& reason);
  void try_complete_join(Group& g);
  void complete_join(Group& g);
  void arm_join_timer(Group& g, int64_t delay_ms, bool initial);
  void on_join_timer(const std::string& group_id, uint64_t epoch, bool initial);
  void on_sync_timer(const std::string& group_id, uint64_t epoch);

  void touch(Group& g, Member& m);  // a heartbeat: push the session deadline out
  void arm_session(Group& g, Member& m);
  void on_session_timer(const std::string& group_id, const std::string& member_id);
  void arm_pending(Group& g, const std::string& member_id, int32_t session_ms);

  protocol::JoinGroupResponse join_response(const Group& g, const Member& m, bool with_members) const;
  bool protocols_match(const Member& m, const protocol::JoinGroupRequest& req) const;
  bool supports_protocols(const Group& g, const protocol::JoinGroupRequest& req) const;
  std::optional<std::string> select_protocol(const Group& g) const;
  std::set<std::string> subscribed_topics(const Group& g) const;

  protocol::GroupMetadataValue metadata_value(const Group& g) const;
  void persist_group(Group& g, std::function<void(protocol::ErrorCode)> done);
  void set_state(Group& g, GroupState state);

  // The error a commit from (generation, member, instance) into `g` gets (NONE: go ahead).
  protocol::ErrorCode commit_member_error(Group* g, int32_t generation, const std::string& member_id,
                                          const std::optional<std::string>& instance_id);

  asio::io_context& context_;
  CoordinatorConfig config_;
  AppendFn append_;
  TxnAppendFn txn_append_;
  // Offsets written in open transactions: producer id -> group -> (its partition, offsets).
  struct PendingOffsets {
    int32_t partition = 0;
    std::map<TopicPartition, CommittedOffset> offsets;
  };
  std::map<int64_t, std::map<std::string, PendingOffsets>> pending_txn_offsets_;
  Clock clock_;
  std::map<std::string, std::unique_ptr<Group>> groups_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace fjord::coordinator
