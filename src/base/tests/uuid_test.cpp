#include "base/uuid.h"

#include <gtest/gtest.h>

namespace fjord {

TEST(Uuid, TextFormRoundTrips) {
  for (int i = 0; i < 1000; ++i) {
    Uuid u = Uuid::random();
    std::string s = u.to_string();
    ASSERT_EQ(s.size(), 22u);
    ASSERT_NE(s[0], '-');
    auto back = Uuid::parse(s);
    ASSERT_TRUE(back.has_value()) << s;
    EXPECT_EQ(*back, u);
  }
}

TEST(Uuid, KnownValues) {
  Uuid zero;
  EXPECT_EQ(zero.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
  Uuid one;
  one.bytes[15] = 1;
  EXPECT_EQ(one.to_string(), "AAAAAAAAAAAAAAAAAAAAAQ");
  EXPECT_FALSE(Uuid::parse("short").has_value());
  EXPECT_FALSE(Uuid::parse("AAAAAAAAAAAAAAAAAAAAA*").has_value());
  EXPECT_FALSE(Uuid::parse("AAAAAAAAAAAAAAAAAAAAAB").has_value());  // non-zero padding bits
}

}  // namespace fjord
