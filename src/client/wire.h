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
    protocol::RequestHeader header;
    header.request_api_key = Req::kApiKey;
    header.request_api_version = version;
    header.correlation_id = ++correlation_;
    header.client_id = "fjord-cli";
    auto frame = roundtrip(protocol::encode_request(header, req));
    if (!frame) return tl::unexpected(frame.error());
    protocol::Reader r(*frame);
    protocol::ResponseHeader rh;
    rh.decode(r, protocol::response_header_version(*protocol::find_api_spec(Req::kApiKey), version));
    Resp resp;
    resp.decode(r, version);
    if (!r.ok() || rh.correlation_id != header.correlation_id)
      return tl::unexpected(std::string("malformed response from the broker"));
    return resp;
  }

 private:
  explicit WireConnection(int fd) : fd_(fd) {}
  // Writes a request frame and reads the response frame (without its size).
  tl::expected<Bytes, std::string> roundtrip(const Bytes& request);

  int fd_ = -1;
  int32_t correlation_ = 0;
};

}  // namespace fjord::client
