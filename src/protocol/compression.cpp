#include "protocol/compression.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>

#include <fmt/format.h>

#include "protocol/record_batch.h"

namespace fjord::protocol {
namespace {

using Result = tl::expected<Bytes, std::string>;
constexpr size_t kChunk = 64 * 1024;
constexpr int kZstdWindowLogMax = 24;  // 16 MiB

Result too_big(size_t max) { return tl::unexpected(fmt::format("decompressed data exceeds {} bytes", max)); }

Result gunzip(ByteView in, size_t max) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return tl::unexpected(std::string("zlib init failed"));
  Bytes out;
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (out.size() >= max) {
      inflateEnd(&z);
      return too_big(max);
    }
    size_t at = out.size();
    out.resize(std::min(max, at + kChunk));
    z.next_out = out.data() + at;
    z.avail_out = static_cast<uInt>(out.size() - at);
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(out.size() - z.avail_out);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      return tl::unexpected(fmt::format("gzip: {}", z.msg ? z.msg : "corrupt data"));
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
      inflateEnd(&z);
      return tl::unexpected(std::string("gzip: truncated data"));
    }
  }
  inflateEnd(&z);
  return out;
}

Result snappy_raw(ByteView in, size_t max, Bytes& out) {
  size_t len = 0;
  if (snappy_uncompressed_length(reinterpret_cast<const char*>(in.data()), in.size(), &len) != SNAPPY_OK)
    return tl::unexpected(std::string("snappy: corrupt data"));
  if (out.size() + len > max) return too_big(max);
  // The length is the sender's claim: walk the data (no output) before allocating for it, so a
  // few bytes cannot make the broker allocate up to `max`.
  if (snappy_validate_compressed_buffer(reinterpret_cast<const char*>(in.data()), in.size()) != SNAPPY_OK)
    return tl::unexpected(std::string("snappy: corrupt data"));
  size_t at = out.size();
  out.resize(at + len);
  if (snappy_uncompress(reinterpret_cast<const char*>(in.data()), in.size(), reinterpret_cast<char*>(out.data() + at),
                        &len) != SNAPPY_OK)
    return tl::unexpected(std::string("snappy: corrupt data"));
  return Bytes{};
}

Result unsnappy(ByteView in, size_t max) {
  static const uint8_t kXerial[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
  Bytes out;
  if (in.size() >= 16 && std::memcmp(in.data(), kXerial, 8) == 0) {
    // xerial framing: 8-byte magic, int32 version, int32 compatible version, then blocks of
    // int32 length + raw snappy.
    size_t pos = 16;
    while (pos < in.size()) {
      if (in.size() - pos < 4) return tl::unexpected(std::string("snappy: truncated block header"));
      uint32_t len = (uint32_t(in[pos]) << 24) | (uint32_t(in[pos + 1]) << 16) | (uint32_t(in[pos + 2]) << 8) | in[pos + 3];
      pos += 4;
      if (len > in.size() - pos) return tl::unexpected(std::string("snappy: truncated block"));
      if (auto r = snappy_raw(in.subspan(pos, len), max, out); !r) return r;
      pos += len;
    }
    return out;
  }
  if (auto r = snappy_raw(in, max, out); !r) return r;
  return out;
}

Result unlz4(ByteView in, size_t max) {
  LZ4F_dctx* ctx = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) return tl::unexpected(std::string("lz4 init failed"));
  Bytes out;
  size_t pos = 0;
  size_t hint = 1;
  while (pos < in.size() && hint != 0) {
    if (out.size() >= max) {
      LZ4F_freeDecompressionContext(ctx);
      return too_big(max);
    }
    size_t at = out.size();
    out.resize(std::min(max, at + kChunk));
    size_t dst = out.size() - at, src = in.size() - pos;
    hint = LZ4F_decompress(ctx, out.data() + at, &dst, in.data() + pos, &src, nullptr);
    out.resize(at + dst);
    if (LZ4F_isError(hint)) {
      LZ4F_freeDecompressionContext(ctx);
      return tl::unexpected(fmt::format("lz4: {}", LZ4F_getErrorName(hint)));
    }
    pos += src;
    if (src == 0 && dst == 0) break;
  }
  LZ4F_freeDecompressionContext(ctx);
  if (hint != 0) return tl::unexpected(std::string("lz4: truncated frame"));
  return out;
}

Result unzstd(ByteView in, size_t max) {
  ZSTD_DStream* ds = ZSTD_createDStream();
  ZSTD_initDStream(ds);
  // A frame header names the window the decoder must allocate (zstd allows up to 128 MiB by
  // default): a few bytes could make the broker allocate that much per batch. Clients' batches
  // need far less (librdkafka and the Java client use 2 MiB at their default level).
  ZSTD_DCtx_setParameter(ds, ZSTD_d_windowLogMax, kZstdWindowLogMax);
  Bytes out;
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  size_t rc = 1;
  while (input.pos < input.size || rc != 0) {
    if (out.size() >= max) {
      ZSTD_freeDStream(ds);
      return too_big(max);
    }
    size_t at = out.size();
    out.resize(std::min(max, at + kChunk));
    ZSTD_outBuffer output{out.data() + at, out.size() - at, 0};
    rc = ZSTD_decompressStream(ds, &output, &input);
    out.resize(at + output.pos);
    if (ZSTD_isError(rc)) {
      ZSTD_freeDStream(ds);
      return tl::unexpected(fmt::format("zstd: {}", ZSTD_getErrorName(rc)));
    }
    if (input.pos == input.size && output.pos == 0 && rc != 0) {
      ZSTD_freeDStream(ds);
      return tl::unexpected(std::string("zstd: truncated frame"));
    }
  }
  ZSTD_freeDStream(ds);
  return out;
}

Result gzip(ByteView in) {
  z_stream z{};
  // windowBits 15 + 16: a gzip wrapper, as Kafka's clients write.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return tl::unexpected(std::string("zlib init failed"));
  Bytes out(deflateBound(&z, static_cast<uLong>(in.size())) + 32);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return tl::unexpected(std::string("gzip: compression failed"));
  return out;
}

Result snappy(ByteView in) {
  size_t len = snappy_max_compressed_length(in.size());
  Bytes out(len);
  if (snappy_compress(reinterpret_cast<const char*>(in.data()), in.size(), reinterpret_cast<char*>(out.data()), &len) !=
      SNAPPY_OK)
    return tl::unexpected(std::string("snappy: compression failed"));
  out.resize(len);
  return out;
}

Result lz4(ByteView in) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;  // what librdkafka and the Java client use
  Bytes out(LZ4F_compressFrameBound(in.size(), &prefs));
  size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), &prefs);
  if (LZ4F_isError(n)) return tl::unexpected(fmt::format("lz4: {}", LZ4F_getErrorName(n)));
  out.resize(n);
  return out;
}

Result zstd(ByteView in) {
  Bytes out(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), ZSTD_CLEVEL_DEFAULT);
  if (ZSTD_isError(n)) return tl::unexpected(fmt::format("zstd: {}", ZSTD_getErrorName(n)));
  out.resize(n);
  return out;
}

}  // namespace

tl::expected<Bytes, std::string> decompress(Codec codec, ByteView input, size_t max_output) {
  switch (codec) {
    case Codec::None:
      if (input.size() > max_output) return too_big(max_output);
      return Bytes(input.begin(), input.end());
    case Codec::Gzip:
      return gunzip(input, max_output);
    case Codec::Snappy:
      return unsnappy(input, max_output);
    case Codec::Lz4:
      return unlz4(input, max_output);
    case Codec::Zstd:
      return unzstd(input, max_output);
  }
  return tl::unexpected(fmt::format("unknown codec {}", static_cast<int>(codec)));
}

tl::expected<Bytes, std::string> compress(Codec codec, ByteView input) {
  switch (codec) {
    case Codec::None:
      return Bytes(input.begin(), input.end());
    case Codec::Gzip:
      return gzip(input);
    case Codec::Snappy:
      return snappy(input);
    case Codec::Lz4:
      return lz4(input);
    case Codec::Zstd:
      return zstd(input);
  }
  return tl::unexpected(fmt::format("unknown codec {}", static_cast<int>(codec)));
}

tl::expected<ByteView, std::string> batch_records(ByteView batch, const BatchHeader& header, Bytes& scratch,
                                                  size_t max_output) {
  ByteView body = batch.subspan(batch::kHeaderSize, header.total_size() - batch::kHeaderSize);
  if (header.compression() == 0) return body;
  auto inflated = decompress(static_cast<Codec>(header.compression()), body, max_output);
  if (!inflated) return tl::unexpected(inflated.error());
  scratch = std::move(*inflated);
  return ByteView(scratch);
}

}  // namespace fjord::protocol
