// Kafka's configuration model: typed keys with defaults and validation, the broker's static
// configuration, and the topic-level keys with their broker-level synonyms.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/properties.h"
#include "tl/expected.hpp"

namespace fjord {

// Kafka's ConfigType ids as DescribeConfigs v3+ reports them.
enum class ConfigType : int8_t {
  Boolean = 1, String = 2, Int = 3, Short = 4, Long = 5, Double = 6, List = 7, Class = 8, Password = 9
};

struct ConfigDef {
  std::string_view name;
  ConfigType type;
  std::optional<std::string_view> default_value;  // nullopt: no default (null)
  int64_t min = INT64_MIN;                         // numeric bounds, inclusive
  int64_t max = INT64_MAX;
  std::span<const std::string_view> allowed = {};  // for enumerated strings / list items
  bool sensitive = false;
};

// A broker-level key that stands for a topic key, with the factor that converts its unit to the
// topic key's (log.retention.hours -> retention.ms: 3,600,000).
struct Synonym {
  std::string_view broker_key;
  int64_t factor = 1;
};

struct TopicConfigDef {
  ConfigDef def;
  std::vector<Synonym> synonyms;  // highest precedence first
};

std::span<const ConfigDef> broker_config_defs();
std::span<const TopicConfigDef> topic_config_defs();
const ConfigDef* find_broker_config(std::string_view name);
const TopicConfigDef* find_topic_config(std::string_view name);

// Why `value` is not valid for `def`, or nullopt when it is.
std::optional<std::string> validate_config_value(const ConfigDef& def, std::string_view value);

// Whether a broker key may change without a restart (AlterConfigs on a BROKER resource), per
// broker or as the cluster-wide default: Kafka's "cluster-wide" update mode, for the keys Fjord
// applies live.
bool is_dynamic_broker_config(std::string_view name);

// Where a broker key's value comes from, highest precedence first.
enum class ConfigLayer : int8_t { DynamicBroker, DynamicDefault, Static, Default };

// The broker's configuration: server.properties plus command-line overrides (static), validated,
// with the dynamic values set through AlterConfigs on top (with_dynamic).
class BrokerConfig {
 public:
  // Validates every known key; unknown keys are returned in `unknown_keys` (the caller warns).
  static tl::expected<BrokerConfig, std::string> create(Properties props, std::vector<std::string>& unknown_keys);

  // This configuration with dynamic values on top: `broker` (this node's) over `cluster` (the
  // cluster-wide defaults) over the static ones. Values that are not valid are ignored.
  BrokerConfig with_dynamic(const Properties& cluster, const Properties& broker) const;

  struct LayerValue {
    ConfigLayer layer;
    std::string value;
  };
  // Every layer that sets `name`, highest precedence first (the default is not a layer here).
  std::vector<LayerValue> layers(std::string_view name) const;

  // The highest explicit value, else the default; nullopt when neither exists.
  std::optional<std::string> get(std::string_view name) const;
  bool is_set(std::string_view name) const { return !layers(name).empty(); }
  int64_t get_long(std::string_view name) const;
  int32_t get_int(std::string_view name) const { return static_cast<int32_t>(get_long(name)); }
  bool get_bool(std::string_view name) const;
  double get_double(std::string_view name) const;

  // Typed views of the keys the broker uses.
  int32_t node_id() const { return get_int("node.id"); }
  std::string data_dir() const;
  std::string listeners() const { return *get("listeners"); }
  std::string advertised_listeners() const;
  int32_t num_shards() const { return get_int("num.shards"); }

  // The value a topic key takes from the broker config (a set synonym, converted), else its
  // default; with the source that supplied it.
  struct Resolved {
    std::optional<std::string> value;
    std::string source_key;  // the broker key that set it, empty when it is the default
    ConfigLayer layer = ConfigLayer::Default;
  };
  Resolved topic_default(const TopicConfigDef& def) const;

 private:
  Properties props_;            // static
  Properties dynamic_default_;  // cluster-wide dynamic defaults
  Properties dynamic_broker_;   // this broker's dynamic values
};

// One listener parsed from `PLAINTEXT://host:port` (comma-separated lists take the first).
struct Listener {
  std::string name;
  std::string host;
  uint16_t port = 0;
};
tl::expected<Listener, std::string> parse_listener(std::string_view text);
// Every listener of a comma-separated `listeners` / `advertised.listeners` value, in order.
tl::expected<std::vector<Listener>, std::string> parse_listeners(std::string_view text);
// `listener.security.protocol.map`: NAME:PROTOCOL pairs, comma-separated (names as written, case
// kept; protocols upper-cased). Repeated names are an error.
tl::expected<std::map<std::string, std::string>, std::string> parse_protocol_map(std::string_view text);

}  // namespace fjord
