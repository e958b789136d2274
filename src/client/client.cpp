#include "client/client.h"

#include <librdkafka/rdkafka.h>

#include "tl/expected.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

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

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
};
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

// Metadata of one existing topic, in topics[0]; the error names the topic or the broker.
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

// The partition ids of the topic in `md`, or only `partition` when it is not -1.
tl::expected<std::vector<int32_t>, std::string> partition_ids(const rd_kafka_metadata_t* md, int partition) {
  const auto& tm = md->topics[0];
  std::vector<int32_t> ids;
  for (int p = 0; p < tm.partition_cnt; ++p)
    if (partition < 0 || tm.partitions[p].id == partition) ids.push_back(tm.partitions[p].id);
  if (ids.empty()) return tl::unexpected(fmt::format("{}: no partition {}", tm.topic, partition));
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Replaces each partition's offset in `parts` by its first offset at or after `timestamp_ms`, -1
// where no record is that recent.
std::optional<std::string> offsets_at_time(rd_kafka_t* rk, const Common& c, rd_kafka_topic_partition_list_t* parts,
                                           int64_t timestamp_ms) {
  for (int i = 0; i < parts->cnt; ++i) parts->elems[i].offset = timestamp_ms;
  rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, parts, c.timeout_ms);
  for (int i = 0; i < parts->cnt && !e; ++i) e = parts->elems[i].err;
  if (e) return fmt::format("offsets for time {}: {}", timestamp_ms, rd_kafka_err2str(e));
  return std::nullopt;
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

struct EventDeleter {
  void operator()(rd_kafka_event_t* ev) const { rd_kafka_event_destroy(ev); }
};
using Event = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
using AdminOptions = std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter>;

// Options for one admin operation, which the broker must answer within the command's timeout.
AdminOptions admin_options(rd_kafka_t* rk, const Common& c, rd_kafka_admin_op_t op) {
  AdminOptions opts(rd_kafka_AdminOptions_new(rk, op));
  char err[512];
  rd_kafka_AdminOptions_set_request_timeout(opts.get(), c.timeout_ms, err, sizeof(err));
  return opts;
}

// Issues the admin operation `send` starts on the queue it is given, and waits for its result.
tl::expected<Event, std::string> run_admin(rd_kafka_t* rk, const Common& c,
                                           const std::function<void(rd_kafka_queue_t*)>& send) {
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  send(q);
  Event ev(wait_admin_result(q, c.timeout_ms));
  rd_kafka_queue_destroy(q);
  if (auto err = admin_error(c, ev.get())) return tl::unexpected(*err);
  return ev;
}

// A handle for group admin operations whose broker answered, so that later errors are the operations' own.
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

// Prints rows as columns two spaces apart, each as wide as its widest cell.
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

// The partitions of the one result of a group operation, or why it failed for the group.
tl::expected<const rd_kafka_topic_partition_list_t*, std::string> group_result(const rd_kafka_group_result_t** results,
                                                                               size_t n, const std::string& group) {
  if (n != 1) return tl::unexpected(fmt::format("group {}: no result in the answer", group));
  if (const rd_kafka_error_t* e = rd_kafka_group_result_error(results[0]))
    return tl::unexpected(fmt::format("group {}: {}", group, rd_kafka_error_string(e)));
  return rd_kafka_group_result_partitions(results[0]);
}

std::string text_or(const char* s, const char* fallback) { return s && *s ? s : fallback; }

using TopicPartition = std::pair<std::string, int32_t>;

struct GroupMember {
  std::string id, instance_id, client_id, host;
  std::vector<TopicPartition> partitions;
};

struct GroupDescription {
  std::string state, assignor, coordinator;
  std::vector<GroupMember> members;
};

// Every group the cluster lists, with its state; only those in `states` unless empty.
tl::expected<std::vector<std::vector<std::string>>, std::string> list_groups(
    rd_kafka_t* rk, const Common& c, const std::set<rd_kafka_consumer_group_state_t>& states) {
  AdminOptions opts = admin_options(rk, c, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
  if (!states.empty()) {
    std::vector<rd_kafka_consumer_group_state_t> codes(states.begin(), states.end());
    if (rd_kafka_error_t* e =
            rd_kafka_AdminOptions_set_match_consumer_group_states(opts.get(), codes.data(), codes.size())) {
      std::string why = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      return tl::unexpected(why);
    }
  }
  auto ev = run_admin(rk, c, [&](rd_kafka_queue_t* q) { rd_kafka_ListConsumerGroups(rk, opts.get(), q); });
  if (!ev) return tl::unexpected(ev.error());
  const rd_kafka_ListConsumerGroups_result_t* result = rd_kafka_event_ListConsumerGroups_result(ev->get());
  size_t n = 0;
  // A broker that did not answer would leave its groups out.
  const rd_kafka_error_t** errors = rd_kafka_ListConsumerGroups_result_errors(result, &n);
  if (n > 0 && rd_kafka_error_code(errors[0]) == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE)
    return tl::unexpected(
        fmt::format("{} does not support consumer groups ({})", c.brokers, rd_kafka_error_string(errors[0])));
  if (n > 0) return tl::unexpected(std::string(rd_kafka_error_string(errors[0])));
  const rd_kafka_ConsumerGroupListing_t** groups = rd_kafka_ListConsumerGroups_result_valid(result, &n);
  std::vector<std::vector<std::string>> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back({rd_kafka_ConsumerGroupListing_group_id(groups[i]),
                   rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(groups[i]))});
  std::sort(out.begin(), out.end());
  return out;
}

// A handle for requests to group coordinators. librdkafka 2.0.2 corrupts its state (then hangs in
// rd_kafka_destroy or aborts) when a broker does not support such a request (upstream issue 4605);
// ListGroups, sent to every broker, fails cleanly, so a broker without groups is caught by asking it first.
Kafka group_admin_client(const Common& c, std::string& error) {
  Kafka rk = admin_client(c, error);
  if (!rk) return rk;
  if (auto groups = list_groups(rk.get(), c, {}); !groups) {
    error = groups.error();
    return nullptr;
  }
  return rk;
}

tl::expected<GroupDescription, std::string> describe_group(rd_kafka_t* rk, const Common& c, const std::string& group) {
  AdminOptions opts = admin_options(rk, c, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
  const char* name = group.c_str();
  auto ev =
      run_admin(rk, c, [&](rd_kafka_queue_t* q) { rd_kafka_DescribeConsumerGroups(rk, &name, 1, opts.get(), q); });
  if (!ev) return tl::unexpected(ev.error());
  size_t n = 0;
  const rd_kafka_ConsumerGroupDescription_t** groups =
      rd_kafka_DescribeConsumerGroups_result_groups(rd_kafka_event_DescribeConsumerGroups_result(ev->get()), &n);
  if (n != 1) return tl::unexpected(fmt::format("group {}: no description in the answer", group));
  const rd_kafka_ConsumerGroupDescription_t* g = groups[0];
  if (const rd_kafka_error_t* e = rd_kafka_ConsumerGroupDescription_error(g))
    return tl::unexpected(fmt::format("group {}: {}", group, rd_kafka_error_string(e)));
  GroupDescription out;
  out.state = rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(g));
  out.assignor = text_or(rd_kafka_ConsumerGroupDescription_partition_assignor(g), "-");
  const rd_kafka_Node_t* node = rd_kafka_ConsumerGroupDescription_coordinator(g);
  out.coordinator =
      node ? fmt::format("{} ({}:{})", rd_kafka_Node_id(node), rd_kafka_Node_host(node), rd_kafka_Node_port(node))
           : "-";
  for (size_t i = 0; i < rd_kafka_ConsumerGroupDescription_member_count(g); ++i) {
    const rd_kafka_MemberDescription_t* m = rd_kafka_ConsumerGroupDescription_member(g, i);
    GroupMember member{text_or(rd_kafka_MemberDescription_consumer_id(m), "-"),
                       text_or(rd_kafka_MemberDescription_group_instance_id(m), ""),
                       text_or(rd_kafka_MemberDescription_client_id(m), "-"),
                       text_or(rd_kafka_MemberDescription_host(m), "-"),
                       {}};
    const rd_kafka_MemberAssignment_t* assignment = rd_kafka_MemberDescription_assignment(m);
    const rd_kafka_topic_partition_list_t* parts =
        assignment ? rd_kafka_MemberAssignment_partitions(assignment) : nullptr;
    for (int k = 0; parts && k < parts->cnt; ++k)
      member.partitions.emplace_back(parts->elems[k].topic, parts->elems[k].partition);
    std::sort(member.partitions.begin(), member.partitions.end());
    out.members.push_back(std::move(member));
  }
  return out;
}

// The group's committed offset of every partition that has one.
tl::expected<std::map<TopicPartition, int64_t>, std::string> committed_offsets(rd_kafka_t* rk, const Common& c,
                                                                              const std::string& group) {
  // Every partition by name: librdkafka 2.0.2 asks for "all" in a way that brokers without OffsetFetch v6+ answer
  // with nothing (fixed upstream in 2.2.1).
  std::string error;
  Metadata md(fetch_metadata(rk, c, nullptr, error));
  if (!md) return tl::unexpected(error);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(0);
  for (int t = 0; t < md->topic_cnt; ++t)
    for (int p = 0; p < md->topics[t].partition_cnt; ++p)
      rd_kafka_topic_partition_list_add(parts, md->topics[t].topic, md->topics[t].partitions[p].id);
  md.reset();
  std::map<TopicPartition, int64_t> out;
  if (parts->cnt == 0) {  // no topics, so no offsets (and librdkafka refuses an empty list)
    rd_kafka_topic_partition_list_destroy(parts);
    return out;
  }
  AdminOptions opts = admin_options(rk, c, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
  rd_kafka_ListConsumerGroupOffsets_t* request = rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), parts);
  rd_kafka_topic_partition_list_destroy(parts);
  auto ev =
      run_admin(rk, c, [&](rd_kafka_queue_t* q) { rd_kafka_ListConsumerGroupOffsets(rk, &request, 1, opts.get(), q); });
  rd_kafka_ListConsumerGroupOffsets_destroy(request);
  if (!ev) return tl::unexpected(ev.error());
  size_t n = 0;
  const rd_kafka_group_result_t** results =
      rd_kafka_ListConsumerGroupOffsets_result_groups(rd_kafka_event_ListConsumerGroupOffsets_result(ev->get()), &n);
  auto committed = group_result(results, n, group);
  if (!committed) return tl::unexpected(committed.error());
  for (int i = 0; *committed && i < (*committed)->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = (*committed)->elems[i];
    if (tp.err) return tl::unexpected(fmt::format("{}-{}: {}", tp.topic, tp.partition, rd_kafka_err2str(tp.err)));
    if (tp.offset >= 0) out[{tp.topic, tp.partition}] = tp.offset;
  }
  return out;
}

// The offset each partition moves to.
tl::expected<std::map<int32_t, int64_t>, std::string> reset_targets(rd_kafka_t* rk, const Common& c,
                                                                     const ResetOffsetsOptions& o,
                                                                     const std::vector<int32_t>& ids) {
  std::map<int32_t, int64_t> at_time;
  if (o.to == ResetOffsetsOptions::To::Time) {
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(static_cast<int>(ids.size()));
    for (int32_t id : ids) rd_kafka_topic_partition_list_add(parts, o.topic.c_str(), id);
    auto err = offsets_at_time(rk, c, parts, o.position);
    for (int i = 0; i < parts->cnt; ++i) at_time[parts->elems[i].partition] = parts->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(parts);
    if (err) return tl::unexpected(*err);
  }
  std::map<int32_t, int64_t> out;
  for (int32_t id : ids) {
    int64_t start = -1, end = -1;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, o.topic.c_str(), id, &start, &end, c.timeout_ms);
    if (e)
      return tl::unexpected(
          fmt::format("{}-{}: cannot read its log start and end: {}", o.topic, id, rd_kafka_err2str(e)));
    switch (o.to) {
      case ResetOffsetsOptions::To::Earliest: out[id] = start; break;
      case ResetOffsetsOptions::To::Latest: out[id] = end; break;
      case ResetOffsetsOptions::To::Offset: out[id] = std::clamp(o.position, start, end); break;
      // No record that recent: the log end, as Kafka's tool does.
      case ResetOffsetsOptions::To::Time: out[id] = at_time[id] >= 0 ? at_time[id] : end; break;
    }
  }
  return out;
}

// Why the broker refused an offset commit for a partition; it refuses admin commits while the group has members.
std::string commit_refusal(const std::string& group, const rd_kafka_topic_partition_t& tp) {
  std::string why = fmt::format("{}-{}: {}", tp.topic, tp.partition, rd_kafka_err2str(tp.err));
  switch (tp.err) {
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
      return fmt::format("group {} has active members: stop its consumers before resetting its offsets ({})", group,
                         why);
    default:
      return why;
  }
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
  auto md = topic_metadata(rk.get(), c, name);
  if (!md) return fail(md.error());
  const auto& tm = (*md)->topics[0];
  fmt::print("topic {}  partitions {}\n", tm.topic, tm.partition_cnt);
  for (int p = 0; p < tm.partition_cnt; ++p) {
    int64_t lo = -1, hi = -1;
    rd_kafka_query_watermark_offsets(rk.get(), name.c_str(), tm.partitions[p].id, &lo, &hi, c.timeout_ms);
    fmt::print("  partition {}  leader {}  log start {}  log end {}\n", tm.partitions[p].id, tm.partitions[p].leader, lo, hi);
  }
  md->reset();

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

int group_list(const Common& c, const std::vector<std::string>& states) {
  std::set<rd_kafka_consumer_group_state_t> wanted;
  for (const std::string& s : states) {
    rd_kafka_consumer_group_state_t code = rd_kafka_consumer_group_state_code(s.c_str());
    if (code == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN) return fail(fmt::format("unknown group state '{}'", s));
    wanted.insert(code);
  }
  std::string error;
  Kafka rk = admin_client(c, error);
  if (!rk) return fail(error);
  auto groups = list_groups(rk.get(), c, wanted);
  if (!groups) return fail(groups.error());
  print_table(*groups);
  return 0;
}

int group_describe(const Common& c, const std::string& group) {
  std::string error;
  Kafka rk = group_admin_client(c, error);
  if (!rk) return fail(error);
  auto desc = describe_group(rk.get(), c, group);
  if (!desc) return fail(desc.error());
  auto committed = committed_offsets(rk.get(), c, group);
  if (!committed) return fail(committed.error());
  // Kafka describes an unknown group as Dead and without members.
  if (desc->state == "Dead" && desc->members.empty() && committed->empty())
    return fail(fmt::format("group {} does not exist", group));

  std::map<TopicPartition, std::string> owner;
  fmt::print("group {}  state {}  protocol {}  coordinator {}  members {}\n", group, desc->state, desc->assignor,
             desc->coordinator, desc->members.size());
  for (const GroupMember& m : desc->members) {
    std::string assigned;
    std::string last_topic;  // partitions as topic(0,1,2), per topic
    for (const auto& [topic, partition] : m.partitions) {
      owner[{topic, partition}] = m.id;
      if (topic != last_topic) {
        if (!last_topic.empty()) assigned += ") ";
        assigned += topic + "(";
        last_topic = topic;
      } else {
        assigned += ",";
      }
      assigned += std::to_string(partition);
    }
    if (!last_topic.empty()) assigned += ")";
    fmt::print("  member {}{}  client {}  host {}  partitions {}\n", m.id,
               m.instance_id.empty() ? "" : "  instance " + m.instance_id, m.client_id, m.host,
               assigned.empty() ? "-" : assigned);
  }

  // Committed partitions, and assigned ones that have no offset yet.
  std::map<TopicPartition, int64_t> positions = *committed;
  for (const auto& [tp, member] : owner) positions.try_emplace(tp, -1);
  std::vector<std::vector<std::string>> rows = {
      {"TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID"}};
  for (const auto& [tp, offset] : positions) {
    int64_t start = -1, end = -1;
    bool known = rd_kafka_query_watermark_offsets(rk.get(), tp.first.c_str(), tp.second, &start, &end, c.timeout_ms) ==
                 RD_KAFKA_RESP_ERR_NO_ERROR;
    auto it = owner.find(tp);
    rows.push_back({tp.first, std::to_string(tp.second), offset >= 0 ? std::to_string(offset) : "-",
                    known ? std::to_string(end) : "-", offset >= 0 && known ? std::to_string(end - offset) : "-",
                    it == owner.end() ? "-" : it->second});
  }
  print_table(rows);
  return 0;
}

int group_delete(const Common& c, const std::string& group) {
  std::string error;
  Kafka rk = group_admin_client(c, error);
  if (!rk) return fail(error);
  AdminOptions opts = admin_options(rk.get(), c, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
  rd_kafka_DeleteGroup_t* request = rd_kafka_DeleteGroup_new(group.c_str());
  auto ev =
      run_admin(rk.get(), c, [&](rd_kafka_queue_t* q) { rd_kafka_DeleteGroups(rk.get(), &request, 1, opts.get(), q); });
  rd_kafka_DeleteGroup_destroy(request);
  if (!ev) return fail(ev.error());
  size_t n = 0;
  const rd_kafka_group_result_t** results =
      rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev->get()), &n);
  if (auto result = group_result(results, n, group); !result) return fail(result.error());
  fmt::print("deleted group {}\n", group);
  return 0;
}

int group_reset_offsets(const Common& c, const ResetOffsetsOptions& o) {
  std::string error;
  Kafka rk = o.dry_run ? make_client(c, RD_KAFKA_PRODUCER, {{"allow.auto.create.topics", "false"}}, error)
                       : group_admin_client(c, error);
  if (!rk) return fail(error);
  auto md = topic_metadata(rk.get(), c, o.topic);
  if (!md) return fail(md.error());
  auto ids = partition_ids(md->get(), o.partition);
  if (!ids) return fail(ids.error());
  md->reset();
  auto targets = reset_targets(rk.get(), c, o, *ids);
  if (!targets) return fail(targets.error());

  if (!o.dry_run) {
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(static_cast<int>(targets->size()));
    for (const auto& [id, offset] : *targets)
      rd_kafka_topic_partition_list_add(parts, o.topic.c_str(), id)->offset = offset;
    rd_kafka_AlterConsumerGroupOffsets_t* request = rd_kafka_AlterConsumerGroupOffsets_new(o.group.c_str(), parts);
    rd_kafka_topic_partition_list_destroy(parts);
    AdminOptions opts = admin_options(rk.get(), c, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    auto ev = run_admin(rk.get(), c, [&](rd_kafka_queue_t* q) {
      rd_kafka_AlterConsumerGroupOffsets(rk.get(), &request, 1, opts.get(), q);
    });
    rd_kafka_AlterConsumerGroupOffsets_destroy(request);
    if (!ev) return fail(ev.error());
    size_t n = 0;
    const rd_kafka_group_result_t** results = rd_kafka_AlterConsumerGroupOffsets_result_groups(
        rd_kafka_event_AlterConsumerGroupOffsets_result(ev->get()), &n);
    auto committed = group_result(results, n, o.group);
    if (!committed) return fail(committed.error());
    for (int i = 0; *committed && i < (*committed)->cnt; ++i)
      if ((*committed)->elems[i].err) return fail(commit_refusal(o.group, (*committed)->elems[i]));
  }
  std::vector<std::vector<std::string>> rows = {{"TOPIC", "PARTITION", "NEW-OFFSET"}};
  for (const auto& [id, offset] : *targets) rows.push_back({o.topic, std::to_string(id), std::to_string(offset)});
  print_table(rows);
  return 0;
}

std::optional<int64_t> parse_time_ms(const std::string& text) {
  const char* const end = text.data() + text.size();
  int64_t epoch_ms = 0;
  if (auto [at, ec] = std::from_chars(text.data(), end, epoch_ms); ec == std::errc() && at == end)
    return epoch_ms >= 0 ? std::optional<int64_t>(epoch_ms) : std::nullopt;

  size_t at = 0;
  auto digits = [&](size_t count, int& out) {
    out = 0;
    for (size_t i = 0; i < count; ++i, ++at) {
      if (at >= text.size() || text[at] < '0' || text[at] > '9') return false;
      out = out * 10 + (text[at] - '0');
    }
    return true;
  };
  auto literal = [&](std::string_view options) {
    if (at >= text.size() || options.find(text[at]) == std::string_view::npos) return false;
    ++at;
    return true;
  };
  int year, month, day, hour, minute, second = 0, millis = 0;
  if (!(digits(4, year) && literal("-") && digits(2, month) && literal("-") && digits(2, day) && literal("T ") &&
        digits(2, hour) && literal(":") && digits(2, minute)))
    return std::nullopt;
  if (literal(":") && !digits(2, second)) return std::nullopt;
  if (literal(".")) {
    size_t first = at;
    for (int scale = 100; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, scale /= 10)
      millis += (text[at] - '0') * scale;
    if (at == first) return std::nullopt;
  }
  int offset_minutes = 0;
  if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int sign = text[at++] == '+' ? 1 : -1, zone_hours, zone_minutes;
    if (!digits(2, zone_hours)) return std::nullopt;
    literal(":");  // +HH:MM or +HHMM
    if (!digits(2, zone_minutes) || zone_hours > 23 || zone_minutes > 59) return std::nullopt;
    offset_minutes = sign * (zone_hours * 60 + zone_minutes);
  } else if (!literal("Z")) {
    if (text.compare(at, std::string::npos, " UTC") == 0 || text.compare(at, std::string::npos, "UTC") == 0)
      at = text.size();
  }
  using namespace std::chrono;
  year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                      std::chrono::day{static_cast<unsigned>(day)}};
  if (at != text.size() || !date.ok() || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  auto t = sys_days{date} + hours{hour} + minutes{minute - offset_minutes} + seconds{second} + milliseconds{millis};
  return t.time_since_epoch().count();
}

}  // namespace fjord::client

