// Request and response framing: header version selection, request header parsing, and encoding
// a whole response frame (size prefix + header + body).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "protocol/codec.h"
#include "protocol/generated/api_keys.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"

namespace fjord::protocol {

// Header versions: requests use v2 in flexible versions, else v1 (ControlledShutdown v0: v0);
// responses use v1 in flexible versions, else v0, and ApiVersions always v0 (KIP-511).
int16_t request_header_version(const ApiSpec& api, int16_t api_version);
int16_t response_header_version(const ApiSpec& api, int16_t api_version);

struct ParsedRequest {
  RequestHeader header;
  const ApiSpec* api = nullptr;  // nullptr: an API key the schemas do not define
  Reader body;                   // positioned after the header
};

// Parses a request frame (without its 4-byte size). For an unknown API key only the fixed part
// (key, version, correlation id) is read and `api` stays null. Fails (nullopt, `error` set) when
// even that is truncated or the header is malformed.
std::optional<ParsedRequest> parse_request(ByteView frame, std::string& error);

// A whole response frame: int32 size, header, body encoded at `api_version`; file slices of
// records stay slices (zero copy).
template <typename Body>
Frame encode_response_frame(const ApiSpec& api, int16_t api_version, int32_t correlation_id, const Body& body) {
  Frame frame;
  Writer w(frame.head, &frame.splices);
  w.write_int32(0);
  ResponseHeader header;
  header.correlation_id = correlation_id;
  header.encode(w, response_header_version(api, api_version));
  body.encode(w, api_version);
  uint64_t size = frame.head.size() - 4;
  for (const Splice& s : frame.splices) size += s.slice.length;
  w.patch_int32(0, static_cast<int32_t>(size));
  return frame;
}

// The same in one buffer.
template <typename Body>
Bytes encode_response(const ApiSpec& api, int16_t api_version, int32_t correlation_id, const Body& body) {
  return encode_response_frame(api, api_version, correlation_id, body).materialize();
}

// A whole request frame, for tests and tools.
template <typename Body>
Bytes encode_request(const RequestHeader& header, const Body& body) {
  const ApiSpec* api = find_api_spec(header.request_api_key);
  Bytes out;
  Writer w(out);
  w.write_int32(0);
  header.encode(w, request_header_version(*api, header.request_api_version));
  body.encode(w, header.request_api_version);
  w.patch_int32(0, static_cast<int32_t>(out.size() - 4));
  return out;
}

// A whole request frame for `Req` at `version`, with the given correlation and client ids.
template <typename Req>
Bytes encode_client_request(const Req& req, int16_t version, int32_t correlation_id, const std::string& client_id) {
  RequestHeader header;
  header.request_api_key = Req::kApiKey;
  header.request_api_version = version;
  header.correlation_id = correlation_id;
  header.client_id = client_id;
  return encode_request(header, req);
}

// Decodes a response frame (without its size) to `Req`'s request at `version`; nullopt when it is
// malformed or answers another correlation id.
template <typename Resp, typename Req>
std::optional<Resp> decode_client_response(ByteView frame, int16_t version, int32_t correlation_id) {
  Reader r(frame);
  ResponseHeader rh;
  rh.decode(r, response_header_version(*find_api_spec(Req::kApiKey), version));
  Resp resp;
  resp.decode(r, version);
  if (!r.ok() || rh.correlation_id != correlation_id) return std::nullopt;
  return resp;
}

}  // namespace fjord::protocol
