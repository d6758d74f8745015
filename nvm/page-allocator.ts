/**
 * Allocating and freeing runs of pages: the volatile free map (free-map.ts) picks the pages, the
 * page table (page-table.ts) records them durably. Each change commits through one aligned
 * 8-byte store of the first page's commit word, persisted after everything it depends on
 * (FORMAT.md, "Commit points"):
 *
 *   allocate: zero reused pages ─persist→ raise pagesHighWater ─persist→ owner, aux and
 *             continuation descriptors ─persist→ commit word (kind, run length) ─persist
 *   free:     commit word = 0 ─persist   (continuation descriptors are cleared in memory only)
 *
 * A crash before the commit leaves the pages free; after it, allocated. A run that its caller
 * never linked into a structure is leaked, not lost: owners find their pages by kind and owner
 * with forEachPage on recovery and free what they do not reference.
 *
 * Thread model: each NvmImage (one per thread) has its own PageAllocator over the shared image
 * and runtime buffers. Every method takes the allocator mutex in the runtime buffer, so the free
 * map, the hint, the allocated-page count and pagesHighWater change under it only.
 */
import { assert, invariantsEnabled } from '../src/assert.js';
import { StrataError } from '../src/errors.js';
import { mutexLock as lockMutex, mutexUnlock as unlockMutex } from '../src/sync/mutex.js';
import { findFreeRunLocked, markPagesLocked } from './free-map.js';
import {
  D_AUX_WORD,
  D_KIND_FLAGS_WORD,
  D_OWNER_WORD,
  D_RUN_WORD,
  DESCRIPTOR_BYTES,
  descriptorOffsetBytes,
  descriptorWordIndex,
  FLAG_CONTINUATION,
  type ImageGeometry,
  PAGE_SIZE_BYTES,
  SB_PAGES_HIGH_WATER,
  SIZE_MAX_BYTES_LIMIT,
} from './layout.js';
import { collectRunsLocked, commitWordIndex, commitWordValue } from './page-table.js';
import {
  RT_ALLOC_MUTEX,
  RT_FREE_HINT_WORD,
  RT_PAGES_ALLOCATED,
  type RuntimeViews,
} from './runtime-layout.js';
import { PageKind } from './types.js';

export const PAGES_HIGH_WATER_WORD = SB_PAGES_HIGH_WATER / 4;

export interface RunRequest {
  readonly count: number;
  readonly kind: number;
  readonly owner: number;
}

export class PageAllocator {
  constructor(
    private readonly image: {
      readonly path: string;
      readonly bytes: Uint8Array;
      readonly words: Uint32Array;
      readonly words64: BigUint64Array;
      readonly geometry: ImageGeometry;
      readonly persist: (offsetBytes: number, lengthBytes: number) => void;
    },
    private readonly runtime: RuntimeViews,
  ) {}

  /** The first page of `count` free pages, now zeroed and durably allocated. ERR_NVM_FULL. */
  allocate(run: RunRequest): number {
    const words = this.runtime.words;
    lockMutex(words, RT_ALLOC_MUTEX);
    try {
      const hintWord = words[RT_FREE_HINT_WORD]!;
      const first =
        run.count > this.image.geometry.pageCountMax
          ? -1
          : findFreeRunLocked(this.runtime.freeMap, hintWord, run.count);
      if (first < 0) throw this.fullError(run.count);
      this.commitAllocationLocked(first, run);
      markPagesLocked(this.runtime.freeMap, first, run.count, false);
      this.advanceHintLocked(hintWord);
      words[RT_PAGES_ALLOCATED]! += run.count;
      return first;
    } finally {
      unlockMutex(words, RT_ALLOC_MUTEX);
    }
  }

  /** Requires: [pageIndex, pageIndex+count) is exactly one allocated run. */
  free(pageIndex: number, count: number): void {
    const { words, words64, geometry } = this.image;
    lockMutex(this.runtime.words, RT_ALLOC_MUTEX);
    try {
      const wordIndex = descriptorWordIndex(geometry, pageIndex);
      const kindFlags = words[wordIndex + D_KIND_FLAGS_WORD]!;
      if ((kindFlags & 0xffff) === PageKind.free)
        assert(false, `freePages(${pageIndex}): page is free`);
      if (kindFlags >>> 16 !== 0)
        assert(false, `freePages(${pageIndex}): not the first page of a run`);
      const runLength = words[wordIndex + D_RUN_WORD];
      if (runLength !== count)
        assert(false, `freePages(${pageIndex}, ${count}): the run has ${runLength} pages`);
      const commitIndex = commitWordIndex(geometry, pageIndex);
      const committed = words64[commitIndex]!;
      Atomics.store(words64, commitIndex, 0n); // the commit point
      this.persistOrRestore(commitIndex, committed);
      // Stale continuation descriptors mean "free" on disk (page-table.ts); clear them in memory
      // so pageKind reads free at once.
      for (let page = pageIndex + 1; page < pageIndex + count; page++) {
        Atomics.store(words64, commitWordIndex(geometry, page), 0n);
      }
      markPagesLocked(this.runtime.freeMap, pageIndex, count, true);
      const pageWord = pageIndex >>> 5;
      if (pageWord < this.runtime.words[RT_FREE_HINT_WORD]!) {
        this.runtime.words[RT_FREE_HINT_WORD] = pageWord;
      }
      this.runtime.words[RT_PAGES_ALLOCATED]! -= count;
    } finally {
      unlockMutex(this.runtime.words, RT_ALLOC_MUTEX);
    }
  }

  /** First pages of the committed runs of `kind` (and `owner`), in page order. */
  collectRuns(kind: number, owner: number | undefined): number[] {
    lockMutex(this.runtime.words, RT_ALLOC_MUTEX);
    try {
      return collectRunsLocked(this.image.words, this.image.geometry, {
        pagesHighWater: this.image.words[PAGES_HIGH_WATER_WORD]!,
        kind,
        owner,
      });
    } finally {
      unlockMutex(this.runtime.words, RT_ALLOC_MUTEX);
    }
  }

  /** Requires: caller holds the allocator mutex; pages [first, first+count) are free. */
  private commitAllocationLocked(first: number, run: RunRequest): void {
    const { bytes, words, words64, geometry, persist } = this.image;
    const { count, kind, owner } = run;
    const end = first + count;
    const highWater = words[PAGES_HIGH_WATER_WORD]!;
    const reusedEnd = Math.min(end, highWater);
    if (first < reusedEnd) {
      // A reused page may hold an earlier owner's persisted bytes: zero it durably. Pages at or
      // above the high-water mark were never handed out, so they are zero in memory and file.
      bytes.fill(0, first * PAGE_SIZE_BYTES, reusedEnd * PAGE_SIZE_BYTES);
      persist(first * PAGE_SIZE_BYTES, (reusedEnd - first) * PAGE_SIZE_BYTES);
    }
    if (invariantsEnabled) this.checkZeroPages(Math.max(first, highWater), end);
    // Raise the mark before writing descriptors, so no descriptor above it is ever written:
    // open scans (and clears) only the descriptors below it.
    if (end > highWater) {
      Atomics.store(words, PAGES_HIGH_WATER_WORD, end);
      persist(SB_PAGES_HIGH_WATER, 8);
    }
    for (let page = first; page < end; page++) {
      const wordIndex = descriptorWordIndex(geometry, page);
      words[wordIndex + D_OWNER_WORD] = owner;
      words[wordIndex + D_AUX_WORD] = 0;
      if (page > first) {
        const value = commitWordValue(kind, FLAG_CONTINUATION, page - first);
        Atomics.store(words64, commitWordIndex(geometry, page), value);
      }
    }
    persist(descriptorOffsetBytes(geometry, first), count * DESCRIPTOR_BYTES);
    const commitIndex = commitWordIndex(geometry, first);
    const previous = words64[commitIndex]!;
    Atomics.store(words64, commitIndex, commitWordValue(kind, 0, count)); // the commit point
    this.persistOrRestore(commitIndex, previous);
    const readBack = descriptorWordIndex(geometry, first);
    assert(words[readBack + D_KIND_FLAGS_WORD] === kind, 'the commit word reads back its kind');
    assert(words[readBack + D_RUN_WORD] === count, 'the commit word reads back its run length');
  }

  /** Persists a commit word; if that fails, puts the old value back in memory and rethrows. */
  private persistOrRestore(commitIndex: number, previous: bigint): void {
    try {
      this.image.persist(commitIndex * 8, 8);
    } catch (error) {
      Atomics.store(this.image.words64, commitIndex, previous);
      throw error;
    }
  }

  /** Requires: caller holds the allocator mutex. Moves the hint to the first word with a free bit. */
  private advanceHintLocked(hintWord: number): void {
    const freeMap = this.runtime.freeMap;
    let word = hintWord;
    while (word < freeMap.length && freeMap[word] === 0) word++;
    this.runtime.words[RT_FREE_HINT_WORD] = word;
  }

  private checkZeroPages(first: number, end: number): void {
    const words = this.image.words;
    for (let index = (first * PAGE_SIZE_BYTES) / 4; index < (end * PAGE_SIZE_BYTES) / 4; index++) {
      if (words[index] !== 0) {
        const page = Math.floor((index * 4) / PAGE_SIZE_BYTES);
        assert(false, `page ${page} at or above the high-water mark is not zero`);
      }
    }
  }

  private fullError(count: number): StrataError {
    const { geometry, path } = this.image;
    const allocated = this.runtime.words[RT_PAGES_ALLOCATED]!;
    const dataPages = geometry.pageCountMax - geometry.dataFirstPage;
    return new StrataError(
      'ERR_NVM_FULL',
      `NVM image ${path} has no run of ${count} free pages: ${allocated} of its ${dataPages} ` +
        `data pages are allocated (sizeMaxBytes ${geometry.sizeMaxBytes}, pageCountMax ` +
        `${geometry.pageCountMax}). sizeMaxBytes is fixed when an image is created; create a ` +
        `new image with a larger sizeMaxBytes (up to ${SIZE_MAX_BYTES_LIMIT}) to hold more.`,
    );
  }
}
