// The broker's configuration as it is now: the static one (server.properties and the command
// line) with the dynamic broker configs of the metadata image on top. Read from any thread;
// updated by the controller when the dynamic configs change.
#pragma once

#include <atomic>
#include <memory>

#include "base/config.h"
#include "metadata/image.h"

namespace fjord::broker {

class LiveConfig {
 public:
  explicit LiveConfig(const BrokerConfig& static_config)
      : static_(static_config), current_(std::make_shared<const BrokerConfig>(static_config)) {}

  const BrokerConfig& static_config() const { return static_; }
  std::shared_ptr<const BrokerConfig> get() const { return current_.load(std::memory_order_acquire); }

  // Puts `image`'s cluster-wide dynamic defaults and this node's dynamic configs on top of the
  // static configuration.
  void update(const metadata::Image& image) {
    const std::string node = std::to_string(static_.node_id());
    current_.store(std::make_shared<const BrokerConfig>(
                       static_.with_dynamic(image.broker_configs(""), image.broker_configs(node))),
                   std::memory_order_release);
  }

 private:
  const BrokerConfig& static_;
  std::atomic<std::shared_ptr<const BrokerConfig>> current_;
};

}  // namespace fjord::broker
