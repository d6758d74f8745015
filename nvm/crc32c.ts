/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), initial value and final xor 0xFFFFFFFF.
 * Check value: crc32c("123456789") === 0xE3069283.
 *
 * Every block read from a sorted table is checked with it, so it sits on the read path. Ranges of
 * at least CRC32C_NATIVE_MIN_BYTES go to the native addon (nvm/native/crc32c.cc: SSE4.2 crc32
 * where the CPU has it, else slice-by-8 in C); shorter ranges, and every range when the addon did
 * not load (or STRATA_NVM_ADDON=off), use slice-by-8 in JavaScript. The threshold is where the
 * addon call's fixed cost (about 100 ns) stops outweighing its speed; measured on x86-64,
 * Node 20, native SSE4.2 ~6 GB/s, JavaScript slice-by-8 ~0.55 GB/s, byte-at-a-time ~0.34 GB/s
 * for 4 KB blocks.
 *
 * Slice-by-8: after xoring the running CRC into the next 4 bytes, the CRC of 8 bytes is the xor of
 * 8 independent table lookups, one per byte, where table k gives a byte's contribution when k
 * more bytes follow it. TABLE holds the 8 tables of 256 entries back to back as Int32 values, so
 * every intermediate stays a small integer in V8 (a Uint32Array would produce doubles).
 */
import { loadNativeAddon } from './native-addon.js';

const CRC32C_POLYNOMIAL_REFLECTED = 0x82f63b78;
const SLICE_COUNT = 8;
/** Below this many bytes a call into the addon costs more than it saves (see above). */
export const CRC32C_NATIVE_MIN_BYTES = 96;

const TABLE: Int32Array = buildTables();

type RangeCrc = (bytes: Uint8Array, start: number, end: number) => number;

const nativeCrc32c: RangeCrc | undefined = loadNativeCrc32c();

export function crc32c(bytes: Uint8Array, start = 0, end: number = bytes.length): number {
  if (nativeCrc32c !== undefined && end - start >= CRC32C_NATIVE_MIN_BYTES) {
    return nativeCrc32c(bytes, start, end);
  }
  return crc32cSliceBy8(bytes, start, end);
}

/** Which implementation crc32c uses for long ranges in this thread. */
export function crc32cImplementation(): 'native' | 'javascript' {
  return nativeCrc32c === undefined ? 'javascript' : 'native';
}

/** The pure JavaScript path; exported so tests cover it even where the addon loaded. */
export function crc32cSliceBy8(bytes: Uint8Array, start = 0, end: number = bytes.length): number {
  const table = TABLE;
  let crc = -1;
  let index = start;
  for (const last = end - 8; index <= last; index += 8) {
    const low =
      crc ^
      (bytes[index]! |
        (bytes[index + 1]! << 8) |
        (bytes[index + 2]! << 16) |
        (bytes[index + 3]! << 24));
    crc =
      table[1792 + (low & 0xff)]! ^
      table[1536 + ((low >>> 8) & 0xff)]! ^
      table[1280 + ((low >>> 16) & 0xff)]! ^
      table[1024 + (low >>> 24)]! ^
      table[768 + bytes[index + 4]!]! ^
      table[512 + bytes[index + 5]!]! ^
      table[256 + bytes[index + 6]!]! ^
      table[bytes[index + 7]!]!;
  }
  for (; index < end; index++) crc = table[(crc ^ bytes[index]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** The original one-byte-at-a-time loop: the reference the faster paths are tested against. */
export function crc32cBytewise(bytes: Uint8Array, start = 0, end: number = bytes.length): number {
  let crc = -1;
  for (let index = start; index < end; index++) {
    crc = TABLE[(crc ^ bytes[index]!) & 0xff]! ^ (crc >>> 8);
  }
  return ~crc >>> 0;
}

/** The addon's crc32c, or undefined if the addon is absent, disabled, or predates crc32c. */
export function loadNativeCrc32c(): RangeCrc | undefined {
  const load = loadNativeAddon();
  if (!load.ok || typeof load.addon.crc32c !== 'function') return undefined;
  return load.addon.crc32c;
}

function buildTables(): Int32Array {
  const table = new Int32Array(SLICE_COUNT * 256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 1 ? (crc >>> 1) ^ CRC32C_POLYNOMIAL_REFLECTED : crc >>> 1;
    }
    table[byte] = crc;
  }
  for (let slice = 1; slice < SLICE_COUNT; slice++) {
    for (let byte = 0; byte < 256; byte++) {
      const previous = table[(slice - 1) * 256 + byte]!;
      table[slice * 256 + byte] = (previous >>> 8) ^ table[previous & 0xff]!;
    }
  }
  return table;
}
