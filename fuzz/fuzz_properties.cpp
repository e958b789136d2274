// libFuzzer target: a server.properties file, parsed and turned into the broker's configuration
// (every key checked against its type and range).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/properties.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto props = fjord::parse_properties(text);
  std::vector<std::string> unknown;
  auto config = fjord::BrokerConfig::create(props, unknown);
  if (config) (void)config->get_long("log.segment.bytes");
  return 0;
}
