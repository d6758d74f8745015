/**
 * Byte layout of an NVM image, format version 1. See FORMAT.md beside this file. Every constant
 * marked "on disk" is part of the format: never renumber, only add in a new format version.
 *
 *   page 0           pages 1 .. P               pages P+1 .. pageCountMax-1
 *   +-------------+--------------------------+---------------------------------------+
 *   | superblock  | page table: 16-byte      | data pages, handed out by allocPages |
 *   |             | descriptor per page      | (used range ends at pagesHighWater)   |
 *   +-------------+--------------------------+---------------------------------------+
 */
import { assert } from '../src/assert.js';
import { StrataError } from '../src/errors.js';

export type U16 = number;
export type U32 = number;

/** On disk. */
export const FORMAT_VERSION = 1;
/** On disk: ASCII "STRATANV". */
export const MAGIC_BYTES: readonly number[] = [0x53, 0x54, 0x52, 0x41, 0x54, 0x41, 0x4e, 0x56];
/** On disk. */
export const PAGE_SIZE_BYTES = 4096;
/** One lock word per 256-byte unit of the image. */
export const LOCK_UNIT_BYTES = 256;
export const LOCK_UNIT_SHIFT = 8;
/** Node 20 typed arrays hold at most 2^32 elements, and `bytes` spans the whole image. */
export const SIZE_MAX_BYTES_LIMIT = 2 ** 32;
export const SIZE_MAX_BYTES_DEFAULT = 2 ** 32;

// Superblock (page 0), byte offsets. On disk: never renumber.
export const SB_MAGIC = 0; // 8 bytes
export const SB_FORMAT_VERSION = 8; // u32
export const SB_PAGE_SIZE = 12; // u32
export const SB_SIZE_MAX = 16; // u64
export const SB_PAGE_COUNT_MAX = 24; // u32
export const SB_PAGE_TABLE_FIRST_PAGE = 28; // u32
export const SB_PAGE_TABLE_PAGE_COUNT = 32; // u32
export const SB_DESCRIPTOR_BYTES = 36; // u32
export const SB_ROOT_OFFSET = 40; // u32
export const SB_ROOT_COUNT = 44; // u32
export const SB_DATA_FIRST_PAGE = 48; // u32
export const SB_RESERVED = 52; // u32, zero in version 1
/** CRC32C of bytes [0, SB_STATIC_CRC). */
export const SB_STATIC_CRC = 56; // u32
// Dynamic words: each in its own 8-byte aligned slot, changed by one atomic store, not checksummed.
export const SB_PAGES_HIGH_WATER = 64; // u64 slot, value < 2^32 (low half stored atomically)
export const SB_CLEAN_SHUTDOWN = 72; // u64 slot, 0 or 1
export const SB_OPEN_GENERATION = 80; // u64
export const SB_DYNAMIC_END = 88;
export const ROOT_OFFSET = 256;
export const ROOT_COUNT = 32;

// Page descriptor, 16 bytes per page, at pageTableOffset + pageIndex * 16. On disk.
//
//   0        2        4                 8                12               16
//   +--------+--------+-----------------+----------------+----------------+
//   | kind   | flags  | runLength       | owner          | aux            |
//   +--------+--------+-----------------+----------------+----------------+
//   \_______ commit word (8 bytes) ______/
export const DESCRIPTOR_BYTES = 16;
export const DESCRIPTOR_WORDS = DESCRIPTOR_BYTES / 4;
export const D_KIND_FLAGS_WORD = 0; // u32 word: kind (low 16 bits) | flags << 16
export const D_RUN_WORD = 1; // first page: pages in the run; continuation: distance to first page
export const D_OWNER_WORD = 2;
export const D_AUX_WORD = 3;
/** On disk: the page continues the run that starts `runLength` pages before it. */
export const FLAG_CONTINUATION = 1;
export const FLAGS_KNOWN = FLAG_CONTINUATION;

assert(PAGE_SIZE_BYTES % LOCK_UNIT_BYTES === 0, 'lock units tile a page');
assert(1 << LOCK_UNIT_SHIFT === LOCK_UNIT_BYTES);
assert(PAGE_SIZE_BYTES % DESCRIPTOR_BYTES === 0, 'descriptors tile page-table pages');
assert(SB_STATIC_CRC + 4 <= SB_PAGES_HIGH_WATER, 'the checksum precedes the dynamic words');
assert(SB_PAGES_HIGH_WATER % 8 === 0);
assert(SB_CLEAN_SHUTDOWN % 8 === 0);
assert(SB_OPEN_GENERATION % 8 === 0);
assert(SB_DYNAMIC_END <= ROOT_OFFSET, 'roots follow the dynamic words');
assert(ROOT_OFFSET % 8 === 0, 'root words are 8-byte aligned for atomic stores');
assert(ROOT_OFFSET + ROOT_COUNT * 8 <= PAGE_SIZE_BYTES, 'roots fit in the superblock page');
assert(MAGIC_BYTES.length === 8);

/** Everything about an image's shape that follows from its reserved size. */
export interface ImageGeometry {
  readonly sizeMaxBytes: number;
  readonly pageCountMax: number;
  readonly pageTableFirstPage: number;
  readonly pageTablePageCount: number;
  readonly pageTableOffsetBytes: number;
  readonly dataFirstPage: number;
}

/**
 * Requires: sizeMaxBytes is a whole number of pages within the limits (see validateSizeMaxBytes).
 */
export function computeGeometry(sizeMaxBytes: number): ImageGeometry {
  assert(Number.isSafeInteger(sizeMaxBytes));
  assert(sizeMaxBytes % PAGE_SIZE_BYTES === 0);
  assert(sizeMaxBytes <= SIZE_MAX_BYTES_LIMIT);
  const pageCountMax = sizeMaxBytes / PAGE_SIZE_BYTES;
  const descriptorsPerPage = PAGE_SIZE_BYTES / DESCRIPTOR_BYTES;
  const pageTablePageCount = Math.ceil(pageCountMax / descriptorsPerPage);
  const pageTableFirstPage = 1;
  const dataFirstPage = pageTableFirstPage + pageTablePageCount;
  assert(dataFirstPage < pageCountMax, 'an image holds at least one data page');
  return {
    sizeMaxBytes,
    pageCountMax,
    pageTableFirstPage,
    pageTablePageCount,
    pageTableOffsetBytes: pageTableFirstPage * PAGE_SIZE_BYTES,
    dataFirstPage,
  };
}

/** Rounds a requested size up to whole pages and checks it against the format's limits. */
export function validateSizeMaxBytes(sizeMaxBytes: number, path: string): number {
  if (!Number.isSafeInteger(sizeMaxBytes) || sizeMaxBytes <= 0) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `sizeMaxBytes for ${path} must be a positive integer, got ${String(sizeMaxBytes)}`,
    );
  }
  const rounded = Math.ceil(sizeMaxBytes / PAGE_SIZE_BYTES) * PAGE_SIZE_BYTES;
  const minimum = sizeMaxBytesMinimum();
  if (rounded < minimum || rounded > SIZE_MAX_BYTES_LIMIT) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `sizeMaxBytes for ${path} must lie in [${minimum}, ${SIZE_MAX_BYTES_LIMIT}], got ${sizeMaxBytes}`,
    );
  }
  return rounded;
}

/** Superblock, one page-table page and one data page. */
export function sizeMaxBytesMinimum(): number {
  return 3 * PAGE_SIZE_BYTES;
}

export function descriptorWordIndex(geometry: ImageGeometry, pageIndex: number): number {
  return geometry.pageTableOffsetBytes / 4 + pageIndex * DESCRIPTOR_WORDS;
}

export function descriptorOffsetBytes(geometry: ImageGeometry, pageIndex: number): number {
  return geometry.pageTableOffsetBytes + pageIndex * DESCRIPTOR_BYTES;
}
