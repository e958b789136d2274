// `fjord transaction list|describe` and `fjord producer describe`: ListTransactions,
// DescribeTransactions and DescribeProducers sent with Fjord's own codecs (librdkafka 2.0 has
// no API for them), to the bootstrap broker (on one node, the coordinator of everything).
#include <fmt/format.h>

#include <algorithm>

#include "client/client.h"
#include "client/rdkafka_helpers.h"
#include "client/wire.h"
#include "protocol/generated/describe_producers_request.h"
#include "protocol/generated/describe_producers_response.h"
#include "protocol/generated/describe_transactions_request.h"
#include "protocol/generated/describe_transactions_response.h"
#include "protocol/generated/error_codes.h"
#include "protocol/generated/list_transactions_request.h"
#include "protocol/generated/list_transactions_response.h"
#include "protocol/generated/metadata_request.h"
#include "protocol/generated/metadata_response.h"

namespace fjord::client {

namespace {
std::string error_name(int16_t code) {
  return std::string(protocol::error_name(static_cast<protocol::ErrorCode>(code)));
}
std::string time_or_dash(int64_t ms) { return ms < 0 ? "-" : fmt::format("{}", ms); }
}  // namespace

int transaction_list(const Common& c, const std::vector<std::string>& states) {
  auto conn = WireConnection::open(c.brokers, c.timeout_ms);
  if (!conn) return fail(conn.error());
  protocol::ListTransactionsRequest req;
  req.state_filters = states;
  auto resp = conn->call<protocol::ListTransactionsResponse>(req, 0);
  if (!resp) return fail(resp.error());
  if (resp->error_code != 0) return fail("listing transactions: " + error_name(resp->error_code));
  auto txns = resp->transaction_states;
  std::sort(txns.begin(), txns.end(), [](const auto& a, const auto& b) { return a.transactional_id < b.transactional_id; });
  std::vector<std::vector<std::string>> rows{{"TRANSACTIONAL ID", "PRODUCER ID", "STATE"}};
  for (const auto& t : txns) rows.push_back({t.transactional_id, std::to_string(t.producer_id), t.transaction_state});
  print_table(rows);
  return 0;
}

int transaction_describe(const Common& c, const std::string& transactional_id) {
  auto conn = WireConnection::open(c.brokers, c.timeout_ms);
  if (!conn) return fail(conn.error());
  protocol::DescribeTransactionsRequest req;
  req.transactional_ids = {transactional_id};
  auto resp = conn->call<protocol::DescribeTransactionsResponse>(req, 0);
  if (!resp) return fail(resp.error());
  if (resp->transaction_states.size() != 1) return fail("malformed DescribeTransactions response");
  const auto& t = resp->transaction_states[0];
  if (t.error_code != 0) return fail(fmt::format("transaction {}: {}", transactional_id, error_name(t.error_code)));
  fmt::print("transactional id: {}\nstate:            {}\nproducer:         id {} epoch {}\ntimeout:          {} ms\n"
             "started:          {}\n",
             t.transactional_id, t.transaction_state, t.producer_id, t.producer_epoch, t.transaction_timeout_ms,
             time_or_dash(t.transaction_start_time_ms));
  std::vector<std::vector<std::string>> rows{{"TOPIC", "PARTITION"}};
  for (const auto& topic : t.topics)
    for (int32_t p : topic.partitions) rows.push_back({topic.topic, std::to_string(p)});
  if (rows.size() > 1) print_table(rows);
  return 0;
}

int producer_describe(const Common& c, const std::string& topic, int partition) {
  auto conn = WireConnection::open(c.brokers, c.timeout_ms);
  if (!conn) return fail(conn.error());
  protocol::MetadataRequest md;
  md.topics.emplace().emplace_back().name = topic;
  md.allow_auto_topic_creation = false;
  auto meta = conn->call<protocol::MetadataResponse>(md, 4);
  if (!meta) return fail(meta.error());
  if (meta->topics.size() != 1 || meta->topics[0].error_code != 0)
    return fail(fmt::format("topic {}: {}", topic,
                            meta->topics.empty() ? "not found" : error_name(meta->topics[0].error_code)));
  protocol::DescribeProducersRequest req;
  auto& t = req.topics.emplace_back();
  t.name = topic;
  for (const auto& p : meta->topics[0].partitions)
    if (partition < 0 || p.partition_index == partition) t.partition_indexes.push_back(p.partition_index);
  if (t.partition_indexes.empty()) return fail(fmt::format("topic {} has no partition {}", topic, partition));
  std::sort(t.partition_indexes.begin(), t.partition_indexes.end());
  auto resp = conn->call<protocol::DescribeProducersResponse>(req, 0);
  if (!resp) return fail(resp.error());
  std::vector<std::vector<std::string>> rows{
      {"PARTITION", "PRODUCER ID", "EPOCH", "LAST SEQUENCE", "LAST TIMESTAMP", "TXN START OFFSET"}};
  int rc = 0;
  for (const auto& rt : resp->topics)
    for (const auto& p : rt.partitions) {
      if (p.error_code != 0) {
        rc = fail(fmt::format("{}-{}: {}", rt.name, p.partition_index, error_name(p.error_code)));
        continue;
      }
      for (const auto& s : p.active_producers)
        rows.push_back({std::to_string(p.partition_index), std::to_string(s.producer_id),
                        std::to_string(s.producer_epoch), std::to_string(s.last_sequence),
                        time_or_dash(s.last_timestamp), s.current_txn_start_offset < 0 ? "-" : std::to_string(s.current_txn_start_offset)});
    }
  print_table(rows);
  return rc;
}

}  // namespace fjord::client
