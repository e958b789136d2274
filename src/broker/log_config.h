// The storage settings of a topic: its overrides, else the broker's synonyms, else Kafka's
// defaults (the same resolution DescribeConfigs reports).
#pragma once

#include "base/config.h"
#include "metadata/image.h"
#include "storage/partition_log.h"

namespace fjord::broker {

storage::LogConfig log_config_for(const BrokerConfig& config, const metadata::TopicInfo& topic);

}  // namespace fjord::broker
