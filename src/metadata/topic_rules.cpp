#include "metadata/topic_rules.h"

#include <fmt/format.h>

#include "base/config.h"

namespace fjord::metadata {

std::optional<std::string> invalid_topic_name(std::string_view name) {
  if (name.empty()) return "Topic name is empty";
  if (name == "." || name == "..") return "Topic name cannot be \".\" or \"..\"";
  if (name.size() > kMaxTopicNameLength)
    return fmt::format("Topic name is longer than {} characters", kMaxTopicNameLength);
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) return fmt::format("Topic name '{}' contains a character other than ASCII alphanumerics, '.', '_' and '-'", name);
  }
  return std::nullopt;
}

std::string collision_key(std::string_view name) {
  std::string key(name);
  for (char& c : key)
    if (c == '.') c = '_';
  return key;
}

std::optional<std::string> invalid_topic_configs(const std::map<std::string, std::string>& configs) {
  for (const auto& [key, value] : configs) {
    const TopicConfigDef* def = find_topic_config(key);
    if (def == nullptr) return fmt::format("Unknown topic config name: {}", key);
    if (auto err = validate_config_value(def->def, value)) return fmt::format("Invalid value for {}: {}", key, *err);
  }
  return std::nullopt;
}

bool is_internal_topic(std::string_view name) { return name == "__consumer_offsets" || name == "__transaction_state"; }

}  // namespace fjord::metadata
