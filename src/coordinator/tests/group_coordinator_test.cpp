// The classic group protocol, driven directly: joins, syncs, heartbeats, leaves, session
// expiry, static members, offsets (durable before visible), deletion, expiry and reload.
#include "coordinator/group_coordinator.h"

#include <gtest/gtest.h>

#include <asio/post.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "storage/file.h"
#include "storage/partition_log.h"

namespace fjord::coordinator {
namespace {

using namespace protocol;
using namespace std::chrono_literals;

constexpr int16_t kJoinV3 = 3;  // no MEMBER_ID_REQUIRED round trip
constexpr int16_t kJoinV5 = 5;

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

class CoordinatorTest : public ::testing::Test {
 protected:
  CoordinatorTest() { reset(); }

  void reset(CoordinatorConfig config = small_config()) {
    coordinator_.reset();
    coordinator_ = std::make_unique<GroupCoordinator>(
        io_, config,
        [this](int32_t partition, std::vector<OffsetsRecord> records, std::function<void(ErrorCode)> done) {
          appended_.push_back({partition, records});
          ErrorCode e = append_error_;
          if (hold_appends_) {
            held_.push_back([done, e] { done(e); });
          } else {
            asio::post(io_, [done, e] { done(e); });
          }
        },
        [this] { return now_ms_; });
  }

  static CoordinatorConfig small_config() {
    CoordinatorConfig c;
    c.min_session_timeout_ms = 10;
    c.max_session_timeout_ms = 60000;
    c.initial_rebalance_delay_ms = 0;
    return c;
  }

  static JoinGroupRequest join_req(const std::string& member_id, int32_t session_ms = 10000,
                                   std::string protocol = "range", std::string metadata = "m") {
    JoinGroupRequest r;
    r.group_id = "g";
    r.session_timeout_ms = session_ms;
    r.rebalance_timeout_ms = session_ms;
    r.member_id = member_id;
    r.protocol_type = "consumer";
    auto& p = r.protocols.emplace_back();
    p.name = std::move(protocol);
    p.metadata = bytes(metadata);
    return r;
  }

  // Starts a join; the returned slot fills in when the coordinator answers.
  std::shared_ptr<std::optional<JoinGroupResponse>> join(const JoinGroupRequest& r, int16_t version = kJoinV3) {
    auto slot = std::make_shared<std::optional<JoinGroupResponse>>();
    coordinator_->join_group(7, r, version, ClientInfo{"client", "/127.0.0.1"},
                             [slot](JoinGroupResponse resp) { *slot = std::move(resp); });
    return slot;
  }
  std::shared_ptr<std::optional<SyncGroupResponse>> sync(const std::string& member, int32_t generation,
                                                         std::vector<std::pair<std::string, std::string>> assign = {}) {
    SyncGroupRequest r;
    r.group_id = "g";
    r.member_id = member;
    r.generation_id = generation;
    for (auto& [m, a] : assign) {
      auto& x = r.assignments.emplace_back();
      x.member_id = m;
      x.assignment = bytes(a);
    }
    auto slot = std::make_shared<std::optional<SyncGroupResponse>>();
    coordinator_->sync_group(r, 5, [slot](SyncGroupResponse resp) { *slot = std::move(resp); });
    return slot;
  }
  int16_t heartbeat(const std::string& member, int32_t generation) {
    HeartbeatRequest r;
    r.group_id = "g";
    r.member_id = member;
    r.generation_id = generation;
    return coordinator_->heartbeat(r).error_code;
  }
  template <typename Pred>
  void run_until(Pred pred, std::chrono::milliseconds limit = 3000ms) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < end) {
      io_.restart();
      io_.run_for(5ms);
    }
    ASSERT_TRUE(pred()) << "condition not reached in time";
  }
  void drain() {
    io_.restart();
    io_.poll();
  }

  // One member joined, synced and Stable; returns its id and generation.
  std::pair<std::string, int32_t> stable_single(const std::string& assignment = "a0") {
    auto j = join(join_req(""));
    drain();
    EXPECT_TRUE(j->has_value());
    std::string id = (*j)->member_id;
    auto s = sync(id, (*j)->generation_id, {{id, assignment}});
    run_until([&] { return s->has_value(); });
    EXPECT_EQ((*s)->error_code, 0);
    return {id, (*j)->generation_id};
  }

  // A __consumer_offsets-7 log in a fresh directory `dir` holding, one batch each, what the
  // coordinator appended so far; `bytes`: the batches' total size.
  std::unique_ptr<storage::PartitionLog> log_of_appends(const std::filesystem::path& dir, uint64_t* bytes = nullptr) {
    std::filesystem::remove_all(dir);
    auto log = storage::PartitionLog::open(storage::Env::posix(), dir / "__consumer_offsets-7", storage::LogConfig{}, 0,
                                           0, true, now_ms_, nullptr, io_.get_executor());
    EXPECT_TRUE(log);
    if (!log) return nullptr;
    for (auto& [partition, records] : appended_) {
      Bytes batch = build_batch(records, now_ms_);
      if (bytes) *bytes += batch.size();
      EXPECT_TRUE((*log)->append(batch, now_ms_));
    }
    return std::move(*log);
  }

  asio::io_context io_;
  std::unique_ptr<GroupCoordinator> coordinator_;
  std::vector<std::pair<int32_t, std::vector<OffsetsRecord>>> appended_;
  ErrorCode append_error_ = ErrorCode::NONE;
  bool hold_appends_ = false;
  std::vector<std::function<void()>> held_;
  int64_t now_ms_ = 1'000'000;
};

TEST_F(CoordinatorTest, SingleMemberJoinsLeadsAndGetsItsAssignment) {
  auto j = join(join_req(""));
  drain();
  ASSERT_TRUE(j->has_value());
  const JoinGroupResponse& r = **j;
  EXPECT_EQ(r.error_code, 0);
  EXPECT_EQ(r.generation_id, 1);
  EXPECT_EQ(r.leader, r.member_id);
  EXPECT_EQ(r.protocol_name, "range");
  ASSERT_EQ(r.members.size(), 1u);
  EXPECT_EQ(r.members[0].metadata, bytes("m"));
  EXPECT_EQ(r.member_id.rfind("client-", 0), 0u);

  EXPECT_EQ(heartbeat(r.member_id, 1), 0);  // CompletingRebalance: fine
  auto s = sync(r.member_id, 1, {{r.member_id, "assignment"}});
  EXPECT_FALSE(s->has_value()) << "answered before the group metadata was stored";
  run_until([&] { return s->has_value(); });
  EXPECT_EQ((*s)->error_code, 0);
  EXPECT_EQ((*s)->assignment, bytes("assignment"));
  ASSERT_EQ(appended_.size(), 1u);
  EXPECT_EQ(appended_[0].first, 7);
  EXPECT_EQ(coordinator_->describe_group("g").group_state, "Stable");
  EXPECT_EQ(heartbeat(r.member_id, 1), 0);
  EXPECT_EQ(heartbeat(r.member_id, 2), code(ErrorCode::ILLEGAL_GENERATION));
  EXPECT_EQ(heartbeat("nobody", 1), code(ErrorCode::UNKNOWN_MEMBER_ID));
}

TEST_F(CoordinatorTest, NewerJoinVersionsFirstHandOutAMemberId) {
  auto first = join(join_req(""), kJoinV5);
  drain();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->error_code, code(ErrorCode::MEMBER_ID_REQUIRED));
  ASSERT_FALSE((*first)->member_id.empty());
  auto second = join(join_req((*first)->member_id), kJoinV5);
  drain();
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ((*second)->error_code, 0);
  EXPECT_EQ((*second)->member_id, (*first)->member_id);
  EXPECT_EQ((*second)->generation_id, 1);
}

TEST_F(CoordinatorTest, ASecondMemberTriggersARebalanceBothRejoin) {
  auto [a, gen] = stable_single();
  auto jb = join(join_req(""));
  drain();
  EXPECT_FALSE(jb->has_value()) << "the join phase waits for the existing member";
  EXPECT_EQ(heartbeat(a, gen), code(ErrorCode::REBALANCE_IN_PROGRESS));
  auto ja = join(join_req(a));
  drain();
  ASSERT_TRUE(ja->has_value() && jb->has_value());
  EXPECT_EQ((*ja)->generation_id, 2);
  EXPECT_EQ((*jb)->generation_id, 2);
  EXPECT_EQ((*ja)->leader, a) << "the leader stays the leader";
  EXPECT_EQ((*ja)->members.size(), 2u);
  EXPECT_TRUE((*jb)->members.empty()) << "followers get no member list";
  const std::string b = (*jb)->member_id;
  auto sb = sync(b, 2);
  drain();
  EXPECT_FALSE(sb->has_value()) << "a follower waits for the leader's assignment";
  auto sa = sync(a, 2, {{a, "pa"}, {b, "pb"}});
  run_until([&] { return sa->has_value() && sb->has_value(); });
  EXPECT_EQ((*sa)->assignment, bytes("pa"));
  EXPECT_EQ((*sb)->assignment, bytes("pb"));
}

TEST_F(CoordinatorTest, AMemberThatStopsHeartbeatingIsRemovedAndTheGroupRebalances) {
  auto ja = join(join_req("", 200));
  drain();
  std::string a = (*ja)->member_id;
  auto sa = sync(a, 1, {{a, "x"}});
  run_until([&] { return sa->has_value(); });
  auto start = std::chrono::steady_clock::now();
  run_until([&] { return coordinator_->describe_group("g").group_state == "Empty"; }, 2000ms);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 150ms);
  EXPECT_TRUE(coordinator_->describe_group("g").members.empty());
  EXPECT_EQ(heartbeat(a, 1), code(ErrorCode::UNKNOWN_MEMBER_ID));
}

TEST_F(CoordinatorTest, HeartbeatsKeepAMemberAlive) {
  auto ja = join(join_req("", 100));
  drain();
  std::string a = (*ja)->member_id;
  auto sa = sync(a, 1, {{a, "x"}});
  run_until([&] { return sa->has_value(); });
  for (int i = 0; i < 10; ++i) {
    io_.restart();
    io_.run_for(40ms);
    ASSERT_EQ(heartbeat(a, 1), 0) << "after " << (i + 1) * 40 << " ms";
  }
  EXPECT_EQ(coordinator_->describe_group("g").group_state, "Stable");
}

TEST_F(CoordinatorTest, LeaveRebalancesAtOnceAndTheLastLeaveEmptiesTheGroup) {
  auto [a, gen] = stable_single();
  auto jb = join(join_req(""));
  auto ja = join(join_req(a));
  drain();
  std::string b = (*jb)->member_id;
  auto sa = sync(a, 2, {{a, "pa"}, {b, "pb"}});
  auto sb = sync(b, 2);
  run_until([&] { return sa->has_value() && sb->has_value(); });

  LeaveGroupRequest leave;
  leave.group_id = "g";
  leave.members.emplace_back().member_id = b;
  auto resp = coordinator_->leave_group(leave, 4);
  ASSERT_EQ(resp.members.size(), 1u);
  EXPECT_EQ(resp.members[0].error_code, 0);
  EXPECT_EQ(coordinator_->describe_group("g").group_state, "PreparingRebalance");
  EXPECT_EQ(heartbeat(a, 2), code(ErrorCode::REBALANCE_IN_PROGRESS));
  auto ja3 = join(join_req(a));
  drain();
  ASSERT_TRUE(ja3->has_value());
  EXPECT_EQ((*ja3)->generation_id, 3);
  EXPECT_EQ((*ja3)->members.size(), 1u);

  LeaveGroupRequest leave_v0;
  leave_v0.group_id = "g";
  leave_v0.member_id = a;
  EXPECT_EQ(coordinator_->leave_group(leave_v0, 0).error_code, 0);
  EXPECT_EQ(coordinator_->describe_group("g").group_state, "Empty");
  EXPECT_EQ(coordinator_->leave_group(leave_v0, 0).error_code, code(ErrorCode::UNKNOWN_MEMBER_ID));
}

TEST_F(CoordinatorTest, MembersThatDoNotRejoinAreDroppedAfterTheRebalanceTimeout) {
  auto ja = join(join_req("", 300));
  drain();
  std::string a = (*ja)->member_id;
  auto sa = sync(a, 1, {{a, "x"}});
  run_until([&] { return sa->has_value(); });
  // b joins; a keeps heartbeating but never rejoins.
  auto jb = join(join_req("", 300));
  for (int i = 0; i < 20 && !jb->has_value(); ++i) {
    heartbeat(a, 1);
    io_.restart();
    io_.run_for(30ms);
  }
  ASSERT_TRUE(jb->has_value());
  EXPECT_EQ((*jb)->generation_id, 2);
  EXPECT_EQ((*jb)->leader, (*jb)->member_id);
  EXPECT_EQ(heartbeat(a, 1), code(ErrorCode::UNKNOWN_MEMBER_ID));
}

TEST_F(CoordinatorTest, ALeaderThatNeverSyncsIsDroppedAfterTheRebalanceTimeout) {
  auto ja = join(join_req("", 300));
  drain();
  const std::string a = (*ja)->member_id;  // the leader
  auto jb = join(join_req("", 300));
  drain();
  EXPECT_FALSE(jb->has_value());
  auto ja2 = join(join_req(a, 300));
  drain();
  ASSERT_TRUE(jb->has_value() && ja2->has_value());
  ASSERT_EQ((*ja2)->leader, a);
  const std::string b = (*jb)->member_id;
  const int32_t gen = (*jb)->generation_id;
  auto sb = sync(b, gen);  // the follower waits; the leader keeps heartbeating but never syncs
  for (int i = 0; i < 40 && !sb->has_value(); ++i) {
    heartbeat(a, gen);
    io_.restart();
    io_.run_for(20ms);
  }
  ASSERT_TRUE(sb->has_value()) << "the follower waited forever for the leader's assignment";
  EXPECT_EQ((*sb)->error_code, code(ErrorCode::REBALANCE_IN_PROGRESS));
  EXPECT_EQ(heartbeat(a, gen), code(ErrorCode::UNKNOWN_MEMBER_ID));
  auto jb2 = join(join_req(b, 300));
  drain();
  ASSERT_TRUE(jb2->has_value());
  EXPECT_EQ((*jb2)->leader, b);
  EXPECT_EQ((*jb2)->generation_id, gen + 1);
}

TEST_F(CoordinatorTest, StaticMemberRestartKeepsItsAssignmentWithoutARebalance) {
  auto req = join_req("");
  req.group_instance_id = "instance-1";
  auto j1 = join(req);
  drain();
  std::string old_id = (*j1)->member_id;
  EXPECT_EQ(old_id.rfind("instance-1-", 0), 0u);
  auto s1 = sync(old_id, 1, {{old_id, "mine"}});
  run_until([&] { return s1->has_value(); });

  auto j2 = join(req, kJoinV5);  // the restarted process: same instance, no member id
  run_until([&] { return j2->has_value(); });
  EXPECT_EQ((*j2)->error_code, 0);
  EXPECT_EQ((*j2)->generation_id, 1) << "no new generation";
  std::string new_id = (*j2)->member_id;
  EXPECT_NE(new_id, old_id);
  EXPECT_EQ(coordinator_->describe_group("g").group_state, "Stable");
  auto s2 = sync(new_id, 1);
  drain();
  ASSERT_TRUE(s2->has_value());
  EXPECT_EQ((*s2)->assignment, bytes("mine"));
  EXPECT_EQ(heartbeat(old_id, 1), code(ErrorCode::UNKNOWN_MEMBER_ID));

  HeartbeatRequest fenced;
  fenced.group_id = "g";
  fenced.member_id = old_id;
  fenced.group_instance_id = "instance-1";
  fenced.generation_id = 1;
  EXPECT_EQ(coordinator_->heartbeat(fenced).error_code, code(ErrorCode::FENCED_INSTANCE_ID));
}

TEST_F(CoordinatorTest, ARestartedStaticMemberStillExpiresWithoutHeartbeats) {
  auto req = join_req("", 200);
  req.group_instance_id = "instance-1";
  auto j1 = join(req);
  drain();
  auto s1 = sync((*j1)->member_id, 1, {{(*j1)->member_id, "mine"}});
  run_until([&] { return s1->has_value(); });
  auto j2 = join(req, kJoinV5);
  run_until([&] { return j2->has_value(); });
  ASSERT_EQ((*j2)->error_code, 0);
  // The new process dies at once: its session must still run out.
  run_until([&] { return coordinator_->describe_group("g").group_state == "Empty"; }, 2000ms);
}

TEST_F(CoordinatorTest, JoinErrors) {
  auto j = join(join_req("", 5));  // below the minimum session timeout
  drain();
  EXPECT_EQ((*j)->error_code, code(ErrorCode::INVALID_SESSION_TIMEOUT));
  j = join(join_req("nobody"));
  drain();
  EXPECT_EQ((*j)->error_code, code(ErrorCode::UNKNOWN_MEMBER_ID));
  auto empty = join_req("");
  empty.group_id = "";
  j = join(empty);
  drain();
  EXPECT_EQ((*j)->error_code, code(ErrorCode::INVALID_GROUP_ID));

  stable_single();
  j = join(join_req("", 10000, "roundrobin"));
  drain();
  EXPECT_EQ((*j)->error_code, code(ErrorCode::INCONSISTENT_GROUP_PROTOCOL));

  CoordinatorConfig one = small_config();
  one.max_group_size = 1;
  reset(one);
  stable_single();
  j = join(join_req(""));
  drain();
  EXPECT_EQ((*j)->error_code, code(ErrorCode::GROUP_MAX_SIZE_REACHED));
}

TEST_F(CoordinatorTest, ProtocolChosenIsTheOneEveryMemberSupportsByVote) {
  auto ra = join_req("");
  ra.protocols.clear();
  for (auto name : {"roundrobin", "range"}) {
    auto& p = ra.protocols.emplace_back();
    p.name = name;
  }
  auto rb = join_req("", 10000, "range");
  CoordinatorConfig delayed = small_config();
  delayed.initial_rebalance_delay_ms = 100;  // both join within the initial delay
  reset(delayed);
  auto ja = join(ra);
  auto jb = join(rb);
  run_until([&] { return ja->has_value() && jb->has_value(); });
  EXPECT_EQ((*ja)->generation_id, 1);
  EXPECT_EQ((*jb)->generation_id, 1);
  EXPECT_EQ((*ja)->protocol_name, "range");
}

TEST_F(CoordinatorTest, SyncErrors) {
  auto [a, gen] = stable_single();
  auto s = sync(a, gen + 1);
  drain();
  EXPECT_EQ((*s)->error_code, code(ErrorCode::ILLEGAL_GENERATION));
  s = sync("nobody", gen);
  drain();
  EXPECT_EQ((*s)->error_code, code(ErrorCode::UNKNOWN_MEMBER_ID));
  auto jb = join(join_req(""));
  drain();
  s = sync(a, gen);
  drain();
  EXPECT_EQ((*s)->error_code, code(ErrorCode::REBALANCE_IN_PROGRESS));
}

OffsetCommitRequest commit_req(const std::string& member, int32_t generation, int64_t offset,
                               std::string metadata = "meta") {
  OffsetCommitRequest r;
  r.group_id = "g";
  r.member_id = member;
  r.generation_id_or_member_epoch = generation;
  auto& t = r.topics.emplace_back();
  t.name = "t";
  auto& p = t.partitions.emplace_back();
  p.partition_index = 3;
  p.committed_offset = offset;
  p.committed_leader_epoch = 5;
  p.committed_metadata = std::move(metadata);
  return r;
}

TEST_F(CoordinatorTest, CommitsBecomeVisibleOnlyOnceDurable) {
  hold_appends_ = true;
  std::optional<OffsetCommitResponse> resp;
  coordinator_->commit_offsets(7, commit_req("", -1, 42), [&](OffsetCommitResponse r) { resp = std::move(r); });
  EXPECT_FALSE(resp.has_value());
  auto fetched = coordinator_->fetch_offsets("g", std::nullopt);
  EXPECT_TRUE(fetched.topics.empty()) << "visible before durable";
  ASSERT_EQ(held_.size(), 1u);
  held_[0]();
  ASSERT_TRUE(resp.has_value());
  EXPECT_EQ(resp->topics[0].partitions[0].error_code, 0);
  fetched = coordinator_->fetch_offsets("g", std::nullopt);
  ASSERT_EQ(fetched.topics.size(), 1u);
  EXPECT_EQ(fetched.topics[0].partitions[0].committed_offset, 42);
  EXPECT_EQ(fetched.topics[0].partitions[0].committed_leader_epoch, 5);
  EXPECT_EQ(fetched.topics[0].partitions[0].metadata, "meta");

  std::vector<OffsetFetchRequest::OffsetFetchRequestTopics> want(1);
  want[0].name = "t";
  want[0].partition_indexes = {3, 4};
  fetched = coordinator_->fetch_offsets("g", want);
  EXPECT_EQ(fetched.topics[0].partitions[1].committed_offset, -1);
  EXPECT_EQ(coordinator_->fetch_offsets("unknown", want).topics[0].partitions[0].committed_offset, -1);
}

TEST_F(CoordinatorTest, CommitErrors) {
  std::optional<OffsetCommitResponse> resp;
  auto commit = [&](const OffsetCommitRequest& r) {
    resp.reset();
    coordinator_->commit_offsets(7, r, [&](OffsetCommitResponse x) { resp = std::move(x); });
    run_until([&] { return resp.has_value(); });
    return resp->topics[0].partitions[0].error_code;
  };
  EXPECT_EQ(commit(commit_req("m", 1, 1)), code(ErrorCode::ILLEGAL_GENERATION)) << "unknown group";
  auto [a, gen] = stable_single();
  EXPECT_EQ(commit(commit_req("nobody", gen, 1)), code(ErrorCode::UNKNOWN_MEMBER_ID));
  EXPECT_EQ(commit(commit_req(a, gen + 1, 1)), code(ErrorCode::ILLEGAL_GENERATION));
  EXPECT_EQ(commit(commit_req("", -1, 1)), code(ErrorCode::UNKNOWN_MEMBER_ID)) << "simple commit into a live group";
  EXPECT_EQ(commit(commit_req(a, gen, 1, std::string(5000, 'x'))), code(ErrorCode::OFFSET_METADATA_TOO_LARGE));
  append_error_ = ErrorCode::KAFKA_STORAGE_ERROR;
  EXPECT_EQ(commit(commit_req(a, gen, 9)), code(ErrorCode::COORDINATOR_NOT_AVAILABLE));
  append_error_ = ErrorCode::NONE;
  EXPECT_EQ(commit(commit_req(a, gen, 10)), 0);
  EXPECT_EQ(coordinator_->fetch_offsets("g", std::nullopt).topics[0].partitions[0].committed_offset, 10);
}

TEST_F(CoordinatorTest, DeleteGroupOnlyWhenEmpty) {
  std::optional<ErrorCode> result;
  auto del = [&] {
    result.reset();
    coordinator_->delete_group("g", [&](ErrorCode e) { result = e; });
    run_until([&] { return result.has_value(); });
    return *result;
  };
  EXPECT_EQ(del(), ErrorCode::GROUP_ID_NOT_FOUND);
  auto [a, gen] = stable_single();
  EXPECT_EQ(del(), ErrorCode::NON_EMPTY_GROUP);
  std::optional<OffsetCommitResponse> resp;
  coordinator_->commit_offsets(7, commit_req(a, gen, 5), [&](OffsetCommitResponse x) { resp = std::move(x); });
  run_until([&] { return resp.has_value(); });
  LeaveGroupRequest leave;
  leave.group_id = "g";
  leave.member_id = a;
  coordinator_->leave_group(leave, 1);
  appended_.clear();
  EXPECT_EQ(del(), ErrorCode::NONE);
  EXPECT_EQ(coordinator_->group_count(), 0u);
  ASSERT_EQ(appended_.size(), 1u);
  ASSERT_EQ(appended_[0].second.size(), 2u) << "an offset tombstone and a group tombstone";
  EXPECT_FALSE(appended_[0].second[0].value.has_value());
  EXPECT_FALSE(appended_[0].second[1].value.has_value());
}

TEST_F(CoordinatorTest, OffsetsOfEmptyGroupsExpireAfterTheRetention) {
  CoordinatorConfig c = small_config();
  c.offsets_retention_ms = 60000;
  reset(c);
  std::optional<OffsetCommitResponse> resp;
  coordinator_->commit_offsets(7, commit_req("", -1, 5), [&](OffsetCommitResponse x) { resp = std::move(x); });
  run_until([&] { return resp.has_value(); });
  now_ms_ += 59000;
  EXPECT_EQ(coordinator_->expire_offsets(), 0u);
  now_ms_ += 2000;
  EXPECT_EQ(coordinator_->expire_offsets(), 1u);
  EXPECT_EQ(coordinator_->group_count(), 0u);
}

TEST_F(CoordinatorTest, OffsetDeleteRefusesTopicsTheGroupSubscribesTo) {
  // A consumer-protocol subscription to topic "t" (version 0: topics, user data).
  Bytes subscription;
  Writer w(subscription);
  w.write_int16(0);
  w.write_int32(1);
  w.write_string("t", false);
  w.write_int32(-1);
  auto req = join_req("");
  req.protocols[0].metadata = subscription;
  auto j = join(req);
  drain();
  std::string a = (*j)->member_id;
  std::optional<OffsetCommitResponse> resp;
  coordinator_->commit_offsets(7, commit_req(a, 1, 5), [&](OffsetCommitResponse x) { resp = std::move(x); });
  run_until([&] { return resp.has_value(); });
  EXPECT_EQ(resp->topics[0].partitions[0].error_code, code(ErrorCode::REBALANCE_IN_PROGRESS));
  auto s = sync(a, 1, {{a, ""}});
  run_until([&] { return s->has_value(); });
  resp.reset();
  coordinator_->commit_offsets(7, commit_req(a, 1, 5), [&](OffsetCommitResponse x) { resp = std::move(x); });
  run_until([&] { return resp.has_value(); });

  OffsetDeleteRequest del;
  del.group_id = "g";
  auto& t = del.topics.emplace_back();
  t.name = "t";
  t.partitions.emplace_back().partition_index = 3;
  std::optional<OffsetDeleteResponse> out;
  coordinator_->delete_offsets(del, [&](OffsetDeleteResponse x) { out = std::move(x); });
  run_until([&] { return out.has_value(); });
  EXPECT_EQ(out->topics[0].partitions[0].error_code, code(ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC));

  LeaveGroupRequest leave;
  leave.group_id = "g";
  leave.member_id = a;
  coordinator_->leave_group(leave, 1);
  out.reset();
  coordinator_->delete_offsets(del, [&](OffsetDeleteResponse x) { out = std::move(x); });
  run_until([&] { return out.has_value(); });
  EXPECT_EQ(out->error_code, 0);
  EXPECT_EQ(out->topics[0].partitions[0].error_code, 0);
  EXPECT_TRUE(coordinator_->fetch_offsets("g", std::nullopt).topics.empty());
}

TEST_F(CoordinatorTest, StateIsRebuiltFromTheLog) {
  auto [a, gen] = stable_single("the-assignment");
  std::optional<OffsetCommitResponse> resp;
  coordinator_->commit_offsets(7, commit_req(a, gen, 77), [&](OffsetCommitResponse x) { resp = std::move(x); });
  run_until([&] { return resp.has_value(); });
  // A second group, committed and then deleted: it must not come back.
  auto simple = commit_req("", -1, 3);
  simple.group_id = "gone";
  resp.reset();
  coordinator_->commit_offsets(7, simple, [&](OffsetCommitResponse x) { resp = std::move(x); });
  run_until([&] { return resp.has_value(); });
  std::optional<ErrorCode> deleted;
  coordinator_->delete_group("gone", [&](ErrorCode e) { deleted = e; });
  run_until([&] { return deleted.has_value(); });

  auto dir = std::filesystem::temp_directory_path() / ("fjord-coord-" + std::to_string(::getpid()));
  auto log = log_of_appends(dir);
  ASSERT_TRUE(log);
  reset();
  auto stats = coordinator_->load(7, *log);
  ASSERT_TRUE(stats) << stats.error();
  EXPECT_EQ(stats->skipped, 0);
  EXPECT_EQ(coordinator_->group_count(), 1u);
  auto described = coordinator_->describe_group("g");
  EXPECT_EQ(described.group_state, "Stable");
  ASSERT_EQ(described.members.size(), 1u);
  EXPECT_EQ(described.members[0].member_id, a);
  EXPECT_EQ(described.members[0].member_assignment, bytes("the-assignment"));
  EXPECT_EQ(heartbeat(a, gen), 0) << "the member carries on with its generation";
  EXPECT_EQ(coordinator_->fetch_offsets("g", std::nullopt).topics[0].partitions[0].committed_offset, 77);
  log.reset();
  std::filesystem::remove_all(dir);
}

TEST_F(CoordinatorTest, ABatchThatFailsItsCrcIsSkippedOnLoad) {
  for (const char* group : {"good", "bad"}) {
    auto req = commit_req("", -1, 5);
    req.group_id = group;
    std::optional<OffsetCommitResponse> resp;
    coordinator_->commit_offsets(7, req, [&](OffsetCommitResponse x) { resp = std::move(x); });
    run_until([&] { return resp.has_value(); });
  }
  auto dir = std::filesystem::temp_directory_path() / ("fjord-coord-crc-" + std::to_string(::getpid()));
  ASSERT_EQ(appended_.size(), 2u);
  uint64_t end = 0;
  auto log = log_of_appends(dir, &end);
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->flush());
  {  // one bit of the second batch ("bad") flips on disk
    std::fstream f(dir / "__consumer_offsets-7" / storage::segment_file_name(0, ".log"),
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(end - 1));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(end - 1));
    f.put(static_cast<char>(c ^ 0x01));
  }
  reset();
  auto stats = coordinator_->load(7, *log);
  ASSERT_TRUE(stats) << stats.error();
  EXPECT_EQ(stats->corrupt_batches, 1);
  EXPECT_EQ(coordinator_->fetch_offsets("good", std::nullopt).topics[0].partitions[0].committed_offset, 5);
  EXPECT_TRUE(coordinator_->fetch_offsets("bad", std::nullopt).topics.empty());
  log.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fjord::coordinator

namespace fjord::coordinator {

TEST_F(CoordinatorTest, TransactionalOffsetsCountOnlyOnceTheirCommitMarkerLands) {
  struct TxnAppend {
    int64_t producer_id;
    int16_t epoch;
    std::vector<OffsetsRecord> records;
  };
  std::vector<TxnAppend> txn_appends;
  coordinator_->set_txn_append([&](int32_t, int64_t pid, int16_t epoch, std::vector<OffsetsRecord> records,
                                   std::function<void(ErrorCode)> done) {
    txn_appends.push_back({pid, epoch, records});
    asio::post(io_, [done] { done(ErrorCode::NONE); });
  });
  auto commit = [&](int64_t pid, int64_t offset) {
    TxnOffsetCommitRequest r;
    r.transactional_id = "t";
    r.group_id = "g";
    r.producer_id = pid;
    r.producer_epoch = 0;
    auto& t = r.topics.emplace_back();
    t.name = "in";
    auto& p = t.partitions.emplace_back();
    p.partition_index = 0;
    p.committed_offset = offset;
    std::optional<TxnOffsetCommitResponse> out;
    coordinator_->txn_commit_offsets(7, r, [&](TxnOffsetCommitResponse resp) { out = std::move(resp); });
    drain();
    EXPECT_TRUE(out);
    return out ? out->topics[0].partitions[0].error_code : int16_t{-2};
  };
  auto fetch = [&](bool stable) {
    std::vector<OffsetFetchRequest::OffsetFetchRequestTopics> topics(1);
    topics[0].name = "in";
    topics[0].partition_indexes = {0};
    return coordinator_->fetch_offsets("g", topics, stable).topics[0].partitions[0];
  };
  ASSERT_EQ(commit(50, 10), 0);
  EXPECT_EQ(fetch(false).committed_offset, -1);
  EXPECT_EQ(fetch(true).error_code, code(ErrorCode::UNSTABLE_OFFSET_COMMIT));
  coordinator_->complete_txn(7, 50, true);
  EXPECT_EQ(fetch(true).committed_offset, 10);
  ASSERT_EQ(commit(50, 20), 0);
  coordinator_->complete_txn(7, 50, false);  // aborted: the offset stays 10
  EXPECT_EQ(fetch(true).committed_offset, 10);
  EXPECT_EQ(fetch(true).error_code, 0);
  ASSERT_EQ(commit(51, 30), 0);  // left open

  // Reloaded from a log holding those batches and markers: the same state.
  auto dir = std::filesystem::temp_directory_path() / ("fjord-txn-offsets-" + std::to_string(::getpid()));
  auto log = log_of_appends(dir);
  ASSERT_TRUE(log);
  auto put = [&](const TxnAppend& a) {
    Bytes batch = build_batch(a.records, now_ms_, a.producer_id, a.epoch);
    ASSERT_TRUE(log->append(batch, now_ms_));
  };
  put(txn_appends[0]);
  ASSERT_TRUE(log->append_marker(50, 0, {true, 0}, now_ms_));
  put(txn_appends[1]);
  ASSERT_TRUE(log->append_marker(50, 0, {false, 0}, now_ms_));
  put(txn_appends[2]);
  reset();
  auto stats = coordinator_->load(7, *log);
  ASSERT_TRUE(stats) << stats.error();
  EXPECT_EQ(fetch(false).committed_offset, 10);
  EXPECT_EQ(fetch(true).error_code, code(ErrorCode::UNSTABLE_OFFSET_COMMIT));  // producer 51's is pending
  coordinator_->complete_txn(7, 51, true);
  EXPECT_EQ(fetch(true).committed_offset, 30);
  log.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace fjord::coordinator
