#include <charconv>
#include <chrono>
#include <string_view>

#include "client/client.h"

namespace fjord::client {

std::optional<int64_t> parse_time_ms(const std::string& text) {
  const char* const end = text.data() + text.size();
  int64_t epoch_ms = 0;
  if (auto [at, ec] = std::from_chars(text.data(), end, epoch_ms); ec == std::errc() && at == end)
    return epoch_ms >= 0 ? std::optional<int64_t>(epoch_ms) : std::nullopt;

  size_t at = 0;
  auto digits = [&](size_t count, int& out) {
    out = 0;
    for (size_t i = 0; i < count; ++i, ++at) {
      if (at >= text.size() || text[at] < '0' || text[at] > '9') return false;
      out = out * 10 + (text[at] - '0');
    }
    return true;
  };
  auto literal = [&](std::string_view options) {
    if (at >= text.size() || options.find(text[at]) == std::string_view::npos) return false;
    ++at;
    return true;
  };
  int year, month, day, hour, minute, second = 0, millis = 0;
  if (!(digits(4, year) && literal("-") && digits(2, month) && literal("-") && digits(2, day) && literal("T ") &&
        digits(2, hour) && literal(":") && digits(2, minute)))
    return std::nullopt;
  if (literal(":") && !digits(2, second)) return std::nullopt;
  if (literal(".")) {
    size_t first = at;
    for (int scale = 100; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, scale /= 10)
      millis += (text[at] - '0') * scale;
    if (at == first) return std::nullopt;
  }
  int offset_minutes = 0;
  if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int sign = text[at++] == '+' ? 1 : -1, zone_hours, zone_minutes;
    if (!digits(2, zone_hours)) return std::nullopt;
    literal(":");  // +HH:MM or +HHMM
    if (!digits(2, zone_minutes) || zone_hours > 23 || zone_minutes > 59) return std::nullopt;
    offset_minutes = sign * (zone_hours * 60 + zone_minutes);
  } else if (!literal("Z")) {
    if (text.compare(at, std::string::npos, " UTC") == 0 || text.compare(at, std::string::npos, "UTC") == 0)
      at = text.size();
  }
  using namespace std::chrono;
  year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                      std::chrono::day{static_cast<unsigned>(day)}};
  if (at != text.size() || !date.ok() || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  auto t = sys_days{date} + hours{hour} + minutes{minute - offset_minutes} + seconds{second} + milliseconds{millis};
  return t.time_since_epoch().count();
}

}  // namespace fjord::client
