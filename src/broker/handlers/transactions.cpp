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

// Runs `start(coordinator, done)` on the coordinator of transactional id `id`: its answer, or
// the error finding it.
template <typename Start>
asio::awaitable<ErrorCode> txn_call(Broker& broker, const std::string& id, Start start) {
  auto home = co_await txn_home(broker, id);
  if (!home) co_return home.error();
  co_return co_await on_txn_coordinator<ErrorCode>(broker, home->shard, std::move(start));
}

// AddPartitionsToTxn and AddOffsetsToTxn.
asio::awaitable<ErrorCode> add_partitions(Broker& broker, const std::string& id, int64_t pid, int16_t epoch,
                                          std::vector<TopicPartition> partitions) {
  auto start = [id, pid, epoch, partitions](coordinator::TransactionCoordinator& c, std::function<void(ErrorCode)> done) {
    c.add_partitions(id, pid, epoch, partitions, std::move(done));
  };
  co_return co_await txn_call(broker, id, std::move(start));
}

}  // namespace

asio::awaitable<AddPartitionsToTxnResponse> handle_add_partitions_to_txn(RequestContext& ctx,
                                                                         AddPartitionsToTxnRequest& req) {
  Broker& broker = ctx.broker;
  const int16_t version = ctx.api_version();
  AddPartitionsToTxnResponse resp;
  auto image = broker.store.image();
  if (version >= 4) {
    // Batched, from brokers: verify_only asks whether partitions are in the producer's open
    // transaction (KIP-890); otherwise they are added.
    for (const auto& txn : req.transactions) {
      auto& rout = resp.results_by_transaction.emplace_back();
      rout.transactional_id = txn.transactional_id;
      std::vector<ErrorCode> verdicts;
      std::vector<TopicPartition> asked;
      for (const auto& t : txn.topics)
        for (int32_t p : t.partitions) asked.push_back({t.name, p});
      if (txn.verify_only) {
        auto home = co_await txn_home(broker, txn.transactional_id);
        if (!home) {
          verdicts.assign(asked.size(), home.error());
        } else {
          std::string id = txn.transactional_id;
          int64_t pid = txn.producer_id;
          int16_t epoch = txn.producer_epoch;
          auto start = [id, pid, epoch, asked](coordinator::TransactionCoordinator& c,
                                               std::function<void(std::vector<ErrorCode>)> done) {
            std::vector<ErrorCode> out;
            for (const TopicPartition& tp : asked) out.push_back(c.verify(id, pid, epoch, tp));
            done(std::move(out));
          };
          verdicts = co_await on_txn_coordinator<std::vector<ErrorCode>>(broker, home->shard, std::move(start));
        }
      } else {
        ErrorCode e = co_await add_partitions(broker, txn.transactional_id, txn.producer_id, txn.producer_epoch, asked);
        verdicts.assign(asked.size(), e);
      }
      size_t i = 0;
      for (const auto& t : txn.topics) {
        auto& tout = rout.topic_results.emplace_back();
        tout.name = t.name;
        for (int32_t p : t.partitions) {
          auto& pout = tout.results_by_partition.emplace_back();
          pout.partition_index = p;
          pout.partition_error_code = code(verdicts[i++]);
        }
      }
    }
    co_return resp;
  }
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
  if (!unknown)
    error = co_await add_partitions(broker, req.v3_and_below_transactional_id, req.v3_and_below_producer_id,
                                    req.v3_and_below_producer_epoch, std::move(partitions));
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
  // The group's partition, wherever its coordinator is.
  auto offsets = co_await ensure_offsets_topic(broker);
  if (!offsets) {
    resp.error_code = code(offsets.error());
    co_return resp;
  }
  std::vector<TopicPartition> partitions{
      {std::string(coordinator::kOffsetsTopic), coordinator::partition_for(req.group_id, *offsets)}};
  ErrorCode error =
      co_await add_partitions(broker, req.transactional_id, req.producer_id, req.producer_epoch, std::move(partitions));
  resp.error_code = fenced_for(error, ctx.api_version(), 2);
  co_return resp;
}

asio::awaitable<EndTxnResponse> handle_end_txn(RequestContext& ctx, EndTxnRequest& req) {
  Broker& broker = ctx.broker;
  EndTxnResponse resp;
  std::string id = req.transactional_id;
  int64_t pid = req.producer_id;
  int16_t epoch = req.producer_epoch;
  bool commit = req.committed;
  auto start = [id, pid, epoch, commit](coordinator::TransactionCoordinator& c, std::function<void(ErrorCode)> done) {
    c.end_txn(id, pid, epoch, commit, std::move(done));
  };
  ErrorCode error = co_await txn_call(broker, id, std::move(start));
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
  if (!group) {
    fail_all(code(group.error()));
    co_return resp;
  }
  // The group's partition must be in the producer's transaction (AddOffsetsToTxn), so that its
  // marker settles these offsets.
  TopicPartition offsets_partition{std::string(coordinator::kOffsetsTopic), group->partition};
  std::string id = req.transactional_id;
  int64_t pid = req.producer_id;
  int16_t epoch = req.producer_epoch;
  std::vector<TxnVerify> asks{{offsets_partition, pid, epoch}};
  ErrorCode verdict = (co_await verify_txn_partitions(broker, id, std::move(asks), false)).front();
  if (verdict == ErrorCode::INVALID_PRODUCER_EPOCH) verdict = ErrorCode::PRODUCER_FENCED;
  if (verdict != ErrorCode::NONE) {
    fail_all(fenced_for(verdict, ctx.api_version(), 3));
    co_return resp;
  }
  const TxnOffsetCommitRequest* request = &req;
  int32_t partition = group->partition;
  auto commit = [request, partition](coordinator::GroupCoordinator& c,
                                     std::function<void(TxnOffsetCommitResponse)> done) {
    c.txn_commit_offsets(partition, *request, std::move(done));
  };
  resp = co_await on_coordinator<TxnOffsetCommitResponse>(broker, group->shard, std::move(commit));
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
        if (auto e = leader_error(broker, *topic, p); e != ErrorCode::NONE) {
          pout.error_code = code(e);
          continue;
        }
        TopicPartition tp{t.name, p};
        TxnMarker marker{m.transaction_result, m.coordinator_epoch};
        int64_t pid = m.producer_id;
        int16_t epoch = m.producer_epoch;
        auto start = [tp, pid, epoch, marker, now](Broker& b, std::function<void(ErrorCode)> done) {
          write_marker(b, tp, pid, epoch, marker, now, std::move(done));
        };
        ErrorCode error =
            co_await call_coordinator<ErrorCode>(broker.shards.context(broker.shard_of(t.name, p)), &broker, std::move(start));
        pout.error_code = code(error);
      }
    }
  }
  co_return resp;
}

}  // namespace fjord::broker

namespace fjord::broker {
using namespace protocol;

namespace {
// The transactions of every shard's coordinator, gathered on the caller's shard.
asio::awaitable<std::vector<coordinator::TxnInfo>> all_transactions(Broker& broker) {
  std::vector<coordinator::TxnInfo> out;
  for (int shard = 0; shard < broker.shards.count(); ++shard) {
    auto* c = (*broker.txn_coordinators)[static_cast<size_t>(shard)].get();
    auto list = [c] { return c->list(); };
    auto part = co_await run_on(broker.shards.context(shard), std::move(list));
    out.insert(out.end(), part.begin(), part.end());
  }
  co_return out;
}
}  // namespace

asio::awaitable<DescribeTransactionsResponse> handle_describe_transactions(RequestContext& ctx,
                                                                           DescribeTransactionsRequest& req) {
  Broker& broker = ctx.broker;
  DescribeTransactionsResponse resp;
  for (const std::string& id : req.transactional_ids) {
    auto& out = resp.transaction_states.emplace_back();
    out.transactional_id = id;
    auto home = co_await txn_home(broker, id);
    if (!home) {
      out.error_code = code(home.error());
      continue;
    }
    const std::string* wanted = &id;
    auto* c = (*broker.txn_coordinators)[static_cast<size_t>(home->shard)].get();
    auto describe = [c, wanted] { return c->describe(*wanted); };
    auto info = co_await run_on(broker.shards.context(home->shard), std::move(describe));
    if (!info) {
      out.error_code = code(ErrorCode::TRANSACTIONAL_ID_NOT_FOUND);
      continue;
    }
    out.transaction_state = coordinator::txn_state_name(info->state);
    out.transaction_timeout_ms = info->timeout_ms;
    out.transaction_start_time_ms = info->start_ms;
    out.producer_id = info->producer_id;
    out.producer_epoch = info->producer_epoch;
    for (const auto& tp : info->partitions) {
      if (out.topics.empty() || out.topics.back().topic != tp.topic) out.topics.emplace_back().topic = tp.topic;
      out.topics.back().partitions.push_back(tp.partition);
    }
  }
  co_return resp;
}

asio::awaitable<ListTransactionsResponse> handle_list_transactions(RequestContext& ctx, ListTransactionsRequest& req) {
  ListTransactionsResponse resp;
  std::set<std::string> states;
  for (const std::string& s : req.state_filters) {
    bool known = false;
    for (int i = 0; i <= 7; ++i) known = known || s == coordinator::txn_state_name(static_cast<coordinator::TxnState>(i));
    if (known) states.insert(s);
    else resp.unknown_state_filters.push_back(s);
  }
  std::set<int64_t> producers(req.producer_id_filters.begin(), req.producer_id_filters.end());
  const int64_t now = now_ms();
  for (const coordinator::TxnInfo& t : co_await all_transactions(ctx.broker)) {
    const char* state = coordinator::txn_state_name(t.state);
    if (!req.state_filters.empty() && !states.contains(state)) continue;
    if (!producers.empty() && !producers.contains(t.producer_id)) continue;
    // v1 (KIP-994): only transactions open at least duration_filter ms.
    if (req.duration_filter >= 0 && (t.state != coordinator::TxnState::Ongoing || now - t.start_ms < req.duration_filter))
      continue;
    auto& out = resp.transaction_states.emplace_back();
    out.transactional_id = t.transactional_id;
    out.producer_id = t.producer_id;
    out.transaction_state = state;
  }
  co_return resp;
}

asio::awaitable<DescribeProducersResponse> handle_describe_producers(RequestContext& ctx,
                                                                     DescribeProducersRequest& req) {
  Broker& broker = ctx.broker;
  DescribeProducersResponse resp;
  auto image = broker.store.image();
  for (const auto& t : req.topics) {
    auto& tout = resp.topics.emplace_back();
    tout.name = t.name;
    const metadata::TopicInfo* topic = image->find(t.name);
    for (int32_t p : t.partition_indexes) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = p;
      if (!topic || p < 0 || p >= topic->partitions) {
        pout.error_code = code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
        continue;
      }
      if (auto e = leader_error(broker, *topic, p); e != ErrorCode::NONE) {
        pout.error_code = code(e);
        continue;
      }
      using Active = std::vector<DescribeProducersResponse::ProducerState>;
      auto read = [&broker, image, topic, p]() -> std::optional<Active> {
        storage::PartitionLog* log = partition_log(broker, *topic, p);
        if (!log) return std::nullopt;
        Active out;
        for (const auto& [id, e] : log->producer_state().producers()) {
          auto& s = out.emplace_back();
          s.producer_id = id;
          s.producer_epoch = e.epoch;
          s.last_sequence = e.last_seq();
          s.last_timestamp = e.last_timestamp();
          s.coordinator_epoch = e.coordinator_epoch;
          s.current_txn_start_offset = e.current_txn_first_offset;
        }
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.producer_id < b.producer_id; });
        return out;
      };
      auto active = co_await run_on(broker.shards.context(broker.shard_of(t.name, p)), std::move(read));
      if (!active) {
        pout.error_code = code(ErrorCode::KAFKA_STORAGE_ERROR);
        continue;
      }
      pout.active_producers = std::move(*active);
    }
  }
  co_return resp;
}

}  // namespace fjord::broker
