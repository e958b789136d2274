// Shared pieces of the storage tests: temp dirs, batches, and an Env that can drop whatever was
// not synced (a power cut).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "protocol/record_batch_builder.h"
#include "storage/file.h"

namespace fjord::storage::testing {

inline std::filesystem::path temp_dir(const std::string& tag) {
  static int counter = 0;
  auto p = std::filesystem::temp_directory_path() /
           ("fjord-storage-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

struct TempDir {
  explicit TempDir(const std::string& tag) : path(temp_dir(tag)) {}
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
};

// A batch of `records` records with values of `value_size` bytes, timestamps from `ts`.
inline Bytes make_batch(int records, size_t value_size, int64_t ts, uint8_t fill = 'v') {
  protocol::RecordBatchBuilder b(ts);
  for (int i = 0; i < records; ++i)
    b.add(Bytes{'k', static_cast<uint8_t>(i)}, Bytes(value_size, static_cast<uint8_t>(fill + i)), ts + i);
  return b.build();
}

// Tracks, per file, the size it had at its last sync; power_cut() truncates every file to it.
class FaultEnv final : public Env {
 public:
  IoResult<std::unique_ptr<File>> open(const std::filesystem::path& path, bool create) override {
    if (!step()) return tl::unexpected(crashed());
    auto f = Env::posix().open(path, create);
    if (!f) return f;
    auto size = (*f)->size();
    {
      std::lock_guard lock(mutex_);
      if (!synced_.contains(path)) synced_[path] = size ? *size : 0;
    }
    return std::unique_ptr<File>(new Tracked(std::move(*f), path, this));
  }
  IoResult<> sync_dir(const std::filesystem::path& dir) override {
    if (!step()) return tl::unexpected(crashed());
    {
      std::lock_guard lock(mutex_);
      ++syncs_by_thread_[std::this_thread::get_id()];
    }
    return Env::posix().sync_dir(dir);
  }

  IoResult<> rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    if (!step()) return tl::unexpected(crashed());
    auto r = Env::rename(from, to);
    if (r) {
      // What was synced of `from` is what `to` now holds.
      std::lock_guard lock(mutex_);
      auto it = synced_.find(from);
      uint64_t size = it == synced_.end() ? 0 : it->second;
      if (it != synced_.end()) synced_.erase(it);
      synced_[to] = size;
    }
    return r;
  }
  IoResult<> remove(const std::filesystem::path& path) override {
    if (!step()) return tl::unexpected(crashed());
    auto r = Env::remove(path);
    std::lock_guard lock(mutex_);
    synced_.erase(path);
    return r;
  }

  // The process "dies" after `ops` more file operations (opens, writes, syncs, truncations,
  // renames, removals): every later one fails. -1: never.
  void crash_after(int64_t ops) { crash_countdown_ = ops; }
  bool has_crashed() const { return crash_countdown_ == 0; }

  void power_cut() {
    std::lock_guard lock(mutex_);
    for (auto& [path, size] : synced_) {
      std::error_code ec;
      if (std::filesystem::exists(path, ec)) std::filesystem::resize_file(path, size, ec);
    }
  }
  int syncs() const { return syncs_; }
  // File and directory syncs that ran on `thread`.
  int syncs_on(std::thread::id thread) {
    std::lock_guard lock(mutex_);
    auto it = syncs_by_thread_.find(thread);
    return it == syncs_by_thread_.end() ? 0 : it->second;
  }
  // The size a power cut leaves `path` at.
  uint64_t synced_size(const std::filesystem::path& path) {
    std::lock_guard lock(mutex_);
    return synced_[path];
  }
  void fail_writes(bool fail) { fail_writes_ = fail; }

 private:
  // One more file operation: false once the countdown reached zero.
  bool step() {
    int64_t left = crash_countdown_.load();
    while (left > 0 && !crash_countdown_.compare_exchange_weak(left, left - 1)) {
    }
    return left != 0;
  }
  static std::error_code crashed() { return std::make_error_code(std::errc::io_error); }

  class Tracked final : public File {
   public:
    Tracked(std::unique_ptr<File> f, std::filesystem::path path, FaultEnv* env)
        : f_(std::move(f)), path_(std::move(path)), env_(env) {}
    IoResult<> write_at(uint64_t offset, ByteView data) override {
      if (!env_->step()) return tl::unexpected(crashed());
      if (env_->fail_writes_) return tl::unexpected(std::make_error_code(std::errc::no_space_on_device));
      return f_->write_at(offset, data);
    }
    IoResult<size_t> read_at(uint64_t offset, std::span<uint8_t> out) const override { return f_->read_at(offset, out); }
    IoResult<> sync() override {
      if (!env_->step()) return tl::unexpected(crashed());
      auto size = f_->size();
      auto r = f_->sync();
      if (r && size) {
        std::lock_guard lock(env_->mutex_);
        env_->synced_[path_] = *size;
        ++env_->syncs_;
        ++env_->syncs_by_thread_[std::this_thread::get_id()];
      }
      return r;
    }
    IoResult<> truncate(uint64_t size) override {
      if (!env_->step()) return tl::unexpected(crashed());
      auto r = f_->truncate(size);
      std::lock_guard lock(env_->mutex_);
      env_->synced_[path_] = std::min(env_->synced_[path_], size);
      return r;
    }
    IoResult<uint64_t> size() const override { return f_->size(); }
    int fd() const override { return f_->fd(); }

   private:
    std::unique_ptr<File> f_;
    std::filesystem::path path_;
    FaultEnv* env_;
  };

  std::mutex mutex_;
  std::map<std::filesystem::path, uint64_t> synced_;  // GUARDED_BY(mutex_)
  std::map<std::thread::id, int> syncs_by_thread_;  // GUARDED_BY(mutex_)
  std::atomic<int> syncs_{0};
  std::atomic<bool> fail_writes_{false};
  std::atomic<int64_t> crash_countdown_{-1};
};

}  // namespace fjord::storage::testing
