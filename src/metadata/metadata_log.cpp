#include "metadata/metadata_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/crc32c.h"
#include "protocol/codec.h"

namespace fjord::metadata {
namespace {

using protocol::Reader;
using protocol::Writer;

enum RecordType : int8_t { kTopic = 1, kRemoveTopic = 2, kPartitionCount = 3, kTopicConfig = 4, kBrokerConfig = 5,
                         kProducerIds = 6, kRegisterBroker = 7, kBrokerFence = 8, kPartition = 9, kCluster = 10 };
constexpr int8_t kRecordVersion = 0;
constexpr size_t kFrameHeader = 8;                  // int32 length + uint32 crc32c
constexpr uint32_t kMaxRecordBytes = 64 << 20;      // far above any real record

void write_ids(Writer& w, const std::vector<int32_t>& ids) {
  w.write_array_length(static_cast<int32_t>(ids.size()), true);
  for (int32_t id : ids) w.write_int32(id);
}

std::vector<int32_t> read_ids(Reader& r) {
  std::vector<int32_t> ids;
  int32_t n = r.read_array_length(true);
  for (int32_t i = 0; i < n && r.ok(); ++i) ids.push_back(r.read_int32());
  return ids;
}

std::string errno_text(const std::string& what) { return fmt::format("{}: {}", what, std::strerror(errno)); }

}  // namespace

Bytes encode_record(const Record& record) {
  Bytes out;
  Writer w(out);
  std::visit(
      [&](const auto& r) {
        using R = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<R, TopicRecord>) {
          w.write_int8(kTopic);
          w.write_int8(kRecordVersion);
          w.write_string(r.topic.name, true);
          w.write_uuid(r.topic.id);
          w.write_int32(r.topic.partitions);
          w.write_array_length(static_cast<int32_t>(r.topic.configs.size()), true);
          for (const auto& [k, v] : r.topic.configs) {
            w.write_string(k, true);
            w.write_string(v, true);
          }
        } else if constexpr (std::is_same_v<R, RemoveTopicRecord>) {
          w.write_int8(kRemoveTopic);
          w.write_int8(kRecordVersion);
          w.write_uuid(r.id);
        } else if constexpr (std::is_same_v<R, PartitionCountRecord>) {
          w.write_int8(kPartitionCount);
          w.write_int8(kRecordVersion);
          w.write_uuid(r.id);
          w.write_int32(r.partitions);
        } else if constexpr (std::is_same_v<R, BrokerConfigRecord>) {
          w.write_int8(kBrokerConfig);
          w.write_int8(kRecordVersion);
          w.write_string(r.resource, true);
          w.write_string(r.key, true);
          w.write_nullable_string(r.value, true);
        } else if constexpr (std::is_same_v<R, ProducerIdsRecord>) {
          w.write_int8(kProducerIds);
          w.write_int8(kRecordVersion);
          w.write_int32(r.broker_id);
          w.write_int64(r.next_producer_id);
        } else if constexpr (std::is_same_v<R, RegisterBrokerRecord>) {
          w.write_int8(kRegisterBroker);
          w.write_int8(kRecordVersion);
          w.write_int32(r.broker.id);
          w.write_uuid(r.broker.incarnation);
          w.write_string(r.broker.host, true);
          w.write_int32(r.broker.port);
          w.write_nullable_string(r.broker.rack, true);
          w.write_bool(r.broker.fenced);
          w.write_int64(r.broker.epoch);
        } else if constexpr (std::is_same_v<R, BrokerFenceRecord>) {
          w.write_int8(kBrokerFence);
          w.write_int8(kRecordVersion);
          w.write_int32(r.broker_id);
          w.write_bool(r.fenced);
        } else if constexpr (std::is_same_v<R, PartitionRecord>) {
          w.write_int8(kPartition);
          w.write_int8(kRecordVersion);
          w.write_uuid(r.topic_id);
          w.write_int32(r.partition);
          write_ids(w, r.state.replicas);
          write_ids(w, r.state.isr);
          w.write_int32(r.state.leader);
          w.write_int32(r.state.leader_epoch);
          w.write_int32(r.state.partition_epoch);
          // Only while a reassignment runs (records written before reassignments end here).
          if (r.state.reassigning()) {
            write_ids(w, r.state.adding);
            write_ids(w, r.state.removing);
          }
        } else if constexpr (std::is_same_v<R, ClusterRecord>) {
          w.write_int8(kCluster);
          w.write_int8(kRecordVersion);
          w.write_string(r.cluster_id, true);
        } else {
          static_assert(std::is_same_v<R, TopicConfigRecord>);
          w.write_int8(kTopicConfig);
          w.write_int8(kRecordVersion);
          w.write_uuid(r.id);
          w.write_string(r.key, true);
          w.write_nullable_string(r.value, true);
        }
      },
      record);
  return out;
}

tl::expected<Record, std::string> decode_record(ByteView payload) {
  Reader r(payload);
  int8_t type = r.read_int8();
  int8_t version = r.read_int8();
  if (r.ok() && version != kRecordVersion) return tl::unexpected(fmt::format("unknown record version {}", version));
  Record out;
  switch (type) {
    case kTopic: {
      TopicRecord t;
      t.topic.name = r.read_string(true);
      t.topic.id = r.read_uuid();
      t.topic.partitions = r.read_int32();
      int32_t n = r.read_array_length(true);
      for (int32_t i = 0; i < n && r.ok(); ++i) {
        std::string k = r.read_string(true);
        t.topic.configs[k] = r.read_string(true);
      }
      out = std::move(t);
      break;
    }
    case kRemoveTopic:
      out = RemoveTopicRecord{r.read_uuid()};
      break;
    case kPartitionCount: {
      PartitionCountRecord p;
      p.id = r.read_uuid();
      p.partitions = r.read_int32();
      out = p;
      break;
    }
    case kTopicConfig: {
      TopicConfigRecord c;
      c.id = r.read_uuid();
      c.key = r.read_string(true);
      c.value = r.read_nullable_string(true);
      out = std::move(c);
      break;
    }
    case kBrokerConfig: {
      BrokerConfigRecord c;
      c.resource = r.read_string(true);
      c.key = r.read_string(true);
      c.value = r.read_nullable_string(true);
      out = std::move(c);
      break;
    }
    case kProducerIds: {
      ProducerIdsRecord p;
      p.broker_id = r.read_int32();
      p.next_producer_id = r.read_int64();
      out = p;
      break;
    }
    case kRegisterBroker: {
      RegisterBrokerRecord b;
      b.broker.id = r.read_int32();
      b.broker.incarnation = r.read_uuid();
      b.broker.host = r.read_string(true);
      b.broker.port = r.read_int32();
      b.broker.rack = r.read_nullable_string(true);
      b.broker.fenced = r.read_bool();
      b.broker.epoch = r.read_int64();
      out = std::move(b);
      break;
    }
    case kBrokerFence: {
      BrokerFenceRecord f;
      f.broker_id = r.read_int32();
      f.fenced = r.read_bool();
      out = f;
      break;
    }
    case kPartition: {
      PartitionRecord p;
      p.topic_id = r.read_uuid();
      p.partition = r.read_int32();
      p.state.replicas = read_ids(r);
      p.state.isr = read_ids(r);
      p.state.leader = r.read_int32();
      p.state.leader_epoch = r.read_int32();
      p.state.partition_epoch = r.read_int32();
      if (r.ok() && r.remaining() > 0) {
        p.state.adding = read_ids(r);
        p.state.removing = read_ids(r);
      }
      out = std::move(p);
      break;
    }
    case kCluster:
      out = ClusterRecord{r.read_string(true)};
      break;
    default:
      if (r.ok()) return tl::unexpected(fmt::format("unknown record type {}", type));
  }
  if (!r.ok()) return tl::unexpected(std::string("malformed record: ") + r.error());
  if (r.remaining() != 0) return tl::unexpected(std::string("trailing bytes in record"));
  return out;
}

MetadataLog::~MetadataLog() {
  if (fd_ >= 0) ::close(fd_);
}

tl::expected<std::pair<MetadataLog, MetadataLog::Replay>, std::string> MetadataLog::open(const std::string& path) {
  MetadataLog log;
  log.path_ = path;
  log.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (log.fd_ < 0) return tl::unexpected(errno_text("cannot open " + path));
  struct stat st {};
  if (::fstat(log.fd_, &st) != 0) return tl::unexpected(errno_text("cannot stat " + path));
  Bytes content(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < content.size()) {
    ssize_t n = ::pread(log.fd_, content.data() + got, content.size() - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(errno_text("cannot read " + path));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  content.resize(got);

  Replay replay;
  size_t pos = 0;
  while (content.size() - pos >= kFrameHeader) {
    Reader h(content.data() + pos, kFrameHeader);
    int32_t len = h.read_int32();
    uint32_t crc = h.read_uint32();
    if (len < 0 || static_cast<uint32_t>(len) > kMaxRecordBytes || content.size() - pos - kFrameHeader < size_t(len))
      break;
    ByteView payload(content.data() + pos + kFrameHeader, static_cast<size_t>(len));
    if (crc32c(payload.data(), payload.size()) != crc) break;
    auto rec = decode_record(payload);
    if (!rec) break;
    replay.records.push_back(std::move(*rec));
    pos += kFrameHeader + static_cast<size_t>(len);
  }
  if (pos != content.size()) {
    replay.truncated_bytes = content.size() - pos;
    if (::ftruncate(log.fd_, static_cast<off_t>(pos)) != 0 || ::fdatasync(log.fd_) != 0)
      return tl::unexpected(errno_text("cannot truncate " + path));
  }
  log.end_ = static_cast<off_t>(pos);
  return std::make_pair(std::move(log), std::move(replay));
}

tl::expected<void, std::string> MetadataLog::append(const std::vector<Record>& records) {
  Bytes frame;
  Writer w(frame);
  for (const Record& r : records) {
    Bytes payload = encode_record(r);
    w.write_int32(static_cast<int32_t>(payload.size()));
    w.write_uint32(crc32c(payload.data(), payload.size()));
    w.write_raw(payload.data(), payload.size());
  }
  size_t done = 0;
  std::string error;
  while (done < frame.size() && error.empty()) {
    ssize_t n = ::pwrite(fd_, frame.data() + done, frame.size() - done, end_ + static_cast<off_t>(done));
    if (n < 0 && errno != EINTR) error = errno_text("cannot write " + path_);
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (error.empty() && ::fdatasync(fd_) != 0) error = errno_text("cannot sync " + path_);
  if (!error.empty()) {
    // Leave no partial record behind: later appends must follow the last whole one.
    if (::ftruncate(fd_, end_) != 0) error += "; and cannot truncate the partial write";
    return tl::unexpected(error);
  }
  end_ += static_cast<off_t>(frame.size());
  return {};
}

}  // namespace fjord::metadata
