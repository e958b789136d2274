#include "coordinator/group_coordinator.h"

#include "protocol/record_batch.h"

#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "base/uuid.h"
#include "protocol/codec.h"
#include "protocol/generated/consumer_protocol_subscription.h"

namespace fjord::coordinator {

using namespace protocol;
using SteadyClock = std::chrono::steady_clock;

namespace {

int16_t err(ErrorCode c) { return code(c); }

// A JoinGroup answered with an error (no protocol: null where the version allows).
JoinGroupResponse join_error(ErrorCode e, std::string member_id) {
  JoinGroupResponse resp;
  resp.error_code = err(e);
  resp.member_id = std::move(member_id);
  resp.protocol_name = std::nullopt;
  return resp;
}

SyncGroupResponse sync_error(ErrorCode e) {
  SyncGroupResponse resp;
  resp.error_code = err(e);
  return resp;
}

// A failed __consumer_offsets append, as the coordinator reports it (Kafka's mapping).
ErrorCode commit_error(ErrorCode append_error) {
  switch (append_error) {
    case ErrorCode::NONE:
      return ErrorCode::NONE;
    case ErrorCode::MESSAGE_TOO_LARGE:
    case ErrorCode::RECORD_LIST_TOO_LARGE:
      return ErrorCode::INVALID_COMMIT_OFFSET_SIZE;
    case ErrorCode::NOT_LEADER_OR_FOLLOWER:
      return ErrorCode::NOT_COORDINATOR;  // the broker is shutting down: find the coordinator again
    case ErrorCode::KAFKA_STORAGE_ERROR:
    case ErrorCode::UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode::NOT_ENOUGH_REPLICAS:
      return ErrorCode::COORDINATOR_NOT_AVAILABLE;
    default:
      return ErrorCode::UNKNOWN_SERVER_ERROR;
  }
}

}  // namespace

const char* state_name(GroupState state) {
  switch (state) {
    case GroupState::Empty:
      return "Empty";
    case GroupState::PreparingRebalance:
      return "PreparingRebalance";
    case GroupState::CompletingRebalance:
      return "CompletingRebalance";
    case GroupState::Stable:
      return "Stable";
    case GroupState::Dead:
      return "Dead";
  }
  return "Unknown";
}

struct GroupCoordinator::Member {
  explicit Member(asio::io_context& ctx) : session_timer(ctx) {}

  std::string id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = 0;
  std::vector<std::pair<std::string, Bytes>> protocols;  // in the member's order of preference
  Bytes assignment;
  JoinDone awaiting_join;
  SyncDone awaiting_sync;
  bool is_new = false;
  bool synced = false;  // sent SyncGroup in the current CompletingRebalance
  SteadyClock::time_point deadline;
  asio::steady_timer session_timer;
  bool session_armed = false;

  const Bytes* metadata_for(const std::optional<std::string>& protocol) const {
    if (!protocol) return nullptr;
    for (const auto& [name, metadata] : protocols)
      if (name == *protocol) return &metadata;
    return nullptr;
  }
};

struct GroupCoordinator::Group {
  explicit Group(asio::io_context& ctx) : join_timer(ctx) {}

  std::string id;
  int32_t partition = 0;
  GroupState state = GroupState::Empty;
  int64_t state_timestamp = -1;
  int32_t generation = 0;
  std::string protocol_type;
  std::optional<std::string> protocol;
  std::optional<std::string> leader;
  std::map<std::string, std::unique_ptr<Member>> members;
  std::map<std::string, std::string> static_members;  // group.instance.id -> member id
  // Member ids handed out with MEMBER_ID_REQUIRED, not yet rejoined; each with its expiry.
  std::map<std::string, std::unique_ptr<asio::steady_timer>> pending;
  std::map<TopicPartition, CommittedOffset> offsets;

  asio::steady_timer join_timer;
  uint64_t join_epoch = 0;
  bool initial_delay = false;     // group.initial.rebalance.delay.ms running
  bool new_member_added = false;  // during the initial delay
  int64_t initial_remaining_ms = 0;

  bool all_joined() const {
    if (!pending.empty()) return false;
    for (const auto& [id, m] : members)
      if (!m->awaiting_join) return false;
    return true;
  }
  int32_t rebalance_timeout_ms() const {
    int32_t t = 0;
    for (const auto& [id, m] : members) t = std::max(t, m->rebalance_timeout_ms);
    return t;
  }
  bool fenced(const std::optional<std::string>& instance_id, const std::string& member_id) const {
    if (!instance_id) return false;
    auto it = static_members.find(*instance_id);
    return it != static_members.end() && it->second != member_id;
  }
};

GroupCoordinator::GroupCoordinator(asio::io_context& context, CoordinatorConfig config, AppendFn append, Clock clock)
    : context_(context), config_(config), append_(std::move(append)), clock_(std::move(clock)) {}

GroupCoordinator::~GroupCoordinator() { *alive_ = false; }

GroupCoordinator::Group* GroupCoordinator::find(const std::string& id) const {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : it->second.get();
}

GroupCoordinator::Group& GroupCoordinator::get_or_create(const std::string& id, int32_t partition) {
  auto& slot = groups_[id];
  if (!slot) {
    slot = std::make_unique<Group>(context_);
    slot->id = id;
    slot->partition = partition;
    slot->state_timestamp = clock_();
  }
  return *slot;
}

void GroupCoordinator::set_state(Group& g, GroupState state) {
  g.state = state;
  g.state_timestamp = clock_();
}

// ------------------------------------------------------------------------------------- load

size_t GroupCoordinator::unload(int32_t partition) {
  size_t gone = 0;
  for (auto it = groups_.begin(); it != groups_.end();) {
    Group& g = *it->second;
    if (g.partition != partition) {
      ++it;
      continue;
    }
    for (auto& [id, m] : g.members) {
      if (m->awaiting_join) std::exchange(m->awaiting_join, nullptr)(join_error(ErrorCode::NOT_COORDINATOR, id));
      if (m->awaiting_sync) std::exchange(m->awaiting_sync, nullptr)(sync_error(ErrorCode::NOT_COORDINATOR));
    }
    it = groups_.erase(it);
    ++gone;
  }
  for (auto& [producer, groups] : pending_txn_offsets_)
    std::erase_if(groups, [partition](const auto& e) { return e.second.partition == partition; });
  std::erase_if(pending_txn_offsets_, [](const auto& e) { return e.second.empty(); });
  return gone;
}

tl::expected<ReplayStats, std::string> GroupCoordinator::load(int32_t partition, const storage::PartitionLog& log) {
  std::map<std::string, std::optional<GroupMetadataValue>> values;
  std::map<std::string, std::map<TopicPartition, CommittedOffset>> offsets;
  ReplayHandler handler;
  handler.offset = [&](const std::string& group, const std::string& topic, int32_t p,
                       std::optional<CommittedOffset> offset) {
    auto& of_group = offsets[group];
    if (offset)
      of_group[TopicPartition{topic, p}] = std::move(*offset);
    else
      of_group.erase(TopicPartition{topic, p});
  };
  handler.group = [&](const std::string& group, std::optional<GroupMetadataValue> value) {
    values[group] = std::move(value);
  };
  // Offsets written in transactions wait for their producer's marker.
  std::map<int64_t, std::map<std::string, std::map<TopicPartition, std::optional<CommittedOffset>>>> in_txn;
  int64_t producer = -1;
  ReplayHandler txn_handler;
  txn_handler.offset = [&](const std::string& group, const std::string& topic, int32_t p,
                           std::optional<CommittedOffset> offset) {
    in_txn[producer][group][TopicPartition{topic, p}] = std::move(offset);
  };
  txn_handler.group = [](const std::string&, std::optional<GroupMetadataValue>) {};
  auto stats = for_each_batch(log, [&](const protocol::BatchHeader& h, ByteView whole, ByteView body,
                                       ReplayStats& st) {
    if (h.is_control()) {
      auto marker = protocol::read_txn_marker(whole);
      auto it = in_txn.find(h.producer_id);
      if (!marker || it == in_txn.end()) return;
      if (marker->commit)
        for (auto& [group, entries] : it->second)
          for (auto& [tp, offset] : entries) handler.offset(group, tp.topic, tp.partition, std::move(offset));
      in_txn.erase(it);
      return;
    }
    producer = h.producer_id;
    const ReplayHandler& use = h.is_transactional() ? txn_handler : handler;
    for_each_record(body, h, [&](const protocol::RecordView& rec) {
      ++st.records;
      if (!rec.key || !replay_record(*rec.key, rec.value, use)) ++st.skipped;
    });
  });
  if (!stats) return stats;
  for (auto& [pid, groups] : in_txn)
    for (auto& [group, entries] : groups) {
      PendingOffsets& pending = pending_txn_offsets_[pid][group];
      pending.partition = partition;
      for (auto& [tp, offset] : entries)
        if (offset) pending.offsets[tp] = std::move(*offset);
    }

  for (auto& [id, value] : values) offsets[id];  // every group with metadata, even without offsets
  for (auto& [id, group_offsets] : offsets) {
    auto v = values.find(id);
    const GroupMetadataValue* value = v != values.end() && v->second ? &*v->second : nullptr;
    if (!value && group_offsets.empty()) continue;
    Group& g = get_or_create(id, partition);
    g.offsets = std::move(group_offsets);
    if (!value) continue;
    g.protocol_type = value->protocol_type;
    g.generation = value->generation;
    g.protocol = value->protocol;
    g.leader = value->leader;
    if (value->current_state_timestamp >= 0) g.state_timestamp = value->current_state_timestamp;
    for (const auto& mm : value->members) {
      auto m = std::make_unique<Member>(context_);
      m->id = mm.member_id;
      m->instance_id = mm.group_instance_id;
      m->client_id = mm.client_id;
      m->client_host = mm.client_host;
      m->session_timeout_ms = mm.session_timeout;
      m->rebalance_timeout_ms = mm.rebalance_timeout >= 0 ? mm.rebalance_timeout : mm.session_timeout;
      m->protocols.emplace_back(value->protocol.value_or(""), mm.subscription);
      m->assignment = mm.assignment;
      if (m->instance_id) g.static_members[*m->instance_id] = m->id;
      g.members.emplace(m->id, std::move(m));
    }
    // A group with members resumes Stable: they keep their assignment if they heartbeat in time.
    g.state = g.members.empty() ? GroupState::Empty : GroupState::Stable;
    for (auto& [mid, m] : g.members) touch(g, *m);
  }
  return stats;
}

// ------------------------------------------------------------------------------ join group

void GroupCoordinator::join_group(int32_t partition, const JoinGroupRequest& req, int16_t version,
                                  const ClientInfo& client, JoinDone done) {
  auto fail = [&](ErrorCode e) { done(join_error(e, req.member_id)); };
  if (req.group_id.empty()) return fail(ErrorCode::INVALID_GROUP_ID);
  if (req.session_timeout_ms < config_.min_session_timeout_ms ||
      req.session_timeout_ms > config_.max_session_timeout_ms)
    return fail(ErrorCode::INVALID_SESSION_TIMEOUT);
  Group* g = find(req.group_id);
  if (req.member_id.empty()) {
    if (!g) g = &get_or_create(req.group_id, partition);
    if (g->state == GroupState::Dead) return fail(ErrorCode::COORDINATOR_NOT_AVAILABLE);
    return join_new_member(*g, req, version, client, done);
  }
  if (!g) return fail(ErrorCode::UNKNOWN_MEMBER_ID);
  if (g->state == GroupState::Dead) return fail(ErrorCode::COORDINATOR_NOT_AVAILABLE);
  join_known_member(*g, req, client, done);
}

void GroupCoordinator::join_new_member(Group& g, const JoinGroupRequest& req, int16_t version, const ClientInfo& client,
                                       JoinDone& done) {
  auto fail = [&](ErrorCode e, std::string member_id = {}) { done(join_error(e, std::move(member_id))); };
  if (!supports_protocols(g, req)) return fail(ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
  const std::string& prefix = req.group_instance_id ? *req.group_instance_id : client.client_id;
  std::string new_id = prefix + "-" + Uuid::random().to_string();
  if (req.group_instance_id) {
    auto known = g.static_members.find(*req.group_instance_id);
    if (known != g.static_members.end()) return replace_static_member(g, known->second, new_id, req, done);
  }
  if (g.members.size() + g.pending.size() >= static_cast<size_t>(config_.max_group_size))
    return fail(ErrorCode::GROUP_MAX_SIZE_REACHED);
  if (!req.group_instance_id && version >= 4) {
    // KIP-394: the member must come back with the id it is given, so that a client that never
    // hears this answer does not leave a ghost member behind.
    arm_pending(g, new_id, req.session_timeout_ms);
    return fail(ErrorCode::MEMBER_ID_REQUIRED, new_id);
  }
  Member& m = add_member(g, new_id, req, client);
  m.awaiting_join = std::move(done);
  if (g.state == GroupState::PreparingRebalance) {
    g.new_member_added = true;
    try_complete_join(g);
  } else {
    prepare_rebalance(g, "adding new member " + new_id);
  }
}

void GroupCoordinator::join_known_member(Group& g, const JoinGroupRequest& req, const ClientInfo& client,
                                         JoinDone& done) {
  auto fail = [&](ErrorCode e) { done(join_error(e, req.member_id)); };
  if (auto p = g.pending.find(req.member_id); p != g.pending.end()) {
    g.pending.erase(p);
    if (!supports_protocols(g, req)) return fail(ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
    Member& m = add_member(g, req.member_id, req, client);
    m.awaiting_join = std::move(done);
    if (g.state == GroupState::PreparingRebalance) {
      g.new_member_added = true;
      try_complete_join(g);
    } else {
      prepare_rebalance(g, "adding new member " + req.member_id);
    }
    return;
  }
  if (g.fenced(req.group_instance_id, req.member_id)) return fail(ErrorCode::FENCED_INSTANCE_ID);
  auto it = g.members.find(req.member_id);
  if (it == g.members.end()) return fail(ErrorCode::UNKNOWN_MEMBER_ID);
  Member& m = *it->second;
  if (!supports_protocols(g, req)) return fail(ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
  switch (g.state) {
    case GroupState::PreparingRebalance:
      update_member(g, m, req, done);
      try_complete_join(g);
      return;
    case GroupState::CompletingRebalance:
      if (protocols_match(m, req)) {
        // The member lost our answer: send it again.
        touch(g, m);
        return done(join_response(g, m, g.leader == m.id));
      }
      update_member(g, m, req, done);
      return prepare_rebalance(g, "member " + m.id + " changed its protocols");
    case GroupState::Stable:
      if (g.leader == m.id || !protocols_match(m, req)) {
        update_member(g, m, req, done);
        return prepare_rebalance(g, "leader or changed member " + m.id + " rejoined");
      }
      touch(g, m);
      return done(join_response(g, m, false));
    case GroupState::Empty:
    case GroupState::Dead:
      return fail(ErrorCode::UNKNOWN_MEMBER_ID);
  }
}

void GroupCoordinator::replace_static_member(Group& g, std::string old_id, const std::string& new_id,
                                             const JoinGroupRequest& req, JoinDone& done) {
  auto node = g.members.extract(old_id);
  if (node.empty()) return;
  Member& m = *node.mapped();
  if (m.awaiting_join) {
    std::exchange(m.awaiting_join, nullptr)(join_error(ErrorCode::FENCED_INSTANCE_ID, old_id));
  }
  if (m.awaiting_sync) {
    std::exchange(m.awaiting_sync, nullptr)(sync_error(ErrorCode::FENCED_INSTANCE_ID));
  }
  m.id = new_id;
  node.key() = new_id;
  g.members.insert(std::move(node));
  // The session timer's pending wait names the old id: start it again under the new one.
  m.session_timer.cancel();
  m.session_armed = false;
  touch(g, m);
  g.static_members[*req.group_instance_id] = new_id;
  if (g.leader == old_id) g.leader = new_id;
  spdlog::info("group {}: static member {} rejoined as {} (was {})", g.id, *req.group_instance_id, new_id, old_id);

  if (g.state == GroupState::Stable && protocols_match(m, req)) {
    // KIP-345: same instance, same subscription: it keeps its assignment, nobody rebalances.
    m.session_timeout_ms = req.session_timeout_ms;
    m.rebalance_timeout_ms = req.rebalance_timeout_ms;
    touch(g, m);
    const bool leader = g.leader == new_id;
    auto reply = [this, alive = std::weak_ptr<bool>(alive_), group_id = g.id, new_id, leader,
                  done = std::move(done)](ErrorCode e) {
      if (alive.expired()) return;
      Group* g = find(group_id);
      auto it = g ? g->members.find(new_id) : decltype(g->members.end()){};
      if (!g || it == g->members.end()) return done(join_error(ErrorCode::UNKNOWN_MEMBER_ID, new_id));
      JoinGroupResponse resp = join_response(*g, *it->second, leader);
      // The leader gets the members but must not reassign (JoinGroup v9's skip_assignment; older
      // clients send an assignment that the Stable group ignores).
      resp.skip_assignment = leader;
      resp.error_code = err(commit_error(e));
      done(std::move(resp));
    };
    return persist_group(g, std::move(reply));
  }
  update_member(g, m, req, done);
  if (g.state == GroupState::PreparingRebalance)
    try_complete_join(g);
  else
    prepare_rebalance(g, "static member " + *req.group_instance_id + " rejoined with new protocols");
}

GroupCoordinator::Member& GroupCoordinator::add_member(Group& g, const std::string& id, const JoinGroupRequest& req,
                                                      const ClientInfo& client) {
  if (g.members.empty()) g.protocol_type = req.protocol_type;
  auto m = std::make_unique<Member>(context_);
  m->id = id;
  m->instance_id = req.group_instance_id;
  m->client_id = client.client_id;
  m->client_host = client.client_host;
  m->session_timeout_ms = req.session_timeout_ms;
  m->rebalance_timeout_ms = req.rebalance_timeout_ms > 0 ? req.rebalance_timeout_ms : req.session_timeout_ms;
  for (const auto& p : req.protocols) m->protocols.emplace_back(p.name, p.metadata);
  m->is_new = true;
  if (m->instance_id) g.static_members[*m->instance_id] = id;
  Member& ref = *m;
  g.members.emplace(id, std::move(m));
  touch(g, ref);
  return ref;
}

void GroupCoordinator::update_member(Group& g, Member& m, const JoinGroupRequest& req, JoinDone& done) {
  m.protocols.clear();
  for (const auto& p : req.protocols) m.protocols.emplace_back(p.name, p.metadata);
  m.session_timeout_ms = req.session_timeout_ms;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms > 0 ? req.rebalance_timeout_ms : req.session_timeout_ms;
  if (m.awaiting_join) {
    // A second JoinGroup while the first still waits: the newer one is the one answered.
    std::exchange(m.awaiting_join, nullptr)(join_error(ErrorCode::REBALANCE_IN_PROGRESS, m.id));
  }
  m.awaiting_join = std::move(done);
  touch(g, m);
}

void GroupCoordinator::remove_member(Group& g, const std::string& member_id, ErrorCode pending_error) {
  auto it = g.members.find(member_id);
  if (it == g.members.end()) return;
  std::unique_ptr<Member> m = std::move(it->second);
  g.members.erase(it);
  if (m->instance_id) {
    auto s = g.static_members.find(*m->instance_id);
    if (s != g.static_members.end() && s->second == member_id) g.static_members.erase(s);
  }
  if (g.leader == member_id) g.leader.reset();
  if (m->awaiting_join) m->awaiting_join(join_error(pending_error, member_id));
  if (m->awaiting_sync) m->awaiting_sync(sync_error(pending_error));
}

void GroupCoordinator::member_left(Group& g, const std::string& why) {
  switch (g.state) {
    case GroupState::Stable:
    case GroupState::CompletingRebalance:
      prepare_rebalance(g, why);
      break;
    case GroupState::PreparingRebalance:
      try_complete_join(g);
      break;
    case GroupState::Empty:
    case GroupState::Dead:
      break;
  }
}

// ------------------------------------------------------------------------------- rebalance

void GroupCoordinator::prepare_rebalance(Group& g, const std::string& reason) {
  if (g.state == GroupState::CompletingRebalance) {
    for (auto& [id, m] : g.members) {
      m->assignment.clear();
      if (m->awaiting_sync) {
        std::exchange(m->awaiting_sync, nullptr)(sync_error(ErrorCode::REBALANCE_IN_PROGRESS));
        touch(g, *m);  // it could not heartbeat while it waited
      }
    }
  }
  const bool initial = g.state == GroupState::Empty && config_.initial_rebalance_delay_ms > 0;
  spdlog::info("group {}: preparing to rebalance from {} at generation {} ({})", g.id, state_name(g.state),
               g.generation, reason);
  set_state(g, GroupState::PreparingRebalance);
  const int64_t rebalance_ms = g.rebalance_timeout_ms();
  if (initial) {
    const int64_t delay = std::min<int64_t>(config_.initial_rebalance_delay_ms, rebalance_ms);
    g.initial_delay = true;
    g.new_member_added = false;
    g.initial_remaining_ms = std::max<int64_t>(rebalance_ms - delay, 0);
    arm_join_timer(g, delay, true);
  } else {
    arm_join_timer(g, rebalance_ms, false);
  }
  try_complete_join(g);
}

void GroupCoordinator::arm_join_timer(Group& g, int64_t delay_ms, bool initial) {
  const uint64_t epoch = ++g.join_epoch;
  g.join_timer.expires_after(std::chrono::milliseconds(delay_ms));
  g.join_timer.async_wait([this, alive = std::weak_ptr<bool>(alive_), id = g.id, epoch, initial](std::error_code ec) {
    if (ec || alive.expired()) return;
    on_join_timer(id, epoch, initial);
  });
}

void GroupCoordinator::on_join_timer(const std::string& group_id, uint64_t epoch, bool initial) {
  Group* g = find(group_id);
  if (!g || g->join_epoch != epoch || g->state != GroupState::PreparingRebalance) return;
  if (initial) {
    // Members kept arriving during the delay: wait another delay, within the rebalance timeout.
    if (g->new_member_added && g->initial_remaining_ms > 0) {
      int64_t delay = std::min<int64_t>(config_.initial_rebalance_delay_ms, g->initial_remaining_ms);
      g->initial_remaining_ms -= delay;
      g->new_member_added = false;
      return arm_join_timer(*g, delay, true);
    }
    g->initial_delay = false;
    if (!g->all_joined()) {
      // Not everyone is in yet: the ordinary join phase, bounded by the rebalance timeout.
      return arm_join_timer(*g, g->rebalance_timeout_ms(), false);
    }
  }
  complete_join(*g);
}

void GroupCoordinator::try_complete_join(Group& g) {
  if (g.state == GroupState::PreparingRebalance && !g.initial_delay && g.all_joined()) complete_join(g);
}

void GroupCoordinator::complete_join(Group& g) {
  ++g.join_epoch;  // a pending join timer is stale from now on
  g.join_timer.cancel();
  g.initial_delay = false;
  std::vector<std::string> missing;
  for (const auto& [id, m] : g.members)
    if (!m->awaiting_join) missing.push_back(id);
  for (const std::string& id : missing) {
    spdlog::info("group {}: removing member {}, which did not rejoin within the rebalance timeout", g.id, id);
    remove_member(g, id, ErrorCode::UNKNOWN_MEMBER_ID);
  }
  ++g.generation;
  if (g.members.empty()) {
    g.protocol.reset();
    g.leader.reset();
    set_state(g, GroupState::Empty);
    spdlog::info("group {}: empty at generation {}", g.id, g.generation);
    persist_group(g, [id = g.id](ErrorCode e) {
      if (e != ErrorCode::NONE) spdlog::warn("group {}: storing its metadata failed: {}", id, error_name(e));
    });
    return;
  }
  g.protocol = select_protocol(g);
  if (!g.leader || !g.members.count(*g.leader)) g.leader = g.members.begin()->first;
  set_state(g, GroupState::CompletingRebalance);
  spdlog::info("group {}: generation {} with {} member(s), protocol {}, leader {}", g.id, g.generation,
               g.members.size(), g.protocol.value_or("-"), *g.leader);
  for (auto& [id, m] : g.members) {
    JoinDone cb = std::exchange(m->awaiting_join, nullptr);
    m->is_new = false;
    m->synced = false;
    touch(g, *m);
    cb(join_response(g, *m, id == *g.leader));
  }
  // Members that never send SyncGroup are dropped after the rebalance timeout, so the others do
  // not wait for them forever (Kafka 3.x's pending-sync timeout).
  const uint64_t epoch = ++g.join_epoch;
  g.join_timer.expires_after(std::chrono::milliseconds(g.rebalance_timeout_ms()));
  g.join_timer.async_wait([this, alive = std::weak_ptr<bool>(alive_), id = g.id, epoch](std::error_code ec) {
    if (ec || alive.expired()) return;
    on_sync_timer(id, epoch);
  });
}

void GroupCoordinator::on_sync_timer(const std::string& group_id, uint64_t epoch) {
  Group* g = find(group_id);
  if (!g || g->join_epoch != epoch || g->state != GroupState::CompletingRebalance) return;
  std::vector<std::string> missing;
  for (const auto& [id, m] : g->members)
    if (!m->synced) missing.push_back(id);
  for (const std::string& id : missing) {
    spdlog::info("group {}: removing member {}, which did not send SyncGroup within the rebalance timeout", g->id, id);
    remove_member(*g, id, ErrorCode::UNKNOWN_MEMBER_ID);
  }
  prepare_rebalance(*g, "members did not sync in time");
}

JoinGroupResponse GroupCoordinator::join_response(const Group& g, const Member& m, bool with_members) const {
  JoinGroupResponse resp;
  resp.generation_id = g.generation;
  resp.protocol_type = g.protocol_type;
  resp.protocol_name = g.protocol;
  resp.leader = g.leader.value_or("");
  resp.member_id = m.id;
  if (with_members) {
    for (const auto& [id, member] : g.members) {
      auto& out = resp.members.emplace_back();
      out.member_id = id;
      out.group_instance_id = member->instance_id;
      if (const Bytes* metadata = member->metadata_for(g.protocol)) out.metadata = *metadata;
    }
  }
  return resp;
}

bool GroupCoordinator::protocols_match(const Member& m, const JoinGroupRequest& req) const {
  if (m.protocols.size() != req.protocols.size()) return false;
  for (size_t i = 0; i < req.protocols.size(); ++i)
    if (m.protocols[i].first != req.protocols[i].name || m.protocols[i].second != req.protocols[i].metadata)
      return false;
  return true;
}

bool GroupCoordinator::supports_protocols(const Group& g, const JoinGroupRequest& req) const {
  if (req.protocol_type.empty() || req.protocols.empty()) return false;
  if (g.members.empty()) return true;
  if (req.protocol_type != g.protocol_type) return false;
  for (const auto& p : req.protocols) {
    bool everyone = true;
    for (const auto& [id, m] : g.members) {
      if (id == req.member_id) continue;
      if (!m->metadata_for(p.name)) {
        everyone = false;
        break;
      }
    }
    if (everyone) return true;
  }
  return false;
}

std::optional<std::string> GroupCoordinator::select_protocol(const Group& g) const {
  // Candidates: protocols every member supports; each member votes for its most preferred one.
  std::vector<std::string> candidates;
  const Member& first = *g.members.begin()->second;
  for (const auto& [name, metadata] : first.protocols) {
    bool everyone = true;
    for (const auto& [id, m] : g.members) everyone = everyone && m->metadata_for(name) != nullptr;
    if (everyone) candidates.push_back(name);
  }
  if (candidates.empty()) return std::nullopt;
  std::map<std::string, int> votes;
  for (const auto& [id, m] : g.members) {
    for (const auto& [name, metadata] : m->protocols) {
      if (std::find(candidates.begin(), candidates.end(), name) != candidates.end()) {
        ++votes[name];
        break;
      }
    }
  }
  std::string best = candidates.front();
  for (const std::string& c : candidates)
    if (votes[c] > votes[best]) best = c;
  return best;
}

std::set<std::string> GroupCoordinator::subscribed_topics(const Group& g) const {
  std::set<std::string> topics;
  for (const auto& [id, m] : g.members) {
    const Bytes* metadata = m->metadata_for(g.protocol);
    if (!metadata) continue;
    Reader r(*metadata);
    int16_t version = r.read_int16();
    if (!r.ok() || version < 0) continue;
    ConsumerProtocolSubscription sub;
    sub.decode(r, std::min(version, ConsumerProtocolSubscription::kMaxVersion));
    topics.insert(sub.topics.begin(), sub.topics.end());
  }
  return topics;
}

// ------------------------------------------------------------------------------- sessions

void GroupCoordinator::touch(Group& g, Member& m) {
  m.deadline = SteadyClock::now() + std::chrono::milliseconds(m.session_timeout_ms);
  if (!m.session_armed) arm_session(g, m);
}

void GroupCoordinator::arm_session(Group& g, Member& m) {
  m.session_armed = true;
  m.session_timer.expires_at(m.deadline);
  m.session_timer.async_wait(
      [this, alive = std::weak_ptr<bool>(alive_), group_id = g.id, member_id = m.id](std::error_code ec) {
        if (ec || alive.expired()) return;
        on_session_timer(group_id, member_id);
      });
}

void GroupCoordinator::on_session_timer(const std::string& group_id, const std::string& member_id) {
  Group* g = find(group_id);
  if (!g) return;
  auto it = g->members.find(member_id);
  if (it == g->members.end()) return;
  Member& m = *it->second;
  m.session_armed = false;
  // Heartbeats only move the deadline; the timer catches up with it here.
  if (SteadyClock::now() < m.deadline) return arm_session(*g, m);
  // A member waiting in JoinGroup or SyncGroup cannot heartbeat: the rebalance timeout bounds it.
  if (m.awaiting_join || m.awaiting_sync) {
    touch(*g, m);
    return;
  }
  spdlog::info("group {}: member {} failed to heartbeat within its session timeout ({} ms); removing it", g->id,
               member_id, m.session_timeout_ms);
  remove_member(*g, member_id, ErrorCode::UNKNOWN_MEMBER_ID);
  member_left(*g, "session timeout of member " + member_id);
}

void GroupCoordinator::arm_pending(Group& g, const std::string& member_id, int32_t session_ms) {
  auto timer = std::make_unique<asio::steady_timer>(context_);
  timer->expires_after(std::chrono::milliseconds(session_ms));
  timer->async_wait([this, alive = std::weak_ptr<bool>(alive_), group_id = g.id, member_id](std::error_code ec) {
    if (ec || alive.expired()) return;
    Group* g = find(group_id);
    if (!g || !g->pending.erase(member_id)) return;
    // A join phase may have been waiting for it.
    try_complete_join(*g);
  });
  g.pending[member_id] = std::move(timer);
}

// ------------------------------------------------------------------------------ sync group

void GroupCoordinator::sync_group(const SyncGroupRequest& req, int16_t /*version*/, SyncDone done) {
  auto fail = [&](ErrorCode e) { done(sync_error(e)); };
  Group* g = find(req.group_id);
  if (!g) return fail(ErrorCode::UNKNOWN_MEMBER_ID);
  if (g->state == GroupState::Dead) return fail(ErrorCode::COORDINATOR_NOT_AVAILABLE);
  if (g->fenced(req.group_instance_id, req.member_id)) return fail(ErrorCode::FENCED_INSTANCE_ID);
  auto it = g->members.find(req.member_id);
  if (it == g->members.end()) return fail(ErrorCode::UNKNOWN_MEMBER_ID);
  if (req.generation_id != g->generation) return fail(ErrorCode::ILLEGAL_GENERATION);
  if ((req.protocol_type && *req.protocol_type != g->protocol_type) ||
      (req.protocol_name && *req.protocol_name != g->protocol.value_or("")))
    return fail(ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
  Member& m = *it->second;
  switch (g->state) {
    case GroupState::Empty:
    case GroupState::Dead:
      return fail(ErrorCode::UNKNOWN_MEMBER_ID);
    case GroupState::PreparingRebalance:
      return fail(ErrorCode::REBALANCE_IN_PROGRESS);
    case GroupState::Stable: {
      touch(*g, m);
      SyncGroupResponse resp;
      resp.protocol_type = g->protocol_type;
      resp.protocol_name = g->protocol;
      resp.assignment = m.assignment;
      return done(std::move(resp));
    }
    case GroupState::CompletingRebalance:
      break;
  }
  if (m.awaiting_sync) std::exchange(m.awaiting_sync, nullptr)(sync_error(ErrorCode::REBALANCE_IN_PROGRESS));
  m.awaiting_sync = std::move(done);
  m.synced = true;
  touch(*g, m);
  if (g->leader != m.id) return;

  // The leader's assignment: stored first, then handed to every member.
  std::map<std::string, Bytes> assignments;
  for (const auto& a : req.assignments)
    if (g->members.count(a.member_id)) assignments[a.member_id] = a.assignment;
  for (auto& [id, member] : g->members) member->assignment = assignments[id];
  const int32_t generation = g->generation;
  persist_group(*g, [this, alive = std::weak_ptr<bool>(alive_), group_id = g->id, generation](ErrorCode e) {
    if (alive.expired()) return;
    Group* g = find(group_id);
    if (!g || g->state != GroupState::CompletingRebalance || g->generation != generation) return;
    if (e != ErrorCode::NONE) {
      spdlog::warn("group {}: storing the assignment failed: {}", group_id, error_name(e));
      for (auto& [id, m] : g->members) {
        m->assignment.clear();
        if (m->awaiting_sync) {
          std::exchange(m->awaiting_sync, nullptr)(sync_error(commit_error(e)));
          touch(*g, *m);
        }
      }
      return prepare_rebalance(*g, "storing the assignment failed");
    }
    set_state(*g, GroupState::Stable);
    for (auto& [id, m] : g->members) {
      if (!m->awaiting_sync) continue;
      SyncGroupResponse resp;
      resp.protocol_type = g->protocol_type;
      resp.protocol_name = g->protocol;
      resp.assignment = m->assignment;
      std::exchange(m->awaiting_sync, nullptr)(std::move(resp));
      touch(*g, *m);
    }
  });
}

// ------------------------------------------------------------------------------- heartbeat

HeartbeatResponse GroupCoordinator::heartbeat(const HeartbeatRequest& req) {
  HeartbeatResponse resp;
  Group* g = find(req.group_id);
  auto e = [&]() {
    if (!g) return ErrorCode::UNKNOWN_MEMBER_ID;
    if (g->state == GroupState::Dead) return ErrorCode::COORDINATOR_NOT_AVAILABLE;
    if (g->fenced(req.group_instance_id, req.member_id)) return ErrorCode::FENCED_INSTANCE_ID;
    auto it = g->members.find(req.member_id);
    if (g->state == GroupState::Empty || it == g->members.end()) return ErrorCode::UNKNOWN_MEMBER_ID;
    if (req.generation_id != g->generation) return ErrorCode::ILLEGAL_GENERATION;
    touch(*g, *it->second);
    return g->state == GroupState::PreparingRebalance ? ErrorCode::REBALANCE_IN_PROGRESS : ErrorCode::NONE;
  }();
  resp.error_code = err(e);
  return resp;
}

// ------------------------------------------------------------------------------ leave group

LeaveGroupResponse GroupCoordinator::leave_group(const LeaveGroupRequest& req, int16_t version) {
  LeaveGroupResponse resp;
  std::vector<LeaveGroupRequest::MemberIdentity> who;
  if (version <= 2) {
    who.emplace_back().member_id = req.member_id;
  } else {
    who = req.members;
  }
  Group* g = find(req.group_id);
  if (g && g->state == GroupState::Dead) {
    resp.error_code = err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
    return resp;
  }
  bool removed = false;
  for (const auto& identity : who) {
    ErrorCode e = ErrorCode::NONE;
    std::string member_id = identity.member_id;
    if (!g) {
      e = ErrorCode::UNKNOWN_MEMBER_ID;
    } else if (identity.group_instance_id) {
      auto s = g->static_members.find(*identity.group_instance_id);
      if (s == g->static_members.end()) {
        e = ErrorCode::UNKNOWN_MEMBER_ID;
      } else if (!member_id.empty() && member_id != s->second) {
        e = ErrorCode::FENCED_INSTANCE_ID;
      } else {
        member_id = s->second;
        remove_member(*g, member_id, ErrorCode::UNKNOWN_MEMBER_ID);
        removed = true;
      }
    } else if (g->pending.erase(member_id)) {
      removed = true;
    } else if (g->members.count(member_id)) {
      remove_member(*g, member_id, ErrorCode::UNKNOWN_MEMBER_ID);
      removed = true;
    } else {
      e = ErrorCode::UNKNOWN_MEMBER_ID;
    }
    if (e == ErrorCode::NONE)
      spdlog::info("group {}: member {} left{}", req.group_id, member_id,
                   identity.reason ? " (" + *identity.reason + ")" : std::string());
    if (version <= 2) {
      resp.error_code = err(e);
    } else {
      auto& out = resp.members.emplace_back();
      out.member_id = member_id;
      out.group_instance_id = identity.group_instance_id;
      out.error_code = err(e);
    }
  }
  if (g && removed) member_left(*g, "member(s) left the group");
  return resp;
}

// ---------------------------------------------------------------------------------- offsets

namespace {
// The records and offsets an OffsetCommit or TxnOffsetCommit writes, and each partition's error
// in `resp` (the group's error, or OFFSET_METADATA_TOO_LARGE) for those it does not.
template <typename Req, typename Resp>
void offsets_to_write(const Req& req, Resp& resp, ErrorCode group_error, int32_t max_metadata_bytes, int64_t now,
                      std::vector<OffsetsRecord>& records,
                      std::vector<std::pair<TopicPartition, CommittedOffset>>& entries) {
  for (size_t ti = 0; ti < req.topics.size(); ++ti) {
    const auto& t = req.topics[ti];
    for (size_t pi = 0; pi < t.partitions.size(); ++pi) {
      const auto& p = t.partitions[pi];
      int16_t& out = resp.topics[ti].partitions[pi].error_code;
      if (group_error != ErrorCode::NONE) {
        out = err(group_error);
        continue;
      }
      const std::string metadata = p.committed_metadata.value_or("");
      if (metadata.size() > static_cast<size_t>(max_metadata_bytes)) {
        out = err(ErrorCode::OFFSET_METADATA_TOO_LARGE);
        continue;
      }
      int64_t timestamp = now;
      if constexpr (requires { p.commit_timestamp; }) {  // OffsetCommit v1 only
        if (p.commit_timestamp >= 0) timestamp = p.commit_timestamp;
      }
      CommittedOffset offset{p.committed_offset, p.committed_leader_epoch, metadata, timestamp};
      records.push_back(offset_commit_record(req.group_id, t.name, p.partition_index, offset));
      entries.emplace_back(TopicPartition{t.name, p.partition_index}, std::move(offset));
    }
  }
}
}  // namespace

void GroupCoordinator::commit_offsets(int32_t partition, const OffsetCommitRequest& req,
                                      std::function<void(OffsetCommitResponse)> done) {
  OffsetCommitResponse resp;
  for (const auto& t : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = t.name;
    for (const auto& p : t.partitions) rt.partitions.emplace_back().partition_index = p.partition_index;
  }
  const int32_t generation = req.generation_id_or_member_epoch;
  Group* g = find(req.group_id);
  ErrorCode group_error = ErrorCode::NONE;
  if (req.group_id.empty()) {
    group_error = ErrorCode::INVALID_GROUP_ID;
  } else if (!g) {
    if (generation < 0)
      g = &get_or_create(req.group_id, partition);  // a consumer committing without a group
    else
      group_error = ErrorCode::ILLEGAL_GENERATION;
  } else {
    group_error = commit_member_error(g, generation, req.member_id, req.group_instance_id);
  }

  std::vector<OffsetsRecord> records;
  std::vector<std::pair<TopicPartition, CommittedOffset>> entries;
  offsets_to_write(req, resp, group_error, config_.max_metadata_bytes, clock_(), records, entries);
  if (records.empty()) return done(std::move(resp));
  append_(g->partition, std::move(records),
          [this, alive = std::weak_ptr<bool>(alive_), group_id = req.group_id, entries = std::move(entries),
           resp = std::move(resp), done = std::move(done)](ErrorCode e) mutable {
            if (alive.expired()) return;
            ErrorCode out = commit_error(e);
            Group* g = find(group_id);
            if (out == ErrorCode::NONE && g) {
              for (auto& [tp, offset] : entries) g->offsets[tp] = std::move(offset);
            } else if (out != ErrorCode::NONE) {
              for (auto& t : resp.topics)
                for (auto& p : t.partitions)
                  if (p.error_code == 0) p.error_code = err(out);
            }
            done(std::move(resp));
          });
}

ErrorCode GroupCoordinator::commit_member_error(Group* g, int32_t generation, const std::string& member_id,
                                                const std::optional<std::string>& instance_id) {
  if (g->state == GroupState::Dead) return ErrorCode::COORDINATOR_NOT_AVAILABLE;
  if (generation < 0 && g->state == GroupState::Empty) return ErrorCode::NONE;  // simple commit into an empty group
  if (g->fenced(instance_id, member_id)) return ErrorCode::FENCED_INSTANCE_ID;
  if (!g->members.count(member_id)) return ErrorCode::UNKNOWN_MEMBER_ID;
  if (generation != g->generation) return ErrorCode::ILLEGAL_GENERATION;
  if (g->state == GroupState::CompletingRebalance) return ErrorCode::REBALANCE_IN_PROGRESS;
  touch(*g, *g->members[member_id]);
  return ErrorCode::NONE;
}

void GroupCoordinator::txn_commit_offsets(int32_t partition, const TxnOffsetCommitRequest& req,
                                          std::function<void(TxnOffsetCommitResponse)> done) {
  TxnOffsetCommitResponse resp;
  for (const auto& t : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = t.name;
    for (const auto& p : t.partitions) rt.partitions.emplace_back().partition_index = p.partition_index;
  }
  Group* g = find(req.group_id);
  ErrorCode group_error = ErrorCode::NONE;
  if (req.group_id.empty()) {
    group_error = ErrorCode::INVALID_GROUP_ID;
  } else if (!g) {
    // Kafka's rule: offsets of a group the coordinator does not know are taken (a transactional
    // producer may commit for a group without members), unless a generation says otherwise.
    if (req.generation_id >= 0) group_error = ErrorCode::ILLEGAL_GENERATION;
    else g = &get_or_create(req.group_id, partition);
  } else if (req.generation_id >= 0 || !req.member_id.empty()) {
    group_error = commit_member_error(g, req.generation_id, req.member_id, req.group_instance_id);
  } else if (g->state == GroupState::Dead) {
    group_error = ErrorCode::COORDINATOR_NOT_AVAILABLE;
  }
  std::vector<OffsetsRecord> records;
  std::vector<std::pair<TopicPartition, CommittedOffset>> entries;
  offsets_to_write(req, resp, group_error, config_.max_metadata_bytes, clock_(), records, entries);
  if (records.empty()) return done(std::move(resp));
  if (!txn_append_) {
    for (auto& t : resp.topics)
      for (auto& p : t.partitions) p.error_code = err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
    return done(std::move(resp));
  }
  const int64_t producer_id = req.producer_id;
  txn_append_(g->partition, producer_id, req.producer_epoch, std::move(records),
              [this, alive = std::weak_ptr<bool>(alive_), group_id = req.group_id, partition = g->partition,
               producer_id, entries = std::move(entries), resp = std::move(resp),
               done = std::move(done)](ErrorCode e) mutable {
                if (alive.expired()) return;
                ErrorCode out = e == ErrorCode::INVALID_PRODUCER_EPOCH ? ErrorCode::PRODUCER_FENCED : commit_error(e);
                if (out == ErrorCode::NONE) {
                  PendingOffsets& pending = pending_txn_offsets_[producer_id][group_id];
                  pending.partition = partition;
                  for (auto& [tp, offset] : entries) pending.offsets[tp] = std::move(offset);
                } else {
                  for (auto& t : resp.topics)
                    for (auto& p : t.partitions)
                      if (p.error_code == 0) p.error_code = err(out);
                }
                done(std::move(resp));
              });
}

void GroupCoordinator::complete_txn(int32_t partition, int64_t producer_id, bool commit) {
  auto it = pending_txn_offsets_.find(producer_id);
  if (it == pending_txn_offsets_.end()) return;
  for (auto g = it->second.begin(); g != it->second.end();) {
    if (g->second.partition != partition) {
      ++g;
      continue;
    }
    if (commit) {
      Group& group = get_or_create(g->first, partition);
      for (auto& [tp, offset] : g->second.offsets) group.offsets[tp] = std::move(offset);
    }
    g = it->second.erase(g);
  }
  if (it->second.empty()) pending_txn_offsets_.erase(it);
}

OffsetFetchResponse::OffsetFetchResponseGroup GroupCoordinator::fetch_offsets(
    const std::string& group_id,
    const std::optional<std::vector<OffsetFetchRequest::OffsetFetchRequestTopics>>& topics,
    bool require_stable) const {
  OffsetFetchResponse::OffsetFetchResponseGroup out;
  out.group_id = group_id;
  const Group* g = find(group_id);
  auto fill = [](OffsetFetchResponse::OffsetFetchResponsePartitions& p, const CommittedOffset* offset) {
    p.committed_offset = offset ? offset->offset : -1;
    p.committed_leader_epoch = offset ? offset->leader_epoch : -1;
    p.metadata = offset ? offset->metadata : std::string();
  };
  if (!topics) {
    if (!g) return out;
    for (const auto& [tp, offset] : g->offsets) {
      if (out.topics.empty() || out.topics.back().name != tp.topic) out.topics.emplace_back().name = tp.topic;
      auto& p = out.topics.back().partitions.emplace_back();
      p.partition_index = tp.partition;
      fill(p, &offset);
    }
    return out;
  }
  for (const auto& t : *topics) {
    auto& rt = out.topics.emplace_back();
    rt.name = t.name;
    for (int32_t index : t.partition_indexes) {
      auto& p = rt.partitions.emplace_back();
      p.partition_index = index;
      const CommittedOffset* offset = nullptr;
      if (g) {
        auto it = g->offsets.find(TopicPartition{t.name, index});
        if (it != g->offsets.end()) offset = &it->second;
      }
      fill(p, offset);
      if (require_stable) {
        for (const auto& [pid, groups] : pending_txn_offsets_) {
          auto pending = groups.find(group_id);
          if (pending != groups.end() && pending->second.offsets.contains(TopicPartition{t.name, index})) {
            fill(p, nullptr);
            p.error_code = err(ErrorCode::UNSTABLE_OFFSET_COMMIT);
          }
        }
      }
    }
  }
  return out;
}

// --------------------------------------------------------------------------- admin requests

std::vector<GroupSummary> GroupCoordinator::list_groups() const {
  std::vector<GroupSummary> out;
  for (const auto& [id, g] : groups_)
    if (g->state != GroupState::Dead) out.push_back(GroupSummary{id, g->protocol_type, g->state});
  return out;
}

DescribeGroupsResponse::DescribedGroup GroupCoordinator::describe_group(const std::string& group_id) const {
  DescribeGroupsResponse::DescribedGroup out;
  out.group_id = group_id;
  const Group* g = find(group_id);
  if (!g) {
    out.group_state = state_name(GroupState::Dead);
    return out;
  }
  out.group_state = state_name(g->state);
  out.protocol_type = g->protocol_type;
  const bool stable = g->state == GroupState::Stable;
  if (stable) out.protocol_data = g->protocol.value_or("");
  for (const auto& [id, m] : g->members) {
    auto& dm = out.members.emplace_back();
    dm.member_id = id;
    dm.group_instance_id = m->instance_id;
    dm.client_id = m->client_id;
    dm.client_host = m->client_host;
    if (stable) {
      if (const Bytes* metadata = m->metadata_for(g->protocol)) dm.member_metadata = *metadata;
      dm.member_assignment = m->assignment;
    }
  }
  return out;
}

void GroupCoordinator::delete_group(const std::string& group_id, std::function<void(ErrorCode)> done) {
  if (group_id.empty()) return done(ErrorCode::INVALID_GROUP_ID);
  Group* g = find(group_id);
  if (!g || g->state == GroupState::Dead) return done(ErrorCode::GROUP_ID_NOT_FOUND);
  if (g->state != GroupState::Empty) return done(ErrorCode::NON_EMPTY_GROUP);
  std::vector<OffsetsRecord> records;
  for (const auto& [tp, offset] : g->offsets)
    records.push_back(offset_commit_record(group_id, tp.topic, tp.partition, std::nullopt));
  records.push_back(group_metadata_record(group_id, std::nullopt));
  set_state(*g, GroupState::Dead);
  g->pending.clear();
  append_(g->partition, std::move(records),
          [this, alive = std::weak_ptr<bool>(alive_), group_id, done = std::move(done)](ErrorCode e) {
            if (alive.expired()) return;
            Group* g = find(group_id);
            if (e != ErrorCode::NONE) {
              if (g && g->state == GroupState::Dead) set_state(*g, GroupState::Empty);
              return done(commit_error(e));
            }
            groups_.erase(group_id);
            spdlog::info("group {}: deleted", group_id);
            done(ErrorCode::NONE);
          });
}

void GroupCoordinator::delete_offsets(const OffsetDeleteRequest& req, std::function<void(OffsetDeleteResponse)> done) {
  OffsetDeleteResponse resp;
  Group* g = find(req.group_id);
  if (req.group_id.empty()) {
    resp.error_code = err(ErrorCode::INVALID_GROUP_ID);
    return done(std::move(resp));
  }
  if (!g || g->state == GroupState::Dead) {
    resp.error_code = err(ErrorCode::GROUP_ID_NOT_FOUND);
    return done(std::move(resp));
  }
  std::set<std::string> subscribed;
  if (g->state != GroupState::Empty) {
    if (g->protocol_type != "consumer" || g->state != GroupState::Stable) {
      resp.error_code = err(ErrorCode::NON_EMPTY_GROUP);
      return done(std::move(resp));
    }
    subscribed = subscribed_topics(*g);
  }
  std::vector<OffsetsRecord> records;
  std::vector<TopicPartition> gone;
  for (const auto& t : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = t.name;
    const bool in_use = subscribed.count(t.name) > 0;
    for (const auto& p : t.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = p.partition_index;
      if (in_use) {
        rp.error_code = err(ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC);
        continue;
      }
      TopicPartition tp{t.name, p.partition_index};
      if (!g->offsets.count(tp)) continue;
      records.push_back(offset_commit_record(req.group_id, t.name, p.partition_index, std::nullopt));
      gone.push_back(std::move(tp));
    }
  }
  if (records.empty()) return done(std::move(resp));
  append_(g->partition, std::move(records),
          [this, alive = std::weak_ptr<bool>(alive_), group_id = req.group_id, gone = std::move(gone),
           resp = std::move(resp), done = std::move(done)](ErrorCode e) mutable {
            if (alive.expired()) return;
            if (e != ErrorCode::NONE) {
              resp.error_code = err(commit_error(e));
              return done(std::move(resp));
            }
            if (Group* g = find(group_id))
              for (const auto& tp : gone) g->offsets.erase(tp);
            done(std::move(resp));
          });
}

// ------------------------------------------------------------------------------- retention

size_t GroupCoordinator::expire_offsets() {
  const int64_t now = clock_();
  size_t expired = 0;
  std::map<int32_t, std::vector<OffsetsRecord>> records;  // by __consumer_offsets partition
  std::vector<std::string> emptied;
  for (auto& [id, g] : groups_) {
    if (g->state != GroupState::Empty) continue;
    // An empty group's offsets expire a retention period after it became empty; offsets of a
    // group that never had members (only commits), a retention period after each commit.
    const bool had_members = !g->protocol_type.empty();
    for (auto it = g->offsets.begin(); it != g->offsets.end();) {
      int64_t since = had_members ? g->state_timestamp : it->second.commit_timestamp;
      if (since + config_.offsets_retention_ms > now) {
        ++it;
        continue;
      }
      records[g->partition].push_back(offset_commit_record(id, it->first.topic, it->first.partition, std::nullopt));
      it = g->offsets.erase(it);
      ++expired;
    }
    if (g->offsets.empty() && g->members.empty() && g->pending.empty() &&
        g->state_timestamp + config_.offsets_retention_ms <= now) {
      records[g->partition].push_back(group_metadata_record(id, std::nullopt));
      emptied.push_back(id);
    }
  }
  for (const std::string& id : emptied) groups_.erase(id);
  for (auto& [partition, batch] : records) {
    append_(partition, std::move(batch), [partition](ErrorCode e) {
      if (e != ErrorCode::NONE)
        spdlog::warn("{}-{}: writing expired offsets failed: {}", kOffsetsTopic, partition, error_name(e));
    });
  }
  if (expired > 0 || !emptied.empty())
    spdlog::info("expired {} committed offset(s) and {} empty group(s)", expired, emptied.size());
  return expired;
}

// ---------------------------------------------------------------------------------- storing

GroupMetadataValue GroupCoordinator::metadata_value(const Group& g) const {
  GroupMetadataValue v;
  v.protocol_type = g.protocol_type;
  v.generation = g.generation;
  v.protocol = g.protocol;
  v.leader = g.leader;
  v.current_state_timestamp = g.state_timestamp;
  for (const auto& [id, m] : g.members) {
    auto& mm = v.members.emplace_back();
    mm.member_id = id;
    mm.group_instance_id = m->instance_id;
    mm.client_id = m->client_id;
    mm.client_host = m->client_host;
    mm.rebalance_timeout = m->rebalance_timeout_ms;
    mm.session_timeout = m->session_timeout_ms;
    if (const Bytes* metadata = m->metadata_for(g.protocol)) mm.subscription = *metadata;
    mm.assignment = m->assignment;
  }
  return v;
}

void GroupCoordinator::persist_group(Group& g, std::function<void(ErrorCode)> done) {
  std::vector<OffsetsRecord> records;
  records.push_back(group_metadata_record(g.id, metadata_value(g)));
  append_(g.partition, std::move(records), std::move(done));
}

}  // namespace fjord::coordinator
