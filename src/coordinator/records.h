// The records the group coordinator keeps in __consumer_offsets, in Kafka's key/value schemas
// (../shared/kafka-protocol/coordinator-records/): offset commits (key versions 0-1) and group
// metadata (key version 2). A null value is a tombstone. Also Kafka's group -> partition hash.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "protocol/generated/group_metadata_value.h"
#include "storage/partition_log.h"

namespace fjord::coordinator {

inline constexpr std::string_view kOffsetsTopic = "__consumer_offsets";

// Kafka's choice: abs(Java String.hashCode(group)) % partitions.
int32_t partition_for(std::string_view group, int32_t partitions);

struct CommittedOffset {
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  std::string metadata;
  int64_t commit_timestamp = -1;
};

struct OffsetsRecord {
  Bytes key;
  std::optional<Bytes> value;  // nullopt: tombstone
};

OffsetsRecord offset_commit_record(std::string_view group, std::string_view topic, int32_t partition,
                                   const std::optional<CommittedOffset>& offset);
OffsetsRecord group_metadata_record(std::string_view group, const std::optional<protocol::GroupMetadataValue>& value);

// One uncompressed batch holding `records`, ready for PartitionLog::append; with a producer id,
// a transactional batch of that producer (no sequence: the coordinator writes it).
Bytes build_batch(const std::vector<OffsetsRecord>& records, int64_t now_ms, int64_t producer_id = -1,
                  int16_t producer_epoch = -1);

// What replaying __consumer_offsets finds, record by record, in log order.
struct ReplayHandler {
  std::function<void(const std::string& group, const std::string& topic, int32_t partition,
                     std::optional<CommittedOffset>)>
      offset;
  std::function<void(const std::string& group, std::optional<protocol::GroupMetadataValue>)> group;
};

struct ReplayStats {
  int64_t records = 0;
  int64_t skipped = 0;  // undecodable or of record kinds Fjord does not keep
  int64_t corrupt_batches = 0;  // failed their CRC check: skipped whole
  uint64_t bytes = 0;
};

// Decodes one record; false when its key or value cannot be decoded.
bool replay_record(ByteView key, std::optional<ByteView> value, const ReplayHandler& handler);

// Reads the whole log from its start: `fn` gets every batch that passes its CRC check (control
// batches too), with its records inflated, and the stats to count what it finds.
using BatchFn = std::function<void(const protocol::BatchHeader&, ByteView batch, ByteView records, ReplayStats&)>;
tl::expected<ReplayStats, std::string> for_each_batch(const storage::PartitionLog& log, const BatchFn& fn);

// Reads the whole log from its start and replays every record (control batches skipped).
tl::expected<ReplayStats, std::string> replay_log(const storage::PartitionLog& log, const ReplayHandler& handler);

}  // namespace fjord::coordinator
