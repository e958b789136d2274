// Helpers for the generated round-trip test: deterministic non-default field values, and the
// encode → decode → encode and truncation checks.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "protocol/codec.h"

namespace fjord::protocol {

// Hands out a different non-default value on every call.
class Sample {
 public:
  void value(bool& x) { x = (next() % 2) == 0; }
  template <typename T>
    requires std::is_integral_v<T>
  void value(T& x) { x = static_cast<T>(next() % 100 + 1); }
  void value(double& x) { x = static_cast<double>(next()) + 0.5; }
  void value(std::string& x) { x = "s" + std::to_string(next()); }
  void value(Bytes& x) { x = Bytes{1, 2, static_cast<uint8_t>(next())}; }
  void value(Records& x) { x = Records(Bytes{3, 4, static_cast<uint8_t>(next())}); }
  void value(Uuid& x) {
    x = Uuid{};
    x.bytes[0] = static_cast<uint8_t>(next());
    x.bytes[15] = 7;
  }
  template <typename T>
    requires std::is_class_v<T>
  void value(T& x) { fill(*this, x); }

 private:
  uint32_t next() { return ++counter_; }
  uint32_t counter_ = 0;
};

template <typename Message>
void check_roundtrip(int16_t version) {
  SCOPED_TRACE("version " + std::to_string(version));
  Message original;
  Sample sample;
  fill(sample, original);

  Bytes first;
  Writer w1(first);
  original.encode(w1, version);

  Message decoded;
  Reader r(first);
  decoded.decode(r, version);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r.remaining(), 0u);

  Bytes second;
  Writer w2(second);
  decoded.encode(w2, version);
  ASSERT_EQ(first, second);

  for (size_t n = 0; n < first.size(); ++n) {
    Message partial;
    Reader pr(first.data(), n);
    partial.decode(pr, version);
    ASSERT_FALSE(pr.ok()) << "a " << n << "-byte prefix of " << first.size() << " decoded";
  }
}

}  // namespace fjord::protocol
