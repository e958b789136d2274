#include "metadata/metadata_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "metadata/store.h"

namespace fjord::metadata {
namespace fs = std::filesystem;

namespace {
fs::path temp_dir() {
  fs::path p = fs::temp_directory_path() / ("fjord-meta-" + std::to_string(::getpid()) + "-" +
                                            std::to_string(std::rand()));
  fs::create_directories(p);
  return p;
}

std::vector<Record> sample_records() {
  TopicRecord t;
  t.topic.name = "orders";
  t.topic.id = Uuid::random();
  t.topic.partitions = 3;
  t.topic.configs = {{"retention.ms", "1000"}};
  return {t, PartitionCountRecord{t.topic.id, 5}, TopicConfigRecord{t.topic.id, "segment.bytes", "1024"},
          TopicConfigRecord{t.topic.id, "retention.ms", std::nullopt}, RemoveTopicRecord{t.topic.id},
          BrokerConfigRecord{"", "log.retention.ms", "60000"}, BrokerConfigRecord{"1", "log.segment.bytes", std::nullopt},
          ProducerIdsRecord{1, 2000},
          RegisterBrokerRecord{BrokerInfo{2, Uuid::random(), "host-2", 9093, "rack-a", true}},
          RegisterBrokerRecord{BrokerInfo{3, Uuid::random(), "host-3", 9094, std::nullopt, false}},
          BrokerFenceRecord{2, false},
          PartitionRecord{t.topic.id, 1, PartitionState{{2, 3, 1}, {2, 1}, 2, 4, 7}},
          PartitionRecord{t.topic.id, 2, PartitionState{{4, 2, 1}, {2, 1}, 2, 4, 8, {4}, {1}}},  // reassigning
          ClusterRecord{"c-1"}};
}
}  // namespace

TEST(MetadataLog, RecordsRoundTrip) {
  for (const Record& r : sample_records()) {
    Bytes b = encode_record(r);
    auto back = decode_record(b);
    ASSERT_TRUE(back.has_value()) << back.error();
    EXPECT_TRUE(*back == r);
  }
}

TEST(Image, PartitionsBrokersAndSnapshot) {
  TopicRecord t;
  t.topic.name = "orders";
  t.topic.id = Uuid::random();
  t.topic.partitions = 2;
  std::vector<Record> records{ClusterRecord{"c-1"},
                              RegisterBrokerRecord{BrokerInfo{1, Uuid::random(), "h1", 9092, std::nullopt, true}},
                              RegisterBrokerRecord{BrokerInfo{2, Uuid::random(), "h2", 9093, "r", true}},
                              BrokerFenceRecord{2, false},
                              t,
                              PartitionRecord{t.topic.id, 0, PartitionState{{1, 2}, {1, 2}, 1, 0, 0}},
                              PartitionRecord{t.topic.id, 1, PartitionState{{2, 1}, {2, 1}, 2, 0, 0}},
                              PartitionRecord{t.topic.id, 1, PartitionState{{2, 1}, {1}, 1, 1, 1}},
                              PartitionRecord{t.topic.id, 5, PartitionState{{9}, {9}, 9, 0, 0}},  // no such partition
                              PartitionCountRecord{t.topic.id, 3},
                              PartitionRecord{t.topic.id, 2, PartitionState{{2}, {2}, 2, 0, 0}},
                              BrokerConfigRecord{"", "log.retention.ms", "5"},
                              ProducerIdsRecord{1, 3000}};
  Image one_by_one;
  for (const Record& r : records) one_by_one = one_by_one.apply(r);
  Image image = Image().apply(records);
  for (const Image* i : {&one_by_one, &image}) {
    EXPECT_EQ(i->cluster_id(), "c-1");
    ASSERT_EQ(i->brokers().size(), 2u);
    EXPECT_TRUE(i->broker(1)->fenced);
    EXPECT_FALSE(i->broker(2)->fenced);
    const TopicInfo* topic = i->find("orders");
    ASSERT_NE(topic, nullptr);
    EXPECT_EQ(topic->partitions, 3);
    ASSERT_EQ(topic->assignment.size(), 3u);
    EXPECT_EQ(topic->partition(1)->leader, 1);
    EXPECT_EQ(topic->partition(1)->isr, std::vector<int32_t>{1});
    EXPECT_EQ(topic->partition(1)->leader_epoch, 1);
    EXPECT_EQ(topic->partition(2)->replicas, std::vector<int32_t>{2});
    EXPECT_EQ(topic->partition(3), nullptr);
  }
  // The image before the batch is untouched.
  EXPECT_EQ(Image().apply(records[4]).find("orders")->assignment.size(), 0u);
  // A snapshot rebuilds the same image.
  Image again = Image().apply(image.to_records());
  EXPECT_EQ(again.cluster_id(), image.cluster_id());
  EXPECT_EQ(again.brokers(), image.brokers());
  EXPECT_EQ(again.find("orders")->assignment, image.find("orders")->assignment);
  EXPECT_EQ(again.find(t.topic.id)->partitions, 3);
  EXPECT_EQ(again.broker_configs(""), image.broker_configs(""));
  EXPECT_EQ(again.next_producer_id(), 3000);
}

TEST(MetadataLog, ReplaysAndTruncatesATornTailAtEveryCut) {
  fs::path dir = temp_dir();
  std::string path = (dir / "m.log").string();
  auto records = sample_records();
  {
    auto log = MetadataLog::open(path);
    ASSERT_TRUE(log.has_value());
    for (const Record& r : records) ASSERT_TRUE(log->first.append({r}).has_value());
  }
  auto full_size = fs::file_size(path);
  Bytes content(full_size);
  {
    FILE* f = std::fopen(path.c_str(), "rb");
    ASSERT_EQ(std::fread(content.data(), 1, content.size(), f), content.size());
    std::fclose(f);
  }
  // Frame boundaries: replay must end at the last whole record before each cut.
  std::vector<size_t> ends;
  size_t pos = 0;
  for (const Record& r : records) {
    pos += 8 + encode_record(r).size();
    ends.push_back(pos);
  }
  for (size_t cut = 0; cut <= full_size; ++cut) {
    {
      FILE* f = std::fopen(path.c_str(), "wb");
      std::fwrite(content.data(), 1, cut, f);
      std::fclose(f);
    }
    size_t whole = 0;
    while (whole < ends.size() && ends[whole] <= cut) ++whole;
    auto log = MetadataLog::open(path);
    ASSERT_TRUE(log.has_value());
    EXPECT_EQ(log->second.records.size(), whole) << "cut at " << cut;
    size_t kept = whole ? ends[whole - 1] : 0;
    EXPECT_EQ(log->second.truncated_bytes, cut - kept);
    EXPECT_EQ(fs::file_size(path), kept);
    // Appends continue after the last whole record.
    ASSERT_TRUE(log->first.append({records[0]}).has_value());
    auto again = MetadataLog::open(path);
    EXPECT_EQ(again->second.records.size(), whole + 1);
  }
  fs::remove_all(dir);
}

TEST(MetadataLog, CorruptByteStopsReplayThere) {
  fs::path dir = temp_dir();
  std::string path = (dir / "m.log").string();
  auto records = sample_records();
  {
    auto log = MetadataLog::open(path);
    ASSERT_TRUE(log->first.append(records).has_value());
  }
  size_t first_end = 8 + encode_record(records[0]).size();
  {
    FILE* f = std::fopen(path.c_str(), "r+b");
    std::fseek(f, static_cast<long>(first_end + 10), SEEK_SET);
    std::fputc(0x5a, f);
    std::fclose(f);
  }
  auto log = MetadataLog::open(path);
  ASSERT_TRUE(log.has_value());
  EXPECT_EQ(log->second.records.size(), 1u);
  fs::remove_all(dir);
}

TEST(MetadataStore, TopicsSurviveReopen) {
  fs::path dir = temp_dir();
  Uuid id;
  std::string cluster;
  {
    auto store = MetadataStore::open(dir.string(), 1);
    ASSERT_TRUE(store.has_value()) << store.error();
    cluster = (*store)->cluster_id();
    TopicRecord t;
    t.topic.name = "a";
    t.topic.id = id = Uuid::random();
    t.topic.partitions = 2;
    ASSERT_TRUE((*store)->commit({t}).has_value());
    ASSERT_TRUE((*store)->commit({PartitionCountRecord{id, 4}}).has_value());
    EXPECT_EQ((*store)->topic("a")->partitions, 4);
  }
  auto store = MetadataStore::open(dir.string(), 1);
  ASSERT_TRUE(store.has_value());
  EXPECT_EQ((*store)->cluster_id(), cluster);
  auto t = (*store)->topic(id);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->name, "a");
  EXPECT_EQ(t->partitions, 4);
  EXPECT_FALSE(MetadataStore::open(dir.string(), 7).has_value());  // node.id mismatch
  fs::remove_all(dir);
}

TEST(MetadataStore, BrokerConfigsSurviveReopen) {
  fs::path dir = temp_dir();
  {
    auto store = MetadataStore::open(dir.string(), 1);
    ASSERT_TRUE(store.has_value()) << store.error();
    ASSERT_TRUE((*store)->commit({BrokerConfigRecord{"", "log.retention.ms", "60000"},
                                  BrokerConfigRecord{"1", "log.segment.bytes", "2048"},
                                  BrokerConfigRecord{"1", "message.max.bytes", "5000"}})
                    .has_value());
    ASSERT_TRUE((*store)->commit({BrokerConfigRecord{"1", "message.max.bytes", std::nullopt}}).has_value());
  }
  auto store = MetadataStore::open(dir.string(), 1);
  ASSERT_TRUE(store.has_value());
  auto image = (*store)->image();
  EXPECT_EQ(image->broker_configs(""), (std::map<std::string, std::string>{{"log.retention.ms", "60000"}}));
  EXPECT_EQ(image->broker_configs("1"), (std::map<std::string, std::string>{{"log.segment.bytes", "2048"}}));
  EXPECT_TRUE(image->broker_configs("2").empty());
  fs::remove_all(dir);
}

}  // namespace fjord::metadata

namespace fjord::metadata {
namespace {
// What a reader can write: dereferencing the image a variable holds, not a temporary one whose
// topics may be freed at the end of the statement (`store.image()->find(...)`).
template <typename Ref>
concept DereferencesTemporaries = requires { std::declval<Ref>()->find(std::string_view("t")); };
template <typename Ref>
concept DereferencesHeld = requires(const Ref& held) { held->find(std::string_view("t")); };
static_assert(DereferencesTemporaries<std::shared_ptr<const Image>>, "the form that dangled");
static_assert(!DereferencesTemporaries<ImageRef>);
static_assert(DereferencesHeld<ImageRef>);
}  // namespace

TEST(MetadataStore, TopicHandlesOutliveTheImageTheyCameFrom) {
  auto dir = temp_dir();
  auto store = MetadataStore::open(dir.string(), 1);
  ASSERT_TRUE(store.has_value()) << store.error();
  TopicRecord t;
  t.topic.name = "held";
  t.topic.id = Uuid::random();
  t.topic.partitions = 1;
  ASSERT_TRUE((*store)->commit({t}).has_value());
  auto held = (*store)->topic("held");
  ASSERT_NE(held, nullptr);
  // A change of the topic replaces its TopicInfo in the next image; the handle keeps the old one.
  ASSERT_TRUE((*store)->commit({PartitionCountRecord{t.topic.id, 3}}).has_value());
  EXPECT_EQ(held->partitions, 1);
  EXPECT_EQ((*store)->topic("held")->partitions, 3);
  store->reset();
  fs::remove_all(dir);
}

}  // namespace fjord::metadata
