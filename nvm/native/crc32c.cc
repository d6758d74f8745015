// CRC32C for the addon (see crc32c.h). Two paths, chosen once per process:
//
//   hardware: x86-64 with SSE4.2, the crc32 instruction 8 bytes at a time (_mm_crc32_u64). The
//             function is compiled for SSE4.2 alone (target attribute), so the rest of the addon
//             still runs on any x86-64; __builtin_cpu_supports decides at load whether to call it.
//   portable: slice-by-8 tables (Intel's "slicing-by-8"), one table lookup per byte, eight
//             independent lookups per 8-byte word. Used on other CPUs and architectures.
//
// One stream of crc32 instructions is latency-bound (3 cycles per 8 bytes, several GB/s), far
// above what a block read needs next to its read syscall, so there is no 3-way interleave.
#include "crc32c.h"

#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define STRATA_CRC32C_X86 1
#endif

namespace strata {
namespace {

constexpr uint32_t kPolynomialReflected = 0x82F63B78u;

struct Tables {
  uint32_t slice[8][256];
  Tables() {
    for (uint32_t byte = 0; byte < 256; byte++) {
      uint32_t crc = byte;
      for (int bit = 0; bit < 8; bit++) {
        crc = (crc & 1) ? (crc >> 1) ^ kPolynomialReflected : crc >> 1;
      }
      slice[0][byte] = crc;
    }
    for (uint32_t byte = 0; byte < 256; byte++) {
      for (int k = 1; k < 8; k++) {
        uint32_t previous = slice[k - 1][byte];
        slice[k][byte] = (previous >> 8) ^ slice[0][previous & 0xFF];
      }
    }
  }
};

const Tables kTables;

// Little-endian load; memcpy keeps unaligned reads defined and compiles to one mov.
inline uint32_t Load32(const uint8_t* p) {
  uint32_t value;
  std::memcpy(&value, p, sizeof(value));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  value = __builtin_bswap32(value);
#endif
  return value;
}

uint32_t UpdatePortable(uint32_t crc, const uint8_t* p, size_t length) {
  const auto& t = kTables.slice;
  while (length >= 8) {
    uint32_t low = Load32(p) ^ crc;
    uint32_t high = Load32(p + 4);
    crc = t[7][low & 0xFF] ^ t[6][(low >> 8) & 0xFF] ^ t[5][(low >> 16) & 0xFF] ^ t[4][low >> 24] ^
          t[3][high & 0xFF] ^ t[2][(high >> 8) & 0xFF] ^ t[1][(high >> 16) & 0xFF] ^
          t[0][high >> 24];
    p += 8;
    length -= 8;
  }
  while (length-- > 0) crc = t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return crc;
}

#ifdef STRATA_CRC32C_X86
__attribute__((target("sse4.2"))) uint32_t UpdateHardware(uint32_t crc, const uint8_t* p,
                                                          size_t length) {
  while (length > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    crc = _mm_crc32_u8(crc, *p++);
    length--;
  }
  uint64_t crc64 = crc;
  while (length >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    crc64 = _mm_crc32_u64(crc64, word);
    p += 8;
    length -= 8;
  }
  crc = static_cast<uint32_t>(crc64);
  while (length-- > 0) crc = _mm_crc32_u8(crc, *p++);
  return crc;
}

bool DetectHardware() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#else
bool DetectHardware() { return false; }
#endif

const bool kHardware = DetectHardware();

}  // namespace

uint32_t Crc32cPortable(const uint8_t* data, size_t length) {
  return ~UpdatePortable(0xFFFFFFFFu, data, length);
}

uint32_t Crc32c(const uint8_t* data, size_t length) {
#ifdef STRATA_CRC32C_X86
  if (kHardware) return ~UpdateHardware(0xFFFFFFFFu, data, length);
#endif
  return Crc32cPortable(data, length);
}

bool Crc32cHardware() { return kHardware; }

}  // namespace strata
