// CRC-32C (Castagnoli), as Kafka's record batches use. Hardware (SSE4.2, three interleaved
// chains) when the CPU has it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fjord {

uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

// The table-driven version the hardware one must agree with (tests).
uint32_t crc32c_portable_for_test(const void* data, size_t size, uint32_t crc = 0);

}  // namespace fjord
