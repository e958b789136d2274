// The `records` fields of Kafka messages. Decoded records are bytes in memory; records being
// sent may also name slices of files, which the connection sends with sendfile (zero copy).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "base/bytes.h"

namespace fjord::protocol {

struct FileSlice {
  int fd = -1;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::shared_ptr<const void> keep_alive;  // holds the file open until the slice is sent

  bool operator==(const FileSlice& o) const { return fd == o.fd && offset == o.offset && length == o.length; }
};

class Records {
 public:
  Records() = default;  // null
  explicit Records(std::optional<Bytes> bytes) : bytes_(std::move(bytes)) {}

  bool is_null() const { return !bytes_ && slices_.empty(); }
  // The in-memory part (all of it, for decoded records).
  std::optional<Bytes>& bytes() { return bytes_; }
  const std::optional<Bytes>& bytes() const { return bytes_; }
  // File slices sent after the in-memory part.
  const std::vector<FileSlice>& slices() const { return slices_; }
  void add_slice(FileSlice slice) {
    if (!bytes_) bytes_.emplace();
    slices_.push_back(std::move(slice));
  }
  uint64_t size() const {
    uint64_t n = bytes_ ? bytes_->size() : 0;
    for (const auto& s : slices_) n += s.length;
    return n;
  }

  bool operator==(const Records& o) const { return bytes_ == o.bytes_ && slices_ == o.slices_; }

 private:
  std::optional<Bytes> bytes_;
  std::vector<FileSlice> slices_;
};

// A place in an encoded buffer where a file slice goes.
struct Splice {
  size_t at;  // buffer offset the slice is sent before
  FileSlice slice;
};

// A response ready to send: `head` (size prefix included) with file slices spliced in.
struct Frame {
  Bytes head;
  std::vector<Splice> splices;

  bool empty() const { return head.empty() && splices.empty(); }
  // Everything in one buffer, reading the slices (for tests, and transports without sendfile).
  Bytes materialize() const;
};

}  // namespace fjord::protocol
