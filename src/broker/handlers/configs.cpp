// DescribeConfigs.
#include <algorithm>
#include <charconv>

#include "broker/effective_config.h"
#include "broker/handlers/handlers.h"

namespace fjord::broker {
using namespace protocol;

namespace {
constexpr int8_t kTopicResource = 2;
constexpr int8_t kBrokerResource = 4;
constexpr int8_t kBrokerLoggerResource = 8;

void add_configs(const std::vector<EffectiveConfig>& configs, const std::optional<std::vector<std::string>>& keys,
                 const DescribeConfigsRequest& req, int16_t version, DescribeConfigsResponse::DescribeConfigsResult& out) {
  for (const EffectiveConfig& c : configs) {
    if (keys && std::find(keys->begin(), keys->end(), c.name) == keys->end()) continue;
    auto& oc = out.configs.emplace_back();
    oc.name = c.name;
    oc.value = c.value;
    oc.read_only = c.read_only;
    oc.is_default = c.source == ConfigSource::Default;
    oc.config_source = static_cast<int8_t>(c.source);
    oc.is_sensitive = c.sensitive;
    oc.config_type = static_cast<int8_t>(c.type);
    oc.documentation = std::nullopt;
    if (version >= 1 && req.include_synonyms) {
      for (const ConfigSynonym& s : c.synonyms) {
        auto& os = oc.synonyms.emplace_back();
        os.name = s.name;
        os.value = c.sensitive ? std::nullopt : s.value;
        os.source = static_cast<int8_t>(s.source);
      }
    }
  }
}
}  // namespace

asio::awaitable<DescribeConfigsResponse> handle_describe_configs(RequestContext& ctx, DescribeConfigsRequest& req) {
  Broker& broker = ctx.broker;
  DescribeConfigsResponse resp;
  auto image = broker.store.image();
  for (const auto& resource : req.resources) {
    auto& out = resp.results.emplace_back();
    out.resource_type = resource.resource_type;
    out.resource_name = resource.resource_name;
    auto reject = [&](ErrorCode error, std::string message) {
      out.error_code = code(error);
      out.error_message = std::move(message);
    };
    switch (resource.resource_type) {
      case kTopicResource: {
        const metadata::TopicInfo* topic = image->find(resource.resource_name);
        if (topic == nullptr) {
          reject(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, "The topic '" + resource.resource_name + "' does not exist.");
          break;
        }
        add_configs(effective_topic_configs(*broker.config(), *topic), resource.configuration_keys, req, ctx.api_version(),
                    out);
        break;
      }
      case kBrokerResource: {
        int32_t id = -1;
        const std::string& name = resource.resource_name;
        auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
        if (!name.empty() && (ec != std::errc() || p != name.data() + name.size() || id != broker.node_id)) {
          reject(ErrorCode::INVALID_REQUEST, "Unexpected broker id, expected " + std::to_string(broker.node_id) +
                                                 " or empty string, but received " + name);
          break;
        }
        auto config = broker.config();
        add_configs(name.empty() ? effective_broker_default_configs(*config) : effective_broker_configs(*config),
                    resource.configuration_keys, req, ctx.api_version(), out);
        break;
      }
      case kBrokerLoggerResource:
        break;  // no dynamic logger levels to report
      default:
        reject(ErrorCode::INVALID_REQUEST, "Unsupported resource type " + std::to_string(resource.resource_type));
    }
  }
  co_return resp;
}

}  // namespace fjord::broker
