// The consumer-group APIs: each request goes to the shard of its group's __consumer_offsets
// partition, where that shard's GroupCoordinator answers (see src/coordinator).
#include <algorithm>
#include <cctype>

#include "broker/gather.h"
#include "broker/groups.h"
#include "broker/handlers/handlers.h"

namespace fjord::broker {

using namespace protocol;
using coordinator::GroupCoordinator;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

asio::awaitable<std::vector<coordinator::GroupSummary>> list_on(GroupCoordinator* c) { co_return c->list_groups(); }

coordinator::ClientInfo client_of(const RequestContext& ctx) {
  return {ctx.header.client_id.value_or(""), std::string(ctx.client_host)};
}

}  // namespace

asio::awaitable<JoinGroupResponse> handle_join_group(RequestContext& ctx, JoinGroupRequest& req) {
  auto home = co_await group_home(ctx.broker, req.group_id);
  if (!home) {
    JoinGroupResponse resp;
    resp.error_code = code(home.error());
    resp.member_id = req.member_id;
    resp.protocol_name = std::nullopt;
    co_return resp;
  }
  const JoinGroupRequest* request = &req;
  auto start = [request, partition = home->partition, version = ctx.api_version(), client = client_of(ctx)](
                   GroupCoordinator& c, std::function<void(JoinGroupResponse)> done) {
    c.join_group(partition, *request, version, client, std::move(done));
  };
  JoinGroupResponse resp = co_await on_coordinator<JoinGroupResponse>(ctx.broker, home->shard, std::move(start));
  // Versions before 7 cannot carry a null protocol name.
  if (ctx.api_version() < 7 && !resp.protocol_name) resp.protocol_name = "";
  co_return resp;
}

asio::awaitable<SyncGroupResponse> handle_sync_group(RequestContext& ctx, SyncGroupRequest& req) {
  auto home = co_await group_home(ctx.broker, req.group_id);
  if (!home) {
    SyncGroupResponse resp;
    resp.error_code = code(home.error());
    co_return resp;
  }
  const SyncGroupRequest* request = &req;
  auto start = [request, version = ctx.api_version()](GroupCoordinator& c, std::function<void(SyncGroupResponse)> done) {
    c.sync_group(*request, version, std::move(done));
  };
  co_return co_await on_coordinator<SyncGroupResponse>(ctx.broker, home->shard, std::move(start));
}

asio::awaitable<HeartbeatResponse> handle_heartbeat(RequestContext& ctx, HeartbeatRequest& req) {
  auto home = co_await group_home(ctx.broker, req.group_id);
  if (!home) {
    HeartbeatResponse resp;
    resp.error_code = code(home.error());
    co_return resp;
  }
  const HeartbeatRequest* request = &req;
  auto start = [request](GroupCoordinator& c, std::function<void(HeartbeatResponse)> done) {
    done(c.heartbeat(*request));
  };
  co_return co_await on_coordinator<HeartbeatResponse>(ctx.broker, home->shard, std::move(start));
}

asio::awaitable<LeaveGroupResponse> handle_leave_group(RequestContext& ctx, LeaveGroupRequest& req) {
  auto home = co_await group_home(ctx.broker, req.group_id);
  if (!home) {
    LeaveGroupResponse resp;
    resp.error_code = code(home.error());
    co_return resp;
  }
  const LeaveGroupRequest* request = &req;
  auto start = [request, version = ctx.api_version()](GroupCoordinator& c,
                                                      std::function<void(LeaveGroupResponse)> done) {
    done(c.leave_group(*request, version));
  };
  co_return co_await on_coordinator<LeaveGroupResponse>(ctx.broker, home->shard, std::move(start));
}

asio::awaitable<OffsetCommitResponse> handle_offset_commit(RequestContext& ctx, OffsetCommitRequest& req) {
  // Partitions of unknown topics are answered here; the rest go to the coordinator.
  OffsetCommitResponse resp;
  OffsetCommitRequest known = req;
  known.topics.clear();
  auto image = ctx.broker.store.image();
  for (const auto& t : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = t.name;
    const metadata::TopicInfo* topic = image->find(t.name);
    OffsetCommitRequest::OffsetCommitRequestTopic kt;
    kt.name = t.name;
    for (const auto& p : t.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = p.partition_index;
      if (!topic || p.partition_index < 0 || p.partition_index >= topic->partitions) {
        rp.error_code = code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
      } else {
        kt.partitions.push_back(p);
      }
    }
    if (!kt.partitions.empty()) known.topics.push_back(std::move(kt));
  }
  auto home = co_await group_home(ctx.broker, req.group_id);
  if (!home) {
    for (auto& t : resp.topics)
      for (auto& p : t.partitions)
        if (p.error_code == 0) p.error_code = code(home.error());
    co_return resp;
  }
  if (known.topics.empty()) co_return resp;
  const OffsetCommitRequest* request = &known;
  auto start = [request, partition = home->partition](GroupCoordinator& c,
                                                      std::function<void(OffsetCommitResponse)> done) {
    c.commit_offsets(partition, *request, std::move(done));
  };
  OffsetCommitResponse answered = co_await on_coordinator<OffsetCommitResponse>(ctx.broker, home->shard, std::move(start));
  // Merge: the coordinator answered the known partitions in request order.
  size_t ti = 0;
  for (auto& t : resp.topics) {
    if (ti >= answered.topics.size() || answered.topics[ti].name != t.name) continue;
    size_t pi = 0;
    for (auto& p : t.partitions) {
      if (p.error_code != 0) continue;
      if (pi < answered.topics[ti].partitions.size()) p.error_code = answered.topics[ti].partitions[pi++].error_code;
    }
    ++ti;
  }
  co_return resp;
}

asio::awaitable<OffsetFetchResponse> handle_offset_fetch(RequestContext& ctx, OffsetFetchRequest& req) {
  using Group = OffsetFetchResponse::OffsetFetchResponseGroup;
  using Topics = std::optional<std::vector<OffsetFetchRequest::OffsetFetchRequestTopics>>;
  const bool batched = ctx.api_version() >= 8;
  std::vector<std::pair<std::string, Topics>> wanted;
  if (batched) {
    for (const auto& g : req.groups) wanted.emplace_back(g.group_id, g.topics);
  } else {
    Topics topics;
    if (req.topics) {
      topics.emplace();
      for (const auto& t : *req.topics) {
        auto& x = topics->emplace_back();
        x.name = t.name;
        x.partition_indexes = t.partition_indexes;
      }
    }
    wanted.emplace_back(req.group_id, std::move(topics));
  }
  OffsetFetchResponse resp;
  for (auto& [group_id, topics] : wanted) {
    Group answer;
    answer.group_id = group_id;
    auto home = co_await group_home(ctx.broker, group_id);
    if (!home) {
      answer.error_code = code(home.error());
    } else {
      const std::string* id = &group_id;
      const Topics* which = &topics;
      const bool stable = req.require_stable;
      auto start = [id, which, stable](GroupCoordinator& c, std::function<void(Group)> done) {
        done(c.fetch_offsets(*id, *which, stable));
      };
      answer = co_await on_coordinator<Group>(ctx.broker, home->shard, std::move(start));
    }
    if (batched) {
      resp.groups.push_back(std::move(answer));
      continue;
    }
    resp.error_code = answer.error_code;
    for (auto& t : answer.topics) {
      auto& rt = resp.topics.emplace_back();
      rt.name = t.name;
      for (auto& p : t.partitions) {
        auto& rp = rt.partitions.emplace_back();
        rp.partition_index = p.partition_index;
        rp.committed_offset = p.committed_offset;
        rp.committed_leader_epoch = p.committed_leader_epoch;
        rp.metadata = p.metadata;
        rp.error_code = p.error_code;
      }
    }
  }
  co_return resp;
}

asio::awaitable<ListGroupsResponse> handle_list_groups(RequestContext& ctx, ListGroupsRequest& req) {
  Broker& broker = ctx.broker;
  ListGroupsResponse resp;
  auto gather = std::make_shared<Gather<std::vector<coordinator::GroupSummary>>>(co_await asio::this_coro::executor);
  for (int shard = 0; shard < broker.shards.count(); ++shard) {
    GroupCoordinator* c = (*broker.coordinators)[static_cast<size_t>(shard)].get();
    gather->spawn(broker.shards.context(shard), list_on(c));
  }
  co_await gather->wait();
  std::vector<std::string> states;
  for (const auto& s : req.states_filter) states.push_back(lower(s));
  std::vector<std::string> types;
  for (const auto& t : req.types_filter) types.push_back(lower(t));
  for (const auto& per_shard : gather->results()) {
    for (const auto& g : per_shard) {
      const std::string state = coordinator::state_name(g.state);
      if (!states.empty() && std::find(states.begin(), states.end(), lower(state)) == states.end()) continue;
      if (!types.empty() && std::find(types.begin(), types.end(), "classic") == types.end()) continue;
      auto& out = resp.groups.emplace_back();
      out.group_id = g.group_id;
      out.protocol_type = g.protocol_type;
      out.group_state = state;
      out.group_type = "classic";
    }
  }
  co_return resp;
}

asio::awaitable<DescribeGroupsResponse> handle_describe_groups(RequestContext& ctx, DescribeGroupsRequest& req) {
  using Described = DescribeGroupsResponse::DescribedGroup;
  // No ACLs yet: whoever may describe a group may read, describe and delete it.
  constexpr int32_t kGroupOperations = (1 << 3) | (1 << 6) | (1 << 8);  // READ, DELETE, DESCRIBE
  DescribeGroupsResponse resp;
  for (const std::string& group_id : req.groups) {
    Described out;
    auto home = co_await group_home(ctx.broker, group_id);
    if (!home) {
      out.group_id = group_id;
      out.error_code = code(home.error());
    } else {
      const std::string* id = &group_id;
      auto start = [id](GroupCoordinator& c, std::function<void(Described)> done) { done(c.describe_group(*id)); };
      out = co_await on_coordinator<Described>(ctx.broker, home->shard, std::move(start));
    }
    if (req.include_authorized_operations) out.authorized_operations = kGroupOperations;
    resp.groups.push_back(std::move(out));
  }
  co_return resp;
}

asio::awaitable<DeleteGroupsResponse> handle_delete_groups(RequestContext& ctx, DeleteGroupsRequest& req) {
  DeleteGroupsResponse resp;
  for (const std::string& group_id : req.groups_names) {
    auto& out = resp.results.emplace_back();
    out.group_id = group_id;
    auto home = co_await group_home(ctx.broker, group_id);
    if (!home) {
      out.error_code = code(home.error());
      continue;
    }
    const std::string* id = &group_id;
    auto start = [id](GroupCoordinator& c, std::function<void(ErrorCode)> done) { c.delete_group(*id, std::move(done)); };
    out.error_code = code(co_await on_coordinator<ErrorCode>(ctx.broker, home->shard, std::move(start)));
  }
  co_return resp;
}

asio::awaitable<OffsetDeleteResponse> handle_offset_delete(RequestContext& ctx, OffsetDeleteRequest& req) {
  OffsetDeleteResponse resp;
  auto home = co_await group_home(ctx.broker, req.group_id);
  if (!home) {
    resp.error_code = code(home.error());
    co_return resp;
  }
  const OffsetDeleteRequest* request = &req;
  auto start = [request](GroupCoordinator& c, std::function<void(OffsetDeleteResponse)> done) {
    c.delete_offsets(*request, std::move(done));
  };
  resp = co_await on_coordinator<OffsetDeleteResponse>(ctx.broker, home->shard, std::move(start));
  // Partitions of topics that do not exist are reported as such (nothing was committed there).
  auto image = ctx.broker.store.image();
  for (auto& t : resp.topics) {
    const metadata::TopicInfo* topic = image->find(t.name);
    for (auto& p : t.partitions)
      if (p.error_code == 0 && (!topic || p.partition_index < 0 || p.partition_index >= topic->partitions))
        p.error_code = code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  }
  co_return resp;
}

}  // namespace fjord::broker
