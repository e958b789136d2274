#include "cluster/peer_client.h"

#include <asio/connect.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace fjord::cluster {

void PeerConnection::close() {
  std::error_code ignored;
  socket_.close(ignored);
}

asio::awaitable<tl::expected<Bytes, std::string>> PeerConnection::roundtrip(std::string host, int port, Bytes request,
                                                                            std::chrono::milliseconds timeout) {
  using Result = tl::expected<Bytes, std::string>;
  // The deadline closes the socket, which ends whatever step is waiting.
  // A deadline handler already queued when the call ends finds another generation and does nothing.
  auto expired_flag = std::make_shared<bool>(false);
  const uint64_t generation = ++generation_;
  timer_.expires_after(timeout);
  timer_.async_wait([this, expired_flag, generation](const std::error_code& ec) {
    if (ec || generation != generation_) return;
    *expired_flag = true;
    close();
  });
  const bool& expired = *expired_flag;
  struct CancelTimer {
    PeerConnection& self;
    ~CancelTimer() {
      ++self.generation_;
      self.timer_.cancel();
    }
  } cancel{*this};
  std::error_code ec;
  auto failed = [&](const char* what) -> Result {
    close();
    return tl::unexpected(std::string(what) + " " + host + ":" + std::to_string(port) + ": " +
                          (expired ? std::string("timed out") : ec.message()));
  };
  if (socket_.is_open() && (host != host_ || port != port_)) close();
  if (!socket_.is_open()) {
    asio::ip::tcp::resolver resolver(socket_.get_executor());
    auto endpoints = co_await resolver.async_resolve(host, std::to_string(port), asio::redirect_error(asio::use_awaitable, ec));
    if (ec || expired) co_return failed("resolving");
    co_await asio::async_connect(socket_, endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || expired) co_return failed("connecting to");
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    host_ = host;
    port_ = port;
  }
  co_await asio::async_write(socket_, asio::buffer(request), asio::redirect_error(asio::use_awaitable, ec));
  if (ec || expired) co_return failed("sending to");
  uint8_t size_bytes[4];
  co_await asio::async_read(socket_, asio::buffer(size_bytes), asio::redirect_error(asio::use_awaitable, ec));
  if (ec || expired) co_return failed("reading from");
  uint32_t size = (uint32_t{size_bytes[0]} << 24) | (uint32_t{size_bytes[1]} << 16) | (uint32_t{size_bytes[2]} << 8) |
                  uint32_t{size_bytes[3]};
  if (size > (256u << 20)) {
    ec = std::make_error_code(std::errc::message_size);
    co_return failed("oversized response from");
  }
  Bytes body(size);
  co_await asio::async_read(socket_, asio::buffer(body), asio::redirect_error(asio::use_awaitable, ec));
  if (ec || expired) co_return failed("reading from");
  co_return body;
}

}  // namespace fjord::cluster
