#include "base/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

namespace fjord {
namespace {

using T = ConfigType;
constexpr int64_t kMaxLong = std::numeric_limits<int64_t>::max();
constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
constexpr std::string_view kMaxLongText = "9223372036854775807";

constexpr std::string_view kCleanupPolicies[] = {"delete", "compact"};
constexpr std::string_view kCompressionTypes[] = {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"};
constexpr std::string_view kTimestampTypes[] = {"CreateTime", "LogAppendTime"};

const ConfigDef kBrokerConfigs[] = {
    {"node.id", T::Int, "1", 0, kMaxInt},
    {"broker.id", T::Int, "-1", -1, kMaxInt},
    {"log.dirs", T::List, std::nullopt},
    {"log.dir", T::String, std::nullopt},
    {"listeners", T::List, "PLAINTEXT://127.0.0.1:9092"},
    {"advertised.listeners", T::List, std::nullopt},
    {"num.shards", T::Int, "0", 0, 1024},
    {"num.partitions", T::Int, "1", 1, kMaxInt},
    {"default.replication.factor", T::Int, "1", 1, kMaxInt},
    {"auto.create.topics.enable", T::Boolean, "true"},
    {"delete.topic.enable", T::Boolean, "true"},
    {"socket.request.max.bytes", T::Int, "104857600", 1, kMaxInt},
    // Fjord's own: the longest a request frame may take to arrive once its size is read.
    {"socket.request.read.timeout.ms", T::Long, "60000", 0, kMaxLong},
    {"message.max.bytes", T::Int, "1048588", 0, kMaxInt},
    {"max.connections", T::Int, "2147483647", 0, kMaxInt},
    {"max.connections.per.ip", T::Int, "2147483647", 0, kMaxInt},
    {"max.connections.per.ip.overrides", T::String, ""},
    // Kafka's default is -1 (no bound); Fjord bounds request memory unless told otherwise.
    {"queued.max.request.bytes", T::Long, "536870912", -1, kMaxLong},
    {"connections.max.idle.ms", T::Long, "600000"},
    {"num.network.threads", T::Int, "3", 1, kMaxInt},
    {"num.io.threads", T::Int, "8", 1, kMaxInt},
    {"num.recovery.threads.per.data.dir", T::Int, "1", 1, kMaxInt},
    {"socket.send.buffer.bytes", T::Int, "102400"},
    {"socket.receive.buffer.bytes", T::Int, "102400"},
    {"offsets.topic.num.partitions", T::Int, "50", 1, kMaxInt},
    {"offsets.topic.replication.factor", T::Short, "3", 1, 32767},
    {"offsets.retention.minutes", T::Int, "10080", 1, kMaxInt},
    {"offsets.retention.check.interval.ms", T::Long, "600000", 1, kMaxLong},
    {"offsets.topic.segment.bytes", T::Int, "104857600", 1, kMaxInt},
    {"offset.metadata.max.bytes", T::Int, "4096", 0, kMaxInt},
    {"transaction.state.log.replication.factor", T::Short, "3", 1, 32767},
    {"transaction.state.log.min.isr", T::Int, "2", 1, kMaxInt},
    {"transaction.state.log.num.partitions", T::Int, "50", 1, kMaxInt},
    {"transaction.state.log.segment.bytes", T::Int, "104857600", 1, kMaxInt},
    {"transaction.max.timeout.ms", T::Int, "900000", 1, kMaxInt},
    {"transaction.abort.timed.out.transaction.cleanup.interval.ms", T::Int, "10000", 1, kMaxInt},
    {"producer.id.expiration.ms", T::Int, "86400000", 1, kMaxInt},
    {"group.initial.rebalance.delay.ms", T::Int, "3000", 0, kMaxInt},
    {"group.min.session.timeout.ms", T::Int, "6000"},
    {"group.max.session.timeout.ms", T::Int, "1800000"},
    {"group.max.size", T::Int, "2147483647", 1, kMaxInt},
    {"max.incremental.fetch.session.cache.slots", T::Int, "1000", 0, kMaxInt},
    {"log.retention.hours", T::Int, "168"},
    {"log.retention.minutes", T::Int, std::nullopt},
    {"log.retention.ms", T::Long, std::nullopt},
    {"log.retention.bytes", T::Long, "-1"},
    {"log.retention.check.interval.ms", T::Long, "300000", 1, kMaxLong},
    {"log.segment.bytes", T::Int, "1073741824", 14, kMaxInt},
    {"log.roll.hours", T::Int, "168", 1, kMaxInt},
    {"log.roll.ms", T::Long, std::nullopt},
    {"log.roll.jitter.hours", T::Int, "0", 0, kMaxInt},
    {"log.roll.jitter.ms", T::Long, std::nullopt},
    {"log.cleanup.policy", T::List, "delete", INT64_MIN, INT64_MAX, kCleanupPolicies},
    {"compression.type", T::String, "producer", INT64_MIN, INT64_MAX, kCompressionTypes},
    {"log.cleaner.delete.retention.ms", T::Long, "86400000", 0, kMaxLong},
    {"log.cleaner.min.compaction.lag.ms", T::Long, "0", 0, kMaxLong},
    {"log.cleaner.max.compaction.lag.ms", T::Long, kMaxLongText, 1, kMaxLong},
    {"log.cleaner.min.cleanable.ratio", T::Double, "0.5", 0, 1},
    {"log.cleaner.enable", T::Boolean, "true"},
    {"log.cleaner.threads", T::Int, "1", 1, 64},
    {"log.cleaner.dedupe.buffer.size", T::Long, "134217728", 1 << 16, kMaxLong},
    {"log.cleaner.io.buffer.load.factor", T::Double, "0.9", 0, 1},
    {"log.cleaner.io.max.bytes.per.second", T::Double, "1.7976931348623157E308", 1, kMaxLong},
    {"log.cleaner.backoff.ms", T::Long, "15000", 1, kMaxLong},
    {"log.segment.delete.delay.ms", T::Long, "60000", 0, kMaxLong},
    {"log.flush.interval.messages", T::Long, kMaxLongText, 1, kMaxLong},
    {"log.flush.interval.ms", T::Long, std::nullopt},
    {"log.flush.scheduler.interval.ms", T::Long, kMaxLongText},
    {"log.flush.offset.checkpoint.interval.ms", T::Int, "60000", 0, kMaxInt},
    {"log.index.interval.bytes", T::Int, "4096", 0, kMaxInt},
    {"log.index.size.max.bytes", T::Int, "10485760", 4, kMaxInt},
    {"log.message.timestamp.type", T::String, "CreateTime", INT64_MIN, INT64_MAX, kTimestampTypes},
    {"log.message.timestamp.difference.max.ms", T::Long, kMaxLongText, 0, kMaxLong},
    {"log.message.timestamp.before.max.ms", T::Long, kMaxLongText, 0, kMaxLong},
    {"log.message.timestamp.after.max.ms", T::Long, kMaxLongText, 0, kMaxLong},
    {"log.message.downconversion.enable", T::Boolean, "true"},
    {"log.message.format.version", T::String, "3.0-IV1"},
    {"log.preallocate", T::Boolean, "false"},
    {"min.insync.replicas", T::Int, "1", 1, kMaxInt},
    {"unclean.leader.election.enable", T::Boolean, "false"},
    {"auto.leader.rebalance.enable", T::Boolean, "true"},
    {"leader.imbalance.per.broker.percentage", T::Int, "10", 0, 100},
    {"leader.imbalance.check.interval.seconds", T::Long, "300", 1, kMaxLong},
    {"unstable.api.versions.enable", T::Boolean, "false"},
    {"process.roles", T::List, ""},
    {"controller.quorum.voters", T::List, ""},
    {"controller.listener.names", T::String, std::nullopt},
    {"controller.quorum.election.timeout.ms", T::Int, "1000", 10, kMaxInt},
    {"broker.heartbeat.interval.ms", T::Int, "2000", 10, kMaxInt},
    {"broker.session.timeout.ms", T::Int, "9000", 10, kMaxInt},
    {"replica.lag.time.max.ms", T::Long, "30000", 1, kMaxLong},
    {"replica.fetch.wait.max.ms", T::Int, "500", 0, kMaxInt},
    {"replica.fetch.max.bytes", T::Int, "1048576", 0, kMaxInt},
    {"replica.fetch.response.max.bytes", T::Int, "10485760", 0, kMaxInt},
    {"replica.fetch.backoff.ms", T::Int, "1000", 0, kMaxInt},
    {"broker.rack", T::String, std::nullopt},
    {"inter.broker.listener.name", T::String, std::nullopt},
    {"listener.security.protocol.map", T::String,
     "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"},
    {"zookeeper.connect", T::String, std::nullopt},
};

// Kafka's cluster-wide dynamic keys that Fjord applies live: the broker-level defaults of topic
// configs (their primary synonyms), the log cleaner's pool, and message.max.bytes.
constexpr std::string_view kDynamicBrokerConfigs[] = {
    "log.retention.ms",
    "log.retention.bytes",
    "log.segment.bytes",
    "log.roll.ms",
    "log.roll.jitter.ms",
    "log.cleanup.policy",
    "compression.type",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.backoff.ms",
    "log.segment.delete.delay.ms",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.index.interval.bytes",
    "log.index.size.max.bytes",
    "log.message.timestamp.type",
    "log.message.timestamp.difference.max.ms",
    "log.message.timestamp.before.max.ms",
    "log.message.timestamp.after.max.ms",
    "log.message.downconversion.enable",
    "log.preallocate",
    "message.max.bytes",
    "min.insync.replicas",
    "unclean.leader.election.enable",
};

const std::vector<TopicConfigDef>& topic_table() {
  static const std::vector<TopicConfigDef> table = {
      {{"cleanup.policy", T::List, "delete", INT64_MIN, INT64_MAX, kCleanupPolicies}, {{"log.cleanup.policy"}}},
      {{"compression.type", T::String, "producer", INT64_MIN, INT64_MAX, kCompressionTypes}, {{"compression.type"}}},
      {{"delete.retention.ms", T::Long, "86400000", 0, kMaxLong}, {{"log.cleaner.delete.retention.ms"}}},
      {{"file.delete.delay.ms", T::Long, "60000", 0, kMaxLong}, {{"log.segment.delete.delay.ms"}}},
      {{"follower.replication.throttled.replicas", T::List, ""}, {}},
      {{"flush.messages", T::Long, kMaxLongText, 1, kMaxLong}, {{"log.flush.interval.messages"}}},
      {{"flush.ms", T::Long, kMaxLongText, 0, kMaxLong}, {{"log.flush.interval.ms"}}},
      {{"index.interval.bytes", T::Int, "4096", 0, kMaxInt}, {{"log.index.interval.bytes"}}},
      {{"leader.replication.throttled.replicas", T::List, ""}, {}},
      {{"local.retention.bytes", T::Long, "-2", -2, kMaxLong}, {}},
      {{"local.retention.ms", T::Long, "-2", -2, kMaxLong}, {}},
      {{"max.compaction.lag.ms", T::Long, kMaxLongText, 1, kMaxLong}, {{"log.cleaner.max.compaction.lag.ms"}}},
      {{"max.message.bytes", T::Int, "1048588", 0, kMaxInt}, {{"message.max.bytes"}}},
      {{"message.downconversion.enable", T::Boolean, "true"}, {{"log.message.downconversion.enable"}}},
      {{"message.format.version", T::String, "3.0-IV1"}, {{"log.message.format.version"}}},
      {{"message.timestamp.after.max.ms", T::Long, kMaxLongText, 0, kMaxLong},
       {{"log.message.timestamp.after.max.ms"}}},
      {{"message.timestamp.before.max.ms", T::Long, kMaxLongText, 0, kMaxLong},
       {{"log.message.timestamp.before.max.ms"}}},
      {{"message.timestamp.difference.max.ms", T::Long, kMaxLongText, 0, kMaxLong},
       {{"log.message.timestamp.difference.max.ms"}}},
      {{"message.timestamp.type", T::String, "CreateTime", INT64_MIN, INT64_MAX, kTimestampTypes},
       {{"log.message.timestamp.type"}}},
      {{"min.cleanable.dirty.ratio", T::Double, "0.5", 0, 1}, {{"log.cleaner.min.cleanable.ratio"}}},
      {{"min.compaction.lag.ms", T::Long, "0", 0, kMaxLong}, {{"log.cleaner.min.compaction.lag.ms"}}},
      {{"min.insync.replicas", T::Int, "1", 1, kMaxInt}, {{"min.insync.replicas"}}},
      {{"preallocate", T::Boolean, "false"}, {{"log.preallocate"}}},
      {{"remote.storage.enable", T::Boolean, "false"}, {}},
      {{"retention.bytes", T::Long, "-1"}, {{"log.retention.bytes"}}},
      {{"retention.ms", T::Long, "604800000", -1, kMaxLong},
       {{"log.retention.ms"}, {"log.retention.minutes", 60'000}, {"log.retention.hours", 3'600'000}}},
      {{"segment.bytes", T::Int, "1073741824", 14, kMaxInt}, {{"log.segment.bytes"}}},
      {{"segment.index.bytes", T::Int, "10485760", 4, kMaxInt}, {{"log.index.size.max.bytes"}}},
      {{"segment.jitter.ms", T::Long, "0", 0, kMaxLong}, {{"log.roll.jitter.ms"}, {"log.roll.jitter.hours", 3'600'000}}},
      {{"segment.ms", T::Long, "604800000", 1, kMaxLong}, {{"log.roll.ms"}, {"log.roll.hours", 3'600'000}}},
      {{"unclean.leader.election.enable", T::Boolean, "false"}, {{"unclean.leader.election.enable"}}},
  };
  return table;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<int64_t> parse_int(std::string_view s) {
  s = trim(s);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

}  // namespace

std::span<const ConfigDef> broker_config_defs() { return kBrokerConfigs; }
std::span<const TopicConfigDef> topic_config_defs() { return topic_table(); }

const ConfigDef* find_broker_config(std::string_view name) {
  for (const ConfigDef& d : kBrokerConfigs)
    if (d.name == name) return &d;
  return nullptr;
}

const TopicConfigDef* find_topic_config(std::string_view name) {
  for (const TopicConfigDef& d : topic_table())
    if (d.def.name == name) return &d;
  return nullptr;
}

bool is_dynamic_broker_config(std::string_view name) {
  return std::find(std::begin(kDynamicBrokerConfigs), std::end(kDynamicBrokerConfigs), name) !=
         std::end(kDynamicBrokerConfigs);
}

std::optional<std::string> validate_config_value(const ConfigDef& def, std::string_view value) {
  auto check_allowed = [&](std::string_view item) -> std::optional<std::string> {
    if (def.allowed.empty()) return std::nullopt;
    for (std::string_view a : def.allowed)
      if (a == item) return std::nullopt;
    std::string list;
    for (std::string_view a : def.allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return fmt::format("'{}' is not one of [{}]", item, list);
  };
  switch (def.type) {
    case T::Boolean:
      if (iequals(trim(value), "true") || iequals(trim(value), "false")) return std::nullopt;
      return fmt::format("'{}' is not a boolean (true or false)", value);
    case T::Int:
    case T::Short:
    case T::Long: {
      auto v = parse_int(value);
      int64_t type_min = def.type == T::Long ? INT64_MIN : def.type == T::Int ? INT32_MIN : INT16_MIN;
      int64_t type_max = def.type == T::Long ? INT64_MAX : def.type == T::Int ? INT32_MAX : INT16_MAX;
      if (!v || *v < type_min || *v > type_max) return fmt::format("'{}' is not a valid {}", value,
                                                                    def.type == T::Long ? "long" : "integer");
      if (*v < def.min) return fmt::format("{} is below the minimum {}", *v, def.min);
      if (*v > def.max) return fmt::format("{} is above the maximum {}", *v, def.max);
      return std::nullopt;
    }
    case T::Double: {
      std::string s(trim(value));
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size()) return fmt::format("'{}' is not a number", value);
      if (d < static_cast<double>(def.min) || d > static_cast<double>(def.max))
        return fmt::format("{} is outside [{}, {}]", d, def.min, def.max);
      return std::nullopt;
    }
    case T::List: {
      size_t pos = 0;
      std::string_view rest = value;
      while (!def.allowed.empty() && pos <= rest.size()) {
        size_t comma = rest.find(',', pos);
        std::string_view item = trim(rest.substr(pos, comma == std::string_view::npos ? rest.npos : comma - pos));
        if (auto err = check_allowed(item)) return err;
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
      }
      return std::nullopt;
    }
    case T::String:
    case T::Class:
    case T::Password:
      return check_allowed(trim(value));
  }
  return std::nullopt;
}

tl::expected<BrokerConfig, std::string> BrokerConfig::create(Properties props, std::vector<std::string>& unknown_keys) {
  for (const auto& [key, value] : props) {
    const ConfigDef* def = find_broker_config(key);
    if (def == nullptr) {
      unknown_keys.push_back(key);
      continue;
    }
    if (auto err = validate_config_value(*def, value)) return tl::unexpected(fmt::format("{}: {}", key, *err));
  }
  if (!props.contains("node.id") && props.contains("broker.id") && props.at("broker.id") != "-1")
    props["node.id"] = props.at("broker.id");
  BrokerConfig config;
  config.props_ = std::move(props);
  for (const char* key : {"listeners", "advertised.listeners"}) {
    if (auto value = config.get(key)) {
      auto l = parse_listeners(*value);
      if (!l) return tl::unexpected(fmt::format("{}: {}", key, l.error()));
    }
  }
  return config;
}

BrokerConfig BrokerConfig::with_dynamic(const Properties& cluster, const Properties& broker) const {
  auto keep = [](const Properties& in) {
    Properties out;
    for (const auto& [key, value] : in) {
      const ConfigDef* def = find_broker_config(key);
      if (def != nullptr && is_dynamic_broker_config(key) && !validate_config_value(*def, value)) out[key] = value;
    }
    return out;
  };
  BrokerConfig out = *this;
  out.dynamic_default_ = keep(cluster);
  out.dynamic_broker_ = keep(broker);
  return out;
}

std::vector<BrokerConfig::LayerValue> BrokerConfig::layers(std::string_view name) const {
  std::vector<LayerValue> out;
  const std::string key(name);
  auto add = [&](const Properties& props, ConfigLayer layer) {
    if (auto it = props.find(key); it != props.end()) out.push_back({layer, std::string(trim(it->second))});
  };
  add(dynamic_broker_, ConfigLayer::DynamicBroker);
  add(dynamic_default_, ConfigLayer::DynamicDefault);
  add(props_, ConfigLayer::Static);
  return out;
}

std::optional<std::string> BrokerConfig::get(std::string_view name) const {
  auto set = layers(name);
  if (!set.empty()) return std::move(set.front().value);
  if (const ConfigDef* def = find_broker_config(name); def && def->default_value) return std::string(*def->default_value);
  return std::nullopt;
}

int64_t BrokerConfig::get_long(std::string_view name) const {
  auto v = get(name);
  return v ? parse_int(*v).value_or(0) : 0;
}

double BrokerConfig::get_double(std::string_view name) const {
  auto v = get(name);
  return v ? std::strtod(std::string(trim(*v)).c_str(), nullptr) : 0;
}

bool BrokerConfig::get_bool(std::string_view name) const {
  auto v = get(name);
  return v && iequals(*v, "true");
}

std::string BrokerConfig::data_dir() const {
  if (auto dirs = get("log.dirs")) {
    std::string_view first = trim(std::string_view(*dirs).substr(0, dirs->find(',')));
    if (!first.empty()) return std::string(first);
  }
  if (auto dir = get("log.dir"); dir && !dir->empty()) return *dir;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return std::string(xdg) + "/fjord";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.local/share/fjord";
}

std::string BrokerConfig::advertised_listeners() const {
  auto v = get("advertised.listeners");
  return v ? *v : listeners();
}

BrokerConfig::Resolved BrokerConfig::topic_default(const TopicConfigDef& def) const {
  for (const Synonym& s : def.synonyms) {
    auto set = layers(s.broker_key);
    if (set.empty()) continue;
    const LayerValue& top = set.front();
    if (s.factor == 1) return {top.value, std::string(s.broker_key), top.layer};
    if (auto v = parse_int(top.value)) return {std::to_string(*v * s.factor), std::string(s.broker_key), top.layer};
  }
  if (def.def.default_value) return {std::string(*def.def.default_value), "", ConfigLayer::Default};
  return {std::nullopt, "", ConfigLayer::Default};
}

tl::expected<Listener, std::string> parse_listener(std::string_view text) {
  std::string_view first = trim(text.substr(0, text.find(',')));
  size_t scheme = first.find("://");
  if (scheme == std::string_view::npos) return tl::unexpected(fmt::format("'{}' is not NAME://HOST:PORT", first));
  Listener l;
  l.name = std::string(first.substr(0, scheme));
  std::string_view hostport = first.substr(scheme + 3);
  size_t colon = hostport.rfind(':');
  if (colon == std::string_view::npos) return tl::unexpected(fmt::format("'{}' has no port", first));
  std::string_view host = hostport.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  l.host = std::string(host);
  auto port = parse_int(hostport.substr(colon + 1));
  if (!port || *port < 0 || *port > 65535)
    return tl::unexpected(fmt::format("port '{}' is out of range (0-65535)", hostport.substr(colon + 1)));
  l.port = static_cast<uint16_t>(*port);
  return l;
}

tl::expected<std::vector<Listener>, std::string> parse_listeners(std::string_view text) {
  std::vector<Listener> out;
  while (!trim(text).empty()) {
    size_t comma = text.find(',');
    auto one = parse_listener(text.substr(0, comma));
    if (!one) return tl::unexpected(one.error());
    out.push_back(std::move(*one));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

tl::expected<std::map<std::string, std::string>, std::string> parse_protocol_map(std::string_view text) {
  std::map<std::string, std::string> out;
  while (!trim(text).empty()) {
    size_t comma = text.find(',');
    std::string_view pair = trim(text.substr(0, comma));
    size_t colon = pair.find(':');
    if (colon == std::string_view::npos || trim(pair.substr(0, colon)).empty() || trim(pair.substr(colon + 1)).empty())
      return tl::unexpected(fmt::format("'{}' is not LISTENER_NAME:SECURITY_PROTOCOL", pair));
    std::string name(trim(pair.substr(0, colon)));
    std::string protocol(trim(pair.substr(colon + 1)));
    for (char& c : protocol) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!out.emplace(name, protocol).second) return tl::unexpected(fmt::format("listener '{}' is mapped twice", name));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace fjord
