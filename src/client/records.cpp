// `fjord produce` (lines from stdin) and `fjord consume` (records to stdout, by hand-assigned
// partitions or in a group).
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <set>

#include <fmt/format.h>

#include "client/client.h"
#include "client/rdkafka_helpers.h"

namespace fjord::client {
namespace {

std::atomic<bool> g_stop{false};

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

// Which assigned partitions the consumer has read to the end, for --exit-at-end.
struct Progress {
  bool assigned = false;  // a group's assignment comes late, and may be empty
  std::set<int32_t> partitions;
  std::set<int32_t> at_end;
  bool all_at_end() const {
    return assigned && std::includes(at_end.begin(), at_end.end(), partitions.begin(), partitions.end());
  }
};

// Takes the group's assignments as they come (the default, eager, protocol) and notes them.
void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* progress = static_cast<Progress*>(opaque);
  progress->assigned = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
  progress->partitions.clear();
  progress->at_end.clear();
  for (int i = 0; progress->assigned && i < parts->cnt; ++i) progress->partitions.insert(parts->elems[i].partition);
  rd_kafka_assign(rk, progress->assigned ? parts : nullptr);
}

// Assigns the partitions `o` names, from the position it asks for; returns their ids.
tl::expected<std::set<int32_t>, std::string> assign_partitions(rd_kafka_t* rk, const Common& c, const ConsumeOptions& o,
                                                               const rd_kafka_metadata_t* md) {
  auto ids = partition_ids(md, o.partition);
  if (!ids) return tl::unexpected(ids.error());
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(static_cast<int>(ids->size()));
  for (int32_t id : *ids) {
    auto* tp = rd_kafka_topic_partition_list_add(parts, o.topic.c_str(), id);
    switch (o.from) {
      case ConsumeOptions::From::Beginning: tp->offset = RD_KAFKA_OFFSET_BEGINNING; break;
      case ConsumeOptions::From::End: tp->offset = RD_KAFKA_OFFSET_END; break;
      case ConsumeOptions::From::Offset: tp->offset = o.position; break;
      case ConsumeOptions::From::Timestamp: break;
    }
  }
  if (o.from == ConsumeOptions::From::Timestamp) {
    if (auto err = offsets_at_time(rk, c, parts, o.position)) {
      rd_kafka_topic_partition_list_destroy(parts);
      return tl::unexpected(*err);
    }
    for (int i = 0; i < parts->cnt; ++i)
      if (parts->elems[i].offset < 0) parts->elems[i].offset = RD_KAFKA_OFFSET_END;
  }
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  return std::set<int32_t>(ids->begin(), ids->end());
}

std::optional<std::string> subscribe(rd_kafka_t* rk, const std::string& topic) {
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (e) return fmt::format("cannot subscribe to {}: {}", topic, rd_kafka_err2str(e));
  return std::nullopt;
}

struct DeliveryErrors {
  int64_t count = 0;
  std::string first;
  std::string last_client_error;  // librdkafka's error callback: why nothing gets through
};

void on_client_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto* errors = static_cast<DeliveryErrors*>(opaque);
  errors->last_client_error = fmt::format("{} ({})", reason ? reason : "", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
}

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
  auto* errors = static_cast<DeliveryErrors*>(opaque);
  if (errors->count++ == 0) errors->first = rd_kafka_err2str(m->err);
}

}  // namespace

int produce(const Common& c, const ProduceOptions& o) {
  std::string error;
  DeliveryErrors delivery;
  Kafka rk = make_client(c, RD_KAFKA_PRODUCER,
                         {{"compression.type", o.compression}, {"acks", o.acks}, {"linger.ms", "5"},
                          {"message.timeout.ms", std::to_string(c.timeout_ms)}},
                         error, [&delivery](rd_kafka_conf_t* conf) {
                           rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
                           rd_kafka_conf_set_error_cb(conf, on_client_error);
                           rd_kafka_conf_set_opaque(conf, &delivery);
                         });
  if (!rk) return fail(error);
  // Fail fast, with a clear line, when no broker answers.
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk.get(), o.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = fetch_metadata(rk.get(), c, t, error);
  rd_kafka_topic_destroy(t);
  if (!md) return fail(error);
  // What the broker says of the topic: a topic that does not exist (and is not created for the
  // producer) fails here with the broker's error, rather than as records not delivered in time.
  const rd_kafka_resp_err_t topic_error = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_NO_ERROR;
  rd_kafka_metadata_destroy(md);
  if (topic_error == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || topic_error == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
      topic_error == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION)
    return fail(fmt::format("cannot produce to {}: the broker answered {}: {}", o.topic, rd_kafka_err2name(topic_error),
                            rd_kafka_err2str(topic_error)));

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
  if (rd_kafka_outq_len(rk.get()) > 0)
    return fail(fmt::format("{} record(s) not delivered in time{}{}", rd_kafka_outq_len(rk.get()),
                            delivery.last_client_error.empty() ? "" : "; last error: ", delivery.last_client_error));
  if (delivery.count > 0)
    return fail(fmt::format("{} of {} record(s) not delivered: {}", delivery.count, sent, delivery.first));
  return 0;
}

int consume(const Common& c, const ConsumeOptions& o) {
  const bool in_group = !o.group.empty();
  if (in_group &&
      (o.partition >= 0 || o.from == ConsumeOptions::From::Offset || o.from == ConsumeOptions::From::Timestamp))
    return fail("a group consumer starts from the group's offsets: no --partition, --offset or --timestamp");
  std::map<std::string, std::string> settings = {{"enable.partition.eof", "true"}};
  if (in_group) {
    // Where the group has no offset yet; the synchronous commit at the end makes the next run resume exactly.
    settings.insert({{"group.id", o.group}, {"enable.auto.commit", "true"},
                     {"auto.offset.reset", o.from == ConsumeOptions::From::End ? "latest" : "earliest"}});
  } else {
    // Partitions are assigned by hand and nothing is committed; librdkafka still wants a group id.
    settings.insert({{"group.id", "fjord-cli"}, {"enable.auto.commit", "false"}});
  }
  std::string error;
  Progress progress;
  Kafka rk = make_client(c, RD_KAFKA_CONSUMER, settings, error, [&](rd_kafka_conf_t* conf) {
    if (!in_group) return;
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, &progress);
  });
  if (!rk) return fail(error);
  auto md = topic_metadata(rk.get(), c, o.topic);
  if (!md) return fail(md.error());
  if (in_group) {
    if (auto err = subscribe(rk.get(), o.topic)) return fail(*err);
  } else {
    auto assigned = assign_partitions(rk.get(), c, o, md->get());
    if (!assigned) return fail(assigned.error());
    progress.assigned = true;
    progress.partitions = std::move(*assigned);
  }
  md->reset();

  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });
  int64_t seen = 0;
  int rc = 0;
  while (!g_stop && (o.count < 0 || seen < o.count) && !(o.exit_at_end && progress.all_at_end())) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      progress.at_end.insert(m->partition);
      rd_kafka_message_destroy(m);
      continue;
    }
    if (m->err) {
      rc = fail(rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      break;
    }
    progress.at_end.erase(m->partition);
    std::string out = format_record(o.format, m);
    std::fwrite(out.data(), 1, out.size(), stdout);
    ++seen;
    rd_kafka_message_destroy(m);
  }
  std::fflush(stdout);
  if (in_group) {
    // The offsets of the records returned so far (stored as they were polled), now rather than at the next tick.
    rd_kafka_resp_err_t e = rd_kafka_commit(rk.get(), nullptr, 0);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET && rc == 0)
      rc = fail(fmt::format("cannot commit the offsets of group {}: {}", o.group, rd_kafka_err2str(e)));
  }
  rd_kafka_consumer_close(rk.get());
  return rc;
}

}  // namespace fjord::client
