#include "storage/log_manager.h"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>

#include <fstream>

#include "storage/tests/test_util.h"

namespace fjord::storage {
namespace fs = std::filesystem;
using namespace storage::testing;

TEST(Checkpoint, RoundTripsInKafkasFormat) {
  TempDir dir("ckpt");
  OffsetCheckpoint entries{{{"orders", 0}, 42}, {{"orders", 1}, 7}, {{"a.b-c_d", 12}, 0}};
  ASSERT_TRUE(write_checkpoint(Env::posix(), dir.path / "cp", entries).has_value());
  std::ifstream in(dir.path / "cp");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "0\n3\na.b-c_d 12 0\norders 0 42\norders 1 7\n");
  auto back = read_checkpoint(dir.path / "cp");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, entries);
  EXPECT_TRUE(read_checkpoint(dir.path / "missing")->empty());
}

TEST(Checkpoint, MalformedFilesAreErrors) {
  TempDir dir("ckpt-bad");
  for (const char* text : {"1\n0\n", "0\n2\nt 0 1\n", "0\n1\nt x 1\n", "0\n1\nt 0 -5\n", "0\n1\nt 0 1 9\n",
                           "0\n0\nt 0 1\n", "garbage"}) {
    std::ofstream(dir.path / "cp") << text;
    EXPECT_FALSE(read_checkpoint(dir.path / "cp").has_value()) << text;
  }
}

TEST(Checkpoint, ShardOfIsStableAndSpreads) {
  EXPECT_EQ(shard_of("orders", 3, 4), shard_of("orders", 3, 4));
  std::vector<int> counts(4);
  for (int p = 0; p < 400; ++p) ++counts[static_cast<size_t>(shard_of("t", p, 4))];
  for (int c : counts) EXPECT_GT(c, 60);
}

TEST(LogManager, CleanAndUncleanStartsAndTopicIdChanges) {
  TempDir dir("manager");
  asio::io_context io;
  Syncer syncer;
  Uuid id = Uuid::random();
  {
    LogManager m(Env::posix(), dir.path, syncer, io.get_executor());
    auto startup = read_startup_state(Env::posix(), dir.path);
    ASSERT_TRUE(startup.has_value());
    EXPECT_FALSE(startup->clean_shutdown);
    auto log = m.open("t", 0, id, LogConfig{}, *startup, 0);
    ASSERT_TRUE(log.has_value()) << log.error();
    Bytes b = make_batch(5, 10, 1);
    ASSERT_TRUE((*log)->append(b, 0).has_value());
    EXPECT_EQ(m.find("t", 0, id), *log);
    EXPECT_EQ(m.find("t", 0, Uuid::random()), nullptr);
    ASSERT_TRUE(m.close_all());
    Checkpoints cp = m.collect_checkpoints();
    EXPECT_EQ((cp.recovery_points[{"t", 0}]), 5);
    ASSERT_TRUE(write_shutdown_state(Env::posix(), dir.path, cp, true).has_value());
  }
  {
    auto startup = read_startup_state(Env::posix(), dir.path);
    ASSERT_TRUE(startup.has_value());
    EXPECT_TRUE(startup->clean_shutdown);
    EXPECT_FALSE(fs::exists(dir.path / kCleanShutdownMarker)) << "a crash from now on must be unclean";
    EXPECT_EQ((startup->recovery_points[{"t", 0}]), 5);
    LogManager m(Env::posix(), dir.path, syncer, io.get_executor());
    RecoveryReport report;
    auto log = m.open("t", 0, id, LogConfig{}, *startup, 0, &report);
    ASSERT_TRUE(log.has_value());
    EXPECT_EQ((*log)->log_end_offset(), 5);
    EXPECT_EQ(report.segments_scanned, 0) << "clean start: nothing to scan";
  }
  {
    // No marker now (the last start removed it and did not stop cleanly): unclean, and the
    // segment past the recovery point is scanned.
    auto startup = read_startup_state(Env::posix(), dir.path);
    EXPECT_FALSE(startup->clean_shutdown);
    startup->recovery_points.clear();
    LogManager m(Env::posix(), dir.path, syncer, io.get_executor());
    RecoveryReport report;
    auto log = m.open("t", 0, id, LogConfig{}, *startup, 0, &report);
    ASSERT_TRUE(log.has_value());
    EXPECT_EQ(report.segments_scanned, 1);
    EXPECT_EQ((*log)->log_end_offset(), 5);
  }
  {
    // A corrupt checkpoint is distrusted: everything is recovered.
    std::ofstream(dir.path / kRecoveryPointCheckpoint) << "0\n1\nbroken\n";
    auto startup = read_startup_state(Env::posix(), dir.path);
    ASSERT_TRUE(startup.has_value());
    EXPECT_FALSE(startup->clean_shutdown);
    EXPECT_TRUE(startup->recovery_points.empty());
  }
}

}  // namespace fjord::storage
