// Transactions: AddPartitionsToTxn, AddOffsetsToTxn, EndTxn (to the transactional id's
// coordinator), TxnOffsetCommit (to the group's coordinator, once the transaction coordinator
// confirms the group is in the transaction) and WriteTxnMarkers (markers written straight to the
// partitions).
#include <spdlog/spdlog.h>

#include "broker/handlers/handlers.h"
#include "broker/partitions.h"
#include "broker/transactions.h"

namespace fjord::broker {
using namespace protocol;
using coordinator::TopicPartition;

namespace {

// Kafka answers PRODUCER_FENCED only to versions that know it (KIP-588); older ones get
// INVALID_PRODUCER_EPOCH.
int16_t fenced_for(ErrorCode e, int16_t version, int16_t first_version_with_fenced) {
  if (e == ErrorCode::PRODUCER_FENCED && version < first_version_with_fenced) return code(ErrorCode::INVALID_PRODUCER_EPOCH);
  return code(e);
}

}  // namespace

asio::awaitable<AddPartitionsToTxnResponse> handle_add_partitions_to_txn(RequestContext& ctx,
                                                                         AddPartitionsToTxnRequest& req) {
  Broker& broker = ctx.broker;
  const int16_t version = ctx.api_version();
  AddPartitionsToTxnResponse resp;
  auto image = broker.store.image();
  std::vector<TopicPartition> partitions;
  bool unknown = false;
  for (const auto& t : req.v3_and_below_topics) {
    const metadata::TopicInfo* topic = image->find(t.name);
    for (int32_t p : t.partitions) {
      if (!topic || p < 0 || p >= topic->partitions) unknown = true;
      partitions.push_back({t.name, p});
    }
  }
  ErrorCode error = ErrorCode::NONE;
  if (!unknown) {
    auto home = co_await txn_home(broker, req.v3_and_below_transactional_id);
    if (!home) {
      error = home.error();
    } else {
      std::string id = req.v3_and_below_transactional_id;
      int64_t pid = req.v3_and_below_producer_id;
      int16_t epoch = req.v3_and_below_producer_epoch;
      auto start = [id, pid, epoch, partitions](coordinator::TransactionCoordinator& c, std::function<void(ErrorCode)> done) {
        c.add_partitions(id, pid, epoch, partitions, std::move(done));
      };
      error = co_await on_txn_coordinator<ErrorCode>(broker, home->shard, std::move(start));
    }
  }
  // Kafka's answer: unknown partitions get UNKNOWN_TOPIC_OR_PARTITION and the others
  // OPERATION_NOT_ATTEMPTED; otherwise every partition gets the coordinator's answer.
  for (const auto& t : req.v3_and_below_topics) {
    const metadata::TopicInfo* topic = image->find(t.name);
    auto& tout = resp.results_by_topic_v3_and_below.emplace_back();
    tout.name = t.name;
    for (int32_t p : t.partitions) {
      auto& pout = tout.results_by_partition.emplace_back();
      pout.partition_index = p;
      if (unknown) {
        bool bad = !topic || p < 0 || p >= topic->partitions;
        pout.partition_error_code =
            code(bad ? ErrorCode::UNKNOWN_TOPIC_OR_PARTITION : ErrorCode::OPERATION_NOT_ATTEMPTED);
      } else {
        pout.partition_error_code = fenced_for(error, version, 2);
      }
    }
  }
  co_return resp;
}

asio::awaitable<AddOffsetsToTxnResponse> handle_add_offsets_to_txn(RequestContext& ctx, AddOffsetsToTxnRequest& req) {
  Broker& broker = ctx.broker;
  AddOffsetsToTxnResponse resp;
  auto group = co_await group_home(broker, req.group_id);
  if (!group) {
    resp.error_code = code(group.error());
    co_return resp;
  }
  auto home = co_await txn_home(broker, req.transactional_id);
  if (!home) {
    resp.error_code = code(home.error());
    co_return resp;
  }
  std::vector<TopicPartition> partitions{{std::string(coordinator::kOffsetsTopic), group->partition}};
  std::string id = req.transactional_id;
  int64_t pid = req.producer_id;
  int16_t epoch = req.producer_epoch;
  auto start2 = [id, pid, epoch, partitions](coordinator::TransactionCoordinator& c, std::function<void(ErrorCode)> done) {
    c.add_partitions(id, pid, epoch, partitions, std::move(done));
  };
  ErrorCode error = co_await on_txn_coordinator<ErrorCode>(broker, home->shard, std::move(start2));
  resp.error_code = fenced_for(error, ctx.api_version(), 2);
  co_return resp;
}

asio::awaitable<EndTxnResponse> handle_end_txn(RequestContext& ctx, EndTxnRequest& req) {
  Broker& broker = ctx.broker;
  EndTxnResponse resp;
  auto home = co_await txn_home(broker, req.transactional_id);
  if (!home) {
    resp.error_code = code(home.error());
    co_return resp;
  }
  std::string id = req.transactional_id;
  int64_t pid = req.producer_id;
  int16_t epoch = req.producer_epoch;
  bool commit = req.committed;
  auto start3 = [id, pid, epoch, commit](coordinator::TransactionCoordinator& c, std::function<void(ErrorCode)> done) {
    c.end_txn(id, pid, epoch, commit, std::move(done));
  };
  ErrorCode error = co_await on_txn_coordinator<ErrorCode>(broker, home->shard, std::move(start3));
  resp.error_code = fenced_for(error, ctx.api_version(), 2);
  co_return resp;
}

asio::awaitable<TxnOffsetCommitResponse> handle_txn_offset_commit(RequestContext& ctx, TxnOffsetCommitRequest& req) {
  Broker& broker = ctx.broker;
  TxnOffsetCommitResponse resp;
  auto fail_all = [&](int16_t error) {
    resp.topics.clear();
    for (const auto& t : req.topics) {
      auto& rt = resp.topics.emplace_back();
      rt.name = t.name;
      for (const auto& p : t.partitions) {
        auto& rp = rt.partitions.emplace_back();
        rp.partition_index = p.partition_index;
        rp.error_code = error;
      }
    }
  };
  auto group = co_await group_home(broker, req.group_id);
  auto txn = co_await txn_home(broker, req.transactional_id);
  if (!group || !txn) {
    fail_all(code(!group ? group.error() : txn.error()));
    co_return resp;
  }
  // The group's partition must be in the producer's transaction (AddOffsetsToTxn), so that its
  // marker settles these offsets.
  TopicPartition offsets_partition{std::string(coordinator::kOffsetsTopic), group->partition};
  std::string id = req.transactional_id;
  int64_t pid = req.producer_id;
  int16_t epoch = req.producer_epoch;
  auto start4 = [id, pid, epoch, offsets_partition](coordinator::TransactionCoordinator& c, std::function<void(ErrorCode)> done) {
    done(c.verify(id, pid, epoch, offsets_partition));
  };
  ErrorCode verdict = co_await on_txn_coordinator<ErrorCode>(broker, txn->shard, std::move(start4));
  if (verdict == ErrorCode::INVALID_PRODUCER_EPOCH) verdict = ErrorCode::PRODUCER_FENCED;
  if (verdict != ErrorCode::NONE) {
    fail_all(fenced_for(verdict, ctx.api_version(), 3));
    co_return resp;
  }
  const TxnOffsetCommitRequest* request = &req;
  int32_t partition = group->partition;
  auto start5 = [request, partition](coordinator::GroupCoordinator& c, std::function<void(TxnOffsetCommitResponse)> done) {
    c.txn_commit_offsets(partition, *request, std::move(done));
  };
  resp = co_await on_coordinator<TxnOffsetCommitResponse>(broker, group->shard, std::move(start5));
  for (auto& t : resp.topics)
    for (auto& p : t.partitions) p.error_code = fenced_for(static_cast<ErrorCode>(p.error_code), ctx.api_version(), 3);
  co_return resp;
}

asio::awaitable<WriteTxnMarkersResponse> handle_write_txn_markers(RequestContext& ctx, WriteTxnMarkersRequest& req) {
  // Sent by a transaction coordinator to the partitions' leader. On one node the coordinator
  // writes its markers itself; this serves tools and tests that send them.
  Broker& broker = ctx.broker;
  WriteTxnMarkersResponse resp;
  auto image = broker.store.image();
  const int64_t now = now_ms();
  for (const auto& m : req.markers) {
    auto& mout = resp.markers.emplace_back();
    mout.producer_id = m.producer_id;
    for (const auto& t : m.topics) {
      auto& tout = mout.topics.emplace_back();
      tout.name = t.name;
      const metadata::TopicInfo* topic = image->find(t.name);
      for (int32_t p : t.partition_indexes) {
        auto& pout = tout.partitions.emplace_back();
        pout.partition_index = p;
        if (!topic || p < 0 || p >= topic->partitions) {
          pout.error_code = code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
          continue;
        }
        TxnMarker marker{m.transaction_result, m.coordinator_epoch};
        int64_t pid = m.producer_id;
        int16_t epoch = m.producer_epoch;
        auto work = [&broker, image, topic, p, pid, epoch, marker, now]() -> std::pair<ErrorCode, int64_t> {
          storage::PartitionLog* log = partition_log(broker, *topic, p);
          if (!log) return {ErrorCode::KAFKA_STORAGE_ERROR, -1};
          auto r = log->append_marker(pid, epoch, marker, now);
          if (!r) return {r.error(), -1};
          return {ErrorCode::NONE, r->last_offset};
        };
        int shard = broker.shard_of(t.name, p);
        auto [error, last] = co_await run_on(broker.shards.context(shard), std::move(work));
        if (error == ErrorCode::NONE) {
          auto wait = [&broker, image, topic, p, last]() -> asio::awaitable<ErrorCode> {
            storage::PartitionLog* log = partition_log(broker, *topic, p);
            if (!log) co_return ErrorCode::KAFKA_STORAGE_ERROR;
            auto durable = co_await wait_durable_for(*log, last + 1, std::chrono::seconds(30));
            co_return durable && *durable ? ErrorCode::NONE : ErrorCode::KAFKA_STORAGE_ERROR;
          };
          error = co_await asio::co_spawn(broker.shards.context(shard), wait(), asio::use_awaitable);
        }
        pout.error_code = code(error);
      }
    }
  }
  co_return resp;
}

}  // namespace fjord::broker
