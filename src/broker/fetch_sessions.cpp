#include "broker/fetch_sessions.h"

#include <random>

namespace fjord::broker {

FetchSession* FetchSessionCache::create(int64_t now_ms, int64_t keep_ms) {
  if (slots_ <= 0) return nullptr;
  if (static_cast<int>(sessions_.size()) >= slots_) {
    auto oldest = sessions_.end();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
      if (oldest == sessions_.end() || it->second.last_used_ms < oldest->second.last_used_ms) oldest = it;
    if (oldest == sessions_.end() || now_ms - oldest->second.last_used_ms < keep_ms) return nullptr;
    sessions_.erase(oldest);
  }
  if (next_id_ == 0) next_id_ = static_cast<int32_t>(std::random_device{}() % 1'000'000) * shard_count_ + shard_ + 1;
  int32_t id;
  do {
    id = next_id_;
    next_id_ += shard_count_;  // ids of one shard never collide with another's
    if (next_id_ <= 0) next_id_ = shard_ + 1;
  } while (id <= 0 || sessions_.contains(id));
  FetchSession& s = sessions_[id];
  s.id = id;
  s.last_used_ms = now_ms;
  return &s;
}

FetchSession* FetchSessionCache::find(int32_t id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

}  // namespace fjord::broker
