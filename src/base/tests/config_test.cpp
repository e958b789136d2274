#include "base/config.h"

#include <gtest/gtest.h>

namespace fjord {

TEST(Config, DefaultsAndOverrides) {
  std::vector<std::string> unknown;
  auto c = BrokerConfig::create({{"num.partitions", "3"}, {"no.such.key", "x"}}, unknown);
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->get_int("num.partitions"), 3);
  EXPECT_EQ(c->get_int("socket.request.max.bytes"), 104857600);
  EXPECT_TRUE(c->get_bool("auto.create.topics.enable"));
  EXPECT_EQ(unknown, std::vector<std::string>{"no.such.key"});
  EXPECT_EQ(c->node_id(), 1);
}

TEST(Config, BadValuesNameTheKey) {
  std::vector<std::string> unknown;
  for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"num.partitions", "-3"}, {"socket.request.max.bytes", "lots"}, {"auto.create.topics.enable", "maybe"},
           {"listeners", "PLAINTEXT://127.0.0.1:70000"}, {"log.cleanup.policy", "delete,shred"}}) {
    auto c = BrokerConfig::create({{key, value}}, unknown);
    ASSERT_FALSE(c.has_value()) << key;
    EXPECT_NE(c.error().find(key), std::string::npos) << c.error();
  }
}

TEST(Config, TopicDefaultsFollowBrokerSynonymsWithUnits) {
  std::vector<std::string> unknown;
  auto c = BrokerConfig::create({{"log.retention.hours", "2"}}, unknown);
  ASSERT_TRUE(c.has_value());
  auto r = c->topic_default(*find_topic_config("retention.ms"));
  EXPECT_EQ(r.value, "7200000");
  EXPECT_EQ(r.source_key, "log.retention.hours");
  auto seg = c->topic_default(*find_topic_config("segment.bytes"));
  EXPECT_EQ(seg.value, "1073741824");
  EXPECT_EQ(seg.source_key, "");
}

TEST(Config, DynamicLayersTakePrecedenceInOrder) {
  std::vector<std::string> unknown;
  auto c = BrokerConfig::create({{"log.retention.hours", "2"}, {"log.segment.bytes", "4096"}, {"num.partitions", "3"}},
                                unknown);
  ASSERT_TRUE(c.has_value());
  BrokerConfig d = c->with_dynamic({{"log.retention.ms", "60000"}, {"log.segment.bytes", "8192"}},
                                   {{"log.segment.bytes", "16384"},
                                    {"num.partitions", "9"},          // not dynamic: ignored
                                    {"message.max.bytes", "lots"}});  // not valid: ignored
  // The static configuration is unchanged.
  EXPECT_EQ(c->get_int("log.segment.bytes"), 4096);
  EXPECT_EQ(d.get_int("log.segment.bytes"), 16384);
  EXPECT_EQ(d.get_int("num.partitions"), 3);
  EXPECT_EQ(d.get_int("message.max.bytes"), 1048588);
  auto layers = d.layers("log.segment.bytes");
  ASSERT_EQ(layers.size(), 3u);
  EXPECT_EQ(layers[0].layer, ConfigLayer::DynamicBroker);
  EXPECT_EQ(layers[1].layer, ConfigLayer::DynamicDefault);
  EXPECT_EQ(layers[1].value, "8192");
  EXPECT_EQ(layers[2].layer, ConfigLayer::Static);
  // log.retention.ms outranks log.retention.hours whatever layer sets each.
  auto r = d.topic_default(*find_topic_config("retention.ms"));
  EXPECT_EQ(r.value, "60000");
  EXPECT_EQ(r.source_key, "log.retention.ms");
  EXPECT_EQ(r.layer, ConfigLayer::DynamicDefault);
  auto seg = d.topic_default(*find_topic_config("segment.bytes"));
  EXPECT_EQ(seg.value, "16384");
  EXPECT_EQ(seg.layer, ConfigLayer::DynamicBroker);
  EXPECT_TRUE(is_dynamic_broker_config("log.retention.ms"));
  EXPECT_FALSE(is_dynamic_broker_config("log.retention.hours"));
  EXPECT_FALSE(is_dynamic_broker_config("node.id"));
}

TEST(Config, ValidateTopicValues) {
  EXPECT_FALSE(validate_config_value(find_topic_config("retention.ms")->def, "1000").has_value());
  EXPECT_TRUE(validate_config_value(find_topic_config("retention.ms")->def, "abc").has_value());
  EXPECT_TRUE(validate_config_value(find_topic_config("segment.bytes")->def, "10").has_value());
  EXPECT_TRUE(validate_config_value(find_topic_config("cleanup.policy")->def, "compact,delete") == std::nullopt);
  EXPECT_TRUE(validate_config_value(find_topic_config("min.cleanable.dirty.ratio")->def, "1.5").has_value());
}

TEST(Config, ParseListener) {
  auto l = parse_listener("PLAINTEXT://127.0.0.1:9092");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->host, "127.0.0.1");
  EXPECT_EQ(l->port, 9092);
  EXPECT_FALSE(parse_listener("127.0.0.1:9092").has_value());
  EXPECT_FALSE(parse_listener("PLAINTEXT://host:-1").has_value());
}

}  // namespace fjord
