// Fjord's client-side tools on librdkafka: topic and consumer-group administration, produce from
// stdin, consume to stdout. Each returns a process exit code and prints errors as one line on stderr.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fjord::client {

struct Common {
  std::string brokers = "127.0.0.1:9092";
  int timeout_ms = 10000;
};

int topic_create(const Common& c, const std::string& name, int partitions, int replication_factor,
                 const std::map<std::string, std::string>& configs);
int topic_list(const Common& c);
int topic_describe(const Common& c, const std::string& name);
int topic_delete(const Common& c, const std::string& name);
// Sets and removes topic config overrides, keeping the others.
int topic_alter_config(const Common& c, const std::string& name, const std::map<std::string, std::string>& set,
                       const std::vector<std::string>& remove);

struct ProduceOptions {
  std::string topic;
  std::optional<std::string> key_separator;  // split each line into key SEP value
  std::vector<std::pair<std::string, std::string>> headers;
  int partition = -1;  // -1: the partitioner decides
  std::string compression = "none";
  std::string acks = "all";
};
int produce(const Common& c, const ProduceOptions& o);

struct ConsumeOptions {
  std::string topic;
  enum class From { Beginning, End, Offset, Timestamp } from = From::Beginning;
  int64_t position = 0;  // offset or timestamp
  int partition = -1;    // -1: every partition
  int64_t count = -1;    // stop after this many records; -1: never
  bool exit_at_end = false;
  std::string format = "%v\\n";  // %k key, %v value, %p partition, %o offset, %t timestamp, %h headers
  // Empty: partitions are assigned by hand and nothing is committed. Otherwise the consumer
  // subscribes in this group, starts from its committed offsets (`from` Beginning or End only
  // where it has none) and commits what it printed.
  std::string group;
};
int consume(const Common& c, const ConsumeOptions& o);

// Consumer groups. `states` are Kafka's names (Stable, Empty, ...); none: every group.
int group_list(const Common& c, const std::vector<std::string>& states);
// State, assignor, coordinator, members, and per partition the committed offset and the lag.
int group_describe(const Common& c, const std::string& group);
// Fails unless the group exists and has no members.
int group_delete(const Common& c, const std::string& group);

struct ResetOffsetsOptions {
  std::string group;
  std::string topic;
  int partition = -1;  // -1: every partition of the topic
  enum class To { Earliest, Latest, Offset, Time } to = To::Earliest;
  int64_t position = 0;  // To::Offset: the offset (kept within the log); To::Time: ms since the epoch
  bool dry_run = false;  // print the new offsets, commit nothing
};
// Commits new offsets for the group; the broker refuses while the group has members.
int group_reset_offsets(const Common& c, const ResetOffsetsOptions& o);

// Transactions and producers (sent with Fjord's own codecs: librdkafka 2.0 has no API for them).
// `states`: Kafka's names (Ongoing, CompleteCommit, ...); none: every transaction.
int transaction_list(const Common& c, const std::vector<std::string>& states);
int transaction_describe(const Common& c, const std::string& transactional_id);
// The producers each partition of `topic` (or only `partition`) keeps state for.
int producer_describe(const Common& c, const std::string& topic, int partition);

// The brokers, the controller, and offline or under-replicated partitions.
int cluster_describe(const Common& c);
// ElectLeaders: preferred (or unclean) leader elections for `topic`'s partitions (all of them
// when `partitions` is empty), or for every partition of the cluster when `topic` is empty.
// Returns 1 when an election failed (not when none was needed).
int cluster_elect_leaders(const Common& c, const std::string& topic, const std::vector<int>& partitions, bool unclean);

// Milliseconds since the epoch of epoch milliseconds or ISO-8601 YYYY-MM-DDTHH:MM[:SS[.fff]], UTC
// unless followed by Z or +HH:MM / -HH:MM; nullopt when it is neither.
std::optional<int64_t> parse_time_ms(const std::string& text);

}  // namespace fjord::client
