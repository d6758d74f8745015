// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) for the addon's crc32c() export.
// Crc32c(data, length) is the finished checksum (initial value and final xor 0xFFFFFFFF), the
// same as nvm/crc32c.ts: Crc32c("123456789", 9) == 0xE3069283.
#ifndef STRATA_NVM_CRC32C_H_
#define STRATA_NVM_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace strata {

uint32_t Crc32c(const uint8_t* data, size_t length);

// The portable slice-by-8 path, exposed so the addon's self-check can compare the two paths.
uint32_t Crc32cPortable(const uint8_t* data, size_t length);

// True when Crc32c uses the SSE4.2 crc32 instruction on this CPU.
bool Crc32cHardware();

}  // namespace strata

#endif  // STRATA_NVM_CRC32C_H_
