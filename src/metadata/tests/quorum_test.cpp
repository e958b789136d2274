#include "metadata/quorum.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "metadata/metadata_log.h"

namespace fjord::metadata {
namespace {

namespace fs = std::filesystem;

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Keeps the topic names it was given, in order; a snapshot is the list.
class Names : public StateMachine {
 public:
  void apply(const std::vector<Record>& records) override {
    std::lock_guard lock(mu_);
    for (const Record& r : records) names_.push_back(std::get<TopicRecord>(r).topic.name);
  }
  Bytes snapshot() override {
    std::lock_guard lock(mu_);
    std::vector<Record> all;
    for (const auto& n : names_) all.push_back(TopicRecord{TopicInfo{n, Uuid{}, 1, {}}});
    return encode_entry(all);
  }
  tl::expected<void, std::string> restore(ByteView bytes) override {
    auto records = decode_entry(bytes);
    if (!records) return tl::unexpected(records.error());
    std::lock_guard lock(mu_);
    names_.clear();
    for (const Record& r : *records) names_.push_back(std::get<TopicRecord>(r).topic.name);
    return {};
  }
  std::vector<std::string> names() {
    std::lock_guard lock(mu_);
    return names_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> names_;
};

Record topic(std::string name) { return TopicRecord{TopicInfo{std::move(name), Uuid{}, 1, {}}}; }

template <typename F>
bool eventually(F f, std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return f();
}

TEST(Voters, Parse) {
  auto v = parse_voters("1@localhost:9093, 2@127.0.0.1:9094,3@[::1]:9095");
  ASSERT_TRUE(v) << v.error();
  ASSERT_EQ(v->size(), 3u);
  EXPECT_EQ((*v)[0].id, 1);
  EXPECT_EQ((*v)[0].address(), "localhost:9093");
  EXPECT_EQ((*v)[2].host, "::1");
  EXPECT_FALSE(parse_voters("1@localhost"));
  EXPECT_FALSE(parse_voters("x@localhost:1"));
  EXPECT_FALSE(parse_voters("1@localhost:9093,1@localhost:9094"));
  EXPECT_FALSE(parse_voters("1@:9093"));
  EXPECT_TRUE(parse_voters("")->empty());
}

TEST(Entry, RoundTripIsPaddedTo8) {
  std::vector<Record> records{topic("a"), ProducerIdsRecord{3, 4000}, RemoveTopicRecord{Uuid::random()}};
  Bytes e = encode_entry(records);
  EXPECT_EQ(e.size() % 8, 0u);
  auto back = decode_entry(e);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, records);
  e[2] ^= 1;
  EXPECT_FALSE(decode_entry(e));
}

class QuorumTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    dir_ = fs::temp_directory_path() / ("fjord-quorum-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    for (int i = 0; i < 3; ++i) voters_.push_back(Voter{i, "127.0.0.1", free_port()});
    for (int i = 0; i < 3; ++i) machines_.push_back(std::make_unique<Names>());
    nodes_.resize(3);
  }
  void TearDown() override {
    nodes_.clear();
    fs::remove_all(dir_);
  }
  void start(int i) {
    RaftQuorum::Options o;
    o.node_id = i;
    o.voters = voters_;
    o.dir = (dir_ / std::to_string(i)).string();
    o.election_timeout_ms = 300;
    o.heartbeat_timeout_ms = 50;
    o.snapshot_threshold = 8;
    o.snapshot_trailing = 2;
    auto q = RaftQuorum::start(o, *machines_[static_cast<size_t>(i)]);
    ASSERT_TRUE(q) << q.error();
    nodes_[static_cast<size_t>(i)] = std::move(*q);
  }
  int ready_leader() {
    int leader = -1;
    EXPECT_TRUE(eventually([&] {
      for (size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i] && nodes_[i]->leader_ready()) leader = static_cast<int>(i);
      return leader >= 0;
    }));
    return leader;
  }
  std::string propose(int node, std::string name) {
    std::promise<std::string> p;
    auto f = p.get_future();
    nodes_[static_cast<size_t>(node)]->propose({topic(std::move(name))}, [&p](std::string e) { p.set_value(e); });
    return f.get();
  }

  fs::path dir_;
  std::vector<Voter> voters_;
  std::vector<std::unique_ptr<Names>> machines_;
  std::vector<std::unique_ptr<RaftQuorum>> nodes_;
};

TEST_F(QuorumTest, ReplicatesToEveryVoterAndSurvivesLeaderLoss) {
  for (int i = 0; i < 3; ++i) start(i);
  int leader = ready_leader();
  ASSERT_GE(leader, 0);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(eventually([&] { return nodes_[static_cast<size_t>(i)]->leader() == leader; }));
  int follower = (leader + 1) % 3;
  EXPECT_NE(propose(follower, "refused"), "");  // only the leader takes proposals
  for (int n = 0; n < 20; ++n) ASSERT_EQ(propose(leader, "t" + std::to_string(n)), "");
  std::vector<std::string> expected;
  for (int n = 0; n < 20; ++n) expected.push_back("t" + std::to_string(n));
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(eventually([&] { return machines_[static_cast<size_t>(i)]->names() == expected; })) << "node " << i;

  // The leader goes; the other two elect a new one and go on.
  nodes_[static_cast<size_t>(leader)].reset();
  int next = ready_leader();
  ASSERT_GE(next, 0);
  ASSERT_NE(next, leader);
  ASSERT_EQ(propose(next, "after"), "");
  expected.push_back("after");

  // The old leader comes back with a fresh state machine: its snapshot and log bring it up to date.
  machines_[static_cast<size_t>(leader)] = std::make_unique<Names>();
  start(leader);
  EXPECT_TRUE(eventually([&] { return machines_[static_cast<size_t>(leader)]->names() == expected; }));
  ASSERT_EQ(propose(ready_leader(), "last"), "");
  expected.push_back("last");
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(eventually([&] { return machines_[static_cast<size_t>(i)]->names() == expected; })) << "node " << i;
}

TEST_F(QuorumTest, NoQuorumNoCommit) {
  start(0);
  // One voter of three cannot elect itself.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_FALSE(nodes_[0]->leader_ready());
  EXPECT_EQ(nodes_[0]->leader(), -1);
  EXPECT_NE(propose(0, "x"), "");
}

TEST_F(QuorumTest, NodeMustBeAVoter) {
  RaftQuorum::Options o;
  o.node_id = 7;
  o.voters = voters_;
  o.dir = (dir_ / "7").string();
  Names m;
  EXPECT_FALSE(RaftQuorum::start(o, m));
}

}  // namespace
}  // namespace fjord::metadata
