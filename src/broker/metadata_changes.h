// What a change of the metadata image means for this node, done the same way whether the change
// was written here or replicated from the controller quorum: partition directories and logs for
// the partitions this node hosts (opened, reconfigured, closed and deleted), and the live
// configuration (dynamic broker configs).
#pragma once

#include "broker/broker.h"
#include "metadata/image.h"

namespace fjord::broker {

// REQUIRES: called on the controller thread, in the order the changes were applied. Returns true
// if the live configuration changed.
bool apply_metadata_change(Broker& broker, const metadata::Image& before, const metadata::Image& after);

}  // namespace fjord::broker
