// The `fjord` binary: `fjord serve` runs a broker; topic, group, produce and consume are clients.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/config.h"
#include "base/properties.h"
#include "broker/server.h"
#include "client/client.h"

#ifndef FJORD_VERSION
#define FJORD_VERSION "0.0.0"
#endif

namespace {

constexpr int kBadConfig = 2;

// A data dir we can create and write into, or why not.
std::optional<std::string> unwritable(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ec.message();
  if (::access(dir.c_str(), W_OK | X_OK) != 0) return "not writable";
  return std::nullopt;
}

int run_serve(const std::string& config_file, const std::string& data_dir, const std::string& listeners,
              int smp, const std::vector<std::string>& sets) {
  fjord::Properties props;
  if (!config_file.empty()) {
    auto loaded = fjord::load_properties_file(config_file);
    if (!loaded) {
      spdlog::error("--config: {}", loaded.error());
      return kBadConfig;
    }
    props = std::move(*loaded);
  }
  for (const std::string& kv : sets) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      spdlog::error("--set '{}': expected key=value", kv);
      return kBadConfig;
    }
    props[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!data_dir.empty()) {
    props["log.dirs"] = data_dir;
  }
  if (!listeners.empty()) props["listeners"] = listeners;
  if (smp >= 0) props["num.shards"] = std::to_string(smp);

  std::vector<std::string> unknown;
  auto config = fjord::BrokerConfig::create(std::move(props), unknown);
  if (!config) {
    spdlog::error("invalid configuration: {}", config.error());
    return kBadConfig;
  }
  for (const std::string& key : unknown) spdlog::warn("unknown configuration key '{}' ignored", key);
  std::string dir = config->data_dir();
  if (auto why = unwritable(dir)) {
    spdlog::error("invalid configuration: log.dirs: cannot use data directory '{}': {}", dir, *why);
    return kBadConfig;
  }
  return fjord::broker::serve(*config);
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("fjord"));
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  CLI::App app{"Fjord: a Kafka-compatible event streaming platform"};
  app.set_version_flag("--version", std::string("fjord ") + FJORD_VERSION);
  app.require_subcommand(1);

  std::string config_file, data_dir, listeners;
  int smp = -1;
  std::vector<std::string> sets;
  auto* serve = app.add_subcommand("serve", "Run a broker");
  serve->add_option("--config", config_file, "server.properties file (Kafka's syntax and key names)");
  serve->add_option("--data-dir", data_dir, "Data directory (log.dirs)");
  serve->add_option("--listeners", listeners, "Listener, e.g. PLAINTEXT://127.0.0.1:9092");
  serve->add_option("--smp", smp, "Number of shards (threads); default one per core (num.shards)");
  serve->add_option("--set", sets, "Override a config key: --set key=value (repeatable)");

  // Client commands, on librdkafka.
  fjord::client::Common common;
  auto add_brokers = [&](CLI::App* cmd) {
    cmd->add_option("--brokers,-b", common.brokers, "Bootstrap brokers (default 127.0.0.1:9092)");
    cmd->add_option("--timeout-ms", common.timeout_ms, "How long to wait for the cluster (default 10000)");
  };
  auto* topic = app.add_subcommand("topic", "Create, list, describe and delete topics");
  topic->require_subcommand(1);
  std::string topic_name;
  int partitions = -1, replication = -1;
  std::vector<std::string> topic_configs;
  auto* create = topic->add_subcommand("create", "Create a topic");
  create->add_option("name", topic_name)->required();
  create->add_option("--partitions,-p", partitions, "Partitions (default: the broker's num.partitions)");
  create->add_option("--replication-factor,-r", replication, "Replication factor (default: the broker's)");
  create->add_option("--config,-c", topic_configs, "Topic config key=value (repeatable)");
  auto* list = topic->add_subcommand("list", "List topics");
  auto* describe = topic->add_subcommand("describe", "Partitions, offsets and configs of a topic");
  describe->add_option("name", topic_name)->required();
  auto* remove = topic->add_subcommand("delete", "Delete a topic");
  remove->add_option("name", topic_name)->required();
  std::vector<std::string> alter_set, alter_delete;
  auto* alter = topic->add_subcommand("alter-config", "Set or remove topic config overrides");
  alter->add_option("name", topic_name)->required();
  alter->add_option("--set", alter_set, "key=value to set (repeatable)");
  alter->add_option("--delete", alter_delete, "key to remove, back to the default (repeatable)");
  for (auto* cmd : {create, list, describe, remove, alter}) add_brokers(cmd);

  fjord::client::ProduceOptions produce_opts;
  std::vector<std::string> headers;
  auto* produce = app.add_subcommand("produce", "Produce lines from standard input, one record each");
  produce->add_option("topic", produce_opts.topic)->required();
  produce->add_option("--key-separator,-K", produce_opts.key_separator, "Split each line into key SEP value");
  produce->add_option("--header,-H", headers, "Header key=value on every record (repeatable)");
  produce->add_option("--partition,-p", produce_opts.partition, "Partition (default: by key, or spread)");
  produce->add_option("--compression,-z", produce_opts.compression, "none, gzip, snappy, lz4 or zstd")
      ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}));
  produce->add_option("--acks", produce_opts.acks, "0, 1 or all (default all)")->check(CLI::IsMember({"0", "1", "all", "-1"}));
  add_brokers(produce);

  fjord::client::ConsumeOptions consume_opts;
  bool from_beginning = false, from_end = false;
  std::optional<int64_t> from_offset, from_timestamp;
  auto* consume = app.add_subcommand("consume", "Print records of a topic");
  consume->add_option("topic", consume_opts.topic)->required();
  auto* fb = consume->add_flag("--from-beginning", from_beginning, "Start at the log start (default)");
  auto* fe = consume->add_flag("--from-end", from_end, "Only records produced from now on");
  auto* fo = consume->add_option("--offset", from_offset, "Start at this offset");
  auto* ft = consume->add_option("--timestamp", from_timestamp, "Start at the first record at or after this time (ms)");
  fb->excludes(fe)->excludes(fo)->excludes(ft);
  fe->excludes(fo)->excludes(ft);
  fo->excludes(ft);
  auto* fp = consume->add_option("--partition,-p", consume_opts.partition, "Only this partition");
  consume->add_option("--count,-n", consume_opts.count, "Stop after this many records");
  consume->add_flag("--exit-at-end,-e", consume_opts.exit_at_end, "Stop at the end of every partition");
  consume->add_option("--format,-f", consume_opts.format,
                      "Output per record: %k key, %v value, %p partition, %o offset, %t timestamp, %h headers "
                      "(default '%v\\n')");
  consume->add_option("--group,-g", consume_opts.group,
                      "Consume in this consumer group: share its partitions, resume from its committed offsets "
                      "and commit; --from-beginning/--from-end apply where it has none")
      ->excludes(fo)
      ->excludes(ft)
      ->excludes(fp);
  add_brokers(consume);

  auto* group = app.add_subcommand("group", "List, describe and delete consumer groups; reset their offsets");
  group->require_subcommand(1);
  std::string group_id;
  std::vector<std::string> group_states;
  auto* glist = group->add_subcommand("list", "List consumer groups and their states");
  glist->add_option("--state", group_states, "Only groups in this state (repeatable, or comma-separated)")
      ->delimiter(',')
      ->transform(
          CLI::IsMember({"Stable", "Empty", "PreparingRebalance", "CompletingRebalance", "Dead"}, CLI::ignore_case));
  auto* gdescribe = group->add_subcommand("describe", "Members, and committed offsets and lag per partition");
  gdescribe->add_option("group", group_id)->required();
  auto* gdelete = group->add_subcommand("delete", "Delete a group that has no members");
  gdelete->add_option("group", group_id)->required();
  fjord::client::ResetOffsetsOptions reset_opts;
  bool to_earliest = false, to_latest = false;
  std::optional<int64_t> to_offset;
  std::optional<std::string> to_datetime;
  auto* greset =
      group->add_subcommand("reset-offsets", "Set a group's offsets in a topic (the group must have no members)");
  greset->add_option("group", reset_opts.group)->required();
  greset->add_option("--topic,-t", reset_opts.topic, "The topic")->required();
  greset->add_option("--partition,-p", reset_opts.partition, "Only this partition (default: all)");
  auto* target = greset->add_option_group("target", "Where to move the offsets: exactly one of");
  target->add_flag("--to-earliest", to_earliest, "The log start");
  target->add_flag("--to-latest", to_latest, "The log end");
  target->add_option("--to-offset", to_offset, "This offset, kept within the log start and end");
  target->add_option("--to-datetime", to_datetime,
                     "The first record at or after this time: YYYY-MM-DDTHH:MM:SS[.sss] in UTC, or with Z or "
                     "+HH:MM, or milliseconds since the epoch");
  target->require_option(1);
  greset->add_flag("--dry-run", reset_opts.dry_run, "Print the new offsets, change nothing");
  for (auto* cmd : {glist, gdescribe, gdelete, greset}) add_brokers(cmd);

  auto* txn = app.add_subcommand("transaction", "List and describe transactions");
  txn->require_subcommand(1);
  std::vector<std::string> txn_states;
  std::string txn_id;
  auto* tlist = txn->add_subcommand("list", "Transactional ids, their producer ids and states");
  tlist->add_option("--state", txn_states, "Only transactions in this state (repeatable, or comma-separated)")
      ->delimiter(',')
      ->transform(CLI::IsMember({"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit",
                                 "CompleteAbort", "Dead", "PrepareEpochFence"},
                                CLI::ignore_case));
  auto* tdescribe = txn->add_subcommand("describe", "State, producer, timeout and partitions of a transaction");
  tdescribe->add_option("transactional-id", txn_id)->required();
  auto* producer = app.add_subcommand("producer", "Idempotent and transactional producers' state on partitions");
  producer->require_subcommand(1);
  std::string producer_topic;
  int producer_partition = -1;
  auto* pdescribe = producer->add_subcommand("describe", "Producer ids, epochs, last sequences and open transactions");
  pdescribe->add_option("topic", producer_topic)->required();
  pdescribe->add_option("--partition,-p", producer_partition, "Only this partition (default: all)");
  for (auto* cmd : {tlist, tdescribe, pdescribe}) add_brokers(cmd);
  auto* cluster = app.add_subcommand("cluster", "The cluster's brokers and partitions' health");
  cluster->require_subcommand(1);
  auto* cdescribe = cluster->add_subcommand("describe", "Brokers, controller, offline and under-replicated partitions");
  add_brokers(cdescribe);
  std::string elect_topic;
  std::vector<int> elect_partitions;
  bool elect_unclean = false;
  auto* celect = cluster->add_subcommand("elect-leaders",
                                         "Move leadership back to the preferred replicas (or elect unclean leaders)");
  celect->add_option("--topic,-t", elect_topic, "Only this topic (default: every partition of the cluster)");
  celect->add_option("--partition,-p", elect_partitions, "Only these partitions of --topic (repeatable)")->delimiter(',');
  celect->add_flag("--unclean", elect_unclean,
                   "Elect a leader for partitions that have none, from out-of-sync replicas if need be (may lose data)");
  add_brokers(celect);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return e.get_exit_code() == 0 ? 0 : (rc == 0 ? 0 : kBadConfig);
  }
  if (serve->parsed()) return run_serve(config_file, data_dir, listeners, smp, sets);
  if (create->parsed()) {
    std::map<std::string, std::string> configs;
    for (const std::string& kv : topic_configs) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::fprintf(stderr, "error: --config '%s': expected key=value\n", kv.c_str());
        return kBadConfig;
      }
      configs[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return fjord::client::topic_create(common, topic_name, partitions, replication, configs);
  }
  if (list->parsed()) return fjord::client::topic_list(common);
  if (describe->parsed()) return fjord::client::topic_describe(common, topic_name);
  if (remove->parsed()) return fjord::client::topic_delete(common, topic_name);
  if (alter->parsed()) {
    std::map<std::string, std::string> set;
    for (const std::string& kv : alter_set) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::fprintf(stderr, "error: --set '%s': expected key=value\n", kv.c_str());
        return kBadConfig;
      }
      set[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    if (set.empty() && alter_delete.empty()) {
      std::fprintf(stderr, "error: nothing to change: give --set key=value or --delete key\n");
      return kBadConfig;
    }
    return fjord::client::topic_alter_config(common, topic_name, set, alter_delete);
  }
  if (produce->parsed()) {
    for (const std::string& kv : headers) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::fprintf(stderr, "error: --header '%s': expected key=value\n", kv.c_str());
        return kBadConfig;
      }
      produce_opts.headers.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    return fjord::client::produce(common, produce_opts);
  }
  if (consume->parsed()) {
    using From = fjord::client::ConsumeOptions::From;
    if (from_end) consume_opts.from = From::End;
    if (from_offset) {
      consume_opts.from = From::Offset;
      consume_opts.position = *from_offset;
    }
    if (from_timestamp) {
      consume_opts.from = From::Timestamp;
      consume_opts.position = *from_timestamp;
    }
    return fjord::client::consume(common, consume_opts);
  }
  if (cdescribe->parsed()) return fjord::client::cluster_describe(common);
  if (celect->parsed()) {
    if (!elect_partitions.empty() && elect_topic.empty()) {
      std::fprintf(stderr, "error: --partition needs --topic\n");
      return kBadConfig;
    }
    return fjord::client::cluster_elect_leaders(common, elect_topic, elect_partitions, elect_unclean);
  }
  if (tlist->parsed()) return fjord::client::transaction_list(common, txn_states);
  if (tdescribe->parsed()) return fjord::client::transaction_describe(common, txn_id);
  if (pdescribe->parsed()) return fjord::client::producer_describe(common, producer_topic, producer_partition);
  if (glist->parsed()) return fjord::client::group_list(common, group_states);
  if (gdescribe->parsed()) return fjord::client::group_describe(common, group_id);
  if (gdelete->parsed()) return fjord::client::group_delete(common, group_id);
  if (greset->parsed()) {
    using To = fjord::client::ResetOffsetsOptions::To;
    if (to_latest) reset_opts.to = To::Latest;
    if (to_offset) {
      reset_opts.to = To::Offset;
      reset_opts.position = *to_offset;
    }
    if (to_datetime) {
      auto ms = fjord::client::parse_time_ms(*to_datetime);
      if (!ms) {
        std::fprintf(stderr, "error: --to-datetime '%s': expected YYYY-MM-DDTHH:MM:SS or epoch milliseconds\n",
                     to_datetime->c_str());
        return kBadConfig;
      }
      reset_opts.to = To::Time;
      reset_opts.position = *ms;
    }
    return fjord::client::group_reset_offsets(common, reset_opts);
  }
  return 0;
}
