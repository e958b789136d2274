// The single-node metadata log: an append-only file of framed metadata records, replayed at start.
// Format: docs/formats/metadata-log.md.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "metadata/image.h"
#include "tl/expected.hpp"

namespace fjord::metadata {

Bytes encode_record(const Record& record);
tl::expected<Record, std::string> decode_record(ByteView payload);

class MetadataLog {
 public:
  struct Replay {
    std::vector<Record> records;
    uint64_t truncated_bytes = 0;  // a torn or corrupt tail that was cut off
  };

  MetadataLog() = default;
  MetadataLog(const MetadataLog&) = delete;
  MetadataLog& operator=(const MetadataLog&) = delete;
  MetadataLog(MetadataLog&& o) noexcept : fd_(o.fd_), end_(o.end_), path_(std::move(o.path_)) { o.fd_ = -1; }
  MetadataLog& operator=(MetadataLog&& o) noexcept {
    std::swap(fd_, o.fd_);
    std::swap(end_, o.end_);
    std::swap(path_, o.path_);
    return *this;
  }
  ~MetadataLog();

  // Opens (creating if needed) the log at `path`, reads every whole valid record, and truncates
  // the file after the last one.
  static tl::expected<std::pair<MetadataLog, Replay>, std::string> open(const std::string& path);

  // Appends and fdatasyncs: when this returns, the records survive a crash or power loss.
  tl::expected<void, std::string> append(const std::vector<Record>& records);

 private:
  int fd_ = -1;
  off_t end_ = 0;  // end of the last whole record
  std::string path_;
};

}  // namespace fjord::metadata
