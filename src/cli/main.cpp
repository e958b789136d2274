// The `fjord` binary: `fjord serve` runs a broker.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "base/config.h"
#include "base/properties.h"
#include "broker/server.h"

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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return e.get_exit_code() == 0 ? 0 : (rc == 0 ? 0 : kBadConfig);
  }
  if (serve->parsed()) return run_serve(config_file, data_dir, listeners, smp, sets);
  return 0;
}
