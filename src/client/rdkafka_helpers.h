// Helpers the `fjord` client commands share over librdkafka: handles that destroy themselves,
// metadata and admin round trips whose failures are one line of text, and plain-text tables.
// Internal to src/client; everything runs on the calling thread.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/client.h"
#include "tl/expected.hpp"

namespace fjord::client {

// Prints "error: <message>" on stderr; returns the exit code, 1.
int fail(const std::string& message);

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using Kafka = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

// A producer or consumer handle; nullptr (and `error` set) when the configuration is refused.
Kafka make_client(const Common& c, rd_kafka_type_t type, const std::map<std::string, std::string>& extra,
                  std::string& error, const std::function<void(rd_kafka_conf_t*)>& configure = nullptr);

// Metadata for one topic (or all); the error names the broker when it cannot be reached.
const rd_kafka_metadata_t* fetch_metadata(rd_kafka_t* rk, const Common& c, rd_kafka_topic_t* topic, std::string& error);

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
};
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

// Metadata of one existing topic, in topics[0]; the error names the topic or the broker.
tl::expected<Metadata, std::string> topic_metadata(rd_kafka_t* rk, const Common& c, const std::string& name);

// The partition ids of the topic in `md`, or only `partition` when it is not -1.
tl::expected<std::vector<int32_t>, std::string> partition_ids(const rd_kafka_metadata_t* md, int partition);

// Replaces each partition's offset in `parts` by its first offset at or after `timestamp_ms`, -1
// where no record is that recent.
std::optional<std::string> offsets_at_time(rd_kafka_t* rk, const Common& c, rd_kafka_topic_partition_list_t* parts,
                                           int64_t timestamp_ms);

struct EventDeleter {
  void operator()(rd_kafka_event_t* ev) const { rd_kafka_event_destroy(ev); }
};
using Event = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
using AdminOptions = std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter>;

// Options for one admin operation, which the broker must answer within the command's timeout.
AdminOptions admin_options(rd_kafka_t* rk, const Common& c, rd_kafka_admin_op_t op);

// Issues the admin operation `send` starts on the queue it is given, and waits for its result.
tl::expected<Event, std::string> run_admin(rd_kafka_t* rk, const Common& c,
                                           const std::function<void(rd_kafka_queue_t*)>& send);

// A handle for admin operations whose broker answered, so that later errors are the operations' own.
Kafka admin_client(const Common& c, std::string& error);

// Prints rows as columns two spaces apart, each as wide as its widest cell.
void print_table(const std::vector<std::vector<std::string>>& rows);

using TopicPartition = std::pair<std::string, int32_t>;

}  // namespace fjord::client
