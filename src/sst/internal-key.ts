/**
 * The engine's internal key: a user key followed by an 8-byte trailer that names the version (seq)
 * and what the entry is (kind). Tables store internal keys; the memtable will too. Byte layout:
 * FORMAT.md, "Internal key".
 *
 *   +------------- user key (n bytes) -------------+------------ trailer (8 bytes) -----------+
 *   | any bytes, possibly none                     | u64 little-endian = (seq << 8) | kind     |
 *   +----------------------------------------------+---------+--------------------------------+
 *                                                  | kind u8 | seq: 7 bytes, little-endian    |
 *
 * Order: user key bytewise ascending, then seq descending, then kind descending (LevelDB), so the
 * newest version of a user key comes first and a seek to (userKey, snapshotSeq) lands on the
 * newest version that snapshot may see.
 *
 * Seqs are JS numbers: the format has room for 56 bits, the engine uses at most 2^53 - 1
 * (`SEQ_MAX`), so no BigInt is ever needed. A trailer is read as two u32 halves.
 */
import { assert } from '../assert.js';
import { readU32 } from './table-format.js';

/** A sequence number; u56 on disk, at most `SEQ_MAX` in this engine. */
export type Seq = number;

export const SEQ_MAX: Seq = Number.MAX_SAFE_INTEGER;
export const TRAILER_BYTES = 8;

/** Entry kinds. On disk: never renumber one, only add. */
export const KIND_DELETION = 0; // a tombstone: the user key has no value at this seq
export const KIND_VALUE = 1; // the entry's value is the user's value
export const KIND_BLOB_REFERENCE = 2; // reserved: the value names a blob (src/blob/, later)
export const KIND_MERGE = 3; // reserved: a merge operand or field update (src/fields/, later)
export type InternalKeyKind = 0 | 1 | 2 | 3;
/** The largest kind an entry may carry; readers refuse larger ones as corrupt. */
export const KIND_MAX: InternalKeyKind = KIND_MERGE;
/**
 * Never stored as an entry. At equal user key and seq it sorts before every real kind, so a key
 * with this trailer is the smallest internal key at that seq: lookup keys and index separators
 * use it. It stays correct if kinds are added later, which `KIND_MAX` would not.
 */
export const KIND_SEEK = 0xff;

export interface Trailer {
  readonly seq: Seq;
  readonly kind: number;
}

/** Below this common prefix a byte loop beats Buffer.compare's native call (measured, below). */
const COMPARE_LOOP_BYTES = 32;
const bufferCompare = Buffer.prototype.compare;

export function encodeInternalKey(
  userKey: Uint8Array,
  seq: Seq,
  kind: InternalKeyKind,
): Uint8Array {
  const key = new Uint8Array(userKey.length + TRAILER_BYTES);
  key.set(userKey, 0);
  writeTrailer(key, userKey.length, seq, kind);
  return key;
}

/**
 * The smallest internal key for `userKey` that a reader at `snapshotSeq` may see: a seek to it
 * lands on the newest version with seq <= snapshotSeq, or on a later user key if there is none.
 */
export function lookupKey(userKey: Uint8Array, snapshotSeq: Seq): Uint8Array {
  const length = userKey.length;
  const key = new Uint8Array(length + TRAILER_BYTES);
  // A byte loop beats TypedArray.set's call for short keys (as in block-iterator.ts).
  if (length <= COMPARE_LOOP_BYTES)
    for (let index = 0; index < length; index++) key[index] = userKey[index]!;
  else key.set(userKey, 0);
  writeTrailer(key, userKey.length, snapshotSeq, KIND_SEEK);
  return key;
}

/**
 * Writes `(seq << 8) | kind` as a u64 little-endian at `offset`.
 * Requires: 0 <= seq <= SEQ_MAX, seq an integer; 0 <= kind <= 0xff.
 */
export function writeTrailer(target: Uint8Array, offset: number, seq: Seq, kind: number): void {
  assert(Number.isInteger(seq), 'seq must be an integer');
  assert(seq >= 0 && seq <= SEQ_MAX, 'seq out of range');
  assert(kind >= 0 && kind <= 0xff, 'kind out of range');
  assert(offset >= 0 && offset + TRAILER_BYTES <= target.length);
  const seqLow24 = seq % 0x1000000;
  const seqHigh32 = (seq - seqLow24) / 0x1000000; // < 2^29 because seq <= 2^53 - 1
  target[offset] = kind;
  target[offset + 1] = seqLow24 & 0xff;
  target[offset + 2] = (seqLow24 >>> 8) & 0xff;
  target[offset + 3] = seqLow24 >>> 16;
  target[offset + 4] = seqHigh32 & 0xff;
  target[offset + 5] = (seqHigh32 >>> 8) & 0xff;
  target[offset + 6] = (seqHigh32 >>> 16) & 0xff;
  target[offset + 7] = seqHigh32 >>> 24;
}

/** Requires: internalKey.length >= TRAILER_BYTES. */
export function decodeTrailer(internalKey: Uint8Array): Trailer {
  return { seq: internalKeySeq(internalKey), kind: internalKeyKind(internalKey) };
}

/** Requires: internalKey.length >= TRAILER_BYTES. */
export function internalKeyKind(internalKey: Uint8Array): number {
  assert(internalKey.length >= TRAILER_BYTES, 'internal key shorter than its trailer');
  return internalKey[internalKey.length - TRAILER_BYTES]!;
}

/**
 * The seq of an internal key. A stored seq above SEQ_MAX (only a corrupt or foreign key has one)
 * comes back rounded and above SEQ_MAX; `isValidEntryKey` refuses such keys first.
 * Requires: internalKey.length >= TRAILER_BYTES.
 */
export function internalKeySeq(internalKey: Uint8Array): Seq {
  assert(internalKey.length >= TRAILER_BYTES, 'internal key shorter than its trailer');
  const offset = internalKey.length - TRAILER_BYTES + 1;
  const low24 =
    internalKey[offset]! | (internalKey[offset + 1]! << 8) | (internalKey[offset + 2]! << 16);
  const high32 = readU32(internalKey, offset + 3);
  return high32 * 0x1000000 + low24;
}

/** A view of the user-key part; no copy. Requires: internalKey.length >= TRAILER_BYTES. */
export function userKeyOf(internalKey: Uint8Array): Uint8Array {
  assert(internalKey.length >= TRAILER_BYTES, 'internal key shorter than its trailer');
  return internalKey.subarray(0, internalKey.length - TRAILER_BYTES);
}

/** Whether a key read from disk may be a stored entry: long enough, a known kind, seq in range. */
export function isValidEntryKey(internalKey: Uint8Array): boolean {
  return isValidEntryKeyRange(internalKey, 0, internalKey.length);
}

/** isValidEntryKey for the key bytes[start, end), without making a view. */
export function isValidEntryKeyRange(bytes: Uint8Array, start: number, end: number): boolean {
  if (end - start < TRAILER_BYTES) return false;
  const trailer = end - TRAILER_BYTES;
  if (bytes[trailer]! > KIND_MAX) return false;
  return readU32(bytes, trailer + 4) < 0x20000000; // seq bits 24..55 below 2^29: seq <= SEQ_MAX
}

export function compareUserKeys(a: Uint8Array, b: Uint8Array): number {
  return compareBytes(a, 0, a.length, b, 0, b.length);
}

/** Requires: both keys are at least TRAILER_BYTES long. */
export function compareInternalKeys(a: Uint8Array, b: Uint8Array): number {
  return compareInternalKeyRanges(a, 0, a.length, b, 0, b.length);
}

/**
 * Compares the internal keys a[aStart, aEnd) and b[bStart, bEnd) without making views, so block
 * iterators can compare keys inside a block or a reused scratch buffer.
 * Requires: each range is at least TRAILER_BYTES long.
 */
export function compareInternalKeyRanges(
  a: Uint8Array,
  aStart: number,
  aEnd: number,
  b: Uint8Array,
  bStart: number,
  bEnd: number,
): number {
  assert(aEnd - aStart >= TRAILER_BYTES, 'internal key shorter than its trailer');
  assert(bEnd - bStart >= TRAILER_BYTES, 'internal key shorter than its trailer');
  const aTrailer = aEnd - TRAILER_BYTES;
  const bTrailer = bEnd - TRAILER_BYTES;
  const byUserKey = compareBytes(a, aStart, aTrailer, b, bStart, bTrailer);
  if (byUserKey !== 0) return byUserKey;
  // Trailers compare as u64, descending: high halves first, then low halves.
  const aHigh = readU32(a, aTrailer + 4);
  const bHigh = readU32(b, bTrailer + 4);
  if (aHigh !== bHigh) return aHigh > bHigh ? -1 : 1;
  const aLow = readU32(a, aTrailer);
  const bLow = readU32(b, bTrailer);
  if (aLow !== bLow) return aLow > bLow ? -1 : 1;
  return 0;
}

/**
 * Bytewise comparison of a[aStart, aEnd) and b[bStart, bEnd): negative, zero or positive.
 * A JS loop costs ~12-60 ns for 8-32 byte keys where Buffer.compare costs ~50-80 ns (its native
 * call dominates), but the loop grows linearly with the common prefix (~600 ns at 256 bytes, where
 * Buffer.compare stays ~90 ns). So the loop covers the first 32 bytes and hands longer common
 * prefixes to the native compare, which also takes ranges without allocating views.
 */
export function compareBytes(
  a: Uint8Array,
  aStart: number,
  aEnd: number,
  b: Uint8Array,
  bStart: number,
  bEnd: number,
): number {
  const aLength = aEnd - aStart;
  const bLength = bEnd - bStart;
  const commonLength = Math.min(aLength, bLength);
  const loopLength = Math.min(commonLength, COMPARE_LOOP_BYTES);
  for (let index = 0; index < loopLength; index++) {
    const difference = a[aStart + index]! - b[bStart + index]!;
    if (difference !== 0) return difference;
  }
  if (commonLength > COMPARE_LOOP_BYTES) {
    // compare(target, targetStart, targetEnd, sourceStart, sourceEnd) compares this=source to target.
    const skip = COMPARE_LOOP_BYTES;
    // Node's compare accepts any Uint8Array as its receiver, not only a Buffer.
    const byNative = bufferCompare.call(
      a as Buffer,
      b,
      bStart + skip,
      bStart + commonLength,
      aStart + skip,
      aStart + commonLength,
    );
    if (byNative !== 0) return byNative;
  }
  return aLength - bLength;
}

assert(KIND_MAX < KIND_SEEK); // the seek kind must sort before every stored kind at equal seq
assert(SEQ_MAX < 2 ** 56); // every engine seq fits the trailer's 56 bits
assert(SEQ_MAX === 0x20000000 * 0x1000000 - 1); // isValidEntryKeyRange's bound on the high half
