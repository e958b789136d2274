#include <algorithm>

#include "broker/handlers/handlers.h"

namespace fjord::broker {
using namespace protocol;

namespace {
// Kafka's rule for client software name and version: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
bool valid_software_field(const std::string& s) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (s.empty() || !alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-' || c == '.'; });
}
}  // namespace

asio::awaitable<ApiVersionsResponse> handle_api_versions(RequestContext& ctx, ApiVersionsRequest& req) {
  ApiVersionsResponse resp;
  if (ctx.api_version() >= 3 &&
      (!valid_software_field(req.client_software_name) || !valid_software_field(req.client_software_version))) {
    resp.error_code = code(ErrorCode::INVALID_REQUEST);
    co_return resp;
  }
  for (const HandlerInfo& h : handlers()) {
    auto& entry = resp.api_keys.emplace_back();
    entry.api_key = h.api_key;
    entry.min_version = h.min_version;
    entry.max_version = h.max_version;
  }
  co_return resp;
}

}  // namespace fjord::broker
