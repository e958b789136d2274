#include "protocol/compression.h"

#include <gtest/gtest.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <string>

namespace fjord::protocol {
namespace {

Bytes sample() {
  std::string s;
  for (int i = 0; i < 5000; ++i) s += "record " + std::to_string(i) + " payload payload payload\n";
  return Bytes(s.begin(), s.end());
}

Bytes gzip(const Bytes& in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  Bytes out(deflateBound(&z, in.size()) + 32);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

Bytes snappy_raw(const Bytes& in) {
  size_t len = snappy_max_compressed_length(in.size());
  Bytes out(len);
  snappy_compress(reinterpret_cast<const char*>(in.data()), in.size(), reinterpret_cast<char*>(out.data()), &len);
  out.resize(len);
  return out;
}

Bytes snappy_xerial(const Bytes& in) {
  Bytes out = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
  for (size_t pos = 0; pos < in.size(); pos += 32768) {
    Bytes block(in.begin() + static_cast<ptrdiff_t>(pos),
                in.begin() + static_cast<ptrdiff_t>(std::min(in.size(), pos + 32768)));
    Bytes c = snappy_raw(block);
    uint32_t n = static_cast<uint32_t>(c.size());
    out.insert(out.end(), {uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)});
    out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}

Bytes lz4(const Bytes& in) {
  Bytes out(LZ4F_compressFrameBound(in.size(), nullptr));
  out.resize(LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), nullptr));
  return out;
}

Bytes zstd(const Bytes& in) {
  Bytes out(ZSTD_compressBound(in.size()));
  out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  return out;
}

}  // namespace

TEST(Compression, EveryCodecRoundTrips) {
  Bytes data = sample();
  EXPECT_EQ(*decompress(Codec::Gzip, gzip(data), 1 << 24), data);
  EXPECT_EQ(*decompress(Codec::Snappy, snappy_raw(data), 1 << 24), data);
  EXPECT_EQ(*decompress(Codec::Snappy, snappy_xerial(data), 1 << 24), data);
  EXPECT_EQ(*decompress(Codec::Lz4, lz4(data), 1 << 24), data);
  EXPECT_EQ(*decompress(Codec::Zstd, zstd(data), 1 << 24), data);
}

TEST(Compression, OutputIsBoundedAndCorruptionIsAnError) {
  Bytes data = sample();
  for (auto [codec, packed] : {std::pair{Codec::Gzip, gzip(data)}, std::pair{Codec::Snappy, snappy_xerial(data)},
                               std::pair{Codec::Lz4, lz4(data)}, std::pair{Codec::Zstd, zstd(data)}}) {
    SCOPED_TRACE(static_cast<int>(codec));
    EXPECT_FALSE(decompress(codec, packed, data.size() / 2).has_value());
    Bytes truncated(packed.begin(), packed.begin() + static_cast<ptrdiff_t>(packed.size() / 2));
    EXPECT_FALSE(decompress(codec, truncated, 1 << 24).has_value());
    Bytes garbage(packed.size(), 0x5a);
    EXPECT_FALSE(decompress(codec, garbage, 1 << 24).has_value());
  }
}

}  // namespace fjord::protocol

namespace fjord::protocol {

TEST(Compression, AZstdFrameAskingForAHugeWindowIsRefused) {
  // Magic, a header with no content size and a 128 MiB window, then one raw block holding "x":
  // decoding it would allocate the whole window first.
  const Bytes frame = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3, 0x09, 0x00, 0x00, 'x'};
  auto out = decompress(Codec::Zstd, frame, 1 << 20);
  ASSERT_FALSE(out.has_value());
  EXPECT_NE(out.error().find("zstd"), std::string::npos) << out.error();
  // The same with a 1 MiB window decodes.
  const Bytes small = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 10 << 3, 0x09, 0x00, 0x00, 'x'};
  auto ok = decompress(Codec::Zstd, small, 1 << 20);
  ASSERT_TRUE(ok.has_value()) << ok.error();
  EXPECT_EQ(*ok, Bytes{'x'});
}

TEST(Compression, CompressRoundTripsThroughEveryCodec) {
  Bytes data = sample();
  for (Codec codec : {Codec::None, Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd}) {
    SCOPED_TRACE(static_cast<int>(codec));
    auto packed = compress(codec, data);
    ASSERT_TRUE(packed.has_value()) << packed.error();
    if (codec != Codec::None) EXPECT_LT(packed->size(), data.size() / 2);
    EXPECT_EQ(*decompress(codec, *packed, 1 << 24), data);
    auto empty = compress(codec, Bytes{});
    ASSERT_TRUE(empty.has_value());
    EXPECT_EQ(decompress(codec, *empty, 1 << 24)->size(), 0u);
  }
  // What the broker writes, the codec libraries read on their own (as a client would).
  Bytes z = *compress(Codec::Zstd, data);
  EXPECT_EQ(ZSTD_getFrameContentSize(z.data(), z.size()), data.size());
  Bytes s = *compress(Codec::Snappy, data);
  size_t len = 0;
  ASSERT_EQ(snappy_uncompressed_length(reinterpret_cast<const char*>(s.data()), s.size(), &len), SNAPPY_OK);
  EXPECT_EQ(len, data.size());
}

}  // namespace fjord::protocol
