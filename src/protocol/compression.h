// Kafka's record compression codecs: gzip (zlib), snappy (raw or the xerial framing the Java
// client writes; raw when compressing, which every client reads), lz4 (frame format), zstd. Output is bounded by `max_output`
// so a small hostile batch cannot inflate into unbounded memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/bytes.h"
#include "tl/expected.hpp"

namespace fjord::protocol {

enum class Codec : int { None = 0, Gzip = 1, Snappy = 2, Lz4 = 3, Zstd = 4 };

tl::expected<Bytes, std::string> decompress(Codec codec, ByteView input, size_t max_output);
// The broker compresses only what it rewrites (compaction keeps a batch's codec).
tl::expected<Bytes, std::string> compress(Codec codec, ByteView input);

struct BatchHeader;
// The record bytes of one whole batch (`batch` starts at its header): a view into `batch` when
// it is uncompressed, else its records inflated into `scratch` (at most `max_output` bytes).
tl::expected<ByteView, std::string> batch_records(ByteView batch, const BatchHeader& header, Bytes& scratch,
                                                  size_t max_output);

}  // namespace fjord::protocol
