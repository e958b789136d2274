// DeleteRecords: moves partitions' log start offsets forward (consumers below get
// OFFSET_OUT_OF_RANGE) and deletes the segments wholly below them. Answered once the new log
// start offsets are in the checkpoint file, so a crash does not bring the records back.
#include <fmt/format.h>

#include "broker/effective_config.h"
#include "broker/handlers/handlers.h"
#include "broker/partitions.h"
#include "broker/replication.h"
#include "metadata/topic_rules.h"

namespace fjord::broker {
using namespace protocol;

asio::awaitable<DeleteRecordsResponse> handle_delete_records(RequestContext& ctx, DeleteRecordsRequest& req) {
  Broker& broker = ctx.broker;
  DeleteRecordsResponse resp;
  auto image = broker.store.image();
  bool moved = false;
  for (const auto& t : req.topics) {
    auto& tout = resp.topics.emplace_back();
    tout.name = t.name;
    const metadata::TopicInfo* topic = image->find(t.name);
    std::optional<std::string> policy;
    if (topic) policy = topic_config_value(*broker.config(), *topic, "cleanup.policy");
    for (const auto& p : t.partitions) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = p.partition_index;
      pout.low_watermark = -1;
      if (topic == nullptr || p.partition_index < 0 || p.partition_index >= topic->partitions) {
        pout.error_code = code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
        continue;
      }
      if (auto e = leader_error(broker, *topic, p.partition_index); e != ErrorCode::NONE) {
        pout.error_code = code(e);
        continue;
      }
      if (metadata::is_internal_topic(t.name)) {
        pout.error_code = code(ErrorCode::INVALID_TOPIC_EXCEPTION);
        continue;
      }
      if (policy && policy->find("delete") == std::string::npos) {
        // Kafka's rule: only a log that may lose records by policy may lose them on request.
        pout.error_code = code(ErrorCode::POLICY_VIOLATION);
        continue;
      }
      const int32_t partition = p.partition_index;
      const int64_t offset = p.offset;
      auto work = [&broker, topic, partition, offset]() -> tl::expected<int64_t, ErrorCode> {
        storage::PartitionLog* log = partition_log(broker, *topic, partition);
        if (log == nullptr) return tl::unexpected(ErrorCode::KAFKA_STORAGE_ERROR);
        if (auto e = replication_leader_error(broker, topic->name, partition); e != ErrorCode::NONE)
          return tl::unexpected(e);
        return log->delete_records_before(offset);
      };
      auto result = co_await run_on(broker.shards.context(broker.shard_of(t.name, partition)), std::move(work));
      if (!result) {
        pout.error_code = code(result.error());
        continue;
      }
      pout.low_watermark = *result;
      moved = true;
    }
  }
  if (moved) {
    if (auto r = co_await write_checkpoints(broker); !r) {
      for (auto& t : resp.topics)
        for (auto& p : t.partitions)
          if (p.error_code == 0) p.error_code = code(ErrorCode::KAFKA_STORAGE_ERROR);
    }
  }
  co_return resp;
}

}  // namespace fjord::broker
