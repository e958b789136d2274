#include "base/properties.h"

#include <gtest/gtest.h>

namespace fjord {

TEST(Properties, ParsesKafkaServerPropertiesSyntax) {
  auto p = parse_properties(
      "# comment\n"
      "! also a comment\n"
      "log.dirs=/tmp/kafka-logs\n"
      "  num.partitions : 3\n"
      "listeners PLAINTEXT://:9092\n"
      "long.value=a,\\\n"
      "    b,\\\n"
      "    c\n"
      "escaped\\=key=tab\\there\n"
      "unicode=\\u0041x\n"
      "empty=\n"
      "crlf=yes\r\n"
      "num.partitions=4\n");
  EXPECT_EQ(p.at("log.dirs"), "/tmp/kafka-logs");
  EXPECT_EQ(p.at("num.partitions"), "4");
  EXPECT_EQ(p.at("listeners"), "PLAINTEXT://:9092");
  EXPECT_EQ(p.at("long.value"), "a,b,c");
  EXPECT_EQ(p.at("escaped=key"), "tab\there");
  EXPECT_EQ(p.at("unicode"), "Ax");
  EXPECT_EQ(p.at("empty"), "");
  EXPECT_EQ(p.at("crlf"), "yes");
  EXPECT_EQ(p.size(), 8u);
}

TEST(Properties, MissingFileIsAnErrorNamingThePath) {
  auto r = load_properties_file("/nonexistent/server.properties");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("/nonexistent/server.properties"), std::string::npos);
}

}  // namespace fjord
