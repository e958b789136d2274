#include "broker/effective_config.h"

#include <algorithm>

namespace fjord::broker {
namespace {

ConfigSource source_of(ConfigLayer layer) {
  switch (layer) {
    case ConfigLayer::DynamicBroker: return ConfigSource::DynamicBroker;
    case ConfigLayer::DynamicDefault: return ConfigSource::DynamicDefaultBroker;
    case ConfigLayer::Static: return ConfigSource::StaticBroker;
    case ConfigLayer::Default: return ConfigSource::Default;
  }
  return ConfigSource::Unknown;
}

}  // namespace

std::optional<std::string> topic_config_value(const BrokerConfig& config, const metadata::TopicInfo& topic,
                                              std::string_view name) {
  if (auto it = topic.configs.find(std::string(name)); it != topic.configs.end()) return it->second;
  const TopicConfigDef* def = find_topic_config(name);
  if (def == nullptr) return std::nullopt;
  return config.topic_default(*def).value;
}

std::vector<EffectiveConfig> effective_topic_configs(const BrokerConfig& config, const metadata::TopicInfo& topic) {
  std::vector<EffectiveConfig> out;
  for (const TopicConfigDef& def : topic_config_defs()) {
    EffectiveConfig c;
    c.name = std::string(def.def.name);
    c.type = def.def.type;
    c.sensitive = def.def.sensitive;
    auto override_it = topic.configs.find(c.name);
    if (override_it != topic.configs.end()) {
      c.synonyms.push_back({c.name, override_it->second, ConfigSource::DynamicTopic});
    }
    bool default_listed = false;
    for (const Synonym& s : def.synonyms) {
      auto layers = config.layers(s.broker_key);
      for (const BrokerConfig::LayerValue& l : layers)
        c.synonyms.push_back({std::string(s.broker_key), l.value, source_of(l.layer)});
      if (layers.empty() && !default_listed) {
        if (const ConfigDef* bdef = find_broker_config(s.broker_key); bdef && bdef->default_value) {
          c.synonyms.push_back({std::string(s.broker_key), std::string(*bdef->default_value), ConfigSource::Default});
          default_listed = true;
        }
      }
    }
    if (def.synonyms.empty() && def.def.default_value)
      c.synonyms.push_back({c.name, std::string(*def.def.default_value), ConfigSource::Default});

    if (override_it != topic.configs.end()) {
      c.value = override_it->second;
      c.source = ConfigSource::DynamicTopic;
    } else {
      BrokerConfig::Resolved r = config.topic_default(def);
      c.value = r.value;
      c.source = source_of(r.layer);
    }
    if (c.sensitive) c.value = std::nullopt;
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<EffectiveConfig> effective_broker_configs(const BrokerConfig& config) {
  std::vector<EffectiveConfig> out;
  for (const ConfigDef& def : broker_config_defs()) {
    EffectiveConfig c;
    c.name = std::string(def.name);
    c.type = def.type;
    c.sensitive = def.sensitive;
    c.read_only = !is_dynamic_broker_config(def.name);  // else changing it needs a restart
    c.value = config.get(def.name);
    auto layers = config.layers(def.name);
    c.source = layers.empty() ? ConfigSource::Default : source_of(layers.front().layer);
    for (const BrokerConfig::LayerValue& l : layers) c.synonyms.push_back({c.name, l.value, source_of(l.layer)});
    if (def.default_value) c.synonyms.push_back({c.name, std::string(*def.default_value), ConfigSource::Default});
    if (c.sensitive) c.value = std::nullopt;
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<EffectiveConfig> effective_broker_default_configs(const BrokerConfig& config) {
  std::vector<EffectiveConfig> out;
  for (EffectiveConfig& c : effective_broker_configs(config)) {
    auto set = std::find_if(c.synonyms.begin(), c.synonyms.end(),
                            [](const ConfigSynonym& s) { return s.source == ConfigSource::DynamicDefaultBroker; });
    if (set == c.synonyms.end()) continue;
    std::optional<std::string> value = set->value;
    c.synonyms.erase(c.synonyms.begin(), set);  // this broker's own value is not the default's
    c.value = c.sensitive ? std::nullopt : value;
    c.source = ConfigSource::DynamicDefaultBroker;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace fjord::broker
