// Every handler at every version it advertises, called in-process through the registry: the
// request is encoded at that version, the response frame decoded at that version.
#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>

#include <deque>
#include <filesystem>
#include <future>
#include <thread>

#include "broker/broker.h"
#include "broker/metadata_changes.h"
#include "broker/groups.h"
#include "broker/transactions.h"
#include "broker/handler.h"
#include "broker/handlers/handlers.h"
#include "broker/replication.h"
#include "protocol/record_batch_builder.h"

#include <asio/executor_work_guard.hpp>

namespace fjord::broker {
namespace fs = std::filesystem;
using namespace protocol;

class HandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fjord-handlers-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::vector<std::string> unknown;
    config_.emplace(*BrokerConfig::create({{"log.dirs", dir_.string()}, {"log.retention.hours", "2"}, {"group.initial.rebalance.delay.ms", "0"}, {"offsets.topic.num.partitions", "4"}}, unknown));
    store_ = std::move(*metadata::MetadataStore::open(dir_.string(), 1));
    live_config_.emplace(*config_);
    controller_.emplace(*live_config_, *store_, dir_);
    logs_.push_back(std::make_unique<storage::LogManager>(storage::Env::posix(), dir_, syncer_,
                                                          shards_.context(0).get_executor()));
    fetch_sessions_.push_back(std::make_unique<FetchSessionCache>(2, 0, 1));
    broker_.emplace(*live_config_, *store_, *controller_, shards_, logs_, fetch_sessions_);
    broker_->node_id = 1;
    broker_->advertised_host = "127.0.0.1";
    broker_->advertised_port = 9092;
    broker_->max_request_bytes = 1 << 20;
    coordinators_.push_back(make_coordinator(*broker_, 0));
    broker_->coordinators = &coordinators_;
    txn_coordinators_.push_back(make_txn_coordinator(*broker_, 0));
    broker_->txn_coordinators = &txn_coordinators_;
    // As serve() does: metadata changes make directories and open logs (on the controller thread,
    // which runs here on its own thread).
    store_->set_listener([this](std::shared_ptr<const metadata::Image> before, std::shared_ptr<const metadata::Image> after) {
      apply_metadata_change(*broker_, *before, *after);
    });
    controller_thread_ = std::thread([this] {
      auto work = asio::make_work_guard(shards_.controller());
      shards_.controller().run();
    });
  }
  void TearDown() override {
    shards_.controller().stop();
    controller_thread_.join();
    // Deleted partitions are removed by a background thread that may still be at it.
    std::error_code ec;
    for (int i = 0; i < 100 && fs::exists(dir_); ++i) {
      fs::remove_all(dir_, ec);
      if (ec) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  template <typename Resp, typename Req>
  Resp call(const Req& req, int16_t version) {
    RequestHeader header;
    header.request_api_key = Req::kApiKey;
    header.request_api_version = version;
    header.correlation_id = 1234;
    header.client_id = "handlers-test";
    Bytes frame = encode_request(header, req);
    std::string error;
    auto parsed = parse_request(ByteView(frame).subspan(4), error);
    EXPECT_TRUE(parsed.has_value()) << error;
    const HandlerInfo* handler = find_handler(Req::kApiKey);
    EXPECT_NE(handler, nullptr);
    HandlerResult result;
    RequestContext ctx{*broker_, parsed->header};
    asio::io_context& io = shards_.context(0);
    bool done = false;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      result = co_await handler->invoke(ctx, parsed->body);
      done = true;
    }, asio::detached);
    io.restart();
    auto work = asio::make_work_guard(io);  // syncs complete from the syncer thread
    while (!done) io.run_one();
    if (ctx.suppress_response) return Resp{};
    EXPECT_TRUE(result.has_value());
    Bytes bytes = result->materialize();
    Reader r(bytes);
    EXPECT_EQ(r.read_int32(), static_cast<int32_t>(bytes.size() - 4));
    ResponseHeader rh;
    rh.decode(r, response_header_version(*find_api_spec(Req::kApiKey), version));
    EXPECT_EQ(rh.correlation_id, 1234);
    Resp resp;
    resp.decode(r, version);
    EXPECT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r.remaining(), 0u);
    return resp;
  }

  // Every request of `reqs` at once (concurrent on shard 0, as pipelined requests are); the
  // responses in request order.
  template <typename Resp, typename Req>
  std::vector<Resp> call_all(const std::vector<Req>& reqs, int16_t version) {
    std::vector<Bytes> frames;
    std::vector<ParsedRequest> parsed;
    std::deque<RequestContext> contexts;
    std::vector<HandlerResult> results(reqs.size());
    frames.reserve(reqs.size());
    parsed.reserve(reqs.size());
    const HandlerInfo* handler = find_handler(Req::kApiKey);
    size_t done = 0;
    asio::io_context& io = shards_.context(0);
    for (size_t i = 0; i < reqs.size(); ++i) {
      RequestHeader header;
      header.request_api_key = Req::kApiKey;
      header.request_api_version = version;
      header.correlation_id = static_cast<int32_t>(i);
      header.client_id = "handlers-test";
      frames.push_back(encode_request(header, reqs[i]));
      std::string error;
      parsed.push_back(*parse_request(ByteView(frames.back()).subspan(4), error));
      contexts.push_back(RequestContext{*broker_, parsed.back().header});
      asio::co_spawn(io, [&, i]() -> asio::awaitable<void> {
        results[i] = co_await handler->invoke(contexts[i], parsed[i].body);
        ++done;
      }, asio::detached);
    }
    io.restart();
    auto work = asio::make_work_guard(io);
    while (done < reqs.size()) io.run_one();
    std::vector<Resp> out;
    for (auto& result : results) {
      EXPECT_TRUE(result.has_value());
      Bytes bytes = result->materialize();
      Reader r(bytes);
      r.read_int32();
      ResponseHeader rh;
      rh.decode(r, response_header_version(*find_api_spec(Req::kApiKey), version));
      out.emplace_back().decode(r, version);
      EXPECT_TRUE(r.ok()) << r.error();
    }
    return out;
  }

  CreateTopicsResponse create(const std::string& name, int32_t partitions, int16_t version,
                              std::map<std::string, std::string> configs = {}) {
    CreateTopicsRequest req;
    auto& t = req.topics.emplace_back();
    t.name = name;
    t.num_partitions = partitions;
    t.replication_factor = 1;
    for (auto& [k, v] : configs) {
      auto& c = t.configs.emplace_back();
      c.name = k;
      c.value = v;
    }
    req.timeout_ms = 1000;
    return call<CreateTopicsResponse>(req, version);
  }

  fs::path dir_;
  std::optional<BrokerConfig> config_;
  std::optional<LiveConfig> live_config_;
  std::unique_ptr<metadata::MetadataStore> store_;
  std::optional<Controller> controller_;
  Shards shards_{1};
  storage::Syncer syncer_{1};  // one thread: a stalled sync holds back the next (see StalledFile)
  std::vector<std::unique_ptr<storage::LogManager>> logs_;
  std::vector<std::unique_ptr<FetchSessionCache>> fetch_sessions_;
  std::vector<std::unique_ptr<coordinator::GroupCoordinator>> coordinators_;
  std::vector<std::unique_ptr<coordinator::TransactionCoordinator>> txn_coordinators_;
  std::optional<Broker> broker_;
  std::thread controller_thread_;
};

TEST_F(HandlersTest, ApiVersionsAtEveryVersionListsTheRegistry) {
  for (int16_t v = 0; v <= 3; ++v) {
    ApiVersionsRequest req;
    req.client_software_name = "test";
    req.client_software_version = "1.0";
    auto resp = call<ApiVersionsResponse>(req, v);
    EXPECT_EQ(resp.error_code, 0) << v;
    ASSERT_EQ(resp.api_keys.size(), handlers().size());
    bool has_metadata = false;
    for (auto& k : resp.api_keys) has_metadata |= k.api_key == 3 && k.min_version == 0 && k.max_version == 12;
    EXPECT_TRUE(has_metadata);
  }
  ApiVersionsRequest bad;
  bad.client_software_name = "-bad name";
  bad.client_software_version = "1";
  EXPECT_EQ(call<ApiVersionsResponse>(bad, 3).error_code, code(ErrorCode::INVALID_REQUEST));
}

TEST_F(HandlersTest, CreateTopicsAndMetadataAtEveryVersion) {
  for (int16_t cv = 0; cv <= 7; ++cv) {
    std::string name = "topic-v" + std::to_string(cv);
    auto resp = create(name, 2 + cv, cv, {{"retention.ms", "1000"}});
    ASSERT_EQ(resp.topics.size(), 1u);
    EXPECT_EQ(resp.topics[0].error_code, 0) << cv;
    if (cv >= 5) {
      EXPECT_EQ(resp.topics[0].num_partitions, 2 + cv);
      ASSERT_TRUE(resp.topics[0].configs.has_value());
      bool found = false;
      for (auto& c : *resp.topics[0].configs)
        found |= c.name == "retention.ms" && c.value == "1000" && c.config_source == 1;
      EXPECT_TRUE(found);
    }
    if (cv >= 7) EXPECT_FALSE(resp.topics[0].topic_id.is_zero());
    EXPECT_EQ(create(name, 1, cv).topics[0].error_code, code(ErrorCode::TOPIC_ALREADY_EXISTS));
  }
  for (int16_t mv = 0; mv <= 12; ++mv) {
    MetadataRequest req;
    req.topics.emplace();
    req.topics->emplace_back().name = "topic-v3";
    req.allow_auto_topic_creation = false;
    auto resp = call<MetadataResponse>(req, mv);
    ASSERT_EQ(resp.brokers.size(), 1u);
    EXPECT_EQ(resp.brokers[0].node_id, 1);
    EXPECT_EQ(resp.brokers[0].port, 9092);
    ASSERT_EQ(resp.topics.size(), 1u);
    EXPECT_EQ(resp.topics[0].error_code, 0);
    EXPECT_EQ(resp.topics[0].partitions.size(), 5u);
    if (mv >= 2) EXPECT_EQ(resp.cluster_id, store_->cluster_id());
    if (mv >= 10) EXPECT_FALSE(resp.topics[0].topic_id.is_zero());
    if (mv >= 12) {
      MetadataRequest by_id;
      by_id.topics.emplace();
      auto& t = by_id.topics->emplace_back();
      t.name = std::nullopt;
      t.topic_id = resp.topics[0].topic_id;
      auto r2 = call<MetadataResponse>(by_id, mv);
      ASSERT_EQ(r2.topics.size(), 1u);
      EXPECT_EQ(r2.topics[0].name, "topic-v3");
      t.topic_id = Uuid::random();
      EXPECT_EQ(call<MetadataResponse>(by_id, mv).topics[0].error_code, code(ErrorCode::UNKNOWN_TOPIC_ID));
    }
    // All topics: v0 with an empty list, v1+ with a null list.
    MetadataRequest all;
    if (mv >= 1) all.topics = std::nullopt;
    EXPECT_EQ(call<MetadataResponse>(all, mv).topics.size(), 8u);
  }
}

TEST_F(HandlersTest, CreateTopicsErrors) {
  EXPECT_EQ(create("", 1, 5).topics[0].error_code, code(ErrorCode::INVALID_TOPIC_EXCEPTION));
  EXPECT_EQ(create("a/b", 1, 5).topics[0].error_code, code(ErrorCode::INVALID_TOPIC_EXCEPTION));
  EXPECT_EQ(create(std::string(250, 'x'), 1, 5).topics[0].error_code, code(ErrorCode::INVALID_TOPIC_EXCEPTION));
  EXPECT_EQ(create("zero", 0, 5).topics[0].error_code, code(ErrorCode::INVALID_PARTITIONS));
  EXPECT_EQ(create("conf", 1, 5, {{"no.such.config", "1"}}).topics[0].error_code, code(ErrorCode::INVALID_CONFIG));
  EXPECT_EQ(create("conf", 1, 5, {{"retention.ms", "abc"}}).topics[0].error_code, code(ErrorCode::INVALID_CONFIG));
  EXPECT_EQ(create("a.b", 1, 5).topics[0].error_code, 0);
  EXPECT_EQ(create("a_b", 1, 5).topics[0].error_code, code(ErrorCode::INVALID_TOPIC_EXCEPTION));

  CreateTopicsRequest rf;
  auto& t = rf.topics.emplace_back();
  t.name = "rf3";
  t.num_partitions = 1;
  t.replication_factor = 3;
  EXPECT_EQ(call<CreateTopicsResponse>(rf, 4).topics[0].error_code, code(ErrorCode::INVALID_REPLICATION_FACTOR));

  CreateTopicsRequest validate;
  auto& v = validate.topics.emplace_back();
  v.name = "dry";
  v.num_partitions = -1;
  v.replication_factor = -1;
  validate.validate_only = true;
  auto resp = call<CreateTopicsResponse>(validate, 5);
  EXPECT_EQ(resp.topics[0].error_code, 0);
  EXPECT_EQ(resp.topics[0].num_partitions, 1);
  EXPECT_EQ(store_->topic("dry"), nullptr);
  EXPECT_FALSE(fs::exists(dir_ / "dry-0"));
}

TEST_F(HandlersTest, DeleteTopicsAtEveryVersion) {
  for (int16_t v = 0; v <= 6; ++v) {
    std::string name = "del-v" + std::to_string(v);
    auto created = create(name, 2, 7);
    ASSERT_TRUE(fs::exists(dir_ / (name + "-1")));
    DeleteTopicsRequest req;
    if (v >= 6) {
      req.topics.emplace_back().topic_id = created.topics[0].topic_id;
    } else {
      req.topic_names.push_back(name);
    }
    auto resp = call<DeleteTopicsResponse>(req, v);
    ASSERT_EQ(resp.responses.size(), 1u);
    EXPECT_EQ(resp.responses[0].error_code, 0) << v;
    EXPECT_EQ(resp.responses[0].name, name);
    EXPECT_EQ(store_->topic(name), nullptr);
    EXPECT_FALSE(fs::exists(dir_ / (name + "-0")));
    auto again = call<DeleteTopicsResponse>(req, v);
    EXPECT_EQ(again.responses[0].error_code,
              code(v >= 6 ? ErrorCode::UNKNOWN_TOPIC_ID : ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
  }
}

TEST_F(HandlersTest, CreatePartitionsAtEveryVersion) {
  create("grow", 1, 5);
  for (int16_t v = 0; v <= 3; ++v) {
    CreatePartitionsRequest req;
    auto& t = req.topics.emplace_back();
    t.name = "grow";
    t.count = 2 + v;
    t.assignments = std::nullopt;
    auto resp = call<CreatePartitionsResponse>(req, v);
    ASSERT_EQ(resp.results.size(), 1u);
    EXPECT_EQ(resp.results[0].error_code, 0) << v;
    EXPECT_EQ(store_->topic("grow")->partitions, 2 + v);
    EXPECT_TRUE(fs::exists(dir_ / ("grow-" + std::to_string(1 + v))));
    EXPECT_EQ(call<CreatePartitionsResponse>(req, v).results[0].error_code, code(ErrorCode::INVALID_PARTITIONS));
  }
  CreatePartitionsRequest unknown;
  auto& t = unknown.topics.emplace_back();
  t.name = "nope";
  t.count = 3;
  t.assignments = std::nullopt;
  EXPECT_EQ(call<CreatePartitionsResponse>(unknown, 3).results[0].error_code,
            code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
}

TEST_F(HandlersTest, DescribeConfigsAtEveryVersion) {
  create("cfg", 1, 5, {{"segment.bytes", "1048576"}});
  for (int16_t v = 0; v <= 4; ++v) {
    DescribeConfigsRequest req;
    auto& topic = req.resources.emplace_back();
    topic.resource_type = 2;
    topic.resource_name = "cfg";
    topic.configuration_keys = std::nullopt;
    auto& broker = req.resources.emplace_back();
    broker.resource_type = 4;
    broker.resource_name = "1";
    broker.configuration_keys = std::vector<std::string>{"num.partitions", "log.retention.hours"};
    auto& missing = req.resources.emplace_back();
    missing.resource_type = 2;
    missing.resource_name = "missing";
    missing.configuration_keys = std::nullopt;
    req.include_synonyms = true;
    auto resp = call<DescribeConfigsResponse>(req, v);
    ASSERT_EQ(resp.results.size(), 3u);
    EXPECT_EQ(resp.results[0].error_code, 0);
    std::map<std::string, DescribeConfigsResponse::DescribeConfigsResourceResult> by_name;
    for (auto& c : resp.results[0].configs) by_name[c.name] = c;
    ASSERT_TRUE(by_name.contains("segment.bytes") && by_name.contains("retention.ms") &&
                by_name.contains("cleanup.policy"));
    EXPECT_EQ(by_name["segment.bytes"].value, "1048576");
    EXPECT_EQ(by_name["retention.ms"].value, "7200000");  // log.retention.hours=2
    EXPECT_EQ(by_name["cleanup.policy"].value, "delete");
    if (v == 0) {
      EXPECT_FALSE(by_name["segment.bytes"].is_default);
      EXPECT_TRUE(by_name["cleanup.policy"].is_default);
    } else {
      EXPECT_EQ(by_name["segment.bytes"].config_source, 1);  // DYNAMIC_TOPIC_CONFIG
      EXPECT_EQ(by_name["retention.ms"].config_source, 4);   // STATIC_BROKER_CONFIG
      EXPECT_EQ(by_name["cleanup.policy"].config_source, 5);  // DEFAULT_CONFIG
      ASSERT_GE(by_name["segment.bytes"].synonyms.size(), 2u);
      EXPECT_EQ(by_name["segment.bytes"].synonyms[0].name, "segment.bytes");
      EXPECT_EQ(by_name["segment.bytes"].synonyms[1].name, "log.segment.bytes");
      ASSERT_GE(by_name["retention.ms"].synonyms.size(), 1u);
      EXPECT_EQ(by_name["retention.ms"].synonyms[0].name, "log.retention.hours");
      EXPECT_EQ(by_name["retention.ms"].synonyms[0].value, "2");
    }
    if (v >= 3) EXPECT_EQ(by_name["segment.bytes"].config_type, static_cast<int8_t>(ConfigType::Int));
    EXPECT_EQ(resp.results[1].error_code, 0);
    ASSERT_EQ(resp.results[1].configs.size(), 2u);
    EXPECT_EQ(resp.results[2].error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
  }
}

TEST_F(HandlersTest, AutoCreationFollowsTheRequestAndTheBrokerSetting) {
  MetadataRequest req;
  req.topics.emplace();
  req.topics->emplace_back().name = "auto";
  req.allow_auto_topic_creation = false;
  EXPECT_EQ(call<MetadataResponse>(req, 9).topics[0].error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
  req.allow_auto_topic_creation = true;
  auto resp = call<MetadataResponse>(req, 9);
  EXPECT_EQ(resp.topics[0].error_code, 0);
  EXPECT_EQ(resp.topics[0].partitions.size(), 1u);
  req.topics->at(0).name = "bad name!";
  EXPECT_EQ(call<MetadataResponse>(req, 9).topics[0].error_code, code(ErrorCode::INVALID_TOPIC_EXCEPTION));
  req.topics->at(0).name = "__consumer_offsets";
  EXPECT_EQ(call<MetadataResponse>(req, 9).topics[0].error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
}

namespace {
Bytes batch_of(int records, int64_t ts, const std::string& prefix) {
  RecordBatchBuilder b(ts);
  for (int i = 0; i < records; ++i) {
    std::string v = prefix + std::to_string(i);
    b.add(Bytes{'k'}, Bytes(v.begin(), v.end()), ts + i);
  }
  return b.build();
}
}  // namespace

TEST_F(HandlersTest, ProduceFetchListOffsetsAtEveryVersion) {
  create("data", 2, 5);
  int64_t next = 0;
  const int64_t t0 = 1'700'000'000'000;
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  for (int16_t v = 3; v <= 11; ++v) {
    ProduceRequest req;
    req.acks = v % 2 == 0 ? -1 : 1;
    req.timeout_ms = 1000;
    auto& t = req.topic_data.emplace_back();
    t.name = "data";
    auto& p = t.partition_data.emplace_back();
    p.index = 1;
    p.records = Records(batch_of(3, now_ms + v, "v" + std::to_string(v) + "-"));
    auto resp = call<ProduceResponse>(req, v);
    ASSERT_EQ(resp.responses.size(), 1u);
    auto& pr = resp.responses[0].partition_responses[0];
    EXPECT_EQ(pr.error_code, 0) << v;
    EXPECT_EQ(pr.base_offset, next) << v;
    if (v >= 5) EXPECT_EQ(pr.log_start_offset, 0);
    next += 3;
  }
  (void)t0;
  for (int16_t v = 4; v <= 17; ++v) {
    FetchRequest req;
    req.max_wait_ms = 0;
    req.min_bytes = 1;
    req.max_bytes = 1 << 20;
    auto& t = req.topics.emplace_back();
    t.topic = "data";
    t.topic_id = store_->topic("data")->id;
    auto& p = t.partitions.emplace_back();
    p.partition = 1;
    p.fetch_offset = 4;
    p.partition_max_bytes = 1 << 20;
    auto resp = call<FetchResponse>(req, v);
    EXPECT_EQ(resp.error_code, 0);
    ASSERT_EQ(resp.responses.size(), 1u);
    auto& pd = resp.responses[0].partitions[0];
    EXPECT_EQ(pd.error_code, 0) << v;
    EXPECT_EQ(pd.high_watermark, next);
    ASSERT_TRUE(pd.records.bytes().has_value());
    const Bytes& fetched = *pd.records.bytes();
    // Starts at the batch holding offset 4 (offsets 3-5), then every later batch.
    auto first = read_batch_header(fetched);
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->base_offset, 3);
    size_t batches = 0;
    EXPECT_FALSE(for_each_valid_batch(fetched, [&](ByteView, const BatchHeader&) { ++batches; }).has_value());
    EXPECT_EQ(batches, 8u);
    // Past the end: OFFSET_OUT_OF_RANGE.
    req.topics[0].partitions[0].fetch_offset = next + 1;
    EXPECT_EQ(call<FetchResponse>(req, v).responses[0].partitions[0].error_code, code(ErrorCode::OFFSET_OUT_OF_RANGE));
  }
  for (int16_t v = 1; v <= 8; ++v) {
    ListOffsetsRequest req;
    auto& t = req.topics.emplace_back();
    t.name = "data";
    for (int64_t ts : {int64_t{-2}, int64_t{-1}, now_ms + 6}) {
      auto& p = t.partitions.emplace_back();
      p.partition_index = 1;
      p.timestamp = ts;
    }
    auto resp = call<ListOffsetsResponse>(req, v);
    auto& parts = resp.topics[0].partitions;
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[0].offset, 0) << v;
    EXPECT_EQ(parts[1].offset, next) << v;
    // The batch produced at v4 holds offsets 3..5 stamped now+4..now+6: offset 5 is the first
    // record at now+6 (record-level answer, as Kafka gives).
    EXPECT_EQ(parts[2].offset, 5) << v;
    EXPECT_EQ(parts[2].timestamp, now_ms + 6) << v;
  }
}

// The image can name this node leader of a replicated partition before its replication has
// taken the partition over (the refresh is posted, through the controller thread). A produce that
// gets there first must still count the followers: acks=all waits for them (here in vain), and
// the records stay above the high watermark, unseen by consumers.
TEST_F(HandlersTest, AProduceBeforeTheReplicationTookOverStillWaitsForTheFollowers) {
  metadata::TopicInfo topic;
  topic.name = "repl";
  topic.id = Uuid::random();
  topic.partitions = 1;
  std::vector<metadata::Record> records{
      metadata::RegisterBrokerRecord{metadata::BrokerInfo{2, Uuid::random(), "127.0.0.1", 1, std::nullopt, false}},
      metadata::RegisterBrokerRecord{metadata::BrokerInfo{3, Uuid::random(), "127.0.0.1", 1, std::nullopt, false}},
      metadata::TopicRecord{topic},
      metadata::PartitionRecord{topic.id, 0, metadata::PartitionState{{1, 2, 3}, {1, 2, 3}, 1, 4, 0}}};
  std::promise<bool> committed;
  asio::post(shards_.controller(), [&] { committed.set_value(store_->commit(records).has_value()); });
  ASSERT_TRUE(committed.get_future().get());
  // Replication starts after the change: no refresh of the partition was posted.
  std::vector<std::unique_ptr<ShardReplication>> replication;
  replication.push_back(std::make_unique<ShardReplication>(*broker_, 0));
  broker_->replication.store(&replication);
  ProduceRequest produce;
  produce.acks = -1;
  produce.timeout_ms = 300;
  auto& t = produce.topic_data.emplace_back();
  t.name = "repl";
  auto& p = t.partition_data.emplace_back();
  p.index = 0;
  p.records = Records(batch_of(3, 1'700'000'000'000, "r-"));
  EXPECT_EQ(call<ProduceResponse>(produce, 9).responses[0].partition_responses[0].error_code,
            code(ErrorCode::REQUEST_TIMED_OUT));
  produce.acks = 1;
  p.records = Records(batch_of(2, 1'700'000'000'000, "s-"));
  auto acked = call<ProduceResponse>(produce, 9).responses[0].partition_responses[0];
  EXPECT_EQ(acked.error_code, 0);
  EXPECT_EQ(acked.base_offset, 3);
  EXPECT_EQ(replication[0]->leading(), 1u);
  // Written, stamped with this leader's epoch, and below no high watermark yet.
  ListOffsetsRequest list;
  list.replica_id = -1;
  auto& lt = list.topics.emplace_back();
  lt.name = "repl";
  auto& lp = lt.partitions.emplace_back();
  lp.partition_index = 0;
  lp.timestamp = -1;  // latest: the high watermark
  auto latest = call<ListOffsetsResponse>(list, 4).topics[0].partitions[0];
  EXPECT_EQ(latest.error_code, 0);
  EXPECT_EQ(latest.offset, 0);
  storage::PartitionLog* log = broker_->logs[0]->find("repl", 0, topic.id);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->log_end_offset(), 5);
  EXPECT_EQ(log->latest_leader_epoch(), 4);
  EXPECT_EQ(log->epoch_at(0), 4);
  broker_->replication.store(nullptr);
}

TEST_F(HandlersTest, OffsetForLeaderEpochOnASingleReplicaAndMinInsyncReplicas) {
  create("epochs", 1, 5, {{"min.insync.replicas", "2"}});
  ProduceRequest produce;
  produce.acks = 1;
  produce.timeout_ms = 1000;
  auto& t = produce.topic_data.emplace_back();
  t.name = "epochs";
  auto& p = t.partition_data.emplace_back();
  p.index = 0;
  p.records = Records(batch_of(4, 1'700'000'000'000, "e-"));
  ASSERT_EQ(call<ProduceResponse>(produce, 9).responses[0].partition_responses[0].error_code, 0);
  // acks=all with one in-sync replica and min.insync.replicas=2: refused before the append.
  produce.acks = -1;
  p.records = Records(batch_of(1, 1'700'000'000'000, "x-"));
  EXPECT_EQ(call<ProduceResponse>(produce, 9).responses[0].partition_responses[0].error_code,
            code(ErrorCode::NOT_ENOUGH_REPLICAS));
  for (int16_t v = 2; v <= 4; ++v) {
    OffsetForLeaderEpochRequest req;
    req.replica_id = -1;
    auto& rt = req.topics.emplace_back();
    rt.topic = "epochs";
    auto& rp = rt.partitions.emplace_back();
    rp.partition = 0;
    rp.current_leader_epoch = 0;
    rp.leader_epoch = 0;
    auto resp = call<OffsetForLeaderEpochResponse>(req, v);
    ASSERT_EQ(resp.topics.size(), 1u);
    // A single replica never truncates: its epochs end at its log end.
    EXPECT_EQ(resp.topics[0].partitions[0].error_code, 0) << v;
    EXPECT_EQ(resp.topics[0].partitions[0].end_offset, 4) << v;
    req.topics[0].partitions[0].current_leader_epoch = 7;
    EXPECT_EQ(call<OffsetForLeaderEpochResponse>(req, v).topics[0].partitions[0].error_code,
              code(ErrorCode::UNKNOWN_LEADER_EPOCH));
    req.topics[0].topic = "nope";
    EXPECT_EQ(call<OffsetForLeaderEpochResponse>(req, v).topics[0].partitions[0].error_code,
              code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
  }
}

// A deleted partition's directory moves on the partition's shard, after the log there is
// forgotten; the controller thread that applied the deletion does not rename it under a log
// its shard may still be appending to or rolling.
TEST_F(HandlersTest, APartitionDirectoryMovesOnlyAfterItsShardForgotTheLog) {
  create("moving", 1, 5);
  ProduceRequest req;
  req.acks = 1;
  auto& t = req.topic_data.emplace_back();
  t.name = "moving";
  auto& p = t.partition_data.emplace_back();
  p.index = 0;
  p.records = Records(batch_of(1, 1'700'000'000'000, "m-"));
  ASSERT_EQ(call<ProduceResponse>(req, 9).responses[0].partition_responses[0].error_code, 0);
  auto topic = store_->topic("moving");
  ASSERT_NE(logs_[0]->find("moving", 0, topic->id), nullptr);
  // Deleted on the controller thread while shard 0 is idle (it runs only inside call()).
  std::promise<bool> deleted;
  asio::post(shards_.controller(), [&] { deleted.set_value(controller_->delete_topic(*topic).ok()); });
  ASSERT_TRUE(deleted.get_future().get());
  EXPECT_EQ(store_->topic("moving"), nullptr);
  EXPECT_NE(logs_[0]->find("moving", 0, topic->id), nullptr) << "the shard has not run yet";
  EXPECT_TRUE(fs::exists(dir_ / "moving-0")) << "renamed under a log its shard still has open";
  // The shard runs: the log is forgotten, then its directory moves out of the way.
  shards_.context(0).restart();
  shards_.context(0).poll();
  EXPECT_EQ(logs_[0]->find("moving", 0, topic->id), nullptr);
  EXPECT_FALSE(fs::exists(dir_ / "moving-0"));
}

TEST_F(HandlersTest, ProduceErrors) {
  create("small", 1, 5, {{"max.message.bytes", "200"}});
  auto produce = [&](const std::string& topic, int32_t partition, Bytes records, int16_t acks = 1) {
    ProduceRequest req;
    req.acks = acks;
    auto& t = req.topic_data.emplace_back();
    t.name = topic;
    auto& p = t.partition_data.emplace_back();
    p.index = partition;
    p.records = Records(std::move(records));
    return call<ProduceResponse>(req, 9).responses[0].partition_responses[0];
  };
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_EQ(produce("small", 0, batch_of(1, now_ms, "ok")).error_code, 0);
  EXPECT_EQ(produce("small", 0, batch_of(30, now_ms, "too-big")).error_code, code(ErrorCode::MESSAGE_TOO_LARGE));
  EXPECT_EQ(produce("nope", 0, batch_of(1, now_ms, "x")).error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
  EXPECT_EQ(produce("small", 3, batch_of(1, now_ms, "x")).error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
  Bytes corrupt = batch_of(1, now_ms, "x");
  corrupt.back() ^= 1;
  EXPECT_EQ(produce("small", 0, corrupt).error_code, code(ErrorCode::CORRUPT_MESSAGE));
  Bytes magic1 = batch_of(1, now_ms, "x");
  magic1[16] = 1;
  EXPECT_EQ(produce("small", 0, magic1).error_code, code(ErrorCode::INVALID_RECORD));
  EXPECT_EQ(produce("small", 0, batch_of(1, now_ms, "x"), 5).error_code, code(ErrorCode::INVALID_REQUIRED_ACKS));
  // Nothing rejected was written: only the first record is there.
  auto log = logs_[0]->find("small", 0, store_->topic("small")->id);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->log_end_offset(), 1);
}

TEST_F(HandlersTest, DeleteRecordsAtEveryVersionAndKeylessRecordsForCompactedTopics) {
  create("trim", 1, 5);
  create("table", 1, 5, {{"cleanup.policy", "compact"}});
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  auto produce = [&](const std::string& topic, Bytes records) {
    ProduceRequest req;
    req.acks = 1;
    auto& t = req.topic_data.emplace_back();
    t.name = topic;
    auto& p = t.partition_data.emplace_back();
    p.index = 0;
    p.records = Records(std::move(records));
    return call<ProduceResponse>(req, 9).responses[0].partition_responses[0];
  };
  for (int i = 0; i < 4; ++i) ASSERT_EQ(produce("trim", batch_of(3, now_ms, "r")).error_code, 0);
  auto delete_records = [&](const std::string& topic, int64_t offset, int16_t v) {
    DeleteRecordsRequest req;
    req.timeout_ms = 1000;
    auto& t = req.topics.emplace_back();
    t.name = topic;
    auto& p = t.partitions.emplace_back();
    p.partition_index = 0;
    p.offset = offset;
    return call<DeleteRecordsResponse>(req, v).topics[0].partitions[0];
  };
  for (int16_t v = 0; v <= 2; ++v) {
    auto r = delete_records("trim", 2 + v * 3, v);
    EXPECT_EQ(r.error_code, 0) << v;
    EXPECT_EQ(r.low_watermark, 2 + v * 3) << v;
  }
  EXPECT_EQ(delete_records("trim", 13, 2).error_code, code(ErrorCode::OFFSET_OUT_OF_RANGE));
  EXPECT_EQ(delete_records("trim", 3, 2).low_watermark, 8);  // never backwards
  EXPECT_EQ(delete_records("trim", -1, 2).low_watermark, 12);  // -1: the high watermark
  EXPECT_EQ(delete_records("nope", 0, 2).error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
  EXPECT_EQ(delete_records("table", 0, 2).error_code, code(ErrorCode::POLICY_VIOLATION));
  // The new log start is in the checkpoint file already (a crash does not bring records back).
  auto ls = storage::read_checkpoint(dir_ / storage::kLogStartCheckpoint);
  ASSERT_TRUE(ls.has_value());
  EXPECT_EQ((ls->at({"trim", 0})), 12);

  // A compacted topic takes keyed records only.
  EXPECT_EQ(produce("table", batch_of(2, now_ms, "keyed")).error_code, 0);
  RecordBatchBuilder keyless(now_ms);
  keyless.add(Bytes{'k'}, Bytes{'v'}, now_ms);
  keyless.add(std::nullopt, Bytes{'v'}, now_ms);
  auto refused = produce("table", keyless.build());
  EXPECT_EQ(refused.error_code, code(ErrorCode::INVALID_RECORD));
  ASSERT_EQ(refused.record_errors.size(), 1u);
  EXPECT_EQ(refused.record_errors[0].batch_index, 1);
}

// A file whose fdatasync waits until released: it holds the syncer thread, so every later sync
// waits behind it.
class StalledFile : public storage::File {
 public:
  explicit StalledFile(std::shared_future<void> release) : release_(std::move(release)) {}
  storage::IoResult<> write_at(uint64_t, ByteView) override { return {}; }
  storage::IoResult<size_t> read_at(uint64_t, std::span<uint8_t>) const override { return size_t{0}; }
  storage::IoResult<> sync() override {
    release_.wait();
    return {};
  }
  storage::IoResult<> truncate(uint64_t) override { return {}; }
  storage::IoResult<uint64_t> size() const override { return uint64_t{0}; }
  int fd() const override { return -1; }

 private:
  std::shared_future<void> release_;
};

TEST_F(HandlersTest, AcksAllAnswersRequestTimedOutWhenTheSyncOutlastsTimeoutMs) {
  create("slow", 1, 5);
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  auto produce = [&](int32_t timeout_ms) {
    ProduceRequest req;
    req.acks = -1;
    req.timeout_ms = timeout_ms;
    auto& t = req.topic_data.emplace_back();
    t.name = "slow";
    auto& p = t.partition_data.emplace_back();
    p.index = 0;
    p.records = Records(batch_of(1, now_ms, "r"));
    return call<ProduceResponse>(req, 9).responses[0].partition_responses[0];
  };
  EXPECT_EQ(produce(5000).error_code, 0);

  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  syncer_.submit({std::make_shared<StalledFile>(released)}, shards_.context(0).get_executor(),
                 [](storage::IoResult<>) {});
  auto started = std::chrono::steady_clock::now();
  auto timed_out = produce(200);
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(timed_out.error_code, code(ErrorCode::REQUEST_TIMED_OUT));
  EXPECT_EQ(timed_out.base_offset, 1) << "the record is written, only not yet known durable";
  EXPECT_GE(waited, std::chrono::milliseconds(190));
  release.set_value();
  // Once the disk catches up, the record is durable and the next produce succeeds.
  auto after = produce(5000);
  EXPECT_EQ(after.error_code, 0);
  EXPECT_EQ(after.base_offset, 2);
  auto log = logs_[0]->find("slow", 0, store_->topic("slow")->id);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->durable_offset(), 3);
}

TEST_F(HandlersTest, OldProduceVersionsRefuseOldAndNewFormats) {
  create("old", 1, 5);
  for (int16_t v = 0; v <= 2; ++v) {
    ProduceRequest req;
    req.acks = 1;
    auto& t = req.topic_data.emplace_back();
    t.name = "old";
    auto& p = t.partition_data.emplace_back();
    p.index = 0;
    p.records = Records(batch_of(1, 1000, "x"));
    EXPECT_EQ(call<ProduceResponse>(req, v).responses[0].partition_responses[0].error_code,
              code(ErrorCode::INVALID_RECORD));
    (*p.records.bytes())[16] = 1;  // a magic-1 message set
    EXPECT_EQ(call<ProduceResponse>(req, v).responses[0].partition_responses[0].error_code,
              code(ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT));
  }
}

TEST_F(HandlersTest, FindCoordinatorAtEveryVersion) {
  for (int16_t v = 0; v <= 4; ++v) {
    FindCoordinatorRequest req;
    req.key = "group-a";
    req.coordinator_keys = {"group-a", "group-b"};
    auto resp = call<FindCoordinatorResponse>(req, v);
    if (v >= 4) {
      ASSERT_EQ(resp.coordinators.size(), 2u);
      EXPECT_EQ(resp.coordinators[1].key, "group-b");
      EXPECT_EQ(resp.coordinators[1].node_id, 1);
      EXPECT_EQ(resp.coordinators[1].port, 9092);
    } else {
      EXPECT_EQ(resp.error_code, 0);
      EXPECT_EQ(resp.node_id, 1);
      EXPECT_EQ(resp.host, "127.0.0.1");
    }
    if (v >= 1) {
      req.key_type = 1;  // transaction coordinator: this broker too
      auto tx = call<FindCoordinatorResponse>(req, v);
      EXPECT_EQ(v >= 4 ? tx.coordinators[0].error_code : tx.error_code, 0);
      EXPECT_EQ(v >= 4 ? tx.coordinators[0].node_id : tx.node_id, 1);
    }
    if (v >= 6) {
      req.key_type = 2;  // share groups: none here
      auto share = call<FindCoordinatorResponse>(req, v);
      EXPECT_EQ(share.coordinators[0].error_code, code(ErrorCode::INVALID_REQUEST));
    }
  }
}

TEST_F(HandlersTest, GroupApisAtEveryVersion) {
  create("gt", 2, 5);
  for (int16_t v = 0; v <= 9; ++v) {
    const std::string group = "group-v" + std::to_string(v);
    JoinGroupRequest join;
    join.group_id = group;
    join.session_timeout_ms = 10000;
    join.rebalance_timeout_ms = 10000;
    join.protocol_type = "consumer";
    auto& proto = join.protocols.emplace_back();
    proto.name = "range";
    proto.metadata = Bytes{0, 0, 0, 0, 0, 1, 0, 2, 'g', 't', 0xff, 0xff, 0xff, 0xff};
    auto joined = call<JoinGroupResponse>(join, v);
    if (v >= 4) {
      ASSERT_EQ(joined.error_code, code(ErrorCode::MEMBER_ID_REQUIRED)) << "v" << v;
      join.member_id = joined.member_id;
      joined = call<JoinGroupResponse>(join, v);
    }
    ASSERT_EQ(joined.error_code, 0) << "v" << v;
    EXPECT_EQ(joined.generation_id, 1);
    EXPECT_EQ(joined.leader, joined.member_id);
    ASSERT_EQ(joined.members.size(), 1u);
    if (v >= 7) EXPECT_EQ(joined.protocol_name, "range");
    const std::string member = joined.member_id;

    SyncGroupRequest sync;
    sync.group_id = group;
    sync.generation_id = 1;
    sync.member_id = member;
    auto& a = sync.assignments.emplace_back();
    a.member_id = member;
    a.assignment = Bytes{1, 2, 3};
    auto synced = call<SyncGroupResponse>(sync, std::min<int16_t>(v, 5));
    EXPECT_EQ(synced.error_code, 0);
    EXPECT_EQ(synced.assignment, (Bytes{1, 2, 3}));

    HeartbeatRequest hb;
    hb.group_id = group;
    hb.generation_id = 1;
    hb.member_id = member;
    EXPECT_EQ(call<HeartbeatResponse>(hb, std::min<int16_t>(v, 4)).error_code, 0);

    OffsetCommitRequest commit;
    commit.group_id = group;
    commit.generation_id_or_member_epoch = 1;
    commit.member_id = member;
    auto& ct = commit.topics.emplace_back();
    ct.name = "gt";
    auto& cp = ct.partitions.emplace_back();
    cp.partition_index = 1;
    cp.committed_offset = 100 + v;
    cp.committed_metadata = "m";
    auto committed = call<OffsetCommitResponse>(commit, v);
    ASSERT_EQ(committed.topics.size(), 1u);
    EXPECT_EQ(committed.topics[0].partitions[0].error_code, v == 0 ? code(ErrorCode::UNKNOWN_MEMBER_ID) : 0)
        << "v0 carries no member: a simple commit, refused for a live group";

    OffsetFetchRequest fetch;
    if (v >= 8) {
      auto& g = fetch.groups.emplace_back();
      g.group_id = group;
      g.topics.emplace();
      auto& t = g.topics->emplace_back();
      t.name = "gt";
      t.partition_indexes = {0, 1};
      fetch.groups.emplace_back().group_id = "never-seen";
      fetch.groups.back().topics = std::nullopt;
    } else {
      fetch.group_id = group;
      fetch.topics.emplace();
      auto& t = fetch.topics->emplace_back();
      t.name = "gt";
      t.partition_indexes = {0, 1};
    }
    auto fetched = call<OffsetFetchResponse>(fetch, v);
    const int64_t expect = v == 0 ? -1 : 100 + v;
    if (v >= 8) {
      ASSERT_EQ(fetched.groups.size(), 2u);
      ASSERT_EQ(fetched.groups[0].topics.size(), 1u);
      EXPECT_EQ(fetched.groups[0].topics[0].partitions[0].committed_offset, -1);
      EXPECT_EQ(fetched.groups[0].topics[0].partitions[1].committed_offset, expect);
      EXPECT_EQ(fetched.groups[1].group_id, "never-seen");
      EXPECT_TRUE(fetched.groups[1].topics.empty());
    } else {
      ASSERT_EQ(fetched.topics.size(), 1u);
      EXPECT_EQ(fetched.topics[0].partitions[1].committed_offset, expect) << "v" << v;
    }

    LeaveGroupRequest leave;
    leave.group_id = group;
    leave.member_id = member;
    leave.members.emplace_back().member_id = member;
    auto left = call<LeaveGroupResponse>(leave, std::min<int16_t>(v, 5));
    EXPECT_EQ(left.error_code, 0);
    if (v >= 3) {
      ASSERT_EQ(left.members.size(), 1u);
      EXPECT_EQ(left.members[0].error_code, 0);
    }
  }

  for (int16_t v = 0; v <= 5; ++v) {
    ListGroupsRequest list;
    if (v >= 4) list.states_filter = {"empty"};
    if (v >= 5) list.types_filter = {"classic"};
    auto listed = call<ListGroupsResponse>(list, v);
    EXPECT_EQ(listed.groups.size(), 10u) << "v" << v;
    list.states_filter = {"Stable"};
    if (v >= 4) EXPECT_TRUE(call<ListGroupsResponse>(list, v).groups.empty());

    DescribeGroupsRequest describe;
    describe.groups = {"group-v1", "nobody"};
    describe.include_authorized_operations = true;
    auto described = call<DescribeGroupsResponse>(describe, v);
    ASSERT_EQ(described.groups.size(), 2u);
    EXPECT_EQ(described.groups[0].group_state, "Empty");
    EXPECT_EQ(described.groups[0].protocol_type, "consumer");
    EXPECT_EQ(described.groups[1].group_state, "Dead");
    if (v >= 3) EXPECT_NE(described.groups[0].authorized_operations, INT32_MIN);
  }

  OffsetDeleteRequest offset_delete;
  offset_delete.group_id = "group-v9";
  auto& dt = offset_delete.topics.emplace_back();
  dt.name = "gt";
  dt.partitions.emplace_back().partition_index = 1;
  auto deleted_offsets = call<OffsetDeleteResponse>(offset_delete, 0);
  EXPECT_EQ(deleted_offsets.error_code, 0);
  EXPECT_EQ(deleted_offsets.topics[0].partitions[0].error_code, 0);

  for (int16_t v = 0; v <= 2; ++v) {
    DeleteGroupsRequest del;
    del.groups_names = {"group-v" + std::to_string(v), "nobody"};
    auto deleted = call<DeleteGroupsResponse>(del, v);
    ASSERT_EQ(deleted.results.size(), 2u);
    EXPECT_EQ(deleted.results[0].error_code, 0);
    EXPECT_EQ(deleted.results[1].error_code, code(ErrorCode::GROUP_ID_NOT_FOUND));
  }
  ListGroupsRequest list;
  EXPECT_EQ(call<ListGroupsResponse>(list, 3).groups.size(), 7u);

  // The offsets topic can be neither deleted nor grown (every group would lose or move its home).
  DeleteTopicsRequest delete_offsets;
  delete_offsets.topic_names.push_back("__consumer_offsets");
  auto refused = call<DeleteTopicsResponse>(delete_offsets, 5);
  EXPECT_EQ(refused.responses[0].error_code, code(ErrorCode::INVALID_REQUEST));
  CreatePartitionsRequest grow;
  auto& gt = grow.topics.emplace_back();
  gt.name = "__consumer_offsets";
  gt.count = 8;
  gt.assignments = std::nullopt;
  EXPECT_EQ(call<CreatePartitionsResponse>(grow, 3).results[0].error_code, code(ErrorCode::INVALID_REQUEST));
  EXPECT_EQ(store_->topic("__consumer_offsets")->partitions, 4);
}

TEST_F(HandlersTest, IncrementalFetchSessions) {
  create("s", 2, 5);
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  auto produce = [&](int32_t partition) {
    ProduceRequest req;
    req.acks = 1;
    auto& t = req.topic_data.emplace_back();
    t.name = "s";
    auto& p = t.partition_data.emplace_back();
    p.index = partition;
    p.records = Records(batch_of(2, now_ms, "x"));
    call<ProduceResponse>(req, 9);
  };
  produce(0);
  produce(1);
  auto fetch = [&](int32_t session, int32_t epoch, std::vector<std::pair<int32_t, int64_t>> parts,
                   std::vector<int32_t> forget = {}) {
    FetchRequest req;
    req.max_wait_ms = 0;
    req.session_id = session;
    req.session_epoch = epoch;
    if (!parts.empty()) {
      auto& t = req.topics.emplace_back();
      t.topic = "s";
      for (auto [p, o] : parts) {
        auto& fp = t.partitions.emplace_back();
        fp.partition = p;
        fp.fetch_offset = o;
        fp.partition_max_bytes = 1 << 20;
      }
    }
    if (!forget.empty()) {
      auto& f = req.forgotten_topics_data.emplace_back();
      f.topic = "s";
      f.partitions = forget;
    }
    return call<FetchResponse>(req, 12);
  };
  auto count = [](const FetchResponse& r) {
    size_t n = 0;
    for (auto& t : r.responses) n += t.partitions.size();
    return n;
  };
  // A new session: full response, a session id.
  auto full = fetch(0, 0, {{0, 0}, {1, 0}});
  ASSERT_EQ(full.error_code, 0);
  ASSERT_NE(full.session_id, 0);
  EXPECT_EQ(count(full), 2u);
  int32_t id = full.session_id;
  // Epoch 1: the client moves partition 0 to its end; nothing changed anywhere: empty response.
  auto inc = fetch(id, 1, {{0, 2}, {1, 2}});
  EXPECT_EQ(inc.error_code, 0);
  EXPECT_EQ(inc.session_id, id);
  EXPECT_EQ(count(inc), 0u) << "nothing new: no partitions";
  // New data in partition 1 only: only it comes back, with its records, though the request
  // names no partitions.
  produce(1);
  auto inc2 = fetch(id, 2, {});
  ASSERT_EQ(count(inc2), 1u);
  EXPECT_EQ(inc2.responses[0].partitions[0].partition_index, 1);
  EXPECT_GT(inc2.responses[0].partitions[0].records.size(), 0u);
  // Wrong epoch, unknown session.
  EXPECT_EQ(fetch(id, 7, {}).error_code, code(ErrorCode::INVALID_FETCH_SESSION_EPOCH));
  EXPECT_EQ(fetch(id + 1000, 1, {}).error_code, code(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
  // Forgetting partition 1, then data there is not reported.
  fetch(id, 3, {{1, 4}}, {1});
  produce(1);
  EXPECT_EQ(count(fetch(id, 4, {})), 0u);
  // Closing (epoch -1) ends the session.
  auto closed = fetch(id, -1, {{0, 0}});
  EXPECT_EQ(closed.session_id, 0);
  EXPECT_EQ(fetch(id, 5, {}).error_code, code(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
}

// A fetch waiting in its long poll holds on to its session's partitions; another request may
// close the session meanwhile (epoch -1). Under ASan a pointer kept across the wait into the
// closed session was a heap-use-after-free.
TEST_F(HandlersTest, AFetchSessionClosedWhileAFetchOnItWaits) {
  create("w", 1, 5);
  auto fetch_req = [](int32_t session, int32_t epoch, int32_t max_wait_ms, bool with_partition) {
    FetchRequest req;
    req.max_wait_ms = max_wait_ms;
    req.min_bytes = 1;
    req.max_bytes = 1 << 20;
    req.session_id = session;
    req.session_epoch = epoch;
    if (with_partition) {
      auto& t = req.topics.emplace_back();
      t.topic = "w";
      auto& fp = t.partitions.emplace_back();
      fp.partition = 0;
      fp.fetch_offset = 0;
      fp.partition_max_bytes = 1 << 20;
    }
    return req;
  };
  auto opened = call<FetchResponse>(fetch_req(0, 0, 0, true), 12);
  ASSERT_EQ(opened.error_code, 0);
  ASSERT_NE(opened.session_id, 0);
  // The first waits (nothing to read) for 300 ms; the second closes the session at once.
  std::vector<FetchRequest> both{fetch_req(opened.session_id, 1, 300, false),
                                 fetch_req(opened.session_id, -1, 0, false)};
  auto answers = call_all<FetchResponse>(both, 12);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].error_code, 0);
  EXPECT_EQ(answers[1].error_code, 0);
  // The session is gone: the next incremental fetch is told so.
  EXPECT_EQ(call<FetchResponse>(fetch_req(opened.session_id, 2, 0, false), 12).error_code,
            code(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
}

TEST_F(HandlersTest, AlterConfigsAndIncrementalAlterConfigs) {
  create("cfg", 1, 5, {{"retention.ms", "1000"}, {"segment.bytes", "1048576"}});
  auto overrides = [&] { return store_->topic("cfg")->configs; };
  for (int16_t v = 0; v <= 1; ++v) {
    IncrementalAlterConfigsRequest req;
    auto& r = req.resources.emplace_back();
    r.resource_type = 2;
    r.resource_name = "cfg";
    auto& set = r.configs.emplace_back();
    set.name = "retention.ms";
    set.config_operation = 0;
    set.value = std::to_string(5000 + v);
    auto& del = r.configs.emplace_back();
    del.name = "segment.bytes";
    del.config_operation = 1;
    del.value = std::nullopt;
    auto& app = r.configs.emplace_back();
    app.name = "cleanup.policy";
    app.config_operation = 2;
    app.value = "compact";
    auto resp = call<IncrementalAlterConfigsResponse>(req, v);
    ASSERT_EQ(resp.responses.size(), 1u);
    EXPECT_EQ(resp.responses[0].error_code, 0) << v;
    auto now = overrides();
    EXPECT_EQ(now.at("retention.ms"), std::to_string(5000 + v));
    EXPECT_FALSE(now.contains("segment.bytes"));
    EXPECT_EQ(now.at("cleanup.policy"), "delete,compact");
  }
  for (int16_t v = 0; v <= 2; ++v) {
    AlterConfigsRequest req;
    auto& r = req.resources.emplace_back();
    r.resource_type = 2;
    r.resource_name = "cfg";
    auto& c = r.configs.emplace_back();
    c.name = "retention.bytes";
    c.value = "12345";
    auto resp = call<AlterConfigsResponse>(req, v);
    EXPECT_EQ(resp.responses[0].error_code, 0) << v;
    EXPECT_EQ(overrides(), (std::map<std::string, std::string>{{"retention.bytes", "12345"}})) << "replaced, not merged";
    // Bad values, unknown topics and broker resources are refused; nothing changes.
    c.value = "lots";
    EXPECT_EQ(call<AlterConfigsResponse>(req, v).responses[0].error_code, code(ErrorCode::INVALID_CONFIG));
    r.resource_name = "missing";
    EXPECT_EQ(call<AlterConfigsResponse>(req, v).responses[0].error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
    r.resource_type = 4;  // a topic key on a broker resource
    r.resource_name = "1";
    EXPECT_EQ(call<AlterConfigsResponse>(req, v).responses[0].error_code, code(ErrorCode::INVALID_CONFIG));
    EXPECT_EQ(overrides().at("retention.bytes"), "12345");
  }
}

TEST_F(HandlersTest, DynamicBrokerConfigsLayerOverTheStaticOnes) {
  create("live", 1, 5);
  auto set_broker = [&](const std::string& resource, const std::string& key, std::optional<std::string> value,
                        int16_t version, bool validate_only = false) {
    IncrementalAlterConfigsRequest req;
    req.validate_only = validate_only;
    auto& r = req.resources.emplace_back();
    r.resource_type = 4;
    r.resource_name = resource;
    auto& c = r.configs.emplace_back();
    c.name = key;
    c.config_operation = value ? 0 : 1;
    c.value = value;
    auto resp = call<IncrementalAlterConfigsResponse>(req, version);
    EXPECT_EQ(resp.responses.size(), 1u);
    return resp.responses.empty() ? IncrementalAlterConfigsResponse::AlterConfigsResourceResponse{} : resp.responses[0];
  };
  auto describe = [&](int8_t type, const std::string& name, std::optional<std::vector<std::string>> keys) {
    DescribeConfigsRequest req;
    auto& r = req.resources.emplace_back();
    r.resource_type = type;
    r.resource_name = name;
    r.configuration_keys = std::move(keys);
    req.include_synonyms = true;
    auto resp = call<DescribeConfigsResponse>(req, 4);
    EXPECT_EQ(resp.results.size(), 1u);
    EXPECT_EQ(resp.results[0].error_code, 0);
    std::map<std::string, DescribeConfigsResponse::DescribeConfigsResourceResult> by_name;
    for (auto& c : resp.results[0].configs) by_name[c.name] = c;
    return by_name;
  };
  // The cluster-wide default, then this broker's own value, each outranking what is below.
  EXPECT_EQ(set_broker("", "log.retention.ms", "60000", 0).error_code, 0);
  {
    auto image = store_->image();
    EXPECT_EQ(image->broker_configs(""), (std::map<std::string, std::string>{{"log.retention.ms", "60000"}}));
  }
  auto topic = describe(2, "live", std::vector<std::string>{"retention.ms"});
  EXPECT_EQ(topic["retention.ms"].value, "60000");
  EXPECT_EQ(topic["retention.ms"].config_source, 3);  // DYNAMIC_DEFAULT_BROKER_CONFIG
  ASSERT_EQ(topic["retention.ms"].synonyms.size(), 2u);
  EXPECT_EQ(topic["retention.ms"].synonyms[0].name, "log.retention.ms");
  EXPECT_EQ(topic["retention.ms"].synonyms[1].name, "log.retention.hours");  // static: 2
  EXPECT_EQ(topic["retention.ms"].synonyms[1].source, 4);
  EXPECT_EQ(set_broker("1", "log.retention.ms", "30000", 1).error_code, 0);
  topic = describe(2, "live", std::vector<std::string>{"retention.ms"});
  EXPECT_EQ(topic["retention.ms"].value, "30000");
  EXPECT_EQ(topic["retention.ms"].config_source, 2);  // DYNAMIC_BROKER_CONFIG
  EXPECT_EQ(broker_->config()->get_long("log.retention.ms"), 30000);
  EXPECT_FALSE(config_->is_set("log.retention.ms")) << "the static configuration is unchanged";

  auto node = describe(4, "1", std::vector<std::string>{"log.retention.ms", "num.partitions"});
  EXPECT_EQ(node["log.retention.ms"].value, "30000");
  EXPECT_EQ(node["log.retention.ms"].config_source, 2);
  EXPECT_FALSE(node["log.retention.ms"].read_only);
  ASSERT_EQ(node["log.retention.ms"].synonyms.size(), 2u);
  EXPECT_EQ(node["log.retention.ms"].synonyms[1].value, "60000");
  EXPECT_TRUE(node["num.partitions"].read_only);
  auto cluster = describe(4, "", std::nullopt);
  ASSERT_EQ(cluster.size(), 1u);
  EXPECT_EQ(cluster["log.retention.ms"].value, "60000");
  EXPECT_EQ(cluster["log.retention.ms"].config_source, 3);

  // Refused, naming the key, and nothing changes.
  auto refused = set_broker("1", "num.partitions", "4", 1);
  EXPECT_EQ(refused.error_code, code(ErrorCode::INVALID_REQUEST));
  EXPECT_NE(refused.error_message.value_or("").find("num.partitions"), std::string::npos);
  refused = set_broker("1", "no.such.key", "4", 1);
  EXPECT_EQ(refused.error_code, code(ErrorCode::INVALID_CONFIG));
  EXPECT_NE(refused.error_message.value_or("").find("no.such.key"), std::string::npos);
  refused = set_broker("", "log.retention.ms", "soon", 1);
  EXPECT_EQ(refused.error_code, code(ErrorCode::INVALID_CONFIG));
  EXPECT_NE(refused.error_message.value_or("").find("log.retention.ms"), std::string::npos);
  EXPECT_EQ(set_broker("7", "log.retention.ms", "1000", 1).error_code, code(ErrorCode::INVALID_REQUEST));
  EXPECT_EQ(set_broker("1", "log.retention.ms", "1000", 1, true).error_code, 0);  // validate only
  EXPECT_EQ(broker_->config()->get_long("log.retention.ms"), 30000);

  // APPEND to a list starts from the value in force.
  EXPECT_EQ(set_broker("1", "log.cleanup.policy", std::nullopt, 1).error_code, 0);
  {
    IncrementalAlterConfigsRequest req;
    auto& r = req.resources.emplace_back();
    r.resource_type = 4;
    r.resource_name = "1";
    auto& c = r.configs.emplace_back();
    c.name = "log.cleanup.policy";
    c.config_operation = 2;
    c.value = "compact";
    EXPECT_EQ(call<IncrementalAlterConfigsResponse>(req, 1).responses[0].error_code, 0);
    EXPECT_EQ(broker_->config()->get("log.cleanup.policy"), "delete,compact");
  }

  // Deleting this broker's value falls back to the cluster-wide default; AlterConfigs replaces all.
  EXPECT_EQ(set_broker("1", "log.retention.ms", std::nullopt, 1).error_code, 0);
  EXPECT_EQ(broker_->config()->get_long("log.retention.ms"), 60000);
  AlterConfigsRequest replace;
  auto& r = replace.resources.emplace_back();
  r.resource_type = 4;
  r.resource_name = "";
  auto& c = replace.resources[0].configs.emplace_back();
  c.name = "message.max.bytes";
  c.value = "2000";
  EXPECT_EQ(call<AlterConfigsResponse>(replace, 1).responses[0].error_code, 0);
  {
    auto image = store_->image();
    EXPECT_EQ(image->broker_configs(""), (std::map<std::string, std::string>{{"message.max.bytes", "2000"}}));
  }
  EXPECT_FALSE(broker_->config()->is_set("log.retention.ms"));
  topic = describe(2, "live", std::vector<std::string>{"max.message.bytes", "retention.ms"});
  EXPECT_EQ(topic["max.message.bytes"].value, "2000");
  EXPECT_EQ(topic["retention.ms"].value, "7200000");
}

// Readers must hold the image for as long as they use what they found in it: the controller
// thread publishes new images (here: new partition epochs of the very topics written to, which
// copies their TopicInfo) while produce and offset commit handlers run on the shard. Under ASan
// a pointer into a released image is a heap-use-after-free. A stress test: the windows are short
// and it did not catch the dangling `store.image()->find()` reliably (ImageRef now refuses that
// form at compile time; metadata_log_test checks that).
TEST_F(HandlersTest, ProduceAndOffsetCommitWhileImagesArePublished) {
  create("racy", 1, 5);
  FindCoordinatorRequest find;
  find.key = "racers-0";
  ASSERT_EQ(call<FindCoordinatorResponse>(find, 2).error_code, 0);  // creates __consumer_offsets
  ASSERT_NE(store_->topic(coordinator::kOffsetsTopic), nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> published{0};
  std::promise<void> publisher_done;
  // One change at a time on the controller thread, as the controller commits.
  std::function<void()> publish = [&] {
    if (stop.load()) return publisher_done.set_value();
    auto image = store_->image();
    std::vector<metadata::Record> records;
    // A new partition epoch for every partition of both topics: their TopicInfo is copied, the
    // old one freed with the last image holding it (no log to reconfigure for this change).
    for (std::string_view name : {std::string_view("racy"), coordinator::kOffsetsTopic}) {
      const metadata::TopicInfo* topic = image->find(name);
      for (int32_t p = 0; p < topic->partitions; ++p) {
        metadata::PartitionRecord r;
        r.topic_id = topic->id;
        r.partition = p;
        r.state = *topic->partition(p);
        ++r.state.partition_epoch;
        records.emplace_back(r);
      }
    }
    image.reset();
    EXPECT_TRUE(store_->commit(records).has_value());
    published.fetch_add(1);
    asio::post(shards_.controller(), publish);
  };
  asio::post(shards_.controller(), publish);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  int rounds = 0;
  for (; rounds < 3000 && std::chrono::steady_clock::now() < deadline; ++rounds) {
    // Many at once, so one sync covers them all and each round has many readers of the image.
    std::vector<ProduceRequest> produces(8);
    std::vector<OffsetCommitRequest> commits(8);
    for (size_t i = 0; i < produces.size(); ++i) {
      ProduceRequest& produce = produces[i];
      produce.acks = -1;  // reads the ISR from the image before and after the append
      produce.timeout_ms = 5000;
      auto& t = produce.topic_data.emplace_back();
      t.name = "racy";
      auto& p = t.partition_data.emplace_back();
      p.index = 0;
      p.records = Records(batch_of(1, 1'700'000'000'000, "r-"));

      OffsetCommitRequest& commit = commits[i];  // a simple commit: no member, the group has none
      commit.group_id = "racers-" + std::to_string(i);
      commit.generation_id_or_member_epoch = -1;
      auto& ct = commit.topics.emplace_back();
      ct.name = "racy";
      auto& cp = ct.partitions.emplace_back();
      cp.partition_index = 0;
      cp.committed_offset = rounds;
    }
    for (auto& produced : call_all<ProduceResponse>(produces, 9))
      ASSERT_EQ(produced.responses[0].partition_responses[0].error_code, 0);
    for (auto& committed : call_all<OffsetCommitResponse>(commits, 8))
      ASSERT_EQ(committed.topics[0].partitions[0].error_code, 0);
  }
  stop = true;
  publisher_done.get_future().wait();
  EXPECT_GT(published.load(), 10) << "images were published meanwhile";
  EXPECT_GT(rounds, 2);
}

TEST(Shards, RunOnExecutesOnTheTargetAndResumesOnTheCaller) {
  Shards shards(2);
  std::thread::id target_thread, after_thread, caller_thread;
  asio::co_spawn(shards.context(1), [&]() -> asio::awaitable<void> {
    caller_thread = std::this_thread::get_id();
    auto fn = [&] {
      target_thread = std::this_thread::get_id();
      return 42;
    };
    int v = co_await run_on(shards.context(0), std::move(fn));
    EXPECT_EQ(v, 42);
    after_thread = std::this_thread::get_id();
    shards.stop();
  }, asio::detached);
  shards.run();
  EXPECT_NE(target_thread, caller_thread);
  EXPECT_EQ(after_thread, caller_thread);
}

}  // namespace fjord::broker
