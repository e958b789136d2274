#include "storage/txn_index.h"

#include <fstream>
#include <iterator>

#include "protocol/codec.h"
#include "storage/segment.h"

namespace fjord::storage {
namespace fs = std::filesystem;

Bytes encode_txn_index_entry(const AbortedTxn& t) {
  Bytes out;
  protocol::Writer w(out);
  w.write_int16(0);
  w.write_int64(t.producer_id);
  w.write_int64(t.first_offset);
  w.write_int64(t.last_offset);
  w.write_int64(t.last_stable_offset);
  return out;
}

std::vector<AbortedTxn> read_txn_index(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<AbortedTxn> out;
  protocol::Reader r(bytes);
  while (r.remaining() >= kTxnIndexEntrySize) {
    if (r.read_int16() != 0) break;
    AbortedTxn t;
    t.producer_id = r.read_int64();
    t.first_offset = r.read_int64();
    t.last_offset = r.read_int64();
    t.last_stable_offset = r.read_int64();
    if (t.first_offset < 0 || t.last_offset < t.first_offset) break;
    out.push_back(t);
  }
  return out;
}

fs::path txn_index_path(const fs::path& dir, int64_t segment_base) {
  return dir / segment_file_name(segment_base, ".txnindex");
}

std::vector<int64_t> txn_index_bases(const fs::path& dir) { return offset_named_files(dir, ".txnindex"); }

}  // namespace fjord::storage
