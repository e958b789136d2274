#include "broker/effective_config.h"

namespace fjord::broker {

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
      if (config.is_set(s.broker_key)) {
        c.synonyms.push_back({std::string(s.broker_key), config.get(s.broker_key), ConfigSource::StaticBroker});
      } else if (!default_listed) {
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
      c.source = r.source_key.empty() ? ConfigSource::Default : ConfigSource::StaticBroker;
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
    c.read_only = true;  // static configuration: changing it needs a restart
    c.value = config.get(def.name);
    c.source = config.is_set(def.name) ? ConfigSource::StaticBroker : ConfigSource::Default;
    if (config.is_set(def.name)) c.synonyms.push_back({c.name, c.value, ConfigSource::StaticBroker});
    if (def.default_value) c.synonyms.push_back({c.name, std::string(*def.default_value), ConfigSource::Default});
    if (c.sensitive) c.value = std::nullopt;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace fjord::broker
