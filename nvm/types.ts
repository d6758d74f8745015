/**
 * The NVM image contract. `NvmImage` (nvm/image.ts) implements it; everything above nvm/ (the
 * extendible hash, later the memtable arena and aggregation buffers) uses only this surface.
 * Byte layout: nvm/FORMAT.md.
 */

/** `mapped`: the file is mmap'ed MAP_SHARED (native addon). `emulated`: a private SAB + pwrite. */
export type NvmBackendKind = 'mapped' | 'emulated';

/** `process`: survives kill -9 (default). `power`: persist() also msyncs / fdatasyncs. */
export type NvmDurability = 'process' | 'power';

export interface NvmOpenOptions {
  /** Default 'auto': mapped when the addon built, else emulated with a one-line warning. */
  readonly backend?: NvmBackendKind | 'auto';
  /** Reserved size of the image (the file's length; sparse). Default 4 GiB. Only at create. */
  readonly sizeMaxBytes?: number;
  /** Default 'process'. */
  readonly durability?: NvmDurability;
  /** Default true. When false, a missing image is ERR_INVALID_ARGUMENT. */
  readonly create?: boolean;
  /**
   * Emulated backend only, for crash tests: the persist with this 1-based number fails with
   * ERR_CRASH_INJECTED and writes nothing (or, with `tearOnCrash`, a seeded-random subset of its
   * aligned 8-byte words); every later persist is dropped and throws too. The file then holds
   * exactly the effects of persists 1..N-1 (plus the torn words).
   */
  readonly crashAtPersist?: number;
  readonly tearOnCrash?: { readonly seed: number };
}

/** Page kinds, stored in the page table. Never renumber: they are on disk. */
export const PageKind = {
  free: 0,
  superblock: 1,
  pageTable: 2,
  ehashHeader: 16,
  ehashDirectory: 17,
  ehashBuckets: 18,
  memtableHeader: 19,
  memtableArena: 20,
} as const;
export type PageKindValue = (typeof PageKind)[keyof typeof PageKind];

/** Everything a worker thread needs to attach to an open image. Structured-clone safe. */
export interface NvmHandle {
  readonly path: string;
  readonly backend: NvmBackendKind;
  readonly durability: NvmDurability;
  readonly fd: number;
  readonly buffer: SharedArrayBuffer;
  readonly runtime: SharedArrayBuffer;
}

export interface NvmImageApi {
  readonly path: string;
  readonly backend: NvmBackendKind;
  readonly durability: NvmDurability;
  /** The whole reserved range. Views below cover all of it. Touch only allocated pages. */
  readonly buffer: SharedArrayBuffer;
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  readonly words64: BigUint64Array;
  readonly pageSizeBytes: number;
  readonly pageCountMax: number;
  /**
   * Volatile i32 words, one per 256-byte unit of the image (index = byteOffset >>> 8), zero on
   * every open. Structures use the word of a unit as that unit's lock (e.g. a bucket's seqlock).
   */
  readonly lockWords: Int32Array;
  /** False when the previous opener did not close the image (crash or kill -9). */
  readonly wasCleanShutdown: boolean;

  /** Makes [offset, offset+length) durable under the image's durability. */
  persist(offsetBytes: number, lengthBytes: number): void;

  /**
   * Makes the pages of a range present and writable ahead of a burst of stores (a hint: the
   * mapped backend prefaults them; the emulated backend does nothing).
   */
  prefault(offsetBytes: number, lengthBytes: number): void;
  /** Allocates `count` contiguous zeroed pages, records kind/owner durably. ERR_NVM_FULL. */
  allocPages(count: number, kind: PageKindValue, owner: number): number;
  /** Frees pages allocated together by allocPages; records it durably. */
  freePages(pageIndex: number, count: number): void;
  pageKind(pageIndex: number): number;
  pageOwner(pageIndex: number): number;
  /** Pages in the run that allocPages returned starting at `pageIndex` (added for recovery). */
  pageRunLength(pageIndex: number): number;
  /** A persisted u32 per page that its owner may use (e.g. a slot bitmap). */
  pageAux(pageIndex: number): number;
  /** Sets the aux word with one atomic store and persists it. */
  setPageAux(pageIndex: number, value: number): void;
  /**
   * Sets then clears bits of the aux word atomically (threads may update different bits of one
   * page at once) and persists it. Returns the previous value.
   */
  updatePageAux(pageIndex: number, setBits: number, clearBits: number): number;
  /** Calls `visit` for every allocated page (first page of each run) of `kind` [and `owner`]. */
  forEachPage(
    kind: PageKindValue,
    owner: number | undefined,
    visit: (pageIndex: number) => void,
  ): void;

  /** 32 persisted u64 root words in the superblock, for structures to anchor themselves. */
  readonly rootCount: number;
  root(index: number): bigint;
  /** One 8-byte atomic store, then persisted: a commit point. */
  setRoot(index: number, value: bigint): void;

  stats(): NvmStats;
  handle(): NvmHandle;
  /** Marks a clean shutdown, persists it and releases the file. Idempotent. */
  close(): void;
}

export interface NvmStats {
  readonly backend: NvmBackendKind;
  readonly pageSizeBytes: number;
  readonly pageCountMax: number;
  readonly pagesHighWater: number;
  readonly pagesAllocated: number;
  readonly pagesFree: number;
  readonly imageBytesUsed: number;
  readonly persistCount: number;
}
