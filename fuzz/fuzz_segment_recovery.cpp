// libFuzzer target: a partition whose only segment holds arbitrary bytes, opened after an unclean
// shutdown. Recovery must keep a valid prefix (cutting the rest), after which every batch left is
// served by reads from the log start to its end, and appends go on after it.
#include <unistd.h>

#include <asio/io_context.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "protocol/record_batch_builder.h"
#include "storage/partition_log.h"

namespace {
namespace fs = std::filesystem;
using namespace fjord;

fs::path scratch_dir() {
  fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  return base / ("fjord-fuzz-recovery-" + std::to_string(::getpid()));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path root = scratch_dir();
  const fs::path dir = root / "t-0";
  fs::remove_all(root);
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "00000000000000000000.log", std::ios::binary);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  asio::io_context io;
  storage::RecoveryReport report;
  auto log = storage::PartitionLog::open(storage::Env::posix(), dir, storage::LogConfig{}, 0, 0, false, 0, nullptr,
                                         io.get_executor(), &report);
  if (!log) return 0;
  storage::PartitionLog& p = **log;
  int64_t offset = p.log_start_offset();
  while (offset < p.log_end_offset()) {
    auto r = p.read(offset, 1 << 20, true);
    if (!r || r->bytes == 0) std::abort();  // recovery kept only whole, valid batches
    uint64_t pos = 0;
    int64_t next = offset;
    for (const auto& range : r->ranges) {
      Bytes buf(range.length);
      auto n = range.file->read_at(range.position, buf);
      if (!n || *n != range.length) std::abort();
      while (pos < buf.size()) {
        auto h = protocol::read_batch_header(ByteView(buf.data() + pos, buf.size() - pos));
        if (!h || h->total_size() > buf.size() - pos) std::abort();
        next = h->last_offset() + 1;
        pos += h->total_size();
      }
    }
    if (next <= offset) std::abort();
    offset = next;
  }
  const int64_t end = p.log_end_offset();
  protocol::RecordBatchBuilder builder(0);
  builder.add(std::nullopt, Bytes{'v'}, 0);
  Bytes batch = builder.build();
  auto appended = p.append(batch, 0);
  if (!appended || appended->base_offset != end) std::abort();
  log->reset();
  fs::remove_all(root);
  return 0;
}
