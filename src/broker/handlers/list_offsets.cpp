// ListOffsets: earliest (-2, and -4 earliest-local), latest (-1), max timestamp (-3, v7+),
// latest tiered (-5: no tiered storage here, so offset -1, as Kafka answers without it), and the
// first offset whose timestamp is at or after a given time.
#include "broker/handlers/handlers.h"
#include "broker/partitions.h"
#include "broker/replication.h"
#include "protocol/codec.h"
#include "protocol/compression.h"
#include "protocol/record_batch.h"

namespace fjord::broker {
using namespace protocol;

namespace {
constexpr int64_t kLatest = -1;
constexpr int64_t kEarliest = -2;
constexpr int64_t kMaxTimestamp = -3;
constexpr int64_t kEarliestLocal = -4;
constexpr int64_t kLatestTiered = -5;

struct Found {
  int64_t offset = -1;
  int64_t timestamp = -1;
};

constexpr size_t kMaxInflated = 64 << 20;

// The first record of the batch at or after `target`, exact as Kafka answers (compressed batches
// are inflated to find it). With LogAppendTime every record has the batch's time.
Found refine_in_batch(const storage::FileRange& range, const storage::BatchInfo& b, int64_t target) {
  Found found{b.base_offset, b.max_timestamp};
  Bytes bytes(range.length);
  auto n = range.file->read_at(range.position, bytes);
  if (!n || *n != range.length) return found;
  auto h = read_batch_header(bytes);
  if (!h || h->log_append_time() || h->total_size() > bytes.size()) return found;
  Bytes inflated;
  auto body = batch_records(bytes, *h, inflated, kMaxInflated);
  if (!body) return found;
  std::optional<Found> exact;
  for_each_record(*body, *h, [&](const RecordView& rec) {
    if (!exact && rec.timestamp >= target) exact = Found{h->base_offset + rec.offset_delta, rec.timestamp};
  });
  if (exact) return *exact;
  return found;
}

// `committed`: isolation.level=read_committed, whose latest offset is the last stable offset.
Found lookup(storage::PartitionLog& log, int64_t timestamp, bool committed, ErrorCode* error) {
  switch (timestamp) {
    case kLatest:
      return {committed ? log.last_stable_offset() : log.high_watermark(), -1};
    case kEarliest:
    case kEarliestLocal:
      return {log.log_start_offset(), -1};
    case kLatestTiered:
      return {-1, -1};
    case kMaxTimestamp: {
      auto b = log.find_max_timestamp();
      if (!b) *error = b.error();
      if (!b || !*b) return {};
      auto range = log.read(std::max((*b)->base_offset, log.log_start_offset()), (*b)->size, true);
      if (!range || range->ranges.empty()) return {(*b)->base_offset, (*b)->max_timestamp};
      return refine_in_batch(range->ranges.front(), **b, (*b)->max_timestamp);
    }
    default: {
      auto b = log.find_by_timestamp(timestamp);
      if (!b) *error = b.error();
      if (!b || !*b) return {};  // no record that late: offset -1
      auto range = log.read((*b)->base_offset < log.log_start_offset() ? log.log_start_offset() : (*b)->base_offset,
                            (*b)->size, true);
      if (!range || range->ranges.empty()) return {(*b)->base_offset, (*b)->max_timestamp};
      return refine_in_batch(range->ranges.front(), **b, timestamp);
    }
  }
}
}  // namespace

asio::awaitable<ListOffsetsResponse> handle_list_offsets(RequestContext& ctx, ListOffsetsRequest& req) {
  Broker& broker = ctx.broker;
  const int16_t version = ctx.api_version();
  ListOffsetsResponse resp;
  auto image = broker.store.image();
  for (const auto& t : req.topics) {
    auto& tout = resp.topics.emplace_back();
    tout.name = t.name;
    const metadata::TopicInfo* topic = image->find(t.name);
    for (const auto& p : t.partitions) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = p.partition_index;
      if (topic == nullptr || p.partition_index < 0 || p.partition_index >= topic->partitions) {
        pout.error_code = code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
        continue;
      }
      if (auto e = leader_error(broker, *topic, p.partition_index); e != ErrorCode::NONE) {
        pout.error_code = code(e);
        continue;
      }
      if (p.timestamp == kMaxTimestamp && version < 7) {
        pout.error_code = code(ErrorCode::UNSUPPORTED_VERSION);
        continue;
      }
      int32_t partition = p.partition_index;
      int64_t timestamp = p.timestamp;
      const bool committed = version >= 2 && req.isolation_level == 1;
      auto work = [&broker, topic, partition, timestamp, committed] {
        ErrorCode error = ErrorCode::NONE;
        storage::PartitionLog* log = partition_log(broker, *topic, partition);
        if (log == nullptr) return std::make_tuple(ErrorCode::KAFKA_STORAGE_ERROR, Found{}, -1);
        if (auto e = replication_leader_error(broker, topic->name, partition); e != ErrorCode::NONE)
          return std::make_tuple(e, Found{}, -1);
        Found f = lookup(*log, timestamp, committed, &error);
        // The epoch that wrote the offset (Kafka's answer; 0 for logs that keep no epochs).
        int32_t epoch = -1;
        if (f.offset >= 0) epoch = log->leader_epochs().entries().empty() ? 0 : log->epoch_at(f.offset);
        return std::make_tuple(error, f, epoch);
      };
      auto [error, found, epoch] =
          co_await run_on(broker.shards.context(broker.shard_of(t.name, partition)), std::move(work));
      pout.error_code = code(error);
      pout.offset = found.offset;
      pout.timestamp = found.timestamp;
      pout.leader_epoch = epoch;
    }
  }
  co_return resp;
}

// OffsetForLeaderEpoch (v2+): where a leader epoch ended in the leader's log. Followers ask it
// before they fetch in a new epoch (to cut what diverged); consumers ask it after a leader change
// to detect truncation (KIP-320).
asio::awaitable<OffsetForLeaderEpochResponse> handle_offset_for_leader_epoch(RequestContext& ctx,
                                                                             OffsetForLeaderEpochRequest& req) {
  Broker& broker = ctx.broker;
  OffsetForLeaderEpochResponse resp;
  auto image = broker.store.image();
  for (const auto& t : req.topics) {
    auto& tout = resp.topics.emplace_back();
    tout.topic = t.topic;
    const metadata::TopicInfo* topic = image->find(t.topic);
    for (const auto& p : t.partitions) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition = p.partition;
      if (topic == nullptr || p.partition < 0 || p.partition >= topic->partitions) {
        pout.error_code = code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
        continue;
      }
      if (auto e = leader_error(broker, *topic, p.partition); e != ErrorCode::NONE) {
        pout.error_code = code(e);
        continue;
      }
      const metadata::PartitionState* state = topic->partition(p.partition);
      const int32_t current = state ? state->leader_epoch : 0;
      if (p.current_leader_epoch >= 0 && p.current_leader_epoch < current) {
        pout.error_code = code(ErrorCode::FENCED_LEADER_EPOCH);
        continue;
      }
      if (p.current_leader_epoch > current) {
        pout.error_code = code(ErrorCode::UNKNOWN_LEADER_EPOCH);
        continue;
      }
      auto work = [&broker, topic, partition = p.partition, epoch = p.leader_epoch] {
        storage::PartitionLog* log = partition_log(broker, *topic, partition);
        if (log == nullptr) return std::make_tuple(ErrorCode::KAFKA_STORAGE_ERROR, -1, int64_t{-1});
        if (auto e = replication_leader_error(broker, topic->name, partition); e != ErrorCode::NONE)
          return std::make_tuple(e, -1, int64_t{-1});
        // A log that keeps no epochs (a single replica) never truncates: every epoch ends at its end.
        if (log->leader_epochs().entries().empty()) return std::make_tuple(ErrorCode::NONE, epoch, log->log_end_offset());
        auto [e, end] = log->end_offset_for_epoch(epoch);
        return std::make_tuple(ErrorCode::NONE, e, end);
      };
      auto [error, epoch, end] =
          co_await run_on(broker.shards.context(broker.shard_of(t.topic, p.partition)), std::move(work));
      pout.error_code = code(error);
      pout.leader_epoch = epoch;
      pout.end_offset = end;
    }
  }
  co_return resp;
}

}  // namespace fjord::broker
