// Fetch: finds the data on each partition's shard (one hop per shard), long-polls on appends when fewer
// than min_bytes are ready, and answers sessionless fetches. A request to create an incremental
// fetch session (KIP-227) is answered with session id 0, which tells the client no session was
// made, so it keeps sending full fetches.
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>

#include "broker/handlers/handlers.h"
#include "broker/partitions.h"

namespace fjord::broker {
using namespace protocol;

namespace {

struct PartitionRead {
  FetchResponse::PartitionData* out;
  const metadata::TopicInfo* topic;
  int32_t partition;
  int64_t offset;
  int32_t max_bytes;
};

struct ShardBatch {
  std::vector<PartitionRead*> reads;
};

// Runs on one shard: reads its partitions, in request order, within `*budget` bytes.
void read_on_owner(Broker& broker, const std::vector<PartitionRead*>& reads, int64_t* budget, bool* any_bytes) {
  for (PartitionRead* r : reads) {
    auto& out = *r->out;
    storage::PartitionLog* log = partition_log(broker, *r->topic, r->partition);
    if (log == nullptr) {
      out.error_code = code(ErrorCode::KAFKA_STORAGE_ERROR);
      continue;
    }
    out.high_watermark = log->high_watermark();
    out.last_stable_offset = log->high_watermark();
    out.log_start_offset = log->log_start_offset();
    uint64_t limit = static_cast<uint64_t>(std::max<int64_t>(0, std::min<int64_t>(r->max_bytes, *budget)));
    // Kafka (KIP-74): the first partition with data returns at least one whole batch, even past
    // the limits, so a consumer never stalls on a big batch.
    auto data = log->read(r->offset, limit, !*any_bytes);
    if (!data) {
      out.error_code = code(data.error());
      continue;
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
                     asio::any_io_executor home, std::shared_ptr<asio::steady_timer> timer) {
  bool ready = false;
  for (PartitionRead* r : reads) {
    storage::PartitionLog* log = partition_log(broker, *r->topic, r->partition);
    if (log == nullptr) continue;
    if (log->log_end_offset() > r->offset) ready = true;
    log->on_next_append(owner, [home, timer] { asio::post(home, [timer] { timer->cancel(); }); });
  }
  return ready;
}

}  // namespace

asio::awaitable<FetchResponse> handle_fetch(RequestContext& ctx, FetchRequest& req) {
  Broker& broker = ctx.broker;
  const int16_t version = ctx.api_version();
  FetchResponse resp;
  resp.session_id = 0;
  if (req.session_id != 0) {
    resp.error_code = code(ErrorCode::FETCH_SESSION_ID_NOT_FOUND);
    co_return resp;
  }
  if (req.session_epoch > 0) {
    resp.error_code = code(ErrorCode::INVALID_FETCH_SESSION_EPOCH);
    co_return resp;
  }
  auto image = broker.store.image();
  std::vector<PartitionRead> reads;
  size_t total = 0;
  for (const auto& t : req.topics) total += t.partitions.size();
  reads.reserve(total);
  resp.responses.reserve(req.topics.size());
  for (const auto& t : req.topics) {
    auto& tout = resp.responses.emplace_back();
    const metadata::TopicInfo* topic = nullptr;
    if (version >= 13) {
      tout.topic_id = t.topic_id;
      topic = image->find(t.topic_id);
    } else {
      tout.topic = t.topic;
      topic = image->find(t.topic);
    }
    tout.partitions.reserve(t.partitions.size());
    for (const auto& p : t.partitions) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = p.partition;
      pout.high_watermark = -1;
      pout.records = Records(Bytes{});
      if (topic == nullptr || p.partition < 0 || p.partition >= topic->partitions) {
        pout.error_code = code(version >= 13 && topic == nullptr ? ErrorCode::UNKNOWN_TOPIC_ID
                                                                 : ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
        continue;
      }
      reads.push_back({&pout, topic, p.partition, p.fetch_offset, p.partition_max_bytes});
    }
  }
  // One hop per shard, in shard order.
  std::map<int, std::vector<PartitionRead*>> by_shard;
  for (PartitionRead& r : reads) by_shard[broker.shard_of(r.topic->name, r.partition)].push_back(&r);

  auto home = co_await asio::this_coro::executor;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(0, req.max_wait_ms));
  for (;;) {
    int64_t budget = req.max_bytes;
    bool any_bytes = false;
    for (auto& [shard, list] : by_shard) {
      auto read = [&broker, &list, &budget, &any_bytes] { read_on_owner(broker, list, &budget, &any_bytes); };
      co_await run_on(broker.shards.context(shard), std::move(read));
    }
    int64_t bytes = req.max_bytes - budget;
    bool errors = false;
    for (const PartitionRead& r : reads) errors = errors || r.out->error_code != 0;
    if (bytes >= req.min_bytes || errors || reads.empty() || std::chrono::steady_clock::now() >= deadline) break;

    // Long poll: sleep until an append to one of these partitions, or the deadline.
    auto timer = std::make_shared<asio::steady_timer>(home, deadline);
    bool ready = false;
    for (auto& [shard, list] : by_shard) {
      auto listen = [&broker, &list, timer, home] {
        return listen_on_owner(broker, list, std::weak_ptr<void>(timer), home, timer);
      };
      ready = co_await run_on(broker.shards.context(shard), std::move(listen)) || ready;
    }
    if (!ready) {
      std::error_code ec;
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  co_return resp;
}

}  // namespace fjord::broker
