// A Kafka-protocol client for one broker talking to another (broker registration and heartbeats
// to the controller; later the replica fetcher): asynchronous, on the caller's executor, one
// request at a time, with Fjord's generated codecs. Any failure closes the connection; the next
// call connects again.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <string>

#include "base/bytes.h"
#include "protocol/codec.h"
#include "protocol/headers.h"
#include "tl/expected.hpp"

namespace fjord::cluster {

class PeerConnection {
 public:
  PeerConnection(asio::any_io_executor executor, std::string client_id)
      : socket_(executor), timer_(executor), client_id_(std::move(client_id)) {}

  // Sends `req` at `version` to host:port (connecting first, or again if the address changed)
  // and decodes the response; fails after `timeout` in all.
  template <typename Resp, typename Req>
  asio::awaitable<tl::expected<Resp, std::string>> call(std::string host, int port, const Req& req, int16_t version,
                                                        std::chrono::milliseconds timeout) {
    const int32_t correlation = ++correlation_;
    Bytes frame = protocol::encode_client_request(req, version, correlation, client_id_);
    auto body = co_await roundtrip(std::move(host), port, std::move(frame), timeout);
    if (!body) co_return tl::unexpected(body.error());
    auto resp = protocol::decode_client_response<Resp, Req>(*body, version, correlation);
    if (!resp) {
      close();
      co_return tl::unexpected(std::string("malformed response"));
    }
    co_return std::move(*resp);
  }

  void close();
  bool connected() const { return socket_.is_open(); }

 private:
  // Writes `request` (a whole frame) and reads the response frame without its size.
  asio::awaitable<tl::expected<Bytes, std::string>> roundtrip(std::string host, int port, Bytes request,
                                                              std::chrono::milliseconds timeout);

  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  std::string client_id_;
  std::string host_;
  int port_ = 0;
  int32_t correlation_ = 0;
  uint64_t generation_ = 0;  // of the call in flight, for its deadline
};

}  // namespace fjord::cluster
