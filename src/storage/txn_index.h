// Aborted transactions of a partition (Kafka's transaction index): one `.txnindex` file per
// segment, named by its base offset, holding an entry for every abort marker in that segment.
// Consumers reading with isolation.level=read_committed get the ones overlapping what they
// fetch, and drop those producers' records up to each marker.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "base/bytes.h"

namespace fjord::storage {

struct AbortedTxn {
  int64_t producer_id = -1;
  int64_t first_offset = -1;        // the transaction's first batch in this partition
  int64_t last_offset = -1;         // its abort marker
  int64_t last_stable_offset = -1;  // the partition's last stable offset once the marker was written
  bool operator==(const AbortedTxn&) const = default;
};

// Entry layout (34 bytes, big-endian): int16 version (0), int64 producer id, int64 first offset,
// int64 last offset, int64 last stable offset.
inline constexpr size_t kTxnIndexEntrySize = 34;
Bytes encode_txn_index_entry(const AbortedTxn& txn);
// The entries of a file, up to the first partial or unreadable one.
std::vector<AbortedTxn> read_txn_index(const std::filesystem::path& path);
std::filesystem::path txn_index_path(const std::filesystem::path& dir, int64_t segment_base);
// Base offsets of the `.txnindex` files in `dir`, ascending.
std::vector<int64_t> txn_index_bases(const std::filesystem::path& dir);

}  // namespace fjord::storage
