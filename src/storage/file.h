// All storage file I/O goes through Env and File, so tests can lie: the fault-injection Env in
// tests/ drops whatever was not synced, the way a power cut would.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <system_error>

#include "base/bytes.h"
#include "tl/expected.hpp"

namespace fjord::storage {

template <typename T = void>
using IoResult = tl::expected<T, std::error_code>;

class File {
 public:
  virtual ~File() = default;
  // Writes all of `data` at `offset`.
  virtual IoResult<> write_at(uint64_t offset, ByteView data) = 0;
  // Reads up to out.size() bytes at `offset`; fewer only at the end of the file.
  virtual IoResult<size_t> read_at(uint64_t offset, std::span<uint8_t> out) const = 0;
  // fdatasync: once this returns, what was written survives a power cut.
  virtual IoResult<> sync() = 0;
  virtual IoResult<> truncate(uint64_t size) = 0;
  // Reserves disk blocks for [offset, offset + length) without changing the file's size
  // (fallocate KEEP_SIZE): later writes there need no block allocation, which makes their
  // fdatasync about twice as fast. Best effort; truncate() to the size gives them back. Refused
  // (ENOSPC) where reservation_leaves_room() says no.
  virtual IoResult<> reserve(uint64_t offset, uint64_t length) {
    (void)offset;
    (void)length;
    return {};
  }
  virtual IoResult<uint64_t> size() const = 0;
  // The descriptor, for mmap and sendfile.
  virtual int fd() const = 0;
};

// Whether reserving `length` more bytes still leaves the file system at least 5% of its size and
// 1 GiB free. Reservations only make syncs faster: they must never be what fills a disk (a
// busy partition's next segment reserves up to segment.bytes at once).
bool reservation_leaves_room(uint64_t free_bytes, uint64_t total_bytes, uint64_t length);

class Env {
 public:
  virtual ~Env() = default;
  virtual IoResult<std::unique_ptr<File>> open(const std::filesystem::path& path, bool create) = 0;
  // Makes renames, creations and deletions in `dir` durable.
  virtual IoResult<> sync_dir(const std::filesystem::path& dir) = 0;
  // Renames `from` over `to`.
  virtual IoResult<> rename(const std::filesystem::path& from, const std::filesystem::path& to);
  // Removes a file; one that does not exist is no error.
  virtual IoResult<> remove(const std::filesystem::path& path);

  // The real file system.
  static Env& posix();
};

// Writes `bytes` to `path` through a temp file and a rename, so readers see the old file or the
// new one whole; with `sync`, the data and the rename are durable when this returns.
IoResult<> write_file_atomically(Env& env, const std::filesystem::path& path, ByteView bytes, bool sync);

}  // namespace fjord::storage
