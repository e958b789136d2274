// Kafka's rules for topic names, partition counts and topic configs.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace fjord::metadata {

inline constexpr size_t kMaxTopicNameLength = 249;

// Why `name` is not a legal topic name, or nullopt.
std::optional<std::string> invalid_topic_name(std::string_view name);

// Kafka refuses topics whose names differ only in '.' versus '_' (metric names collide).
std::string collision_key(std::string_view name);

// Why `configs` are not valid topic configs (unknown key or bad value), or nullopt.
std::optional<std::string> invalid_topic_configs(const std::map<std::string, std::string>& configs);

// Internal topics clients may see but not create or delete.
bool is_internal_topic(std::string_view name);

}  // namespace fjord::metadata
