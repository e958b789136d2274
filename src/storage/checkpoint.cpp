#include "storage/checkpoint.h"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "base/crc32c.h"

namespace fjord::storage {
namespace fs = std::filesystem;

IoResult<> write_checkpoint(Env& env, const fs::path& path, const OffsetCheckpoint& entries) {
  std::string text = fmt::format("0\n{}\n", entries.size());
  for (const auto& [tp, offset] : entries) text += fmt::format("{} {} {}\n", tp.first, tp.second, offset);
  return write_file_atomically(env, path, ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size()), true);
}

tl::expected<OffsetCheckpoint, std::string> read_checkpoint(const fs::path& path) {
  OffsetCheckpoint out;
  std::ifstream in(path);
  if (!in) return out;
  std::string line;
  auto bad = [&](const std::string& why) {
    return tl::unexpected(fmt::format("{}: malformed checkpoint ({})", path.string(), why));
  };
  if (!std::getline(in, line) || line != "0") return bad("version");
  size_t count = 0;
  if (!std::getline(in, line)) return bad("count");
  auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), count);
  if (ec != std::errc() || p != line.data() + line.size()) return bad("count");
  for (size_t i = 0; i < count; ++i) {
    if (!std::getline(in, line)) return bad("fewer entries than the count");
    std::istringstream fields(line);
    std::string topic, extra;
    int32_t partition = -1;
    int64_t offset = -1;
    if (!(fields >> topic >> partition >> offset) || (fields >> extra) || partition < 0 || offset < 0)
      return bad("entry '" + line + "'");
    out[{topic, partition}] = offset;
  }
  if (std::getline(in, line) && !line.empty()) return bad("more entries than the count");
  return out;
}

int shard_of(const std::string& topic, int32_t partition, int shard_count) {
  std::string key = topic + "-" + std::to_string(partition);
  return static_cast<int>(crc32c(key.data(), key.size()) % static_cast<uint32_t>(shard_count));
}

}  // namespace fjord::storage
