// The `records` fields of Kafka messages. Decoded records are bytes in memory, copied or (for a
// request the broker reads) borrowed from the frame; records being sent may also name slices of
// files, which the connection sends with sendfile (zero copy).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
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
  // Records that stay in a buffer someone else owns (a request frame): no copy. The buffer must
  // outlive this and every copy of it.
  static Records borrowed(std::span<uint8_t> view) {
    Records r;
    r.borrowed_ = view;
    return r;
  }

  bool is_null() const { return !bytes_ && !borrowed_ && slices_.empty(); }
  // The in-memory part as owned bytes (records built here; decoded ones unless borrowed).
  std::optional<Bytes>& bytes() { return bytes_; }
  const std::optional<Bytes>& bytes() const { return bytes_; }
  // The in-memory part, owned or borrowed, writable in place; nullopt when there is none.
  std::optional<std::span<uint8_t>> data() {
    if (borrowed_) return borrowed_;
    if (bytes_) return std::span<uint8_t>(*bytes_);
    return std::nullopt;
  }
  std::optional<ByteView> data() const {
    if (borrowed_) return ByteView(*borrowed_);
    if (bytes_) return ByteView(*bytes_);
    return std::nullopt;
  }
  // File slices sent after the in-memory part.
  const std::vector<FileSlice>& slices() const { return slices_; }
  void add_slice(FileSlice slice) {
    if (!bytes_ && !borrowed_) bytes_.emplace();
    slices_.push_back(std::move(slice));
  }
  uint64_t size() const {
    uint64_t n = borrowed_ ? borrowed_->size() : bytes_ ? bytes_->size() : 0;
    for (const auto& s : slices_) n += s.length;
    return n;
  }

  bool operator==(const Records& o) const {
    auto a = data();
    auto b = o.data();
    if (a.has_value() != b.has_value()) return false;
    if (a && !std::equal(a->begin(), a->end(), b->begin(), b->end())) return false;
    return slices_ == o.slices_;
  }

 private:
  std::optional<Bytes> bytes_;
  std::optional<std::span<uint8_t>> borrowed_;  // set: bytes_ is empty
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
