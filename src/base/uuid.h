// A 128-bit id (Kafka's topic ids). Printed the way Kafka prints them: URL-safe base64, no padding.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fjord {

struct Uuid {
  std::array<uint8_t, 16> bytes{};

  bool is_zero() const;
  std::string to_string() const;
  static std::optional<Uuid> parse(std::string_view base64);
  // A random id that is neither all zero nor Kafka's reserved METADATA_TOPIC_ID (1), and whose
  // text form does not start with '-' (Kafka avoids those so ids never look like CLI flags).
  static Uuid random();

  bool operator==(const Uuid&) const = default;
  auto operator<=>(const Uuid&) const = default;
};

struct UuidHash {
  size_t operator()(const Uuid& u) const;
};

}  // namespace fjord
