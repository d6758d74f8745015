/**
 * A blob reference: what the tree stores in place of a large value. It names the value's
 * location (file, offset), its length in use, the room reserved for it and the CRC of the bytes
 * in use. The used length and CRC live here and not in the blob file, which is what makes an
 * in-place append cheap: write the new bytes into the reserve, then commit a new ref.
 * FORMAT.md, "Blob reference".
 *
 *   +---------+-------------+-------------+---------+-------------+-------------+-----------+
 *   | version | fileNumber  | valueOffset | used    | capacity    | refVersion  | crc       |
 *   | u8 (=1) | u64 LE      | u64 LE      | u64 LE  | u64 LE      | u32 LE      | u32 LE    |
 *   +---------+-------------+-------------+---------+-------------+-------------+-----------+
 *    0         1             9             17        25            33            37        41
 *
 * The crc is plain (unmasked) CRC32C of the `used` value bytes, so that crc32cCombine can extend
 * it. A ref carries no checksum of its own: it lives inside tree structures that have one.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { readU32, readU64, type U32, type U64, writeU32, writeU64 } from '../sst/table-format.js';

export const BLOB_REF_VERSION = 1;

const FILE_NUMBER_OFFSET = 1;
const VALUE_OFFSET_OFFSET = 9;
const USED_OFFSET = 17;
const CAPACITY_OFFSET = 25;
const REF_VERSION_OFFSET = 33;
const CRC_OFFSET = 37;

export const BLOB_REF_BYTES: number = 41;

export interface BlobRef {
  readonly fileNumber: U64;
  /** Byte offset in the file where the value's bytes start. */
  readonly valueOffset: U64;
  /** Bytes of the value in use. */
  readonly used: U64;
  /** Bytes reserved for the value, >= used. */
  readonly capacity: U64;
  /** +1 per in-place append; 1 when the record is written. */
  readonly version: U32;
  /** CRC32C (unmasked) of the `used` value bytes. */
  readonly crc: U32;
}

/** Requires: every field in range (safe integers, u32 version and crc, used <= capacity). */
export function encodeBlobRef(ref: BlobRef): Uint8Array {
  assert(ref.used <= ref.capacity, 'a blob ref uses at most its capacity');
  const bytes = new Uint8Array(BLOB_REF_BYTES);
  bytes[0] = BLOB_REF_VERSION;
  writeU64(bytes, FILE_NUMBER_OFFSET, ref.fileNumber);
  writeU64(bytes, VALUE_OFFSET_OFFSET, ref.valueOffset);
  writeU64(bytes, USED_OFFSET, ref.used);
  writeU64(bytes, CAPACITY_OFFSET, ref.capacity);
  writeU32(bytes, REF_VERSION_OFFSET, ref.version);
  writeU32(bytes, CRC_OFFSET, ref.crc);
  return bytes;
}

/** ERR_CORRUPT naming `where` on a wrong length or version, a u64 above 2^53 - 1, used > capacity. */
export function decodeBlobRef(bytes: Uint8Array, where: string): BlobRef {
  if (bytes.length !== BLOB_REF_BYTES) {
    throw corrupt(where, `${bytes.length} bytes, expected ${BLOB_REF_BYTES}`);
  }
  if (bytes[0] !== BLOB_REF_VERSION) throw corrupt(where, `unknown version ${bytes[0]}`);
  const fileNumber = readU64(bytes, FILE_NUMBER_OFFSET);
  const valueOffset = readU64(bytes, VALUE_OFFSET_OFFSET);
  const used = readU64(bytes, USED_OFFSET);
  const capacity = readU64(bytes, CAPACITY_OFFSET);
  if (fileNumber < 0 || valueOffset < 0 || used < 0 || capacity < 0) {
    throw corrupt(where, 'a u64 field exceeds 2^53 - 1');
  }
  if (used > capacity) throw corrupt(where, `used ${used} exceeds capacity ${capacity}`);
  if (valueOffset + capacity > Number.MAX_SAFE_INTEGER) {
    throw corrupt(where, 'value region ends past 2^53 - 1');
  }
  const version = readU32(bytes, REF_VERSION_OFFSET);
  const crc = readU32(bytes, CRC_OFFSET);
  return { fileNumber, valueOffset, used, capacity, version, crc };
}

/** Whether two refs name the same value (possibly at different versions). */
export function sameBlobLocation(a: BlobRef, b: BlobRef): boolean {
  return a.fileNumber === b.fileNumber && a.valueOffset === b.valueOffset;
}

function corrupt(where: string, detail: string): StrataError {
  return new StrataError('ERR_CORRUPT', `corrupt blob ref in ${where}: ${detail}`);
}

assert(CRC_OFFSET + 4 === BLOB_REF_BYTES);
assert(REF_VERSION_OFFSET === CAPACITY_OFFSET + 8 && CAPACITY_OFFSET === USED_OFFSET + 8);
assert(USED_OFFSET === VALUE_OFFSET_OFFSET + 8 && VALUE_OFFSET_OFFSET === FILE_NUMBER_OFFSET + 8);
