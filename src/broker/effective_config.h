// The effective value of every topic or broker config, with where it came from (Kafka's
// ConfigSource) and its synonyms, as DescribeConfigs and CreateTopics v5+ report them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/config.h"
#include "metadata/image.h"

namespace fjord::broker {

// Kafka's ConfigSource ids.
enum class ConfigSource : int8_t {
  Unknown = 0,
  DynamicTopic = 1,
  DynamicBroker = 2,
  DynamicDefaultBroker = 3,
  StaticBroker = 4,
  Default = 5,
};

struct ConfigSynonym {
  std::string name;
  std::optional<std::string> value;
  ConfigSource source;
};

struct EffectiveConfig {
  std::string name;
  std::optional<std::string> value;  // null for sensitive configs
  ConfigSource source;
  ConfigType type;
  bool read_only = false;
  bool sensitive = false;
  std::vector<ConfigSynonym> synonyms;  // highest precedence first
};

// One topic config's value: the topic's override, else the broker's synonym, else the default.
std::optional<std::string> topic_config_value(const BrokerConfig& config, const metadata::TopicInfo& topic,
                                              std::string_view name);

std::vector<EffectiveConfig> effective_topic_configs(const BrokerConfig& config, const metadata::TopicInfo& topic);
// Every broker config of this node.
std::vector<EffectiveConfig> effective_broker_configs(const BrokerConfig& config);
// The cluster-wide dynamic defaults that are set (a BROKER resource with an empty name).
std::vector<EffectiveConfig> effective_broker_default_configs(const BrokerConfig& config);

}  // namespace fjord::broker
