#include "base/properties.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace fjord {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\f'; }

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Joins continuation lines into logical lines, dropping comments and blank lines.
std::vector<std::string> logical_lines(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  bool continuing = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t start = 0;
    while (start < line.size() && is_ws(line[start])) ++start;
    line.remove_prefix(start);
    if (!continuing && (line.empty() || line[0] == '#' || line[0] == '!')) {
      if (end == text.size()) break;
      continue;
    }
    size_t backslashes = 0;
    while (backslashes < line.size() && line[line.size() - 1 - backslashes] == '\\') ++backslashes;
    bool continues = backslashes % 2 == 1;
    if (continues) line.remove_suffix(1);
    current.append(line);
    continuing = continues;
    if (!continuing) {
      out.push_back(std::move(current));
      current.clear();
    }
    if (end == text.size()) break;
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '\\' || i + 1 == s.size()) {
      out.push_back(c);
      continue;
    }
    char e = s[++i];
    switch (e) {
      case 't': out.push_back('\t'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 'f': out.push_back('\f'); break;
      case 'u': {
        uint32_t cp = 0;
        bool ok = i + 4 < s.size();
        for (size_t k = 1; k <= 4 && ok; ++k) {
          char h = s[i + k];
          cp <<= 4;
          if (h >= '0' && h <= '9') cp |= h - '0';
          else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
          else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
          else ok = false;
        }
        if (ok) {
          append_utf8(out, cp);
          i += 4;
        } else {
          out.push_back('u');
        }
        break;
      }
      default: out.push_back(e);
    }
  }
  return out;
}

}  // namespace

Properties parse_properties(std::string_view text) {
  Properties props;
  for (const std::string& line : logical_lines(text)) {
    size_t i = 0;
    std::string key_raw;
    while (i < line.size()) {
      char c = line[i];
      if (c == '\\' && i + 1 < line.size()) {
        key_raw.push_back(c);
        key_raw.push_back(line[i + 1]);
        i += 2;
        continue;
      }
      if (c == '=' || c == ':' || is_ws(c)) break;
      key_raw.push_back(c);
      ++i;
    }
    while (i < line.size() && is_ws(line[i])) ++i;
    if (i < line.size() && (line[i] == '=' || line[i] == ':')) ++i;
    while (i < line.size() && is_ws(line[i])) ++i;
    props[unescape(key_raw)] = unescape(std::string_view(line).substr(i));
  }
  return props;
}

tl::expected<Properties, std::string> load_properties_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::unexpected(path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_properties(ss.str());
}

}  // namespace fjord
