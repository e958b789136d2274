// The `fjord topic` commands: create, list, describe, delete, alter-config.
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "client/client.h"
#include "client/rdkafka_helpers.h"

namespace fjord::client {
namespace {

// Prints each topic's outcome of a CreateTopics/DeleteTopics result; returns the exit code.
using TopicResultsFn = const rd_kafka_topic_result_t** (*)(const rd_kafka_event_t*, size_t*);
int report_topic_results(const tl::expected<Event, std::string>& ev, TopicResultsFn results_of, const char* done) {
  if (!ev) return fail(ev.error());
  int rc = 0;
  size_t n = 0;
  const rd_kafka_topic_result_t** results = results_of(ev->get(), &n);
  for (size_t i = 0; i < n; ++i) {
    const char* name = rd_kafka_topic_result_name(results[i]);
    if (rd_kafka_topic_result_error(results[i])) {
      rc = fail(fmt::format("{}: {}", name, rd_kafka_topic_result_error_string(results[i])));
    } else {
      fmt::print("{} topic {}\n", done, name);
    }
  }
  return rc;
}

const rd_kafka_topic_result_t** created_topics(const rd_kafka_event_t* ev, size_t* n) {
  return rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(const_cast<rd_kafka_event_t*>(ev)), n);
}

const rd_kafka_topic_result_t** deleted_topics(const rd_kafka_event_t* ev, size_t* n) {
  return rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(const_cast<rd_kafka_event_t*>(ev)), n);
}

struct ConfigValue {
  std::string name;
  std::string value;
  bool is_default;
  rd_kafka_ConfigSource_t source;
};

// Every config of a topic as DescribeConfigs reports it.
tl::expected<std::vector<ConfigValue>, std::string> describe_topic_configs(rd_kafka_t* rk, const Common& c,
                                                                          const std::string& name) {
  rd_kafka_ConfigResource_t* res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name.c_str());
  auto ev = run_admin(rk, c, [&](rd_kafka_queue_t* q) { rd_kafka_DescribeConfigs(rk, &res, 1, nullptr, q); });
  rd_kafka_ConfigResource_destroy(res);
  if (!ev) return tl::unexpected(ev.error());
  size_t n = 0;
  const rd_kafka_ConfigResource_t** rs =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev->get()), &n);
  std::vector<ConfigValue> out;
  if (n == 1 && rd_kafka_ConfigResource_error(rs[0]))
    return tl::unexpected(fmt::format("{}: {}", name, rd_kafka_ConfigResource_error_string(rs[0])));
  if (n == 1) {
    size_t cnt = 0;
    const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(rs[0], &cnt);
    for (size_t k = 0; k < cnt; ++k) {
      const char* v = rd_kafka_ConfigEntry_value(entries[k]);
      out.push_back({rd_kafka_ConfigEntry_name(entries[k]), v ? v : "",
                     rd_kafka_ConfigEntry_is_default(entries[k]) != 0, rd_kafka_ConfigEntry_source(entries[k])});
    }
  }
  return out;
}

}  // namespace

int topic_create(const Common& c, const std::string& name, int partitions, int replication_factor,
                 const std::map<std::string, std::string>& configs) {
  std::string error;
  Kafka rk = make_client(c, RD_KAFKA_PRODUCER, {}, error);
  if (!rk) return fail(error);
  char err[512];
  rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(name.c_str(), partitions, replication_factor, err, sizeof(err));
  if (topic == nullptr) return fail(err);
  for (const auto& [k, v] : configs) rd_kafka_NewTopic_set_config(topic, k.c_str(), v.c_str());
  AdminOptions opts = admin_options(rk.get(), c, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  auto ev =
      run_admin(rk.get(), c, [&](rd_kafka_queue_t* q) { rd_kafka_CreateTopics(rk.get(), &topic, 1, opts.get(), q); });
  rd_kafka_NewTopic_destroy(topic);
  return report_topic_results(ev, created_topics, "created");
}

int topic_delete(const Common& c, const std::string& name) {
  std::string error;
  Kafka rk = make_client(c, RD_KAFKA_PRODUCER, {}, error);
  if (!rk) return fail(error);
  rd_kafka_DeleteTopic_t* topic = rd_kafka_DeleteTopic_new(name.c_str());
  auto ev = run_admin(rk.get(), c, [&](rd_kafka_queue_t* q) { rd_kafka_DeleteTopics(rk.get(), &topic, 1, nullptr, q); });
  rd_kafka_DeleteTopic_destroy(topic);
  return report_topic_results(ev, deleted_topics, "deleted");
}

int topic_alter_config(const Common& c, const std::string& name, const std::map<std::string, std::string>& set,
                       const std::vector<std::string>& remove) {
  std::string error;
  Kafka rk = make_client(c, RD_KAFKA_PRODUCER, {}, error);
  if (!rk) return fail(error);
  // AlterConfigs replaces every override: start from the current ones.
  auto current = describe_topic_configs(rk.get(), c, name);
  if (!current) return fail(current.error());
  std::map<std::string, std::string> overrides;
  for (const ConfigValue& v : *current)
    if (v.source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG) overrides[v.name] = v.value;
  for (const auto& k : remove) overrides.erase(k);
  for (const auto& [k, v] : set) overrides[k] = v;

  rd_kafka_ConfigResource_t* res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name.c_str());
  for (const auto& [k, v] : overrides) rd_kafka_ConfigResource_set_config(res, k.c_str(), v.c_str());
  auto ev = run_admin(rk.get(), c, [&](rd_kafka_queue_t* q) { rd_kafka_AlterConfigs(rk.get(), &res, 1, nullptr, q); });
  rd_kafka_ConfigResource_destroy(res);
  if (!ev) return fail(ev.error());
  size_t n = 0;
  const rd_kafka_ConfigResource_t** rs =
      rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev->get()), &n);
  if (n == 1 && rd_kafka_ConfigResource_error(rs[0]))
    return fail(fmt::format("{}: {}", name, rd_kafka_ConfigResource_error_string(rs[0])));
  fmt::print("altered configs of topic {}\n", name);
  return 0;
}

int topic_list(const Common& c) {
  std::string error;
  Kafka rk = make_client(c, RD_KAFKA_PRODUCER, {}, error);
  if (!rk) return fail(error);
  const rd_kafka_metadata_t* md = fetch_metadata(rk.get(), c, nullptr, error);
  if (!md) return fail(error);
  std::vector<std::string> names;
  for (int i = 0; i < md->topic_cnt; ++i) names.emplace_back(md->topics[i].topic);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) fmt::print("{}\n", n);
  rd_kafka_metadata_destroy(md);
  return 0;
}

int topic_describe(const Common& c, const std::string& name) {
  std::string error;
  Kafka rk = make_client(c, RD_KAFKA_PRODUCER, {{"allow.auto.create.topics", "false"}}, error);
  if (!rk) return fail(error);
  // Offsets as read_uncommitted sees them (the log end is the high watermark) and as
  // read_committed does (the last stable offset, lower while a transaction is open).
  Kafka uncommitted = make_client(c, RD_KAFKA_CONSUMER, {{"isolation.level", "read_uncommitted"}}, error);
  Kafka committed = make_client(c, RD_KAFKA_CONSUMER, {{"isolation.level", "read_committed"}}, error);
  if (!uncommitted || !committed) return fail(error);
  auto md = topic_metadata(rk.get(), c, name);
  if (!md) return fail(md.error());
  const auto& tm = (*md)->topics[0];
  fmt::print("topic {}  partitions {}\n", tm.topic, tm.partition_cnt);
  auto ids = [](const int32_t* v, int n) { return n == 0 ? std::string("-") : fmt::format("{}", fmt::join(v, v + n, ",")); };
  for (int p = 0; p < tm.partition_cnt; ++p) {
    const auto& part = tm.partitions[p];
    std::string where = fmt::format("  partition {}  leader {}  replicas {}  isr {}", part.id,
                                    part.leader < 0 ? std::string("none") : std::to_string(part.leader),
                                    ids(part.replicas, part.replica_cnt), ids(part.isrs, part.isr_cnt));
    if (part.leader < 0) {  // offline: no broker to ask for offsets
      fmt::print("{}  offline\n", where);
      continue;
    }
    int64_t lo = -1, hi = -1, stable_lo = -1, stable = -1;
    rd_kafka_query_watermark_offsets(uncommitted.get(), name.c_str(), part.id, &lo, &hi, c.timeout_ms);
    rd_kafka_query_watermark_offsets(committed.get(), name.c_str(), part.id, &stable_lo, &stable, c.timeout_ms);
    fmt::print("{}  log start {}  log end {}{}\n", where, lo, hi,
               stable >= 0 && stable != hi ? fmt::format("  last stable {}", stable) : "");
  }
  md->reset();

  auto configs = describe_topic_configs(rk.get(), c, name);
  if (!configs) return fail(configs.error());
  fmt::print("configs:\n");
  // Where each value comes from: the topic's own override, the broker's configuration (its file,
  // --set, or a dynamic broker config), or Kafka's default (shown bare).
  auto source = [](const ConfigValue& v) -> std::string {
    switch (v.source) {
      case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG: return "  (topic)";
      case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG:
      case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG:
      case RD_KAFKA_CONFIG_SOURCE_STATIC_BROKER_CONFIG: return "  (broker)";
      default: return "";
    }
  };
  for (const ConfigValue& v : *configs) fmt::print("  {}={}{}\n", v.name, v.value, source(v));
  return 0;
}

}  // namespace fjord::client
