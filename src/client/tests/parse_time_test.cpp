#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client/client.h"

namespace fjord::client {
namespace {

constexpr int64_t kNov25 = 1795600800000;  // 2026-11-25T10:00:00Z

TEST(ParseTime, EpochMilliseconds) {
  EXPECT_EQ(parse_time_ms("0"), 0);
  EXPECT_EQ(parse_time_ms("1795600800123"), 1795600800123);
  EXPECT_EQ(parse_time_ms("-5"), std::nullopt);
}

TEST(ParseTime, IsoDateTimeIsUtcUnlessZoned) {
  EXPECT_EQ(parse_time_ms("2026-11-25T10:00:00"), kNov25);
  EXPECT_EQ(parse_time_ms("2026-11-25 10:00:00"), kNov25);
  EXPECT_EQ(parse_time_ms("2026-11-25T10:00"), kNov25);
  EXPECT_EQ(parse_time_ms("2026-11-25T10:00:00Z"), kNov25);
  EXPECT_EQ(parse_time_ms("2026-11-25T10:00:00 UTC"), kNov25);
  EXPECT_EQ(parse_time_ms("2026-11-25T10:00:00.250"), kNov25 + 250);
  EXPECT_EQ(parse_time_ms("2026-11-25T10:00:00.5Z"), kNov25 + 500);
  EXPECT_EQ(parse_time_ms("2026-11-25T10:00:00.123456"), kNov25 + 123);
  EXPECT_EQ(parse_time_ms("2026-11-25T11:30:00+01:30"), kNov25);
  EXPECT_EQ(parse_time_ms("2026-11-25T05:00:00-0500"), kNov25);
  EXPECT_EQ(parse_time_ms("1970-01-01T00:00:00"), 0);
}

TEST(ParseTime, RejectsWhatIsNotADateTime) {
  const std::vector<std::string> bad = {
      "",
      "yesterday",
      "2026-11-25",
      "2026-11-25T",
      "2026-13-01T00:00:00",
      "2026-02-30T00:00:00",
      "2026-11-25T24:00:00",
      "2026-11-25T10:60:00",
      "2026-11-25T10:00:00.",
      "2026-11-25T10:00:00+1",
      "2026-11-25T10:00:00 PST",
      "2026-11-25T10:00:00Zjunk",
      "12ab",
      std::string("2026-11-25\0" "10:00:00", 19),  // a NUL is not a separator
  };
  for (const std::string& text : bad) EXPECT_EQ(parse_time_ms(text), std::nullopt) << text;
}

}  // namespace
}  // namespace fjord::client
