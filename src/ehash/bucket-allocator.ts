/**
 * Hands out 256-byte buckets from pages of kind ehashBuckets. A page's aux word (persisted by the
 * image) is the bitmap of its used buckets, so allocation state survives crashes; the volatile
 * free stack lists the pages that have a free bucket and is rebuilt on open.
 *
 * Thread model: every method requires the caller to hold the table's DIR_MUTEX (all structural
 * changes do), so the stack needs no lock of its own. The image's page allocator has its own.
 */

import { type NvmImageApi, PageKind } from '../../nvm/types.js';
import { assert } from '../assert.js';
import {
  BUCKET_WORDS,
  BUCKETS_PER_PAGE,
  lockWordOf,
  PAGE_BUCKETS_FULL,
  popcount16,
  stateBitmap,
} from './layout.js';
import { BUCKET_COUNT, BUCKET_PAGES, FREE_STACK, FREE_TOP } from './runtime-layout.js';

export class BucketAllocator {
  private readonly image: NvmImageApi;
  private readonly runtime: Int32Array;
  private readonly owner: number;

  constructor(image: NvmImageApi, runtime: Int32Array, owner: number) {
    this.image = image;
    this.runtime = runtime;
    this.owner = owner;
  }

  /**
   * Rebuilds the free stack and the bucket counts from the page table in one pass over the
   * bucket pages. Runs at open, before any other thread can see the table. Pages with no used
   * bucket go back to the image. With `resetLocks`, every bucket's lock word is cleared (they
   * are volatile state); with `countKeys`, returns the number of keys in used buckets (the same
   * cache lines as the lock words), else 0.
   */
  rebuild(options: { readonly resetLocks: boolean; readonly countKeys: boolean }): number {
    let top = 0;
    let buckets = 0;
    let pages = 0;
    let keys = 0;
    const words = this.image.words;
    const empty: number[] = [];
    this.image.forEachPage(PageKind.ehashBuckets, this.owner, (pageIndex) => {
      const used = this.image.pageAux(pageIndex);
      if (used === 0) {
        empty.push(pageIndex);
        return;
      }
      pages++;
      buckets += popcount16(used);
      if (used !== PAGE_BUCKETS_FULL) this.runtime[FREE_STACK + top++] = pageIndex;
      if (!options.resetLocks && !options.countKeys) return;
      const first = pageIndex * BUCKETS_PER_PAGE;
      for (let slot = 0; slot < BUCKETS_PER_PAGE; slot++) {
        // Only the lock and waiter bits are stale after a crash; the version may stay. Writing
        // only words that hold those bits keeps recovery to read faults on the mapped image.
        const lockWord = lockWordOf(first + slot);
        if (options.resetLocks && (words[lockWord]! & 3) !== 0)
          words[lockWord] = words[lockWord]! & ~3;
        if (options.countKeys && (used & (1 << slot)) !== 0) {
          keys += popcount16(stateBitmap(words[(first + slot) * BUCKET_WORDS]!));
        }
      }
    });
    for (const pageIndex of empty) this.image.freePages(pageIndex, 1);
    this.runtime[FREE_TOP] = top;
    this.runtime[BUCKET_COUNT] = buckets;
    this.runtime[BUCKET_PAGES] = pages;
    return keys;
  }

  /**
   * Picks a free bucket without marking it used: the caller writes and persists the bucket, logs
   * its intent, and only then calls `commitLocked`, so a crash before the intent leaks nothing.
   * May allocate a new page from the image (ERR_NVM_FULL propagates, nothing changed).
   */
  chooseLocked(): number {
    const top = this.runtime[FREE_TOP]!;
    let pageIndex: number;
    if (top > 0) {
      pageIndex = this.runtime[FREE_STACK + top - 1]!;
    } else {
      pageIndex = this.image.allocPages(1, PageKind.ehashBuckets, this.owner);
      this.runtime[FREE_STACK] = pageIndex;
      this.runtime[FREE_TOP] = 1;
      this.runtime[BUCKET_PAGES]!++;
    }
    const used = this.image.pageAux(pageIndex);
    assert(used !== PAGE_BUCKETS_FULL, 'a page on the free stack has a free bucket');
    const slot = lowestZeroBit(used);
    return pageIndex * BUCKETS_PER_PAGE + slot;
  }

  /** Marks a bucket chosen by `chooseLocked` as used, durably. Idempotent (used by recovery). */
  commitLocked(bucketId: number): void {
    const pageIndex = Math.floor(bucketId / BUCKETS_PER_PAGE);
    const bit = 1 << (bucketId % BUCKETS_PER_PAGE);
    const used = this.image.pageAux(pageIndex);
    if ((used & bit) !== 0) return;
    const next = used | bit;
    this.image.setPageAux(pageIndex, next);
    this.runtime[BUCKET_COUNT]!++;
    if (next === PAGE_BUCKETS_FULL) this.removeFromStackLocked(pageIndex);
  }

  /** Returns a bucket to its page durably. Idempotent (used by recovery). */
  releaseLocked(bucketId: number): void {
    const pageIndex = Math.floor(bucketId / BUCKETS_PER_PAGE);
    const bit = 1 << (bucketId % BUCKETS_PER_PAGE);
    const used = this.image.pageAux(pageIndex);
    if ((used & bit) === 0) return;
    this.image.setPageAux(pageIndex, used & ~bit);
    this.runtime[BUCKET_COUNT]!--;
    if (used === PAGE_BUCKETS_FULL) {
      const top = this.runtime[FREE_TOP]!;
      this.runtime[FREE_STACK + top] = pageIndex;
      this.runtime[FREE_TOP] = top + 1;
    }
  }

  isUsed(bucketId: number): boolean {
    const pageIndex = Math.floor(bucketId / BUCKETS_PER_PAGE);
    return (this.image.pageAux(pageIndex) & (1 << (bucketId % BUCKETS_PER_PAGE))) !== 0;
  }

  /** A page leaves the stack when full. It is almost always the top, so this is O(1) in practice. */
  private removeFromStackLocked(pageIndex: number): void {
    const top = this.runtime[FREE_TOP]!;
    for (let position = top - 1; position >= 0; position--) {
      if (this.runtime[FREE_STACK + position] !== pageIndex) continue;
      this.runtime[FREE_STACK + position] = this.runtime[FREE_STACK + top - 1]!;
      this.runtime[FREE_TOP] = top - 1;
      return;
    }
  }
}

function lowestZeroBit(bits: number): number {
  for (let bit = 0; bit < BUCKETS_PER_PAGE; bit++) if ((bits & (1 << bit)) === 0) return bit;
  throw new Error('strata invariant broken: no zero bit in a non-full page bitmap');
}
