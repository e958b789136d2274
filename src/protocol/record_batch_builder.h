// Builds uncompressed magic-2 record batches: for tests, benchmarks and internal topics.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "protocol/compression.h"

namespace fjord::protocol {

struct RecordHeader {
  std::string key;
  std::optional<Bytes> value;
};

class RecordBatchBuilder {
 public:
  explicit RecordBatchBuilder(int64_t base_timestamp) : base_timestamp_(base_timestamp) {}

  RecordBatchBuilder& add(std::optional<Bytes> key, std::optional<Bytes> value, int64_t timestamp,
                          const std::vector<RecordHeader>& headers = {});
  size_t record_count() const { return count_; }

  // The finished batch with baseOffset 0 and a correct CRC.
  Bytes build(int16_t attributes = 0, int64_t producer_id = -1, int16_t producer_epoch = -1,
              int32_t base_sequence = -1) const;
  // The same with its records compressed with `codec`, as a client sends it.
  Bytes build_compressed(Codec codec) const;

 private:
  int64_t base_timestamp_;
  int64_t max_timestamp_ = -1;
  size_t count_ = 0;
  Bytes records_;
};

}  // namespace fjord::protocol
