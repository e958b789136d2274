// DirLock: a data directory's `.lock` file (Kafka's name), held with flock() for the life of the
// process that uses the directory, so a second broker on the same directory refuses to start
// instead of loading and writing logs another process is writing. The kernel drops the lock
// when the process exits, however it exits (kill -9 included): nothing stale is left behind.
#pragma once

#include <string>

#include "tl/expected.hpp"

namespace fjord::storage {

class DirLock {
 public:
  // Creates the directory if needed and takes its lock without waiting. The error names the
  // process that holds it (the pid it wrote into the file) when there is one.
  static tl::expected<DirLock, std::string> acquire(const std::string& dir);

  DirLock(DirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DirLock& operator=(DirLock&& other) noexcept;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock();

  static constexpr const char* kFileName = ".lock";

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace fjord::storage
