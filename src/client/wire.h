// A blocking connection that speaks the Kafka protocol with Fjord's generated codecs, for the
// admin requests librdkafka 2.0 has no API for (transactions, producer state).
#pragma once

#include <cstdint>
#include <string>

#include "base/bytes.h"
#include "protocol/codec.h"
#include "protocol/headers.h"
#include "tl/expected.hpp"

namespace fjord::client {

class WireConnection {
 public:
  // Connects to the first of `brokers` ("host:port[,host:port...]") that answers.
  static tl::expected<WireConnection, std::string> open(const std::string& brokers, int timeout_ms);
  WireConnection(WireConnection&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  WireConnection(const WireConnection&) = delete;
  ~WireConnection();

  // Sends `req` at `version` and decodes the response.
  template <typename Resp, typename Req>
  tl::expected<Resp, std::string> call(const Req& req, int16_t version) {
    const int32_t correlation = ++correlation_;
    auto frame = roundtrip(protocol::encode_client_request(req, version, correlation, "fjord-cli"));
    if (!frame) return tl::unexpected(frame.error());
    auto resp = protocol::decode_client_response<Resp, Req>(*frame, version, correlation);
    if (!resp) return tl::unexpected(std::string("malformed response from the broker"));
    return std::move(*resp);
  }

 private:
  explicit WireConnection(int fd) : fd_(fd) {}
  // Writes a request frame and reads the response frame (without its size).
  tl::expected<Bytes, std::string> roundtrip(const Bytes& request);

  int fd_ = -1;
  int32_t correlation_ = 0;
};

}  // namespace fjord::client
