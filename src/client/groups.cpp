// The `fjord group` commands: list, describe (members, offsets, lag), delete, reset-offsets.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "client/client.h"
#include "client/rdkafka_helpers.h"

namespace fjord::client {
namespace {

// The partitions of the one result of a group operation, or why it failed for the group.
tl::expected<const rd_kafka_topic_partition_list_t*, std::string> group_result(const rd_kafka_group_result_t** results,
                                                                               size_t n, const std::string& group) {
  if (n != 1) return tl::unexpected(fmt::format("group {}: no result in the answer", group));
  if (const rd_kafka_error_t* e = rd_kafka_group_result_error(results[0]))
    return tl::unexpected(fmt::format("group {}: {}", group, rd_kafka_error_string(e)));
  return rd_kafka_group_result_partitions(results[0]);
}

std::string text_or(const char* s, const char* fallback) { return s && *s ? s : fallback; }

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
  // The log end is the high watermark (as Kafka's tool reads it, read_uncommitted), not the
  // last stable offset, which stays behind an open transaction and would make the lag too low.
  Kafka ends = make_client(c, RD_KAFKA_CONSUMER, {{"isolation.level", "read_uncommitted"}}, error);
  if (!ends) return fail(error);
  for (const auto& [tp, offset] : positions) {
    int64_t start = -1, end = -1;
    bool known = rd_kafka_query_watermark_offsets(ends.get(), tp.first.c_str(), tp.second, &start, &end,
                                                  c.timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR;
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

}  // namespace fjord::client
