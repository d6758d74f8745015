/**
 * The volatile free map: one bit per page in the runtime buffer, 1 = free. Open rebuilds it from
 * the page table (page-table.ts); allocPages and freePages keep it current. Every function here
 * requires the allocator mutex, so plain reads and writes suffice: the mutex's atomic operations
 * order them between threads.
 */
import { assert } from '../src/assert.js';

/** Requires: caller holds the allocator mutex. Sets pages [first, first+count) free or used. */
export function markPagesLocked(
  freeMap: Int32Array,
  first: number,
  count: number,
  free: boolean,
): void {
  assert(first >= 0);
  assert(count >= 0);
  assert(first + count <= freeMap.length * 32);
  let page = first;
  const end = first + count;
  while (page < end) {
    const wordIndex = page >>> 5;
    const bitFirst = page & 31;
    const bitEnd = Math.min(32, bitFirst + (end - page));
    const mask = bitEnd - bitFirst === 32 ? -1 : ((1 << (bitEnd - bitFirst)) - 1) << bitFirst;
    const word = freeMap[wordIndex]!;
    if (free) {
      if ((word & mask) !== 0) assert(false, `page ${page}: freeing a page that is already free`);
      freeMap[wordIndex] = word | mask;
    } else {
      if ((word & mask) !== mask) assert(false, `page ${page}: taking a page that is not free`);
      freeMap[wordIndex] = word & ~mask;
    }
    page += bitEnd - bitFirst;
  }
}

/**
 * Requires: caller holds the allocator mutex. Returns the first page of the lowest run of `count`
 * free pages, starting the search at word `hintWord` (no free bit lies below it), or -1.
 */
export function findFreeRunLocked(freeMap: Int32Array, hintWord: number, count: number): number {
  assert(count >= 1);
  const pageEnd = freeMap.length * 32;
  let page = firstFreePage(freeMap, hintWord * 32);
  for (let iteration = 0; page >= 0 && iteration <= pageEnd; iteration++) {
    const runEnd = firstUsedPage(freeMap, page, page + count);
    if (runEnd - page >= count) return page;
    page = firstFreePage(freeMap, runEnd);
  }
  return -1;
}

/** The lowest free page at or above `start`, or -1. */
function firstFreePage(freeMap: Int32Array, start: number): number {
  let wordIndex = start >>> 5;
  if (wordIndex >= freeMap.length) return -1;
  let word = freeMap[wordIndex]! & (-1 << (start & 31));
  while (word === 0) {
    wordIndex++;
    if (wordIndex >= freeMap.length) return -1;
    word = freeMap[wordIndex]!;
  }
  return wordIndex * 32 + lowestBit(word);
}

/** The lowest used page in [start, limit), or `limit` (capped at the map's end) if all are free. */
function firstUsedPage(freeMap: Int32Array, start: number, limit: number): number {
  const end = Math.min(limit, freeMap.length * 32);
  let page = start;
  while (page < end) {
    const wordIndex = page >>> 5;
    const used = ~freeMap[wordIndex]! & (-1 << (page & 31));
    if (used !== 0) return Math.min(end, wordIndex * 32 + lowestBit(used));
    page = (wordIndex + 1) * 32;
  }
  return end;
}

function lowestBit(word: number): number {
  assert(word !== 0);
  return 31 - Math.clz32(word & -word);
}
