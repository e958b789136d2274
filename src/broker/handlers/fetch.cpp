// Fetch: finds the data on each partition's shard (one hop per shard) and sends it with
// sendfile, long-polls on appends when fewer than min_bytes are ready, and keeps incremental
// fetch sessions (KIP-227).
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>

#include "broker/handlers/handlers.h"
#include "broker/partitions.h"
#include "broker/replication.h"

namespace fjord::broker {
using namespace protocol;

namespace {

struct PartitionRead {
  FetchResponse::PartitionData* out;
  const metadata::TopicInfo* topic;
  int32_t partition;
  int64_t offset;
  int32_t max_bytes;
  int32_t leader_epoch;  // the fetcher's current leader epoch (-1: not said)
};

struct ShardBatch {
  std::vector<PartitionRead*> reads;
};

// Runs on one shard: reads its partitions, in request order, within `*budget` bytes. With
// `committed` (isolation.level=read_committed), only up to the last stable offset, and with the
// aborted transactions there.
// A follower's fetch (`replica` >= 0) first tells the leader's replication how far the follower is,
// then reads past the high watermark, up to the log end.
void read_on_owner(Broker& broker, const std::vector<PartitionRead*>& reads, int64_t* budget, bool* any_bytes,
                   bool committed, int32_t replica) {
  for (PartitionRead* r : reads) {
    auto& out = *r->out;
    if (auto e = replication_leader_error(broker, r->topic->name, r->partition); e != ErrorCode::NONE) {
      out.error_code = code(e);
      continue;
    }
    storage::PartitionLog* log = partition_log(broker, *r->topic, r->partition);
    if (log == nullptr) {
      out.error_code = code(ErrorCode::KAFKA_STORAGE_ERROR);
      continue;
    }
    if (replica >= 0) {
      ErrorCode e = ErrorCode::NOT_LEADER_OR_FOLLOWER;
      if (ShardReplication* repl = broker.replication_of(broker.shard_of(r->topic->name, r->partition)))
        e = repl->follower_fetched(r->topic->name, r->partition, replica, r->leader_epoch, r->offset, now_ms());
      if (e != ErrorCode::NONE) {
        out.error_code = code(e);
        continue;
      }
    }
    out.high_watermark = log->high_watermark();
    out.last_stable_offset = log->last_stable_offset();
    out.log_start_offset = log->log_start_offset();
    // Kafka sends null aborted transactions to read_uncommitted consumers.
    out.aborted_transactions = std::nullopt;
    uint64_t limit = static_cast<uint64_t>(std::max<int64_t>(0, std::min<int64_t>(r->max_bytes, *budget)));
    // Kafka (KIP-74): the first partition with data returns at least one whole batch, even past
    // the limits, so a consumer never stalls on a big batch.
    auto data = replica >= 0 ? log->read_for_replica(r->offset, limit)
                             : log->read(r->offset, limit, !*any_bytes, true, committed ? out.last_stable_offset : INT64_MAX);
    if (!data) {
      out.error_code = code(data.error());
      continue;
    }
    if (committed && replica < 0) {
      auto& aborted = out.aborted_transactions.emplace();
      if (data->bytes > 0) {
        for (const storage::AbortedTxn& t : log->aborted_transactions(r->offset, out.last_stable_offset))
          aborted.push_back({t.producer_id, t.first_offset});
      }
    }
    out.error_code = 0;
    out.records = Records(Bytes{});
    // The log's bytes go out with sendfile: nothing is copied here.
    for (const auto& range : data->ranges)
      out.records.add_slice(FileSlice{range.file->fd(), range.position, range.length, range.file});
    if (data->bytes > 0) {
      *budget -= static_cast<int64_t>(data->bytes);
      *any_bytes = true;
    }
  }
}

// Registers a one-shot append listener on every partition of `reads`; true if any of them has
// data past its fetch offset already (an append raced the read).
bool listen_on_owner(Broker& broker, const std::vector<PartitionRead*>& reads, std::weak_ptr<void> owner,
                     asio::any_io_executor home, std::shared_ptr<asio::steady_timer> timer, bool committed,
                     bool replica) {
  bool ready = false;
  for (PartitionRead* r : reads) {
    storage::PartitionLog* log = partition_log(broker, *r->topic, r->partition);
    if (log == nullptr) continue;
    const int64_t end = replica ? log->log_end_offset() : committed ? log->last_stable_offset() : log->high_watermark();
    if (end > r->offset) ready = true;
    log->on_next_append(owner, [home, timer] { asio::post(home, [timer] { timer->cancel(); }); });
  }
  return ready;
}

}  // namespace

namespace {

// What one fetch reads: from the request (full fetches) or from the session (incremental).
struct Target {
  std::string topic;
  Uuid topic_id;
  int32_t partition;
  int64_t offset;
  int32_t max_bytes;
  // Its key in the session (session partitions only). Not a pointer: another request on the
  // session may close it, or forget the partition, while this one waits.
  std::optional<std::pair<std::string, int32_t>> session_key;
  int32_t leader_epoch = -1;
};

}  // namespace

asio::awaitable<FetchResponse> handle_fetch(RequestContext& ctx, FetchRequest& req) {
  Broker& broker = ctx.broker;
  const int16_t version = ctx.api_version();
  FetchResponse resp;
  resp.session_id = 0;
  auto image = broker.store.image();
  auto name_of = [&](const FetchRequest::FetchTopic& t) -> std::string {
    if (version < 13) return t.topic;
    const metadata::TopicInfo* info = image->find(t.topic_id);
    return info ? info->name : std::string();
  };

  // KIP-227. epoch -1: no session (closing session_id if set); epoch 0: a new session (closing
  // session_id if set); epoch > 0: the next request of session_id, naming only what changed.
  FetchSessionCache& cache = *broker.fetch_sessions[static_cast<size_t>(ctx.shard)];
  FetchSession* session = nullptr;
  bool incremental = false;
  if (version >= 7) {
    if (req.session_epoch == -1 || req.session_epoch == 0) {
      if (req.session_id != 0) cache.erase(req.session_id);
      if (req.session_epoch == 0) session = cache.create(now_ms());
    } else {
      session = cache.find(req.session_id);
      if (session == nullptr) {
        resp.error_code = code(ErrorCode::FETCH_SESSION_ID_NOT_FOUND);
        co_return resp;
      }
      if (session->next_epoch != req.session_epoch) {
        resp.error_code = code(ErrorCode::INVALID_FETCH_SESSION_EPOCH);
        co_return resp;
      }
      incremental = true;
    }
  }
  std::vector<Target> targets;
  if (session != nullptr) {
    // Apply the request to the session, then fetch everything the session holds.
    for (const auto& t : req.topics) {
      std::string name = name_of(t);
      for (const auto& p : t.partitions) {
        auto& sp = session->partitions[{name.empty() ? t.topic_id.to_string() : name, p.partition}];
        sp.topic = name;
        sp.topic_id = t.topic_id;
        sp.partition = p.partition;
        sp.fetch_offset = p.fetch_offset;
        sp.max_bytes = p.partition_max_bytes;
      }
    }
    for (const auto& f : req.forgotten_topics_data) {
      std::string name = f.topic;
      if (version >= 13) {
        const metadata::TopicInfo* info = image->find(f.topic_id);
        name = info ? info->name : f.topic_id.to_string();
      }
      for (int32_t p : f.partitions) session->partitions.erase({name, p});
    }
    if (incremental) session->next_epoch = session->next_epoch == INT32_MAX ? 1 : session->next_epoch + 1;
    session->last_used_ms = now_ms();
    resp.session_id = session->id;
    for (auto& [key, sp] : session->partitions)
      targets.push_back({sp.topic, sp.topic_id, sp.partition, sp.fetch_offset, sp.max_bytes, key});
  } else {
    for (const auto& t : req.topics) {
      std::string name = name_of(t);
      for (const auto& p : t.partitions)
        targets.push_back({name, t.topic_id, p.partition, p.fetch_offset, p.partition_max_bytes, std::nullopt,
                           p.current_leader_epoch});
    }
  }

  // One response entry per target; reads fill them in.
  std::vector<FetchResponse::PartitionData> outs(targets.size());
  std::vector<PartitionRead> reads;
  reads.reserve(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    const Target& t = targets[i];
    auto& pout = outs[i];
    pout.partition_index = t.partition;
    pout.high_watermark = -1;
    pout.records = Records(Bytes{});
    const metadata::TopicInfo* topic = version >= 13 ? image->find(t.topic_id) : image->find(t.topic);
    if (topic == nullptr || t.partition < 0 || t.partition >= topic->partitions) {
      pout.error_code = code(version >= 13 && topic == nullptr ? ErrorCode::UNKNOWN_TOPIC_ID
                                                               : ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
      continue;
    }
    if (auto e = leader_error(broker, *topic, t.partition); e != ErrorCode::NONE) {
      pout.error_code = code(e);
      if (version >= 12) hint_leader(*image, *topic, t.partition, pout.current_leader, resp.node_endpoints);
      continue;
    }
    reads.push_back({&pout, topic, t.partition, t.offset, t.max_bytes, t.leader_epoch});
  }
  // One hop per shard, in shard order.
  std::map<int, std::vector<PartitionRead*>> by_shard;
  for (PartitionRead& r : reads) by_shard[broker.shard_of(r.topic->name, r.partition)].push_back(&r);

  const bool committed = req.isolation_level == 1;
  // A follower's fetch (Kafka's replica id; v15+ in ReplicaState). Followers fetch without
  // sessions.
  const int32_t replica = version >= 15 ? req.replica_state.replica_id : req.replica_id;
  auto home = co_await asio::this_coro::executor;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(0, req.max_wait_ms));
  for (;;) {
    int64_t budget = req.max_bytes;
    bool any_bytes = false;
    for (auto& [shard, list] : by_shard) {
      auto read = [&broker, &list, &budget, &any_bytes, committed, replica] {
        read_on_owner(broker, list, &budget, &any_bytes, committed, replica);
      };
      co_await run_on(broker.shards.context(shard), std::move(read));
    }
    int64_t bytes = req.max_bytes - budget;
    bool errors = false;
    for (const auto& o : outs) errors = errors || o.error_code != 0;
    if (bytes >= req.min_bytes || errors || reads.empty() || std::chrono::steady_clock::now() >= deadline) break;

    // Long poll: sleep until an append to one of these partitions, or the deadline.
    auto timer = std::make_shared<asio::steady_timer>(home, deadline);
    bool ready = false;
    for (auto& [shard, list] : by_shard) {
      auto listen = [&broker, &list, timer, home, committed, replica] {
        return listen_on_owner(broker, list, std::weak_ptr<void>(timer), home, timer, committed, replica >= 0);
      };
      ready = co_await run_on(broker.shards.context(shard), std::move(listen)) || ready;
    }
    if (!ready) {
      std::error_code ec;
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // Group by topic, in target order. An incremental response carries only partitions with
  // records, an error, or a changed high watermark or log start offset.
  std::map<std::string, size_t> topic_index;
  // Looked up again: the session may have been closed or evicted meanwhile (its partitions
  // then answer in full).
  FetchSession* now_session = resp.session_id != 0 ? cache.find(resp.session_id) : nullptr;
  for (size_t i = 0; i < targets.size(); ++i) {
    const Target& t = targets[i];
    auto& o = outs[i];
    SessionPartition* sp = nullptr;
    if (t.session_key && now_session != nullptr) {
      auto it = now_session->partitions.find(*t.session_key);
      if (it != now_session->partitions.end()) sp = &it->second;
    }
    if (sp != nullptr) {
      bool changed = o.records.size() > 0 || o.error_code != 0 || o.high_watermark != sp->sent_high_watermark ||
                     o.log_start_offset != sp->sent_log_start;
      sp->sent_high_watermark = o.high_watermark;
      sp->sent_log_start = o.log_start_offset;
      if (incremental && !changed) continue;
    }
    std::string key = version >= 13 ? t.topic_id.to_string() : t.topic;
    auto [it, inserted] = topic_index.emplace(key, resp.responses.size());
    if (inserted) {
      auto& tr = resp.responses.emplace_back();
      tr.topic = t.topic;
      tr.topic_id = t.topic_id;
    }
    resp.responses[it->second].partitions.push_back(std::move(o));
  }
  co_return resp;
}

}  // namespace fjord::broker
