// Incremental fetch sessions (KIP-227). One cache per shard, used on that shard only: a session
// lives where it was created; a client whose connection lands on another shard is told the
// session is unknown and starts a new one, which the protocol allows.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "base/uuid.h"

namespace fjord::broker {

struct SessionPartition {
  std::string topic;  // name
  Uuid topic_id;
  int32_t partition = 0;
  int64_t fetch_offset = 0;
  int32_t max_bytes = 0;
  // What the client was last told; an incremental response leaves out partitions where
  // nothing changed.
  int64_t sent_high_watermark = -2;
  int64_t sent_log_start = -2;
};

struct FetchSession {
  int32_t id = 0;
  int32_t next_epoch = 1;
  std::map<std::pair<std::string, int32_t>, SessionPartition> partitions;
  int64_t last_used_ms = 0;
};

class FetchSessionCache {
 public:
  explicit FetchSessionCache(int slots, int shard, int shard_count)
      : slots_(slots), shard_(shard), shard_count_(shard_count) {}

  // A new session, or nullptr when every slot is taken by a session used in the last
  // `keep_ms`; the least recently used older one is evicted to make room.
  FetchSession* create(int64_t now_ms, int64_t keep_ms = 120'000);
  FetchSession* find(int32_t id);
  void erase(int32_t id) { sessions_.erase(id); }
  size_t size() const { return sessions_.size(); }

 private:
  int slots_;
  int shard_;
  int shard_count_;
  int32_t next_id_ = 0;
  std::map<int32_t, FetchSession> sessions_;
};

}  // namespace fjord::broker
