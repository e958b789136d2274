#include "storage/leader_epochs.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace fjord::storage {

tl::expected<LeaderEpochCache, std::string> LeaderEpochCache::load(Env& env, const std::filesystem::path& dir) {
  LeaderEpochCache cache;
  cache.env_ = &env;
  cache.path_ = dir / kLeaderEpochCheckpoint;
  std::ifstream in(cache.path_);
  if (!in) return cache;
  auto bad = [&](const std::string& why) {
    return tl::unexpected(fmt::format("{}: {}", cache.path_.string(), why));
  };
  int version = -1;
  int64_t count = -1;
  if (!(in >> version) || version != 0) return bad("unknown version");
  if (!(in >> count) || count < 0) return bad("bad entry count");
  for (int64_t i = 0; i < count; ++i) {
    EpochEntry e;
    if (!(in >> e.epoch >> e.start_offset) || e.epoch < 0 || e.start_offset < 0) return bad("bad entry");
    if (!cache.entries_.empty() &&
        (e.epoch <= cache.entries_.back().epoch || e.start_offset < cache.entries_.back().start_offset))
      return bad("entries out of order");
    cache.entries_.push_back(e);
  }
  return cache;
}

IoResult<> LeaderEpochCache::save() {
  if (env_ == nullptr) return {};
  std::string text = fmt::format("0\n{}\n", entries_.size());
  for (const EpochEntry& e : entries_) text += fmt::format("{} {}\n", e.epoch, e.start_offset);
  return write_file_atomically(*env_, path_, ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
                               true);
}

IoResult<> LeaderEpochCache::assign(int32_t epoch, int64_t offset) {
  if (epoch < 0 || epoch <= latest_epoch()) return {};
  while (!entries_.empty() && entries_.back().start_offset >= offset) entries_.pop_back();
  entries_.push_back({epoch, offset});
  return save();
}

IoResult<> LeaderEpochCache::truncate_from_end(int64_t offset) {
  size_t before = entries_.size();
  while (!entries_.empty() && entries_.back().start_offset >= offset) entries_.pop_back();
  return entries_.size() == before ? IoResult<>{} : save();
}

IoResult<> LeaderEpochCache::truncate_from_start(int64_t offset) {
  size_t keep_from = 0;
  while (keep_from + 1 < entries_.size() && entries_[keep_from + 1].start_offset <= offset) ++keep_from;
  if (keep_from == 0 && (entries_.empty() || entries_[0].start_offset >= offset)) return {};
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(keep_from));
  entries_[0].start_offset = std::max(entries_[0].start_offset, offset);
  return save();
}

std::pair<int32_t, int64_t> LeaderEpochCache::end_offset_for(int32_t epoch, int64_t log_end_offset) const {
  if (epoch < 0 || entries_.empty()) return {-1, -1};
  if (epoch == latest_epoch()) return {epoch, log_end_offset};
  // The first entry of a newer epoch: where `epoch` (or the one before it) ended.
  size_t higher = 0;
  while (higher < entries_.size() && entries_[higher].epoch <= epoch) ++higher;
  if (higher == entries_.size()) return {-1, -1};
  if (higher == 0) return {epoch, entries_[0].start_offset};  // older than any epoch known here
  return {entries_[higher - 1].epoch, entries_[higher].start_offset};
}

}  // namespace fjord::storage
