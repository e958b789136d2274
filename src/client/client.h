// Fjord's client-side tools on librdkafka: topic administration, produce from stdin, consume to
// stdout. Each returns a process exit code and prints errors as one line on stderr.
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
};
int consume(const Common& c, const ConsumeOptions& o);

}  // namespace fjord::client
