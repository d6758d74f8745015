/**
 * Hands out 256-byte buckets from pages of kind ehashBuckets. A page's aux word (persisted by the
 * image) is the bitmap of its used buckets, so allocation state survives crashes. Volatile state
 * in the runtime buffer: a stack of the pages that have a bucket neither used nor reserved, and
 * per page a mask of reserved buckets (handed out by `reserve`, not yet committed).
 *
 * Allocation is two-phase so that a crash leaks nothing: `reserve` picks a bucket in volatile
 * memory only; the caller fills it, logs its intent, and `commit` then marks it used durably.
 * A crash before the commit leaves the bucket free, because the reservation was never persisted.
 *
 * Thread model: any thread may call any method; each takes ALLOC_MUTEX, a leaf lock held for a
 * few stores (and, when the stack is empty, one page allocation from the image, whose own mutex
 * is a leaf below it). `rebuild` runs at open, before other threads can see the table.
 */

import { type NvmImageApi, PageKind } from '../../nvm/types.js';
import { assert } from '../assert.js';
import { mutexLock, mutexUnlock } from '../sync/mutex.js';
import {
  BUCKET_WORDS,
  BUCKETS_PER_PAGE,
  lockWordOf,
  PAGE_BUCKETS_FULL,
  popcount16,
  stateBitmap,
} from './layout.js';
import {
  ALLOC_MUTEX,
  BUCKET_COUNT,
  BUCKET_PAGES,
  FREE_STACK,
  FREE_TOP,
  reservedBase,
} from './runtime-layout.js';

export class BucketAllocator {
  private readonly image: NvmImageApi;
  private readonly runtime: Int32Array;
  private readonly owner: number;
  private readonly reserved: number;

  constructor(image: NvmImageApi, runtime: Int32Array, owner: number) {
    this.image = image;
    this.runtime = runtime;
    this.owner = owner;
    this.reserved = reservedBase(image.pageCountMax);
  }

  /**
   * Rebuilds the free stack and the bucket counts from the page table in one pass over the
   * bucket pages. Pages with no used bucket go back to the image. With `resetLocks`, clears the
   * lock bits of every bucket's lock word (volatile state); with `countKeys`, returns the number
   * of keys in used buckets (the same cache lines as the lock words), else 0.
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
        if (options.resetLocks && (words[lockWord]! & 3) !== 0) {
          words[lockWord] = words[lockWord]! & ~3;
        }
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
   * Picks a bucket that is neither used nor reserved and reserves it in volatile memory. May
   * allocate a new page from the image (ERR_NVM_FULL propagates with nothing changed).
   */
  reserve(): number {
    mutexLock(this.runtime, ALLOC_MUTEX);
    try {
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
      const taken = this.image.pageAux(pageIndex) | this.runtime[this.reserved + pageIndex]!;
      assert(taken !== PAGE_BUCKETS_FULL, 'a page on the free stack has an untaken bucket');
      const slot = 31 - Math.clz32(~taken & (taken + 1));
      this.runtime[this.reserved + pageIndex] =
        this.runtime[this.reserved + pageIndex]! | (1 << slot);
      if ((taken | (1 << slot)) === PAGE_BUCKETS_FULL)
        this.runtime[FREE_TOP] = this.runtime[FREE_TOP]! - 1;
      return pageIndex * BUCKETS_PER_PAGE + slot;
    } finally {
      mutexUnlock(this.runtime, ALLOC_MUTEX);
    }
  }

  /** Gives back a reservation that will not be committed (the split failed). */
  unreserve(bucketId: number): void {
    const pageIndex = Math.floor(bucketId / BUCKETS_PER_PAGE);
    const bit = 1 << (bucketId % BUCKETS_PER_PAGE);
    mutexLock(this.runtime, ALLOC_MUTEX);
    try {
      const mask = this.runtime[this.reserved + pageIndex]!;
      assert((mask & bit) !== 0, `bucket ${bucketId} was not reserved`);
      const takenBefore = this.image.pageAux(pageIndex) | mask;
      this.runtime[this.reserved + pageIndex] = mask & ~bit;
      if (takenBefore === PAGE_BUCKETS_FULL) this.pushLocked(pageIndex);
    } finally {
      mutexUnlock(this.runtime, ALLOC_MUTEX);
    }
  }

  /**
   * Marks a bucket used, durably, and drops its reservation if it had one. Idempotent: recovery
   * calls it for an intent's new bucket, which a crash may or may not have committed already.
   */
  commit(bucketId: number): void {
    const pageIndex = Math.floor(bucketId / BUCKETS_PER_PAGE);
    const bit = 1 << (bucketId % BUCKETS_PER_PAGE);
    mutexLock(this.runtime, ALLOC_MUTEX);
    try {
      const mask = this.runtime[this.reserved + pageIndex]!;
      const used = this.image.pageAux(pageIndex);
      if ((used & bit) === 0) {
        this.image.setPageAux(pageIndex, used | bit);
        this.runtime[BUCKET_COUNT]!++;
      }
      // Only once the bit is durable does the reservation go: if the persist failed, the caller
      // still holds a reservation it can give back.
      this.runtime[this.reserved + pageIndex] = mask & ~bit;
      if ((used & bit) !== 0) return;
      // A reserved bucket already counted as taken; an unreserved one (recovery) may fill the page.
      if ((mask & bit) === 0 && ((used | mask | bit) & PAGE_BUCKETS_FULL) === PAGE_BUCKETS_FULL) {
        this.removeFromStackLocked(pageIndex);
      }
    } finally {
      mutexUnlock(this.runtime, ALLOC_MUTEX);
    }
  }

  /** Returns a bucket to its page durably. Idempotent (used by recovery). */
  release(bucketId: number): void {
    const pageIndex = Math.floor(bucketId / BUCKETS_PER_PAGE);
    const bit = 1 << (bucketId % BUCKETS_PER_PAGE);
    mutexLock(this.runtime, ALLOC_MUTEX);
    try {
      const used = this.image.pageAux(pageIndex);
      if ((used & bit) === 0) return;
      const takenBefore = used | this.runtime[this.reserved + pageIndex]!;
      this.image.setPageAux(pageIndex, used & ~bit);
      this.runtime[BUCKET_COUNT]!--;
      if (takenBefore === PAGE_BUCKETS_FULL) this.pushLocked(pageIndex);
    } finally {
      mutexUnlock(this.runtime, ALLOC_MUTEX);
    }
  }

  private pushLocked(pageIndex: number): void {
    const top = this.runtime[FREE_TOP]!;
    this.runtime[FREE_STACK + top] = pageIndex;
    this.runtime[FREE_TOP] = top + 1;
  }

  /** A page leaves the stack when it fills; only recovery's commits get here. */
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
