#include "broker/log_config.h"

#include <charconv>
#include <cstdlib>

#include "broker/effective_config.h"

namespace fjord::broker {

storage::LogConfig log_config_for(const BrokerConfig& config, const metadata::TopicInfo& topic) {
  storage::LogConfig out;
  bool deletes = true;
  for (const EffectiveConfig& c : effective_topic_configs(config, topic)) {
    if (!c.value) continue;
    const std::string& v = *c.value;
    int64_t n = 0;
    bool numeric = std::from_chars(v.data(), v.data() + v.size(), n).ec == std::errc();
    if (c.name == "message.timestamp.type") out.log_append_time = v == "LogAppendTime";
    if (c.name == "cleanup.policy") {
      deletes = v.find("delete") != std::string::npos;
      out.compaction.compact = v.find("compact") != std::string::npos;
    }
    if (c.name == "min.cleanable.dirty.ratio") out.compaction.min_cleanable_dirty_ratio = std::strtod(v.c_str(), nullptr);
    if (!numeric) continue;
    if (c.name == "segment.bytes") out.segment_bytes = out.segment.max_bytes = static_cast<uint64_t>(n);
    else if (c.name == "segment.ms") out.segment_ms = n;
    else if (c.name == "segment.index.bytes") out.segment.index_max_bytes = static_cast<uint64_t>(n);
    else if (c.name == "index.interval.bytes") out.segment.index_interval_bytes = static_cast<uint32_t>(n);
    else if (c.name == "retention.ms") out.retention_ms = n;
    else if (c.name == "retention.bytes") out.retention_bytes = n;
    else if (c.name == "flush.messages") out.flush_messages = n;
    else if (c.name == "flush.ms") out.flush_ms = n;
    else if (c.name == "min.compaction.lag.ms") out.compaction.min_compaction_lag_ms = n;
    else if (c.name == "max.compaction.lag.ms") out.compaction.max_compaction_lag_ms = n;
    else if (c.name == "delete.retention.ms") out.compaction.delete_retention_ms = n;
  }
  out.producer_id_expiration_ms = config.get_long("producer.id.expiration.ms");
  if (!deletes) {
    // A compact-only topic (like __consumer_offsets) is never cut by time or size.
    out.retention_ms = -1;
    out.retention_bytes = -1;
  }
  return out;
}

}  // namespace fjord::broker
