/**
 * Byte layout of a memtable inside the NVM image (FORMAT.md beside this file) and of its volatile
 * runtime buffer. Persisted offsets are marked never to be renumbered: they are on disk.
 *
 *   header page      +0 magic, version, hash page, run size, base seq, first run
 *                    +32 commit word, +40/+48 batch intent words, +64 skiplist head node
 *   arena run        +0 next run page, page count; then records, 8-byte aligned
 *   record           7 header words, `height` forward pointers, key bytes, value bytes, padding
 */
import { assert } from '../assert.js';

export const PAGE_BYTES = 4096;
export const MEMTABLE_MAGIC = 0x4c424d54; // 'TMBL' little-endian — never renumber
export const MEMTABLE_FORMAT_VERSION = 1;

// Header page, byte offsets from the page start — never renumber.
export const H_MAGIC = 0;
export const H_VERSION = 4;
export const H_HASH_PAGE = 8;
export const H_RUN_BYTES = 12;
export const H_BASE_SEQ_LOW = 16;
export const H_BASE_SEQ_HIGH = 20;
export const H_FIRST_RUN = 24;
/** u64: low = committed arena tail (byte address), high = applied seq - base seq. The commit mark. */
export const H_COMMIT = 32;
/** u64: low = entry count before the in-flight batch, high = that batch's start tail. */
export const H_INTENT_BEFORE = 40;
/** u64: low = start tail of the in-flight batch, high = its record count. */
export const H_INTENT = 48;
/** u32: bit 0 = FLAG_VOLATILE_INDEX. Zero in images written before the flag existed. */
export const H_FLAGS = 56;
/** u32: tag of the boot that last opened a volatile-index memtable (boot-tag.ts); 0 = none. */
export const H_BOOT_TAG = 60;
/**
 * The skiplist links, the hash and the batch intent are not persisted write by write; after a
 * boot other than the one recorded in H_BOOT_TAG (a power loss may have dropped any of their
 * stores) open rebuilds them from the records below the commit mark (rebuild.ts).
 */
export const FLAG_VOLATILE_INDEX = 1;
/** The skiplist head is a pseudo-record here: its forward pointers sit at +64 + 28. */
export const H_HEAD_NODE = 64;
export const H_USED_BYTES = H_HEAD_NODE + 4 * (7 + 12);

// Arena run header, u32 word offsets from the run's first byte.
export const RUN_NEXT_WORD = 0;
export const RUN_PAGES_WORD = 1;
export const RUN_HEADER_BYTES = 8;

// Record, u32 word offsets from the record's address — never renumber.
export const R_BYTES = 0; // whole record, multiple of 8; 0 marks "rest of this run unused"
export const R_KIND_HEIGHT = 1; // kind | height << 8
export const R_SEQ_LOW = 2;
export const R_SEQ_HIGH = 3;
export const R_KEY_LENGTH = 4;
export const R_VALUE_LENGTH = 5;
export const R_PREV_SAME_HASH = 6; // address of the previous newest record with the same hash
export const R_NEXT = 7; // `height` forward pointers follow
export const R_HEADER_WORDS = 7;

export const HEIGHT_MAX = 12;
export const BRANCHING = 4;
export const RUN_BYTES_DEFAULT = 1 << 20;
/** Record lengths are u32 and a record sits in one run of an image of at most 4 GiB. */
export const RECORD_BYTES_MAX = 0x7fff_fff8;

/** Bytes of a record with these lengths, rounded up to 8. */
export function recordBytes(height: number, keyLength: number, valueLength: number): number {
  const raw = 4 * (R_HEADER_WORDS + height) + keyLength + valueLength;
  return (raw + 7) & ~7;
}

/** The u32 word index of forward pointer `level` of the node at byte address `node`. */
export function nextWord(node: number, level: number): number {
  return (node >>> 2) + R_NEXT + level;
}

export function headNode(headerPage: number): number {
  return headerPage * PAGE_BYTES + H_HEAD_NODE;
}

export function headerWord(headerPage: number, byteOffset: number): number {
  return (headerPage * PAGE_BYTES + byteOffset) >>> 2;
}

// Runtime SharedArrayBuffer: volatile, zeroed on every open/create. Int32 word offsets.
/** Write mutex (src/sync/mutex.ts). Taken by the one writer of a batch. */
export const RT_WRITE_MUTEX = 0;
/** Visible seq - base seq, as u32. Written by the writer after the commit mark; read by readers. */
export const RT_VISIBLE_OFFSET = 1;
/** Committed records. Written under the write mutex; read by stats. */
export const RT_ENTRY_COUNT = 2;
/** Arena bytes consumed (u32). Written under the write mutex. */
export const RT_ARENA_BYTES = 3;
/** Page of the arena run that holds the committed tail. Written under the write mutex. */
export const RT_CURRENT_RUN = 4;
/** xorshift32 state for skiplist heights. Written under the write mutex. */
export const RT_RANDOM = 5;
/** 1 after drop(); 2 after a failed batch could not be rolled back (reopen to recover). */
export const RT_STATE = 6;
/** 1 once frozen: no writer may add a batch (read under the write mutex by attached writers). */
export const RT_SEALED = 7;
export const RUNTIME_WORDS = 8;
export const STATE_OPEN = 0;
export const STATE_DROPPED = 1;
export const STATE_BROKEN = 2;

assert(H_USED_BYTES <= PAGE_BYTES);
assert(H_HEAD_NODE % 8 === 0); // the head pseudo-record is aligned like a record
assert(H_COMMIT % 8 === 0 && H_INTENT % 8 === 0 && H_INTENT_BEFORE % 8 === 0); // u64 atomics
assert(RUN_HEADER_BYTES % 8 === 0); // records after the run header stay 8-byte aligned
assert(BRANCHING === 4); // randomHeight draws two bits per level
assert(new Uint8Array(new Uint32Array([1]).buffer)[0] === 1); // the format is little-endian
