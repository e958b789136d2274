#include "protocol/codec.h"

#include <gtest/gtest.h>

#include <limits>

namespace fjord::protocol {

TEST(Codec, IntegersAreBigEndian) {
  Bytes b;
  Writer w(b);
  w.write_int16(0x0102);
  w.write_int32(-2);
  w.write_int64(0x0102030405060708LL);
  EXPECT_EQ(b, (Bytes{1, 2, 0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8}));
  Reader r(b);
  EXPECT_EQ(r.read_int16(), 0x0102);
  EXPECT_EQ(r.read_int32(), -2);
  EXPECT_EQ(r.read_int64(), 0x0102030405060708LL);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
  r.read_int8();
  EXPECT_FALSE(r.ok());
}

TEST(Codec, VarintsRoundTripAtTheEdges) {
  for (int64_t v : {0LL, 1LL, -1LL, 63LL, -64LL, 64LL, 300LL, (long long)std::numeric_limits<int32_t>::max(),
                    (long long)std::numeric_limits<int32_t>::min()}) {
    Bytes b;
    Writer w(b);
    w.write_varint(static_cast<int32_t>(v));
    w.write_varlong(v * 1000003);
    Reader r(b);
    EXPECT_EQ(r.read_varint(), static_cast<int32_t>(v));
    EXPECT_EQ(r.read_varlong(), v * 1000003);
    EXPECT_TRUE(r.ok());
  }
  Bytes b;
  Writer w(b);
  w.write_uvarint(300);
  EXPECT_EQ(b, (Bytes{0xac, 0x02}));
  w.write_varint(-1);
  EXPECT_EQ(b.back(), 1);  // zig-zag: -1 -> 1
}

TEST(Codec, OverlongVarintFails) {
  Bytes b(6, 0xff);
  Reader r(b);
  r.read_uvarint();
  EXPECT_FALSE(r.ok());
}

TEST(Codec, StringsCompactAndClassic) {
  Bytes b;
  Writer w(b);
  w.write_string("ab", false);
  w.write_string("ab", true);
  w.write_nullable_string(std::nullopt, false);
  w.write_nullable_string(std::nullopt, true);
  EXPECT_EQ(b, (Bytes{0, 2, 'a', 'b', 3, 'a', 'b', 0xff, 0xff, 0}));
  Reader r(b);
  EXPECT_EQ(r.read_string(false), "ab");
  EXPECT_EQ(r.read_string(true), "ab");
  EXPECT_EQ(r.read_nullable_string(false), std::nullopt);
  EXPECT_EQ(r.read_nullable_string(true), std::nullopt);
  EXPECT_TRUE(r.ok());
}

TEST(Codec, NullForNonNullableStringFails) {
  Bytes b{0xff, 0xff};
  Reader r(b);
  r.read_string(false);
  EXPECT_FALSE(r.ok());
}

TEST(Codec, LengthsBeyondTheInputFailWithoutAllocating) {
  Bytes huge_string{0x7f, 0xff, 'a'};
  Reader r1(huge_string);
  r1.read_string(false);
  EXPECT_FALSE(r1.ok());

  Bytes negative_bytes{0xff, 0xff, 0xff, 0xf0};
  Reader r2(negative_bytes);
  r2.read_bytes(false);
  EXPECT_FALSE(r2.ok());

  Bytes huge_array{0x7f, 0xff, 0xff, 0xff, 0};
  Reader r3(huge_array);
  EXPECT_EQ(r3.read_array_length(false), 0);
  EXPECT_FALSE(r3.ok());

  Bytes negative_array{0xff, 0xff, 0xff, 0xfe};
  Reader r4(negative_array);
  r4.read_array_length(false);
  EXPECT_FALSE(r4.ok());

  Bytes compact_huge{0xff, 0xff, 0xff, 0xff, 0x0f};
  Reader r5(compact_huge);
  r5.read_array_length(true);
  EXPECT_FALSE(r5.ok());
}

}  // namespace fjord::protocol
