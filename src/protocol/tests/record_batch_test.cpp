#include "protocol/record_batch.h"

#include <gtest/gtest.h>

#include "base/crc32c.h"
#include "protocol/codec.h"
#include "protocol/record_batch_builder.h"

namespace fjord::protocol {
namespace {

Bytes sample_batch(int records = 3) {
  RecordBatchBuilder b(1000);
  for (int i = 0; i < records; ++i)
    b.add(Bytes{'k', static_cast<uint8_t>('0' + i)}, Bytes(10, static_cast<uint8_t>(i)), 1000 + i,
          {{"h", Bytes{'v'}}, {"n", std::nullopt}});
  return b.build();
}

void fix_crc(Bytes& b) {
  Bytes tmp;
  Writer w(tmp);
  w.write_uint32(crc32c(b.data() + batch::kAttributes, b.size() - batch::kAttributes));
  std::copy(tmp.begin(), tmp.end(), b.begin() + batch::kCrc);
}

void put32(Bytes& b, size_t pos, int32_t v) {
  for (int i = 0; i < 4; ++i) b[pos + i] = static_cast<uint8_t>(static_cast<uint32_t>(v) >> (8 * (3 - i)));
}

}  // namespace

TEST(RecordBatch, BuiltBatchIsValidAndHeaderReads) {
  Bytes b = sample_batch();
  EXPECT_FALSE(validate_batch(b).has_value());
  auto h = read_batch_header(b);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->magic, 2);
  EXPECT_EQ(h->records_count, 3);
  EXPECT_EQ(h->last_offset_delta, 2);
  EXPECT_EQ(h->base_timestamp, 1000);
  EXPECT_EQ(h->max_timestamp, 1002);
  EXPECT_EQ(h->total_size(), b.size());
}

TEST(RecordBatch, AssignOffsetsKeepsTheCrcValid) {
  Bytes b = sample_batch();
  assign_offsets(b.data(), 123456789012LL, 7);
  EXPECT_FALSE(validate_batch(b).has_value());
  auto h = read_batch_header(b);
  EXPECT_EQ(h->base_offset, 123456789012LL);
  EXPECT_EQ(h->partition_leader_epoch, 7);
  EXPECT_EQ(h->last_offset(), 123456789014LL);
}

TEST(RecordBatch, LogAppendTimeRewritesMaxTimestampAndCrc) {
  Bytes b = sample_batch();
  set_log_append_time(b.data(), b.size(), 99999);
  EXPECT_FALSE(validate_batch(b).has_value());
  auto h = read_batch_header(b);
  EXPECT_TRUE(h->log_append_time());
  EXPECT_EQ(h->max_timestamp, 99999);
}

TEST(RecordBatch, EachDefectHasItsError) {
  {
    Bytes b = sample_batch();
    b[batch::kMagic] = 1;
    EXPECT_EQ(validate_batch(b)->code, ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT);
  }
  {
    Bytes b = sample_batch();
    b[b.size() - 3] ^= 0x40;
    auto e = validate_batch(b);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code, ErrorCode::CORRUPT_MESSAGE);
    EXPECT_NE(e->message.find("CRC"), std::string::npos);
  }
  {
    Bytes b = sample_batch();
    b.pop_back();
    EXPECT_EQ(validate_batch(b)->code, ErrorCode::CORRUPT_MESSAGE);
  }
  {
    Bytes b = sample_batch();
    put32(b, batch::kBatchLength, -5);
    EXPECT_EQ(validate_batch(b)->code, ErrorCode::CORRUPT_MESSAGE);
  }
  {
    Bytes b = sample_batch();
    put32(b, batch::kRecordsCount, 5);
    fix_crc(b);
    EXPECT_EQ(validate_batch(b)->code, ErrorCode::INVALID_RECORD);
  }
  {
    Bytes b = sample_batch();
    put32(b, batch::kRecordsCount, -1);
    fix_crc(b);
    EXPECT_EQ(validate_batch(b)->code, ErrorCode::INVALID_RECORD);
  }
  {
    // A record whose length varint claims more than the batch holds (CRC made valid).
    Bytes b = sample_batch(1);
    b[batch::kHeaderSize] = 0x7e;  // zig-zag 63
    fix_crc(b);
    EXPECT_EQ(validate_batch(b)->code, ErrorCode::CORRUPT_MESSAGE);
  }
  {
    Bytes b = sample_batch();
    EXPECT_EQ(validate_batch(ByteView(b).subspan(0, 40))->code, ErrorCode::CORRUPT_MESSAGE);
  }
}

TEST(RecordBatch, ForEachValidBatchSplitsAndRejects) {
  Bytes a = sample_batch(2), b = sample_batch(5);
  Bytes both = a;
  both.insert(both.end(), b.begin(), b.end());
  int seen = 0;
  int32_t records = 0;
  EXPECT_FALSE(for_each_valid_batch(both, [&](ByteView, const BatchHeader& h) {
                 ++seen;
                 records += h.records_count;
               }).has_value());
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(records, 7);
  both.push_back(0);
  EXPECT_TRUE(for_each_valid_batch(both, [](ByteView, const BatchHeader&) {}).has_value());
  EXPECT_TRUE(for_each_valid_batch(ByteView(), [](ByteView, const BatchHeader&) {}).has_value());
}

}  // namespace fjord::protocol
