#include "client/rdkafka_helpers.h"

#include <algorithm>

#include <fmt/format.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

namespace fjord::client {

int fail(const std::string& message) {
  fmt::print(stderr, "error: {}\n", message);
  return 1;
}

Kafka make_client(const Common& c, rd_kafka_type_t type, const std::map<std::string, std::string>& extra,
                  std::string& error, const std::function<void(rd_kafka_conf_t*)>& configure) {
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

tl::expected<Metadata, std::string> topic_metadata(rd_kafka_t* rk, const Common& c, const std::string& name) {
  std::string error;
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk, name.c_str(), nullptr);
  Metadata md(fetch_metadata(rk, c, t, error));
  rd_kafka_topic_destroy(t);
  if (!md) return tl::unexpected(error);
  if (md->topic_cnt != 1 || md->topics[0].err)
    return tl::unexpected(
        fmt::format("{}: {}", name, md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found"));
  return md;
}

tl::expected<std::vector<int32_t>, std::string> partition_ids(const rd_kafka_metadata_t* md, int partition) {
  const auto& tm = md->topics[0];
  std::vector<int32_t> ids;
  for (int p = 0; p < tm.partition_cnt; ++p)
    if (partition < 0 || tm.partitions[p].id == partition) ids.push_back(tm.partitions[p].id);
  if (ids.empty()) return tl::unexpected(fmt::format("{}: no partition {}", tm.topic, partition));
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::optional<std::string> offsets_at_time(rd_kafka_t* rk, const Common& c, rd_kafka_topic_partition_list_t* parts,
                                           int64_t timestamp_ms) {
  for (int i = 0; i < parts->cnt; ++i) parts->elems[i].offset = timestamp_ms;
  rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, parts, c.timeout_ms);
  for (int i = 0; i < parts->cnt && !e; ++i) e = parts->elems[i].err;
  if (e) return fmt::format("offsets for time {}: {}", timestamp_ms, rd_kafka_err2str(e));
  return std::nullopt;
}

AdminOptions admin_options(rd_kafka_t* rk, const Common& c, rd_kafka_admin_op_t op) {
  AdminOptions opts(rd_kafka_AdminOptions_new(rk, op));
  char err[512];
  rd_kafka_AdminOptions_set_request_timeout(opts.get(), c.timeout_ms, err, sizeof(err));
  return opts;
}

tl::expected<Event, std::string> run_admin(rd_kafka_t* rk, const Common& c,
                                           const std::function<void(rd_kafka_queue_t*)>& send) {
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  send(q);
  Event ev(rd_kafka_queue_poll(q, c.timeout_ms + 1000));
  rd_kafka_queue_destroy(q);
  if (!ev) return tl::unexpected(fmt::format("no answer from {} within {} ms", c.brokers, c.timeout_ms));
  if (rd_kafka_event_error(ev.get())) return tl::unexpected(std::string(rd_kafka_event_error_string(ev.get())));
  return ev;
}

Kafka admin_client(const Common& c, std::string& error) {
#ifdef __SANITIZE_ADDRESS__
  // librdkafka 2.0.2's ListConsumerGroups keeps a reference to an object rd_kafka_new allocated, which then
  // outlives rd_kafka_destroy (176 bytes; one call from a plain C program shows it). LeakSanitizer skips what
  // this thread allocates in rd_kafka_new here; every other allocation stays checked.
  __lsan_disable();
#endif
  Kafka rk = make_client(c, RD_KAFKA_PRODUCER, {{"allow.auto.create.topics", "false"}}, error);
#ifdef __SANITIZE_ADDRESS__
  __lsan_enable();
#endif
  if (!rk) return rk;
  const rd_kafka_metadata_t* md = fetch_metadata(rk.get(), c, nullptr, error);
  if (!md) return nullptr;
  rd_kafka_metadata_destroy(md);
  return rk;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    fmt::print("{}\n", line);
  }
}

}  // namespace fjord::client
