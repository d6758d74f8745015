/**
 * Byte and word layout of the persistent extendible hash inside an NVM image.
 * See FORMAT.md beside this file; every constant here is on disk: never renumber.
 *
 * A bucket is 256 bytes and a page holds exactly 16 of them, so a bucket's id is its byte offset
 * divided by 256: `bucketId = pageIndex * 16 + slotInPage`.
 *
 *   bucket (256 bytes, u32 words, little-endian)
 *   +--------+--------+--------+--------+------------------------------------------+
 *   | state  | lock   | spare  | spare  | 15 slots x 16 bytes: keyLo keyHi valLo valHi |
 *   +--------+--------+--------+--------+------------------------------------------+
 *   state = slot bitmap (bits 0..14) | local depth << 16 (bits 16..21)
 *   lock  = the bucket's seq-mutex (src/sync/seq-mutex.ts): volatile, reset on open after an
 *           unclean shutdown. It shares the state word's cache line, so a lookup touches one
 *           line for both (a separate lock table cost one more cache miss per operation).
 */
import { assert } from '../assert.js';

export type U32 = number;

export const PAGE_BYTES = 4096;
export const BUCKET_BYTES = 256;
export const BUCKET_WORDS = BUCKET_BYTES / 4;
export const BUCKETS_PER_PAGE = PAGE_BYTES / BUCKET_BYTES;
export const SLOT_BYTES = 16;
export const SLOT_WORDS = SLOT_BYTES / 4;
export const SLOTS_PER_BUCKET = 15;
/** Word offset of slot 0 inside a bucket: the state word and three spare words come first. */
export const BUCKET_HEADER_WORDS = 4;
/** Word offset of the bucket's lock word inside the bucket. */
export const BUCKET_LOCK_WORD = 1;
export const SLOT_MASK_FULL = (1 << SLOTS_PER_BUCKET) - 1;
export const STATE_DEPTH_SHIFT = 16;
export const PAGE_BUCKETS_FULL = (1 << BUCKETS_PER_PAGE) - 1;

/** The course's 16 initial directory entries; the directory never halves below this. */
export const INITIAL_GLOBAL_DEPTH = 4;
/** 2^28 entries is a 1 GiB directory; the 32-bit hash and the DIR word's 5 bits allow it. */
export const GLOBAL_DEPTH_MAX = 28;
/** The DIR word packs the directory's first page in 27 bits: images up to 512 GiB. */
export const DIRECTORY_PAGE_LIMIT = 2 ** 27;
export const DIRECTORY_ENTRIES_PER_PAGE = PAGE_BYTES / 4;

assert(BUCKETS_PER_PAGE === 16, 'a page holds 16 buckets: the page aux word is their bitmap');
assert(BUCKET_HEADER_WORDS + SLOTS_PER_BUCKET * SLOT_WORDS === BUCKET_WORDS, 'slots tile a bucket');
assert(SLOT_BYTES % 8 === 0, 'a slot value must be 8-byte aligned for atomic updates');
assert(SLOTS_PER_BUCKET < STATE_DEPTH_SHIFT, 'bitmap and depth share the state word');
assert(1024 + 64 * 32 <= PAGE_BYTES, 'the intent records fit in the header page');

/** Header page: byte offsets. The header is one page of kind ehashHeader. */
export const HEADER_MAGIC = 0x48534845; // 'EHSH' little-endian
export const HEADER_FORMAT_VERSION = 1;
export const H_MAGIC = 0;
export const H_VERSION = 4;
export const H_SLOT_BYTES = 8;
export const H_SLOTS_PER_BUCKET = 12;
export const H_BUCKET_BYTES = 16;
export const H_INITIAL_DEPTH = 20;
/** Commit word for directory moves: first directory page << 5 | global depth. */
export const H_DIR = 32;
/** 1 while SIZE holds the exact key count (written at clean close, cleared at open). */
export const H_SIZE_VALID = 40;
export const H_SIZE_LO = 48;
export const H_SIZE_HI = 52;
/**
 * Intent records of the structural changes in flight, one per handle slot, so that splits and
 * merges of different buckets run at once: record k at H_INTENTS + k * INTENT_BYTES. Within a
 * record, OP is the commit word (0 when none), written after the other fields are persisted.
 */
export const H_INTENTS = 1024;
export const INTENT_BYTES = 32;
export const INTENT_SLOTS = 64;
export const INTENT_OP = 0;
export const INTENT_A = 4;
export const INTENT_B = 8;
export const INTENT_DEPTH = 12;
export const INTENT_PATTERN = 16;
export const INTENT_FIELDS_BYTES = 20;

/** Intent operations. Never renumber: they are on disk. */
export const IntentOp = { none: 0, split: 1, merge: 2 } as const;

export function encodeDirWord(firstPage: U32, globalDepth: number): U32 {
  assert(firstPage > 0 && firstPage < DIRECTORY_PAGE_LIMIT, 'directory page out of range');
  assert(globalDepth >= 0 && globalDepth <= GLOBAL_DEPTH_MAX, 'global depth out of range');
  return ((firstPage << 5) | globalDepth) >>> 0;
}

export function dirWordPage(dirWord: U32): U32 {
  return dirWord >>> 5;
}

export function dirWordDepth(dirWord: U32): number {
  return dirWord & 31;
}

export function directoryPages(globalDepth: number): number {
  return Math.ceil((2 ** globalDepth * 4) / PAGE_BYTES);
}

export function stateWord(bitmap: number, localDepth: number): U32 {
  assert((bitmap & ~SLOT_MASK_FULL) === 0, 'bitmap has bits beyond the slots');
  assert(localDepth >= 0 && localDepth <= GLOBAL_DEPTH_MAX, 'local depth out of range');
  return (bitmap | (localDepth << STATE_DEPTH_SHIFT)) >>> 0;
}

export function stateBitmap(state: U32): number {
  return state & SLOT_MASK_FULL;
}

export function stateDepth(state: U32): number {
  return (state >>> STATE_DEPTH_SHIFT) & 63;
}

/** Index of a bucket's lock word in an Int32Array view of the image. */
export function lockWordOf(bucketId: number): number {
  return bucketId * BUCKET_WORDS + BUCKET_LOCK_WORD;
}

export function popcount16(bits: number): number {
  let count = 0;
  for (let rest = bits & 0xffff; rest !== 0; rest &= rest - 1) count++;
  return count;
}
