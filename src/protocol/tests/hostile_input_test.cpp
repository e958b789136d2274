// Hand-made hostile inputs for generated decoders: oversized and negative lengths must fail
// cleanly, before anything of the claimed size is allocated.
#include <gtest/gtest.h>

#include "protocol/generated/create_topics_request.h"
#include "protocol/generated/metadata_request.h"

namespace fjord::protocol {

TEST(HostileInput, HugeTopicCountInMetadataV1) {
  Bytes body{0x7f, 0xff, 0xff, 0xff, 0, 1, 'a'};
  Reader r(body);
  MetadataRequest m;
  m.decode(r, 1);
  EXPECT_FALSE(r.ok());
}

TEST(HostileInput, NegativeStringLengthInTopicName) {
  Bytes body{0, 0, 0, 1, 0xff, 0x00};
  Reader r(body);
  MetadataRequest m;
  m.decode(r, 1);
  EXPECT_FALSE(r.ok());
}

TEST(HostileInput, NullArrayInVersionWithoutNullableTopicsIsNotAllTopics) {
  // Metadata v0 topics are not nullable.
  Bytes body{0xff, 0xff, 0xff, 0xff};
  Reader r(body);
  MetadataRequest m;
  m.decode(r, 0);
  EXPECT_FALSE(r.ok());
}

TEST(HostileInput, CompactLengthsPastTheEndInFlexibleCreateTopics) {
  // v5 (flexible): topics count 1, then a name whose compact length claims 2^28 bytes.
  Bytes body{2, 0x80, 0x80, 0x80, 0x80, 0x01, 'x'};
  Reader r(body);
  CreateTopicsRequest m;
  m.decode(r, 5);
  EXPECT_FALSE(r.ok());
}

TEST(HostileInput, TaggedFieldSizePastTheEnd) {
  // Metadata v9: null topics, three bools, then one tagged field (tag 5) claiming 100 bytes.
  Bytes body{0, 1, 0, 1, 1, 5, 100, 1};
  Reader r(body);
  MetadataRequest m;
  m.decode(r, 9);
  EXPECT_FALSE(r.ok());
}

TEST(HostileInput, UnknownTaggedFieldsAreSkipped) {
  Bytes body{0, 1, 0, 1, 1, 5, 2, 0xaa, 0xbb};
  Reader r(body);
  MetadataRequest m;
  m.decode(r, 9);
  EXPECT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_FALSE(m.topics.has_value());
}

}  // namespace fjord::protocol
