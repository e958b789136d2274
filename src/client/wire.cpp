#include "client/wire.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace fjord::client {

namespace {
bool send_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool recv_all(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}
}  // namespace

tl::expected<WireConnection, std::string> WireConnection::open(const std::string& brokers, int timeout_ms) {
  std::stringstream list(brokers);
  std::string one, last_error = "no broker given";
  while (std::getline(list, one, ',')) {
    auto colon = one.rfind(':');
    if (colon == std::string::npos) {
      last_error = "broker address without a port: " + one;
      continue;
    }
    std::string host = one.substr(0, colon), port = one.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
      last_error = one + ": " + ::gai_strerror(rc);
      continue;
    }
    for (addrinfo* a = res; a; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        ::freeaddrinfo(res);
        return WireConnection(fd);
      }
      last_error = one + ": " + std::strerror(errno);
      ::close(fd);
    }
    ::freeaddrinfo(res);
  }
  return tl::unexpected(last_error);
}

WireConnection::~WireConnection() {
  if (fd_ >= 0) ::close(fd_);
}

tl::expected<Bytes, std::string> WireConnection::roundtrip(const Bytes& request) {
  if (!send_all(fd_, request.data(), request.size())) return tl::unexpected(std::string("sending failed: ") + std::strerror(errno));
  uint8_t size_bytes[4];
  if (!recv_all(fd_, size_bytes, 4)) return tl::unexpected(std::string("no response: ") + std::strerror(errno));
  uint32_t size = (uint32_t{size_bytes[0]} << 24) | (uint32_t{size_bytes[1]} << 16) | (uint32_t{size_bytes[2]} << 8) |
                  size_bytes[3];
  if (size > (64u << 20)) return tl::unexpected(std::string("response too large"));
  Bytes frame(size);
  if (!recv_all(fd_, frame.data(), size)) return tl::unexpected(std::string("truncated response"));
  return frame;
}

}  // namespace fjord::client
