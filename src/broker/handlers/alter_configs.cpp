// AlterConfigs (replace a resource's dynamic configs) and IncrementalAlterConfigs (SET, DELETE,
// APPEND, SUBTRACT per key), for topics and for brokers (this node's id, or "" for the
// cluster-wide defaults; only the keys is_dynamic_broker_config allows).
#include <algorithm>
#include <sstream>

#include "broker/forward.h"
#include "broker/handlers/handlers.h"

namespace fjord::broker {
using namespace protocol;

namespace {
constexpr int8_t kTopicResource = 2;
constexpr int8_t kBrokerResource = 4;
enum Op : int8_t { kSet = 0, kDelete = 1, kAppend = 2, kSubtract = 3 };

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

// What a change needs to know about the resource: a key's definition and its current value
// (for APPEND and SUBTRACT on a list without a dynamic value).
struct KeyInfo {
  std::function<const ConfigDef*(std::string_view)> find;
  std::function<std::optional<std::string>(std::string_view)> current;
};
using Change = std::function<std::optional<std::string>(std::map<std::string, std::string>&, const KeyInfo&)>;

// Runs the change on the controller shard; fills error_code / error_message.
template <typename Out>
asio::awaitable<void> apply(Broker& broker, int8_t type, const std::string& name, Change change, bool validate_only,
                            Out& out) {
  out.resource_type = type;
  out.resource_name = name;
  auto finish = [&out](const TopicResult& result) {
    out.error_code = code(result.error);
    out.error_message = result.ok() ? std::nullopt : std::optional<std::string>(result.message);
  };
  std::map<std::string, std::string> configs;
  std::optional<KeyInfo> info;
  if (type == kBrokerResource) {
    auto image = broker.store.image();
    configs = image->broker_configs(name);
    auto config = broker.config();
    info = KeyInfo{[](std::string_view key) { return find_broker_config(key); },
                   [config](std::string_view key) { return config->get(key); }};
  } else if (type == kTopicResource) {
    auto topic = broker.store.topic(name);
    if (topic == nullptr) {
      out.error_code = code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
      out.error_message = "The topic '" + name + "' does not exist.";
      co_return;
    }
    configs = topic->configs;
    info = KeyInfo{[](std::string_view key) -> const ConfigDef* {
                     const TopicConfigDef* def = find_topic_config(key);
                     return def ? &def->def : nullptr;
                   },
                   [](std::string_view key) -> std::optional<std::string> {
                     const TopicConfigDef* def = find_topic_config(key);
                     if (def == nullptr || !def->def.default_value) return std::nullopt;
                     return std::string(*def->def.default_value);
                   }};
  } else {
    out.error_code = code(ErrorCode::INVALID_REQUEST);
    out.error_message = "unsupported resource type " + std::to_string(type);
    co_return;
  }
  if (auto err = change(configs, *info)) {
    out.error_code = code(ErrorCode::INVALID_CONFIG);
    out.error_message = *err;
    co_return;
  }
  auto work = [&broker, type, name, configs, validate_only] {
    return type == kBrokerResource ? broker.controller.set_broker_configs(name, configs, validate_only)
                                   : broker.controller.set_topic_configs(name, configs, validate_only);
  };
  finish(co_await run_on(broker.controller_context(), std::move(work)));
}
}  // namespace

asio::awaitable<AlterConfigsResponse> handle_alter_configs(RequestContext& ctx, AlterConfigsRequest& req) {
  if (auto forwarded = co_await forward_to_controller<AlterConfigsResponse>(ctx.broker, req, ctx.api_version()))
    co_return std::move(*forwarded);
  AlterConfigsResponse resp;
  for (const auto& r : req.resources) {
    auto& out = resp.responses.emplace_back();
    const auto* res = &r;
    Change change = [res](std::map<std::string, std::string>& configs, const KeyInfo&) -> std::optional<std::string> {
      configs.clear();  // AlterConfigs replaces every override
      for (const auto& c : res->configs) {
        if (!c.value) return "null value for " + c.name;
        configs[c.name] = *c.value;
      }
      return std::nullopt;
    };
    co_await apply(ctx.broker, r.resource_type, r.resource_name, change, req.validate_only, out);
  }
  co_return resp;
}

asio::awaitable<IncrementalAlterConfigsResponse> handle_incremental_alter_configs(RequestContext& ctx,
                                                                                 IncrementalAlterConfigsRequest& req) {
  if (auto forwarded = co_await forward_to_controller<IncrementalAlterConfigsResponse>(ctx.broker, req, ctx.api_version()))
    co_return std::move(*forwarded);
  IncrementalAlterConfigsResponse resp;
  for (const auto& r : req.resources) {
    auto& out = resp.responses.emplace_back();
    const auto* res = &r;
    Change change = [res](std::map<std::string, std::string>& configs, const KeyInfo& keys) -> std::optional<std::string> {
      for (const auto& c : res->configs) {
        switch (c.config_operation) {
          case kSet:
            if (!c.value) return "null value for " + c.name;
            configs[c.name] = *c.value;
            break;
          case kDelete:
            configs.erase(c.name);
            break;
          case kAppend:
          case kSubtract: {
            const ConfigDef* def = keys.find(c.name);
            if (def == nullptr) return "Unknown config name: " + c.name;
            if (def->type != ConfigType::List) return c.name + " is not a list: APPEND and SUBTRACT need one";
            auto it = configs.find(c.name);
            std::vector<std::string> items =
                split_list(it != configs.end() ? it->second : keys.current(c.name).value_or(""));
            for (const auto& v : split_list(c.value.value_or(""))) {
              auto at = std::find(items.begin(), items.end(), v);
              if (c.config_operation == kAppend && at == items.end()) items.push_back(v);
              if (c.config_operation == kSubtract && at != items.end()) items.erase(at);
            }
            configs[c.name] = join_list(items);
            break;
          }
          default:
            return "unknown config operation " + std::to_string(c.config_operation);
        }
      }
      return std::nullopt;
    };
    co_await apply(ctx.broker, r.resource_type, r.resource_name, change, req.validate_only, out);
  }
  co_return resp;
}

}  // namespace fjord::broker
