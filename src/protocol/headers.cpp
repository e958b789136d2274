#include "protocol/headers.h"

namespace fjord::protocol {

int16_t request_header_version(const ApiSpec& api, int16_t api_version) {
  if (api_version >= api.first_flexible_version) return 2;
  if (api.key == static_cast<int16_t>(ApiKey::ControlledShutdown) && api_version == 0) return 0;
  return 1;
}

int16_t response_header_version(const ApiSpec& api, int16_t api_version) {
  if (api.key == static_cast<int16_t>(ApiKey::ApiVersions)) return 0;
  return api_version >= api.first_flexible_version ? 1 : 0;
}

std::optional<ParsedRequest> parse_request(ByteView frame, std::string& error) {
  ParsedRequest req;
  Reader fixed(frame);
  req.header.request_api_key = fixed.read_int16();
  req.header.request_api_version = fixed.read_int16();
  req.header.correlation_id = fixed.read_int32();
  if (!fixed.ok()) {
    error = "request header truncated";
    return std::nullopt;
  }
  req.api = find_api_spec(req.header.request_api_key);
  if (req.api == nullptr) {
    req.body = fixed;
    return req;
  }
  Reader r(frame);
  req.header.decode(r, request_header_version(*req.api, req.header.request_api_version));
  if (!r.ok()) {
    error = std::string("malformed request header: ") + r.error();
    return std::nullopt;
  }
  req.body = r;
  return req;
}

}  // namespace fjord::protocol
