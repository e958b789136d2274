// libFuzzer target: record batches as Produce checks them (split into batches, validate_batch,
// inflate compressed records, check their framing) and then reads them (every record). The first
// input byte chooses whether to repair the batch length, magic and CRC first, so that the fuzzer
// gets past the CRC into the records and the codecs.
#include <cstdint>
#include <cstdlib>

#include "base/crc32c.h"
#include "protocol/codec.h"
#include "protocol/compression.h"
#include "protocol/record_batch.h"

namespace {
using namespace fjord;
using namespace fjord::protocol;

constexpr size_t kMaxInflated = 8 << 20;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool repair = (data[0] & 1) != 0;
  Bytes records(data + 1, data + size);
  if (repair && records.size() >= batch::kHeaderSize) {
    Writer w(records);
    w.patch_int32(batch::kBatchLength, static_cast<int32_t>(records.size() - batch::kLogOverhead));
    records[batch::kMagic] = 2;
    w.patch_int32(batch::kCrc,
                  static_cast<int32_t>(crc32c(records.data() + batch::kAttributes, records.size() - batch::kAttributes)));
  }
  for_each_valid_batch(ByteView(records), [&](ByteView one, const BatchHeader& h) {
    Bytes inflated;
    auto body = batch_records(one, h, inflated, kMaxInflated);
    if (!body) return;
    if (h.compression() != 0 && validate_records(*body, h)) return;
    uint64_t seen = 0;
    size_t n = for_each_record(*body, h, [&](const RecordView& r) {
      if (r.key) seen += r.key->size();
      if (r.value) seen += r.value->size();
      seen += r.after_timestamp.size();
    });
    // Validated records all parse.
    if (n != static_cast<size_t>(h.records_count)) std::abort();
    // What the log does to an accepted batch keeps it valid.
    Bytes copy(one.begin(), one.end());
    assign_offsets(copy.data(), 1000, 7);
    set_log_append_time(copy.data(), copy.size(), 1'700'000'000'000);
    if (validate_batch(ByteView(copy))) std::abort();
    (void)seen;
  });
  return 0;
}
