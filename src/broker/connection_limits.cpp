#include "broker/connection_limits.h"

#include <charconv>
#include <sstream>

#include <asio/ip/address.hpp>
#include <fmt/format.h>

namespace fjord::broker {

tl::expected<std::shared_ptr<ConnectionLimits>, std::string> ConnectionLimits::create(int64_t max_total,
                                                                                     int64_t max_per_ip,
                                                                                     const std::string& overrides) {
  auto limits = std::make_shared<ConnectionLimits>();
  limits->max_total_ = max_total;
  limits->max_per_ip_ = max_per_ip;
  std::stringstream in(overrides);
  std::string item;
  while (std::getline(in, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) continue;
    size_t colon = item.rfind(':');
    int64_t count = -1;
    std::string address = colon == std::string::npos ? "" : item.substr(0, colon);
    if (colon != std::string::npos) {
      auto [p, ec] = std::from_chars(item.data() + colon + 1, item.data() + item.size(), count);
      if (ec != std::errc() || p != item.data() + item.size()) count = -1;
    }
    std::error_code bad;
    auto parsed = asio::ip::make_address(address, bad);
    if (count < 0 || bad)
      return tl::unexpected(fmt::format("max.connections.per.ip.overrides: '{}' is not IP-ADDRESS:COUNT", item));
    limits->overrides_[parsed.to_string()] = count;
  }
  return limits;
}

int64_t ConnectionLimits::limit_for(const std::string& address) const {
  auto it = overrides_.find(address);
  return it != overrides_.end() ? it->second : max_per_ip_;
}

ConnectionLimits::Admit ConnectionLimits::admit(const std::string& address) {
  std::lock_guard lock(mutex_);
  if (total_ >= max_total_) return Admit::TotalLimit;
  int64_t& n = per_ip_[address];
  if (n >= limit_for(address)) {
    if (n == 0) per_ip_.erase(address);
    return Admit::PerIpLimit;
  }
  ++n;
  ++total_;
  return Admit::Ok;
}

void ConnectionLimits::release(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto it = per_ip_.find(address);
  if (it != per_ip_.end() && --it->second <= 0) per_ip_.erase(it);
  --total_;
}

bool ConnectionLimits::full() const {
  std::lock_guard lock(mutex_);
  return total_ >= max_total_;
}

int64_t ConnectionLimits::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

}  // namespace fjord::broker
