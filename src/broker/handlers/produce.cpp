// Produce: validate on the connection's shard, append on the partition's shard, and for acks=all
// answer only once the append is fdatasync'ed (group commit).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/effective_config.h"
#include "broker/gather.h"
#include "broker/handlers/handlers.h"
#include "metadata/topic_rules.h"
#include "broker/partitions.h"
#include "broker/transactions.h"
#include "broker/replication.h"
#include "protocol/compression.h"
#include "protocol/record_batch.h"

namespace fjord::broker {
using namespace protocol;

namespace {

struct AppendOutcome {
  ErrorCode error = ErrorCode::NONE;
  std::string message;
  int64_t base_offset = -1;
  int64_t log_append_time = -1;
  int64_t log_start_offset = -1;
};

struct TopicLimits {
  int64_t max_message_bytes = 1048588;
  bool create_time = true;
  int64_t before_max_ms = INT64_MAX;
  int64_t after_max_ms = INT64_MAX;
  bool compacted = false;  // cleanup.policy has compact: every record needs a key
  size_t min_insync = 1;    // min.insync.replicas (acks=all)
};

// Four lookups per topic and request (validated values: they parse).
TopicLimits limits_for(const BrokerConfig& config, const metadata::TopicInfo& topic) {
  TopicLimits l;
  auto value = [&](std::string_view name) { return topic_config_value(config, topic, name); };
  if (auto v = value("max.message.bytes")) l.max_message_bytes = std::stoll(*v);
  if (auto v = value("message.timestamp.type")) l.create_time = *v == "CreateTime";
  if (auto v = value("message.timestamp.before.max.ms")) l.before_max_ms = std::stoll(*v);
  if (auto v = value("message.timestamp.after.max.ms")) l.after_max_ms = std::stoll(*v);
  if (auto v = value("cleanup.policy")) l.compacted = v->find("compact") != std::string::npos;
  if (auto v = value("min.insync.replicas")) l.min_insync = static_cast<size_t>(std::stoll(*v));
  return l;
}

constexpr size_t kMaxInflatedBatch = 128 << 20;

// Kafka's checks before anything is written; the first failure names the partition's error.
// Produce v3+ carries exactly one magic-2 batch per partition; compressed batches are inflated
// and their records checked, so no batch a consumer cannot read is ever stored.
std::optional<BatchError> check_records(ByteView records, const TopicLimits& limits, int64_t now, int16_t version) {
  auto first = read_batch_header(records);
  if (records.empty()) return BatchError{ErrorCode::INVALID_RECORD, "no record batch"};
  if (first && first->magic != 2)
    return BatchError{ErrorCode::INVALID_RECORD,
                      fmt::format("Produce v{} may only carry record batches with magic 2", version)};
  if (first && first->batch_length >= 0 && first->total_size() < records.size())
    return BatchError{ErrorCode::INVALID_RECORD, "exactly one record batch per partition is allowed"};
  if (first && first->compression() == 4 && version < 7)
    return BatchError{ErrorCode::UNSUPPORTED_COMPRESSION_TYPE, "zstd needs Produce v7 or later"};
  std::optional<BatchError> limit_error;
  auto invalid = for_each_valid_batch(records, [&](ByteView batch, const BatchHeader& h) {
    if (limit_error) return;
    Bytes inflated;
    auto body = batch_records(batch, h, inflated, kMaxInflatedBatch);
    if (!body) {
      limit_error = BatchError{ErrorCode::CORRUPT_MESSAGE, "cannot decompress the batch: " + body.error()};
      return;
    }
    if (h.is_control()) {
      // Only the transaction coordinator writes markers (Kafka's rule).
      limit_error = BatchError{ErrorCode::INVALID_RECORD, "clients may not send control batches"};
      return;
    }
    if (h.producer_id >= 0 && (h.base_sequence < 0 || h.producer_epoch < 0)) {
      limit_error = BatchError{ErrorCode::INVALID_RECORD,
                               fmt::format("a batch of producer {} needs a sequence number and an epoch (got {} and {})",
                                           h.producer_id, h.base_sequence, h.producer_epoch)};
      return;
    }
    if (h.compression() != 0) {
      if (auto bad = validate_records(*body, h)) {  // uncompressed ones were checked with the batch
        limit_error = bad;
        return;
      }
    }
    if (static_cast<int64_t>(batch.size()) > limits.max_message_bytes) {
      limit_error = BatchError{ErrorCode::MESSAGE_TOO_LARGE,
                               fmt::format("batch of {} bytes is larger than max.message.bytes ({})", batch.size(),
                                           limits.max_message_bytes)};
      return;
    }
    if (limits.compacted && !h.is_control()) {
      // Compaction keeps the last record per key: a record without one has no place (Kafka's rule).
      BatchError e{ErrorCode::INVALID_RECORD, {}};
      for_each_record(*body, h, [&](const RecordView& r) {
        if (!r.key) e.records.emplace_back(r.index, "a compacted topic cannot accept a record without a key");
      });
      if (!e.records.empty()) {
        e.message = fmt::format("{} record(s) without a key for a compacted topic", e.records.size());
        limit_error = std::move(e);
        return;
      }
    }
    const bool bounded = limits.before_max_ms != INT64_MAX || limits.after_max_ms != INT64_MAX;
    if (limits.create_time && bounded) {
      // Every record's timestamp, as Kafka checks them; the culprits go to record_errors.
      auto out_of_range = [&](int64_t ts) {
        return (ts < now && now - ts > limits.before_max_ms) || (ts > now && ts - now > limits.after_max_ms);
      };
      BatchError e{ErrorCode::INVALID_TIMESTAMP, {}};
      for_each_record(*body, h, [&](const RecordView& r) {
        if (out_of_range(r.timestamp))
          e.records.emplace_back(r.index, fmt::format("timestamp {} is out of the range message.timestamp.before/"
                                                      "after.max.ms allows around {}",
                                                      r.timestamp, now));
      });
      if (!e.records.empty()) {
        e.message = fmt::format("{} record(s) with a timestamp out of range, the first: {}", e.records.size(),
                                e.records.front().second);
        limit_error = std::move(e);
      }
    }
  });
  return invalid ? invalid : limit_error;
}

// Runs on the partition's shard.
asio::awaitable<AppendOutcome> append_on_owner(Broker* broker, std::shared_ptr<const metadata::Image> image,
                                               const metadata::TopicInfo* topic, int32_t partition,
                                               std::span<uint8_t> records,
                                               int16_t acks, int32_t timeout_ms, int64_t now, size_t min_insync) {
  AppendOutcome out;
  if (auto e = replication_leader_error(*broker, topic->name, partition); e != ErrorCode::NONE) {
    out.error = e;
    co_return out;
  }
  storage::PartitionLog* log = partition_log(*broker, *topic, partition);
  if (log == nullptr) {
    out.error = ErrorCode::KAFKA_STORAGE_ERROR;
    co_return out;
  }
  // The in-sync replicas now (the metadata's ISR; a partition without a record has itself).
  auto isr_size = [broker, topic, partition] {
    auto now = broker->store.topic(topic->id);
    const metadata::PartitionState* state = now ? now->partition(partition) : nullptr;
    return state ? state->isr.size() : size_t{1};
  };
  if (acks == -1 && isr_size() < min_insync) {
    // A retry of a batch the log already has (a new leader got it from the old one) is written:
    // NOT_ENOUGH_REPLICAS would tell the client it is not, and an idempotent client may then send
    // it again under a new producer epoch, as a duplicate.
    auto header = read_batch_header(records);
    const bool written = header && header->producer_id >= 0 && log->producer_state().check(*header).duplicate;
    out.error = written ? ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND : ErrorCode::NOT_ENOUGH_REPLICAS;
    out.message = fmt::format("{} in-sync replica(s), fewer than min.insync.replicas ({}){}", isr_size(), min_insync,
                              written ? "; the batch was written before" : "");
    co_return out;
  }
  const auto started = std::chrono::steady_clock::now();
  auto appended = log->append(records, now, 0, &out.message);
  if (!appended) {
    out.error = appended.error();
    if (!out.message.empty()) spdlog::debug("produce to {}-{} refused: {}", topic->name, partition, out.message);
    co_return out;
  }
  out.base_offset = appended->base_offset;
  out.log_append_time = appended->log_append_time;
  out.log_start_offset = log->log_start_offset();
  if (acks == -1) {
    // timeout_ms bounds the wait for the fdatasync, as it bounds Kafka's wait for replicas;
    // the records stay written either way.
    auto durable = co_await wait_durable_for(*log, appended->last_offset + 1,
                                             std::chrono::milliseconds(std::max(timeout_ms, 0)));
    if (!durable) {
      out.error = ErrorCode::REQUEST_TIMED_OUT;
      out.message = fmt::format("not durable within timeout_ms ({} ms)", timeout_ms);
    } else if (!*durable) {
      out.error = ErrorCode::KAFKA_STORAGE_ERROR;
      out.message = durable->error().message();
    } else if (log->replicated()) {
      // And on every in-sync replica: the high watermark passes it once each has it on disk.
      auto left = std::chrono::milliseconds(std::max(timeout_ms, 0)) -
                  std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      auto replicated = co_await wait_replicated_for(*log, appended->last_offset + 1,
                                                     std::max(left, std::chrono::milliseconds(0)));
      if (!replicated) {
        out.error = ErrorCode::REQUEST_TIMED_OUT;
        out.message = fmt::format("not on the in-sync replicas within timeout_ms ({} ms)", timeout_ms);
      } else if (*replicated != ErrorCode::NONE) {
        out.error = *replicated;
      } else if (isr_size() < min_insync) {
        out.error = ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND;
        out.message = fmt::format("written, but the ISR shrank to {} (min.insync.replicas {})", isr_size(), min_insync);
      }
    }
  }
  (void)image;  // keeps `topic` alive while this runs
  co_return out;
}

}  // namespace

asio::awaitable<ProduceResponse> handle_produce(RequestContext& ctx, ProduceRequest& req) {
  Broker& broker = ctx.broker;
  ProduceResponse resp;
  if (req.acks == 0) ctx.suppress_response = true;
  const bool valid_acks = req.acks == 0 || req.acks == 1 || req.acks == -1;
  auto image = broker.store.image();
  const int64_t now = now_ms();
  auto gather = std::make_shared<Gather<AppendOutcome>>(co_await asio::this_coro::executor);
  struct Slot {
    ProduceResponse::PartitionProduceResponse* out;
    size_t index;
  };
  std::vector<Slot> spawned;
  struct TxnWrite {
    ProduceResponse::PartitionProduceResponse* out;
    const metadata::TopicInfo* topic;
    int32_t partition;
    std::span<uint8_t> records;
    int64_t producer_id;
    int16_t epoch;
    size_t min_insync;
  };
  std::vector<TxnWrite> transactional;

  resp.responses.reserve(req.topic_data.size());
  for (auto& t : req.topic_data) {
    auto& tout = resp.responses.emplace_back();
    tout.name = t.name;
    const metadata::TopicInfo* topic = image->find(t.name);
    std::optional<TopicLimits> limits;
    if (topic) limits = limits_for(*broker.config(), *topic);
    tout.partition_responses.reserve(t.partition_data.size());
    for (auto& p : t.partition_data) {
      auto& pout = tout.partition_responses.emplace_back();
      pout.index = p.index;
      pout.base_offset = -1;
      auto fail = [&](ErrorCode code, std::string message) {
        pout.error_code = protocol::code(code);
        if (!message.empty()) pout.error_message = std::move(message);
      };
      if (!valid_acks) {
        fail(ErrorCode::INVALID_REQUIRED_ACKS, "acks must be 0, 1 or -1");
        continue;
      }
      if (topic == nullptr || p.index < 0 || p.index >= topic->partitions) {
        fail(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, "");
        continue;
      }
      if (auto e = leader_error(broker, *topic, p.index); e != ErrorCode::NONE) {
        fail(e, "");
        if (ctx.api_version() >= 10) hint_leader(*image, *topic, p.index, pout.current_leader, resp.node_endpoints);
        continue;
      }
      if (metadata::is_internal_topic(t.name)) {
        // Only the broker writes its internal topics.
        fail(ErrorCode::INVALID_TOPIC_EXCEPTION, "producing to internal topic " + t.name + " is not allowed");
        continue;
      }
      // The records stay in the request frame, which outlives this handler: no copy.
      std::optional<std::span<uint8_t>> records = p.records.data();
      if (!records || records->empty()) {
        fail(ErrorCode::INVALID_RECORD, "no record batch");
        continue;
      }
      if (ctx.api_version() < 3) {
        // Produce v0-2 carry message formats 0 and 1 (Kafka refuses magic 2 in them); Fjord
        // stores only magic 2.
        ByteView b = *records;
        bool magic2 = b.size() > protocol::batch::kMagic && b[protocol::batch::kMagic] == 2;
        fail(magic2 ? ErrorCode::INVALID_RECORD : ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT,
             magic2 ? "Produce v0-2 may only carry message format 0 or 1"
                    : "message formats 0 and 1 are not supported: use Produce v3 or later");
        continue;
      }
      if (auto err = check_records(*records, *limits, now, ctx.api_version())) {
        spdlog::debug("produce to {}-{} rejected: {}", t.name, p.index, err->message);
        fail(err->code, err->message);
        for (auto& [index, why] : err->records) {
          auto& re = pout.record_errors.emplace_back();
          re.batch_index = index;
          re.batch_index_error_message = std::move(why);
        }
        continue;
      }
      auto header = read_batch_header(*records);
      if (header && header->is_transactional()) {
        // Checked with the transaction coordinator first (below).
        transactional.push_back(
            {&pout, topic, p.index, *records, header->producer_id, header->producer_epoch, limits->min_insync});
        continue;
      }
      int shard = broker.shard_of(t.name, p.index);
      size_t index = gather->spawn(broker.shards.context(shard),
                                   append_on_owner(&broker, image, topic, p.index, *records, req.acks, req.timeout_ms, now,
                                                   limits->min_insync));
      spawned.push_back({&pout, index});
    }
  }
  if (!transactional.empty()) {
    // Kafka's partition verification (KIP-890): a transactional batch is written only where its
    // producer's current epoch has added the partition to its open transaction, so no batch can
    // open a transaction here that no marker will end.
    std::vector<ErrorCode> verdicts(transactional.size(), ErrorCode::INVALID_TXN_STATE);
    if (req.transactional_id && !req.transactional_id->empty()) {
      std::vector<TxnVerify> asks;
      for (const TxnWrite& w : transactional) asks.push_back({{w.topic->name, w.partition}, w.producer_id, w.epoch});
      verdicts = co_await verify_txn_partitions(broker, *req.transactional_id, std::move(asks), true);
    }
    for (size_t i = 0; i < transactional.size(); ++i) {
      TxnWrite& w = transactional[i];
      if (verdicts[i] != ErrorCode::NONE) {
        w.out->error_code = code(verdicts[i]);
        w.out->error_message = req.transactional_id
                                   ? fmt::format("partition not in the producer's open transaction (error {})",
                                                 code(verdicts[i]))
                                   : std::string("a transactional batch needs the request's transactional id");
        continue;
      }
      int shard = broker.shard_of(w.topic->name, w.partition);
      size_t index = gather->spawn(broker.shards.context(shard),
                                   append_on_owner(&broker, image, w.topic, w.partition, w.records, req.acks,
                                                   req.timeout_ms, now, w.min_insync));
      spawned.push_back({w.out, index});
    }
  }
  co_await gather->wait();
  // With acks=0 the client reads no answer: Kafka closes the connection so it notices.
  if (req.acks == 0) {
    for (const auto& t : resp.responses)
      for (const auto& p : t.partition_responses)
        if (p.error_code != 0) ctx.close_reason = fmt::format("acks=0 produce to {}-{} failed with error {}", t.name, p.index, p.error_code);
  }
  for (const Slot& s : spawned) {
    const AppendOutcome& o = gather->results()[s.index];
    s.out->error_code = protocol::code(o.error);
    if (!o.message.empty()) s.out->error_message = o.message;
    s.out->base_offset = o.base_offset;
    s.out->log_append_time_ms = o.log_append_time;
    s.out->log_start_offset = o.log_start_offset;
    if (req.acks == 0 && o.error != ErrorCode::NONE)
      ctx.close_reason = fmt::format("acks=0 produce failed with error {}", protocol::code(o.error));
  }
  co_return resp;
}

}  // namespace fjord::broker
