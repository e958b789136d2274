// AlterConfigs (replace a topic's overrides) and IncrementalAlterConfigs (SET, DELETE, APPEND,
// SUBTRACT per key). Topic resources only: the broker's configuration is static (a restart with
// a new server.properties changes it).
#include <algorithm>
#include <sstream>

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

// Runs the change on the controller shard; fills error_code / error_message.
template <typename Out>
asio::awaitable<void> apply(Broker& broker, int8_t type, const std::string& name,
                            std::function<std::optional<std::string>(std::map<std::string, std::string>&)> change,
                            bool validate_only, Out& out) {
  out.resource_type = type;
  out.resource_name = name;
  if (type == kBrokerResource) {
    out.error_code = code(ErrorCode::INVALID_REQUEST);
    out.error_message = "broker configs are static in Fjord: set them in server.properties or with --set";
    co_return;
  }
  if (type != kTopicResource) {
    out.error_code = code(ErrorCode::INVALID_REQUEST);
    out.error_message = "unsupported resource type " + std::to_string(type);
    co_return;
  }
  const metadata::TopicInfo* topic = broker.store.image()->find(name);
  if (topic == nullptr) {
    out.error_code = code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    out.error_message = "The topic '" + name + "' does not exist.";
    co_return;
  }
  std::map<std::string, std::string> configs = topic->configs;
  if (auto err = change(configs)) {
    out.error_code = code(ErrorCode::INVALID_CONFIG);
    out.error_message = *err;
    co_return;
  }
  auto work = [&broker, name, configs, validate_only] {
    return broker.controller.set_topic_configs(name, configs, validate_only);
  };
  TopicResult result = co_await run_on(broker.controller_context(), std::move(work));
  out.error_code = code(result.error);
  out.error_message = result.ok() ? std::nullopt : std::optional<std::string>(result.message);
}
}  // namespace

asio::awaitable<AlterConfigsResponse> handle_alter_configs(RequestContext& ctx, AlterConfigsRequest& req) {
  AlterConfigsResponse resp;
  for (const auto& r : req.resources) {
    auto& out = resp.responses.emplace_back();
    const auto* res = &r;
    std::function<std::optional<std::string>(std::map<std::string, std::string>&)> change =
        [res](std::map<std::string, std::string>& configs) -> std::optional<std::string> {
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
  IncrementalAlterConfigsResponse resp;
  for (const auto& r : req.resources) {
    auto& out = resp.responses.emplace_back();
    const auto* res = &r;
    std::function<std::optional<std::string>(std::map<std::string, std::string>&)> change =
        [res](std::map<std::string, std::string>& configs) -> std::optional<std::string> {
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
            const TopicConfigDef* def = find_topic_config(c.name);
            if (def == nullptr) return "Unknown topic config name: " + c.name;
            if (def->def.type != ConfigType::List) return c.name + " is not a list: APPEND and SUBTRACT need one";
            auto it = configs.find(c.name);
            std::vector<std::string> items =
                split_list(it != configs.end() ? it->second : std::string(def->def.default_value.value_or("")));
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
