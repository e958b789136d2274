#include "storage/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace fjord::storage {
namespace {

std::error_code last_error() { return std::error_code(errno, std::system_category()); }

class PosixFile final : public File {
 public:
  explicit PosixFile(int fd) : fd_(fd) {}
  ~PosixFile() override { ::close(fd_); }

  IoResult<> write_at(uint64_t offset, ByteView data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return tl::unexpected(last_error());
      }
      done += static_cast<size_t>(n);
    }
    return {};
  }

  IoResult<size_t> read_at(uint64_t offset, std::span<uint8_t> out) const override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return tl::unexpected(last_error());
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

  IoResult<> sync() override {
    if (::fdatasync(fd_) != 0) return tl::unexpected(last_error());
    return {};
  }

  IoResult<> reserve(uint64_t offset, uint64_t length) override {
    struct statvfs fs {};
    if (::fstatvfs(fd_, &fs) != 0) return tl::unexpected(last_error());
    if (!reservation_leaves_room(uint64_t(fs.f_bavail) * fs.f_frsize, uint64_t(fs.f_blocks) * fs.f_frsize, length))
      return tl::unexpected(std::make_error_code(std::errc::no_space_on_device));
    if (::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset), static_cast<off_t>(length)) != 0)
      return tl::unexpected(last_error());
    return {};
  }
  IoResult<> truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return tl::unexpected(last_error());
    return {};
  }

  IoResult<uint64_t> size() const override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return tl::unexpected(last_error());
    return static_cast<uint64_t>(st.st_size);
  }

  int fd() const override { return fd_; }

 private:
  int fd_;
};

class PosixEnv final : public Env {
 public:
  IoResult<std::unique_ptr<File>> open(const std::filesystem::path& path, bool create) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    if (fd < 0) return tl::unexpected(last_error());
    return std::unique_ptr<File>(new PosixFile(fd));
  }

  IoResult<> sync_dir(const std::filesystem::path& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return tl::unexpected(last_error());
    int rc = ::fsync(fd);
    std::error_code ec = rc != 0 ? last_error() : std::error_code();
    ::close(fd);
    if (ec) return tl::unexpected(ec);
    return {};
  }
};

}  // namespace

bool reservation_leaves_room(uint64_t free_bytes, uint64_t total_bytes, uint64_t length) {
  const uint64_t keep = std::max<uint64_t>(total_bytes / 20, uint64_t{1} << 30);
  return free_bytes >= length && free_bytes - length >= keep;
}

IoResult<> Env::rename(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec) return tl::unexpected(ec);
  return {};
}

IoResult<> Env::remove(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  if (ec) return tl::unexpected(ec);
  return {};
}

Env& Env::posix() {
  static PosixEnv env;
  return env;
}

IoResult<> write_file_atomically(Env& env, const std::filesystem::path& path, ByteView bytes, bool sync) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    auto f = env.open(tmp, true);
    if (!f) return tl::unexpected(f.error());
    if (auto r = (*f)->truncate(0); !r) return r;
    if (auto r = (*f)->write_at(0, bytes); !r) return r;
    if (sync) {
      if (auto r = (*f)->sync(); !r) return r;
    }
  }
  if (auto r = env.rename(tmp, path); !r) return r;
  return sync ? env.sync_dir(path.parent_path()) : IoResult<>{};
}

}  // namespace fjord::storage
