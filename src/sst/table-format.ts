/**
 * Constants of the sorted-table format (FORMAT.md). Every number here is on disk: never renumber
 * one. A change of layout is a new `TABLE_FORMAT_VERSION`, and readers refuse versions they do
 * not know.
 */
import { assert } from '../assert.js';

/** Persisted integer widths, asserted in range where they are encoded. */
export type U32 = number;
export type U64 = number; // at most 2^53 - 1 in this engine

export const TABLE_FORMAT_VERSION: U32 = 1;

/** The footer's last 8 bytes, "STRATSST" in ASCII. */
export const TABLE_MAGIC: Uint8Array = new TextEncoder().encode('STRATSST');

/** Fixed footer at the end of every table. FORMAT.md, "Footer". */
export const FOOTER_BYTES = 64;

/** After every block: compression type (u8) + masked CRC32C (u32 LE). FORMAT.md, "Block trailer". */
export const BLOCK_TRAILER_BYTES = 5;

/** Compression types. Only `none` is written; any other byte is refused as corrupt. */
export const COMPRESSION_NONE = 0;

/** Block builder defaults (options, not format: a reader takes any value). */
export const BLOCK_SIZE_BYTES_DEFAULT = 4096;
export const RESTART_INTERVAL_DEFAULT = 16;
/** The index block restarts at every entry so a seek binary-searches every separator. */
export const INDEX_RESTART_INTERVAL = 1;

const CRC_MASK_DELTA = 0xa282ead8;

/**
 * LevelDB's CRC mask: a CRC of bytes that themselves contain CRCs is weak, so stored CRCs are
 * rotated right by 15 bits and offset by a constant.
 */
export function maskCrc(crc: U32): U32 {
  return (((crc >>> 15) | (crc << 17)) + CRC_MASK_DELTA) >>> 0;
}

export function unmaskCrc(masked: U32): U32 {
  const rotated = (masked - CRC_MASK_DELTA) >>> 0;
  return ((rotated >>> 17) | (rotated << 15)) >>> 0;
}

export function writeU32(target: Uint8Array, offset: number, value: U32): void {
  assert(Number.isInteger(value) && value >= 0 && value <= 0xffffffff, 'u32 out of range');
  target[offset] = value & 0xff;
  target[offset + 1] = (value >>> 8) & 0xff;
  target[offset + 2] = (value >>> 16) & 0xff;
  target[offset + 3] = value >>> 24;
}

export function readU32(bytes: Uint8Array, offset: number): U32 {
  return (
    (bytes[offset]! |
      (bytes[offset + 1]! << 8) |
      (bytes[offset + 2]! << 16) |
      (bytes[offset + 3]! << 24)) >>>
    0
  );
}

/** Writes a u64 little-endian as two u32 halves. Requires: a safe non-negative integer. */
export function writeU64(target: Uint8Array, offset: number, value: U64): void {
  assert(Number.isSafeInteger(value) && value >= 0, 'u64 out of range');
  const low = value % 0x100000000;
  writeU32(target, offset, low);
  writeU32(target, offset + 4, (value - low) / 0x100000000);
}

/** Reads a u64 little-endian; returns -1 when it exceeds 2^53 - 1 (only corrupt files do). */
export function readU64(bytes: Uint8Array, offset: number): U64 {
  const high = readU32(bytes, offset + 4);
  if (high >= 0x200000) return -1;
  return high * 0x100000000 + readU32(bytes, offset);
}

assert(TABLE_MAGIC.length === 8);
assert(FOOTER_BYTES === 6 * 8 + 4 + 4 + TABLE_MAGIC.length); // three handles, version, crc, magic
assert(BLOCK_TRAILER_BYTES === 1 + 4);
assert(unmaskCrc(maskCrc(0x12345678)) === 0x12345678);
