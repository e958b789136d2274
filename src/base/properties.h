// Java .properties syntax, as Kafka's server.properties uses it.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "tl/expected.hpp"

namespace fjord {

using Properties = std::map<std::string, std::string>;

// Parses `text`: `key=value`, `key: value` or `key value`; `#`/`!` comments; a trailing backslash
// continues the line; \t \n \r \f \uXXXX and \<char> escapes. Later keys override earlier ones.
Properties parse_properties(std::string_view text);

// Reads and parses a file; the error names the file and why it could not be read.
tl::expected<Properties, std::string> load_properties_file(const std::string& path);

}  // namespace fjord
