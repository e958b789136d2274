#include "base/uuid.h"

#include <cstring>
#include <random>

namespace fjord {
namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int decode_char(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}
}  // namespace

bool Uuid::is_zero() const {
  for (uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

std::string Uuid::to_string() const {
  std::string out;
  out.reserve(22);
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

std::optional<Uuid> Uuid::parse(std::string_view text) {
  if (text.size() != 22) return std::nullopt;
  Uuid u;
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  for (char c : text) {
    int v = decode_char(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n == 16) return std::nullopt;
      u.bytes[n++] = static_cast<uint8_t>(acc >> bits);
    }
  }
  if (n != 16 || (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return u;
}

Uuid Uuid::random() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  for (;;) {
    Uuid u;
    uint64_t hi = rng(), lo = rng();
    std::memcpy(u.bytes.data(), &hi, 8);
    std::memcpy(u.bytes.data() + 8, &lo, 8);
    u.bytes[6] = (u.bytes[6] & 0x0f) | 0x40;  // version 4
    u.bytes[8] = (u.bytes[8] & 0x3f) | 0x80;  // IETF variant
    Uuid metadata_topic_id;
    metadata_topic_id.bytes[15] = 1;
    if (u.is_zero() || u == metadata_topic_id || u.to_string()[0] == '-') continue;
    return u;
  }
}

size_t UuidHash::operator()(const Uuid& u) const {
  uint64_t a, b;
  std::memcpy(&a, u.bytes.data(), 8);
  std::memcpy(&b, u.bytes.data() + 8, 8);
  return static_cast<size_t>(a ^ (b * 0x9e3779b97f4a7c15ULL));
}

}  // namespace fjord
