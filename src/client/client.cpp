#include "client/client.h"

#include <librdkafka/rdkafka.h>

#include "tl/expected.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>

namespace fjord::client {
namespace {

std::atomic<bool> g_stop{false};

int fail(const std::string& message) {
  fmt::print(stderr, "error: {}\n", message);
  return 1;
}

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using Kafka = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

// A producer or consumer handle; nullptr (and `error` set) when the configuration is refused.
Kafka make_client(const Common& c, rd_kafka_type_t type, const std::map<std::string, std::string>& extra,
                  std::string& error, const std::function<void(rd_kafka_conf_t*)>& configure = nullptr) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (configure) configure(conf);
  char err[512];
  std::map<std::string, std::string> settings = {{"bootstrap.servers", c.brokers}, {"log_level", "0"}};
  for (const auto& [k, v] : extra) settings[k] = v;
  for (const auto& [k, v] : settings) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      error = err;
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (rk == nullptr) error = err;
  return Kafka(rk);
}

// Metadata for one topic (or all); the error names the broker when it cannot be reached.
const rd_kafka_metadata_t* fetch_metadata(rd_kafka_t* rk, const Common& c, rd_kafka_topic_t* topic, std::string& error) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, topic == nullptr, topic, &md, c.timeout_ms);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    error = e == RD_KAFKA_RESP_ERR__TRANSPORT || e == RD_KAFKA_RESP_ERR__TIMED_OUT
                ? fmt::format("cannot reach a broker at {} ({})", c.brokers, rd_kafka_err2str(e))
                : rd_kafka_err2str(e);
    return nullptr;
  }
  return md;
}

// Runs an admin operation and waits for its result event.
rd_kafka_event_t* wait_admin_result(rd_kafka_queue_t* q, int timeout_ms) {
  return rd_kafka_queue_poll(q, timeout_ms + 1000);
}

// Why an admin result event failed (or never came), or nullopt.
std::optional<std::string> admin_error(const Common& c, rd_kafka_event_t* ev) {
  if (ev == nullptr) return fmt::format("no answer from {} within {} ms", c.brokers, c.timeout_ms);
  if (rd_kafka_event_error(ev)) return std::string(rd_kafka_event_error_string(ev));
  return std::nullopt;
}

// Prints each topic's outcome of a CreateTopics/DeleteTopics event; returns the exit code.
using TopicResultsFn = const rd_kafka_topic_result_t** (*)(const rd_kafka_event_t*, size_t*);
int report_topic_results(const Common& c, rd_kafka_event_t* ev, TopicResultsFn results_of, const char* done) {
  if (auto err = admin_error(c, ev)) return fail(*err);
  int rc = 0;
  size_t n = 0;
  const rd_kafka_topic_result_t** results = results_of(ev, &n);
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
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_DescribeConfigs(rk, &res, 1, nullptr, q);
  rd_kafka_event_t* ev = wait_admin_result(q, c.timeout_ms);
  tl::expected<std::vector<ConfigValue>, std::string> out;
  if (auto err = admin_error(c, ev)) {
    out = tl::unexpected(*err);
  } else {
    size_t n = 0;
    const rd_kafka_ConfigResource_t** rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    if (n == 1 && rd_kafka_ConfigResource_error(rs[0])) {
      out = tl::unexpected(fmt::format("{}: {}", name, rd_kafka_ConfigResource_error_string(rs[0])));
    } else if (n == 1) {
      size_t cnt = 0;
      const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(rs[0], &cnt);
      for (size_t k = 0; k < cnt; ++k) {
        const char* v = rd_kafka_ConfigEntry_value(entries[k]);
        out->push_back({rd_kafka_ConfigEntry_name(entries[k]), v ? v : "",
                        rd_kafka_ConfigEntry_is_default(entries[k]) != 0, rd_kafka_ConfigEntry_source(entries[k])});
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_ConfigResource_destroy(res);
  rd_kafka_queue_destroy(q);
  return out;
}

std::string format_record(const std::string& fmt_str, const rd_kafka_message_t* m) {
  std::string out;
  for (size_t i = 0; i < fmt_str.size(); ++i) {
    char ch = fmt_str[i];
    if (ch == '\\' && i + 1 < fmt_str.size()) {
      char e = fmt_str[++i];
      out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      continue;
    }
    if (ch != '%' || i + 1 == fmt_str.size()) {
      out += ch;
      continue;
    }
    switch (fmt_str[++i]) {
      case 'k':
        if (m->key) out.append(static_cast<const char*>(m->key), m->key_len);
        break;
      case 'v':
        if (m->payload) out.append(static_cast<const char*>(m->payload), m->len);
        break;
      case 'p':
        out += std::to_string(m->partition);
        break;
      case 'o':
        out += std::to_string(m->offset);
        break;
      case 't': {
        rd_kafka_timestamp_type_t type;
        out += std::to_string(rd_kafka_message_timestamp(m, &type));
        break;
      }
      case 'h': {
        rd_kafka_headers_t* hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          const char* name;
          const void* value;
          size_t size;
          for (size_t k = 0; rd_kafka_header_get_all(hdrs, k, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++k) {
            if (k) out += ',';
            out += name;
            out += '=';
            if (value) out.append(static_cast<const char*>(value), size);
          }
        }
        break;
      }
      case '%':
        out += '%';
        break;
      default:
        out += '%';
        out += fmt_str[i];
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
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(opts, c.timeout_ms, err, sizeof(err));
  rd_kafka_CreateTopics(rk.get(), &topic, 1, opts, q);
  rd_kafka_event_t* ev = wait_admin_result(q, c.timeout_ms);
  int rc = report_topic_results(c, ev, created_topics, "created");
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy(topic);
  rd_kafka_queue_destroy(q);
  return rc;
}

int topic_delete(const Common& c, const std::string& name) {
  std::string error;
  Kafka rk = make_client(c, RD_KAFKA_PRODUCER, {}, error);
  if (!rk) return fail(error);
  rd_kafka_DeleteTopic_t* topic = rd_kafka_DeleteTopic_new(name.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  rd_kafka_DeleteTopics(rk.get(), &topic, 1, nullptr, q);
  rd_kafka_event_t* ev = wait_admin_result(q, c.timeout_ms);
  int rc = report_topic_results(c, ev, deleted_topics, "deleted");
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_DeleteTopic_destroy(topic);
  rd_kafka_queue_destroy(q);
  return rc;
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
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  rd_kafka_AlterConfigs(rk.get(), &res, 1, nullptr, q);
  rd_kafka_event_t* ev = wait_admin_result(q, c.timeout_ms);
  int rc = 0;
  if (auto err = admin_error(c, ev)) {
    rc = fail(*err);
  } else {
    size_t n = 0;
    const rd_kafka_ConfigResource_t** rs = rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
    if (n == 1 && rd_kafka_ConfigResource_error(rs[0])) {
      rc = fail(fmt::format("{}: {}", name, rd_kafka_ConfigResource_error_string(rs[0])));
    } else {
      fmt::print("altered configs of topic {}\n", name);
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_ConfigResource_destroy(res);
  rd_kafka_queue_destroy(q);
  return rc;
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
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk.get(), name.c_str(), nullptr);
  const rd_kafka_metadata_t* md = fetch_metadata(rk.get(), c, t, error);
  rd_kafka_topic_destroy(t);
  if (!md) return fail(error);
  if (md->topic_cnt != 1 || md->topics[0].err) {
    std::string why = md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found";
    rd_kafka_metadata_destroy(md);
    return fail(fmt::format("{}: {}", name, why));
  }
  const auto& tm = md->topics[0];
  fmt::print("topic {}  partitions {}\n", tm.topic, tm.partition_cnt);
  for (int p = 0; p < tm.partition_cnt; ++p) {
    int64_t lo = -1, hi = -1;
    rd_kafka_query_watermark_offsets(rk.get(), name.c_str(), tm.partitions[p].id, &lo, &hi, c.timeout_ms);
    fmt::print("  partition {}  leader {}  log start {}  log end {}\n", tm.partitions[p].id, tm.partitions[p].leader, lo, hi);
  }
  rd_kafka_metadata_destroy(md);

  auto configs = describe_topic_configs(rk.get(), c, name);
  if (!configs) return fail(configs.error());
  fmt::print("configs:\n");
  for (const ConfigValue& v : *configs) fmt::print("  {}={}{}\n", v.name, v.value, v.is_default ? "" : "  (set)");
  return 0;
}

struct DeliveryErrors {
  int64_t count = 0;
  std::string first;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
  auto* errors = static_cast<DeliveryErrors*>(opaque);
  if (errors->count++ == 0) errors->first = rd_kafka_err2str(m->err);
}

int produce(const Common& c, const ProduceOptions& o) {
  std::string error;
  DeliveryErrors delivery;
  Kafka rk = make_client(c, RD_KAFKA_PRODUCER,
                         {{"compression.type", o.compression}, {"acks", o.acks}, {"linger.ms", "5"},
                          {"message.timeout.ms", std::to_string(c.timeout_ms)}},
                         error, [&delivery](rd_kafka_conf_t* conf) {
                           rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
                           rd_kafka_conf_set_opaque(conf, &delivery);
                         });
  if (!rk) return fail(error);
  // Fail fast, with a clear line, when no broker answers.
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk.get(), o.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = fetch_metadata(rk.get(), c, t, error);
  rd_kafka_topic_destroy(t);
  if (!md) return fail(error);
  rd_kafka_metadata_destroy(md);

  std::string line;
  int64_t sent = 0;
  while (std::getline(std::cin, line)) {
    std::string key, value = line;
    bool has_key = false;
    if (o.key_separator) {
      size_t at = line.find(*o.key_separator);
      if (at != std::string::npos) {
        key = line.substr(0, at);
        value = line.substr(at + o.key_separator->size());
        has_key = true;
      }
    }
    rd_kafka_headers_t* hdrs = nullptr;
    if (!o.headers.empty()) {
      hdrs = rd_kafka_headers_new(o.headers.size());
      for (const auto& [hk, hv] : o.headers) rd_kafka_header_add(hdrs, hk.c_str(), -1, hv.data(), static_cast<ssize_t>(hv.size()));
    }
    for (;;) {
      rd_kafka_resp_err_t e = rd_kafka_producev(
          rk.get(), RD_KAFKA_V_TOPIC(o.topic.c_str()), RD_KAFKA_V_PARTITION(o.partition),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(value.data(), value.size()),
          RD_KAFKA_V_KEY(has_key ? key.data() : nullptr, has_key ? key.size() : 0), RD_KAFKA_V_HEADERS(hdrs),
          RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk.get(), 100);
        continue;
      }
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (hdrs) rd_kafka_headers_destroy(hdrs);
        return fail(fmt::format("cannot produce to {}: {}", o.topic, rd_kafka_err2str(e)));
      }
      break;
    }
    ++sent;
    rd_kafka_poll(rk.get(), 0);
  }
  rd_kafka_flush(rk.get(), c.timeout_ms);
  if (rd_kafka_outq_len(rk.get()) > 0) return fail(fmt::format("{} record(s) not delivered in time", rd_kafka_outq_len(rk.get())));
  if (delivery.count > 0)
    return fail(fmt::format("{} of {} record(s) not delivered: {}", delivery.count, sent, delivery.first));
  return 0;
}

int consume(const Common& c, const ConsumeOptions& o) {
  std::string error;
  // Partitions are assigned by hand and nothing is committed; librdkafka still wants a group id.
  Kafka rk = make_client(c, RD_KAFKA_CONSUMER, {{"enable.partition.eof", "true"}, {"enable.auto.commit", "false"},
                                               {"group.id", "fjord-cli"}},
                         error);
  if (!rk) return fail(error);
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk.get(), o.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = fetch_metadata(rk.get(), c, t, error);
  rd_kafka_topic_destroy(t);
  if (!md) return fail(error);
  if (md->topic_cnt != 1 || md->topics[0].err) {
    std::string why = md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found";
    rd_kafka_metadata_destroy(md);
    return fail(fmt::format("{}: {}", o.topic, why));
  }
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
  for (int p = 0; p < md->topics[0].partition_cnt; ++p) {
    int id = md->topics[0].partitions[p].id;
    if (o.partition >= 0 && id != o.partition) continue;
    auto* tp = rd_kafka_topic_partition_list_add(parts, o.topic.c_str(), id);
    switch (o.from) {
      case ConsumeOptions::From::Beginning: tp->offset = RD_KAFKA_OFFSET_BEGINNING; break;
      case ConsumeOptions::From::End: tp->offset = RD_KAFKA_OFFSET_END; break;
      case ConsumeOptions::From::Offset: tp->offset = o.position; break;
      case ConsumeOptions::From::Timestamp: tp->offset = o.position; break;
    }
  }
  rd_kafka_metadata_destroy(md);
  if (o.from == ConsumeOptions::From::Timestamp) {
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk.get(), parts, c.timeout_ms);
    if (e) {
      rd_kafka_topic_partition_list_destroy(parts);
      return fail(fmt::format("offsets for time {}: {}", o.position, rd_kafka_err2str(e)));
    }
    for (int i = 0; i < parts->cnt; ++i)
      if (parts->elems[i].offset < 0) parts->elems[i].offset = RD_KAFKA_OFFSET_END;
  }
  int partitions = parts->cnt;
  rd_kafka_assign(rk.get(), parts);
  rd_kafka_topic_partition_list_destroy(parts);

  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });
  int64_t seen = 0;
  int at_end = 0;
  int rc = 0;
  while (!g_stop && (o.count < 0 || seen < o.count)) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      rd_kafka_message_destroy(m);
      if (o.exit_at_end && ++at_end >= partitions) break;
      continue;
    }
    if (m->err) {
      rc = fail(rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      break;
    }
    std::string out = format_record(o.format, m);
    std::fwrite(out.data(), 1, out.size(), stdout);
    ++seen;
    rd_kafka_message_destroy(m);
  }
  std::fflush(stdout);
  rd_kafka_consumer_close(rk.get());
  return rc;
}

}  // namespace fjord::client
