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
 * Each handle (thread) keeps its own cache of reservations: a refill reserves every untaken
 * bucket of one page at once, so ALLOC_MUTEX is taken about once per 16 splits rather than
 * twice per split, and the shared words it guards stop bouncing between cores.
 *
 * Thread model: one allocator object per handle, used by its thread only; the shared state is in
 * the runtime buffer and the image. `reserve` refills, `unreserve`, `release` and `close` take
 * ALLOC_MUTEX, a leaf lock (the image's page mutex is a leaf below it). `commit` takes no lock:
 * it sets the page's aux bit atomically and clears the reservation bit atomically, which leaves
 * the page's taken set, and so the free stack, unchanged. `rebuild` runs at open, before other
 * threads can see the table.
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

/** Called with +1 / -1 as buckets are committed and released (per-handle counters). */
export type BucketCounter = (delta: number) => void;

export class BucketAllocator {
  private readonly image: NvmImageApi;
  private readonly runtime: Int32Array;
  private readonly owner: number;
  private readonly reserved: number;
  private readonly countBuckets: BucketCounter;
  /** This handle's reserved buckets, lowest last. */
  private readonly cache: number[] = [];

  constructor(image: NvmImageApi, runtime: Int32Array, owner: number, countBuckets: BucketCounter) {
    this.image = image;
    this.runtime = runtime;
    this.owner = owner;
    this.reserved = reservedBase(image.pageCountMax);
    this.countBuckets = countBuckets;
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
   * A bucket that is neither used nor reserved by anyone, now reserved by this handle. Refills
   * the handle's cache with every untaken bucket of one page. May allocate a new page from the
   * image (ERR_NVM_FULL propagates with nothing changed).
   */
  reserve(): number {
    const cached = this.cache.pop();
    if (cached !== undefined) return cached;
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
      const taken = this.takenLocked(pageIndex);
      assert(taken !== PAGE_BUCKETS_FULL, 'a page on the free stack has an untaken bucket');
      const untaken = PAGE_BUCKETS_FULL & ~taken;
      Atomics.or(this.runtime, this.reserved + pageIndex, untaken);
      this.runtime[FREE_TOP] = this.runtime[FREE_TOP]! - 1;
      for (let slot = BUCKETS_PER_PAGE - 1; slot >= 0; slot--) {
        if ((untaken & (1 << slot)) !== 0) this.cache.push(pageIndex * BUCKETS_PER_PAGE + slot);
      }
    } finally {
      mutexUnlock(this.runtime, ALLOC_MUTEX);
    }
    return this.cache.pop()!;
  }

  /** Gives back a reservation that will not be committed (a split failed). */
  unreserve(bucketId: number): void {
    mutexLock(this.runtime, ALLOC_MUTEX);
    try {
      this.unreserveLocked(bucketId);
    } finally {
      mutexUnlock(this.runtime, ALLOC_MUTEX);
    }
  }

  /** Gives back every reservation this handle still caches; called when the handle closes. */
  close(): void {
    if (this.cache.length === 0) return;
    mutexLock(this.runtime, ALLOC_MUTEX);
    try {
      for (const bucketId of this.cache) this.unreserveLocked(bucketId);
      this.cache.length = 0;
    } finally {
      mutexUnlock(this.runtime, ALLOC_MUTEX);
    }
  }

  /**
   * Marks a bucket used, durably, then drops its reservation (if the persist fails, the caller
   * still holds a reservation it can give back). Idempotent: recovery calls it for an intent's
   * new bucket, which a crash may or may not have committed, before `rebuild` recomputes the
   * free stack, so it need not keep the stack right for unreserved buckets.
   */
  commit(bucketId: number): void {
    const pageIndex = Math.floor(bucketId / BUCKETS_PER_PAGE);
    const bit = 1 << (bucketId % BUCKETS_PER_PAGE);
    const previous = this.image.updatePageAux(pageIndex, bit, 0);
    Atomics.and(this.runtime, this.reserved + pageIndex, ~bit);
    if ((previous & bit) === 0) this.countBuckets(1);
  }

  /** Returns a bucket to its page durably. Idempotent (used by recovery). */
  release(bucketId: number): void {
    const pageIndex = Math.floor(bucketId / BUCKETS_PER_PAGE);
    const bit = 1 << (bucketId % BUCKETS_PER_PAGE);
    mutexLock(this.runtime, ALLOC_MUTEX);
    try {
      const takenBefore = this.takenLocked(pageIndex);
      if ((this.image.pageAux(pageIndex) & bit) === 0) return;
      this.image.updatePageAux(pageIndex, 0, bit);
      this.countBuckets(-1);
      if (takenBefore === PAGE_BUCKETS_FULL) this.pushLocked(pageIndex);
    } finally {
      mutexUnlock(this.runtime, ALLOC_MUTEX);
    }
  }

  private unreserveLocked(bucketId: number): void {
    const pageIndex = Math.floor(bucketId / BUCKETS_PER_PAGE);
    const bit = 1 << (bucketId % BUCKETS_PER_PAGE);
    assert(
      (this.runtime[this.reserved + pageIndex]! & bit) !== 0,
      `bucket ${bucketId} was not reserved`,
    );
    const takenBefore = this.takenLocked(pageIndex);
    Atomics.and(this.runtime, this.reserved + pageIndex, ~bit);
    if (takenBefore === PAGE_BUCKETS_FULL) this.pushLocked(pageIndex);
  }

  /**
   * The buckets of a page that are used or reserved. A lock-free `commit` in another thread moves
   * a bit from the reserved mask to the aux word (aux first): reading the mask before the aux
   * word sees every such bit in one or the other, never in neither.
   */
  private takenLocked(pageIndex: number): number {
    const reserved = Atomics.load(this.runtime, this.reserved + pageIndex);
    return (reserved | this.image.pageAux(pageIndex)) & PAGE_BUCKETS_FULL;
  }

  private pushLocked(pageIndex: number): void {
    const top = this.runtime[FREE_TOP]!;
    this.runtime[FREE_STACK + top] = pageIndex;
    this.runtime[FREE_TOP] = top + 1;
  }
}
