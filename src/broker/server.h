// Server: builds the broker from its configuration, listens on every shard (SO_REUSEPORT, so the
// kernel spreads connections over shards), and runs until SIGINT/SIGTERM.
#pragma once

#include <string>

#include "base/config.h"

namespace fjord::broker {

// Returns the process exit code: 0 after a clean shutdown, 1 if the broker could not start.
int serve(const BrokerConfig& config);

}  // namespace fjord::broker
