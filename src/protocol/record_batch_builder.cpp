#include "protocol/record_batch_builder.h"

#include <algorithm>

#include "base/crc32c.h"
#include "protocol/codec.h"
#include "protocol/record_batch.h"

namespace fjord::protocol {

RecordBatchBuilder& RecordBatchBuilder::add(std::optional<Bytes> key, std::optional<Bytes> value, int64_t timestamp,
                                            const std::vector<RecordHeader>& headers) {
  Bytes body;
  Writer w(body);
  w.write_int8(0);
  w.write_varlong(timestamp - base_timestamp_);
  w.write_varint(static_cast<int32_t>(count_));
  for (const auto* part : {&key, &value}) {
    if (*part) {
      w.write_varint(static_cast<int32_t>((*part)->size()));
      w.write_raw((*part)->data(), (*part)->size());
    } else {
      w.write_varint(-1);
    }
  }
  w.write_varint(static_cast<int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    w.write_varint(static_cast<int32_t>(h.key.size()));
    w.write_raw(h.key.data(), h.key.size());
    if (h.value) {
      w.write_varint(static_cast<int32_t>(h.value->size()));
      w.write_raw(h.value->data(), h.value->size());
    } else {
      w.write_varint(-1);
    }
  }
  Writer out(records_);
  out.write_varint(static_cast<int32_t>(body.size()));
  out.write_raw(body.data(), body.size());
  max_timestamp_ = std::max(max_timestamp_, timestamp);
  ++count_;
  return *this;
}

Bytes RecordBatchBuilder::build(int16_t attributes, int64_t producer_id, int16_t producer_epoch,
                                int32_t base_sequence) const {
  Bytes out;
  out.reserve(batch::kHeaderSize + records_.size());
  Writer w(out);
  w.write_int64(0);
  w.write_int32(static_cast<int32_t>(batch::kHeaderSize - batch::kLogOverhead + records_.size()));
  w.write_int32(-1);
  w.write_int8(2);
  w.write_uint32(0);
  w.write_int16(attributes);
  w.write_int32(static_cast<int32_t>(count_) - 1);
  w.write_int64(count_ ? base_timestamp_ : -1);
  w.write_int64(count_ ? max_timestamp_ : -1);
  w.write_int64(producer_id);
  w.write_int16(producer_epoch);
  w.write_int32(base_sequence);
  w.write_int32(static_cast<int32_t>(count_));
  w.write_raw(records_.data(), records_.size());
  w.patch_int32(batch::kCrc, static_cast<int32_t>(crc32c(out.data() + batch::kAttributes, out.size() - batch::kAttributes)));
  return out;
}

Bytes RecordBatchBuilder::build_compressed(Codec codec) const {
  Bytes plain = build();
  if (codec == Codec::None) return plain;
  ByteView records(plain.data() + batch::kHeaderSize, plain.size() - batch::kHeaderSize);
  Bytes packed = compress(codec, records).value();
  Bytes out(plain.begin(), plain.begin() + batch::kHeaderSize);
  out.insert(out.end(), packed.begin(), packed.end());
  Writer w(out);
  w.patch_int32(batch::kBatchLength, static_cast<int32_t>(out.size() - batch::kLogOverhead));
  out[batch::kAttributes + 1] = static_cast<uint8_t>(static_cast<int>(codec));
  w.patch_int32(batch::kCrc, static_cast<int32_t>(crc32c(out.data() + batch::kAttributes, out.size() - batch::kAttributes)));
  return out;
}

}  // namespace fjord::protocol
