#include "protocol/headers.h"

#include <gtest/gtest.h>

#include "protocol/generated/api_versions_response.h"
#include "protocol/generated/metadata_request.h"

namespace fjord::protocol {

TEST(Headers, VersionsFollowFlexibleVersions) {
  const ApiSpec& metadata = *find_api_spec(3);
  EXPECT_EQ(request_header_version(metadata, 8), 1);
  EXPECT_EQ(request_header_version(metadata, 9), 2);
  EXPECT_EQ(response_header_version(metadata, 8), 0);
  EXPECT_EQ(response_header_version(metadata, 9), 1);
  const ApiSpec& api_versions = *find_api_spec(18);
  EXPECT_EQ(request_header_version(api_versions, 3), 2);
  EXPECT_EQ(response_header_version(api_versions, 3), 0);
  EXPECT_EQ(request_header_version(*find_api_spec(7), 0), 0);
}

TEST(Headers, FlexibleRequestHeaderKeepsClassicClientId) {
  RequestHeader h;
  h.request_api_key = 3;
  h.request_api_version = 12;
  h.correlation_id = 42;
  h.client_id = "cli";
  MetadataRequest body;
  body.topics = std::nullopt;
  Bytes frame = encode_request(h, body);
  // size(4) key(2) version(2) correlation(4) client id as int16 length + 3 bytes, tags(1)
  ASSERT_GE(frame.size(), 4u + 2 + 2 + 4 + 2 + 3 + 1);
  EXPECT_EQ(frame[12], 0);
  EXPECT_EQ(frame[13], 3);
  EXPECT_EQ(frame[14], 'c');

  std::string error;
  auto parsed = parse_request(ByteView(frame).subspan(4), error);
  ASSERT_TRUE(parsed.has_value()) << error;
  EXPECT_EQ(parsed->header, h);
  MetadataRequest decoded;
  decoded.decode(parsed->body, 12);
  EXPECT_TRUE(parsed->body.ok());
  EXPECT_EQ(decoded, body);
}

TEST(Headers, UnknownApiKeyParsesFixedPart) {
  Bytes frame{0x7f, 0x00, 0x00, 0x01, 0, 0, 0, 9};
  std::string error;
  auto parsed = parse_request(frame, error);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->api, nullptr);
  EXPECT_EQ(parsed->header.correlation_id, 9);
}

TEST(Headers, TruncatedHeaderFails) {
  Bytes frame{0x00, 0x03, 0x00};
  std::string error;
  EXPECT_FALSE(parse_request(frame, error).has_value());
  EXPECT_FALSE(error.empty());
  Bytes bad_client_id{0x00, 0x03, 0x00, 0x01, 0, 0, 0, 1, 0x00, 0x10, 'a'};
  EXPECT_FALSE(parse_request(bad_client_id, error).has_value());
}

TEST(Headers, ApiVersionsResponseUsesHeaderV0EvenWhenFlexible) {
  ApiVersionsResponse body;
  Bytes frame = encode_response(*find_api_spec(18), 3, 7, body);
  // size, correlation id, then straight into the body (error code int16): no tagged-field byte.
  ASSERT_GE(frame.size(), 10u);
  EXPECT_EQ(frame[7], 7);
  EXPECT_EQ(frame[8], 0);
  EXPECT_EQ(frame[9], 0);
}

}  // namespace fjord::protocol
