#include "base/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace fjord {

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("", 0), 0u);
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8a9136aau);
}

TEST(Crc32c, IncrementalEqualsWhole) {
  std::string s = "The quick brown fox jumps over the lazy dog, many times over and over";
  uint32_t whole = crc32c(s.data(), s.size());
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    uint32_t part = crc32c(s.data(), cut);
    EXPECT_EQ(crc32c(s.data() + cut, s.size() - cut, part), whole) << cut;
  }
}

TEST(Crc32c, AgreesWithTheTableVersionAtEverySizeAndAlignment) {
  // Sizes around multiples of the three-lane block (3 x 4096) and odd alignments.
  std::string data(5 * 3 * 4096 + 64, '\0');
  uint32_t x = 12345;
  for (char& c : data) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 16);
  }
  for (size_t size : {0ul, 1ul, 7ul, 8ul, 4095ul, 12287ul, 12288ul, 12289ul, 24576ul, 30000ul, 61440ul}) {
    for (size_t align = 0; align < 9; ++align) {
      ASSERT_EQ(crc32c(data.data() + align, size), crc32c_portable_for_test(data.data() + align, size))
          << size << " at +" << align;
      ASSERT_EQ(crc32c(data.data() + align, size, 0xdeadbeef),
                crc32c_portable_for_test(data.data() + align, size, 0xdeadbeef))
          << size << " at +" << align << " continuing";
    }
  }
}

}  // namespace fjord
