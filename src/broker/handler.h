// Request handlers: one function per API, and the registry that declares, in one place, the
// version range each serves. ApiVersions is derived from that registry.
#pragma once

#include <asio/awaitable.hpp>

#include <span>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "broker/broker.h"
#include "protocol/headers.h"
#include "tl/expected.hpp"

namespace fjord::broker {

struct RequestContext {
  Broker& broker;
  const protocol::RequestHeader& header;
  int shard = 0;  // the shard this request runs on
  std::string_view client_host;  // the peer's address, "/1.2.3.4" (the connection outlives the request)
  int listener = 0;              // the listener it came in on (an index in broker.endpoints)
  bool suppress_response = false;  // Produce with acks=0: the client expects no answer
  std::string close_reason;        // set: close the connection after this request (logged)
  int32_t heartbeat_from = -1;     // set by BrokerHeartbeat: the broker whose heartbeats this connection carries

  int16_t api_version() const { return header.request_api_version; }
};

// A whole response frame, or why the request is malformed (the connection is then closed). An
// empty frame means no response (Produce with acks=0).
using HandlerResult = tl::expected<protocol::Frame, std::string>;
using HandlerFn = asio::awaitable<HandlerResult> (*)(RequestContext&, protocol::Reader&);

struct HandlerInfo {
  int16_t api_key;
  int16_t min_version;
  int16_t max_version;
  HandlerFn invoke;
};

std::span<const HandlerInfo> handlers();
const HandlerInfo* find_handler(int16_t api_key);

// Decodes Req at the request's version, runs Fn, encodes its response into a frame.
template <typename Req, typename Resp, asio::awaitable<Resp> (*Fn)(RequestContext&, Req&)>
asio::awaitable<HandlerResult> typed_handler(RequestContext& ctx, protocol::Reader& body) {
  Req request;
  request.decode(body, ctx.api_version());
  if (!body.ok()) co_return tl::unexpected(std::string(body.error()));
  Resp response = co_await Fn(ctx, request);
  if (!ctx.close_reason.empty()) co_return tl::unexpected(ctx.close_reason);
  if (ctx.suppress_response) co_return protocol::Frame{};
  co_return protocol::encode_response_frame(*protocol::find_api_spec(Req::kApiKey), ctx.api_version(),
                                            ctx.header.correlation_id, response);
}

// The ApiVersions answer to a version this broker does not serve: v0 body, UNSUPPORTED_VERSION,
// and only ApiVersions' own range (KIP-511).
Bytes unsupported_api_versions_response(int32_t correlation_id);

}  // namespace fjord::broker
