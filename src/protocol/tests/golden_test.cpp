// Request bytes captured from real clients (tools/capture/capture_requests.py) decode to the
// fields those clients sent, and re-encode to the same bytes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "protocol/generated/api_versions_request.h"
#include "protocol/generated/create_topics_request.h"
#include "protocol/generated/metadata_request.h"
#include "protocol/headers.h"

namespace fjord::protocol {
namespace {

Bytes load(const std::string& name) {
  std::ifstream in(std::string(FJORD_SOURCE_DIR) + "/src/protocol/tests/golden/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

// Parses the frame, checks key and version, decodes the body, and checks the body re-encodes to
// the captured bytes.
template <typename Body>
Body decode_golden(const std::string& name, int16_t version, RequestHeader* header_out = nullptr) {
  Bytes frame = load(name);
  std::string error;
  auto parsed = parse_request(frame, error);
  EXPECT_TRUE(parsed.has_value()) << name << ": " << error;
  if (!parsed) return {};
  EXPECT_EQ(parsed->header.request_api_key, Body::kApiKey);
  EXPECT_EQ(parsed->header.request_api_version, version);
  Body body;
  size_t body_offset = static_cast<size_t>(parsed->body.position() - frame.data());
  body.decode(parsed->body, version);
  EXPECT_TRUE(parsed->body.ok()) << name << ": " << parsed->body.error();
  EXPECT_EQ(parsed->body.remaining(), 0u) << name;
  Bytes again;
  Writer w(again);
  body.encode(w, version);
  EXPECT_EQ(again, Bytes(frame.begin() + static_cast<std::ptrdiff_t>(body_offset), frame.end())) << name;
  if (header_out) *header_out = parsed->header;
  return body;
}

}  // namespace

TEST(Golden, LibrdkafkaApiVersionsV3) {
  RequestHeader h;
  auto req = decode_golden<ApiVersionsRequest>("librdkafka-api_versions-v3.bin", 3, &h);
  EXPECT_EQ(h.client_id, "rdkafka");
  EXPECT_EQ(req.client_software_name, "confluent-kafka-python");
  EXPECT_EQ(req.client_software_version, "1.7.0-rdkafka-2.0.2");
}

TEST(Golden, KafkaPythonApiVersionsV0) {
  RequestHeader h;
  decode_golden<ApiVersionsRequest>("kafka-python-api_versions-v0.bin", 0, &h);
  EXPECT_EQ(h.client_id, "kafka-python-2.0.2");
}

TEST(Golden, KafkajsApiVersionsV2) {
  RequestHeader h;
  decode_golden<ApiVersionsRequest>("kafkajs-api_versions-v2.bin", 2, &h);
  EXPECT_EQ(h.client_id, "golden");
}

TEST(Golden, LibrdkafkaMetadataV4) {
  auto req = decode_golden<MetadataRequest>("librdkafka-metadata-v4.bin", 4);
  // librdkafka's first Metadata asks for brokers only (an empty topic list) or all topics.
  EXPECT_TRUE(!req.topics.has_value() || req.topics->empty());
}

TEST(Golden, KafkaPythonMetadata) {
  auto v0 = decode_golden<MetadataRequest>("kafka-python-metadata-v0.bin", 0);
  EXPECT_TRUE(v0.topics.has_value());
  decode_golden<MetadataRequest>("kafka-python-metadata-v1.bin", 1);
  decode_golden<MetadataRequest>("kafka-python-metadata-v5.bin", 5);
}

TEST(Golden, KafkajsMetadataV6) {
  auto req = decode_golden<MetadataRequest>("kafkajs-metadata-v6.bin", 6);
  EXPECT_FALSE(req.topics.has_value());  // null: every topic
  EXPECT_FALSE(req.allow_auto_topic_creation);  // the admin client never auto-creates
}

TEST(Golden, CreateTopicsFromEveryClient) {
  struct Case {
    const char* file;
    int16_t version;
    const char* topic;
  };
  for (const Case& c : {Case{"librdkafka-create_topics-v4.bin", 4, "golden-topic-rdkafka"},
                        Case{"kafka-python-create_topics-v3.bin", 3, "golden-topic-kafka-python"},
                        Case{"kafkajs-create_topics-v3.bin", 3, "golden-topic-kafkajs"}}) {
    SCOPED_TRACE(c.file);
    auto req = decode_golden<CreateTopicsRequest>(c.file, c.version);
    ASSERT_EQ(req.topics.size(), 1u);
    EXPECT_EQ(req.topics[0].name, c.topic);
    EXPECT_EQ(req.topics[0].num_partitions, 3);
    EXPECT_EQ(req.topics[0].replication_factor, 1);
    EXPECT_TRUE(req.topics[0].assignments.empty());
    EXPECT_FALSE(req.validate_only);
    EXPECT_GT(req.timeout_ms, 0);
  }
}

}  // namespace fjord::protocol
