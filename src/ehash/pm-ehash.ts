/**
 * PmEHash: a persistent extendible hash from unsigned 64-bit keys to unsigned 64-bit values,
 * living in an NVM image (nvm/). Buckets of 15 slots sit 16 to a page; a directory of bucket ids
 * indexed by the low bits of a key's hash grows by doubling and shrinks by halving. Byte layout:
 * FORMAT.md beside this file; structural changes and their crash ordering: structure.ts.
 *
 * Thread model: one opener (`PmEHash.open`) and any number of threads that attached a handle
 * (`PmEHash.attach`) share the same memory. Writers take the seq-mutex of the one bucket they
 * change; readers take no lock: they read a bucket between two loads of its seq-mutex word, then
 * check that the directory still names that bucket for their key, and retry otherwise. Splits and
 * merges also take the table's directory lock (read side; doubling and halving take the write
 * side). No operation holds two bucket locks except a split (the new bucket is its own) and a merge,
 * which only try-locks the second, so there is no deadlock.
 *
 * Durability: an insert persists the slot and then the state word whose bitmap bit commits it;
 * an update is one 8-byte atomic store of the value; a remove is one store of the state word.
 * The `*Words` methods take keys and values as unsigned 32-bit halves and never allocate; the
 * bigint methods convert and call them.
 */
import { mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { NvmImage } from '../../nvm/image.js';
import type { NvmHandle, NvmOpenOptions } from '../../nvm/types.js';
import { StrataError } from '../errors.js';
import { SEQ_LOCKED } from '../sync/layout.js';
import { seqMutexLock, seqMutexUnlock, seqReadBegin, seqReadValid } from '../sync/seq-mutex.js';
import { BucketAllocator } from './bucket-allocator.js';
import { type HashCore, headerWordIndex } from './hash-core.js';
import { hashKey, isU32, joinU64, scratchWords, splitU64 } from './key-words.js';
import {
  BUCKET_HEADER_WORDS,
  BUCKET_LOCK_WORD,
  BUCKET_WORDS,
  DIRECTORY_ENTRIES_PER_PAGE,
  directoryPages,
  dirWordDepth,
  H_DIR,
  lockWordOf,
  PAGE_BYTES,
  SLOT_MASK_FULL,
  SLOT_WORDS,
  SLOTS_PER_BUCKET,
  stateDepth,
} from './layout.js';
import {
  checkDepths,
  checkHeader,
  createTable,
  dropTable,
  readSavedSize,
  reclaimLeakedDirectories,
  reclaimOrphanTables,
  redoIntents,
  writeSavedSize,
} from './recovery.js';
import {
  BUCKET_COUNT,
  BUCKET_PAGES,
  COUNTER_AT_GLOBAL_DEPTH,
  COUNTER_BUCKETS,
  COUNTER_STRIDE,
  COUNTERS,
  HANDLE_SLOT_COUNT,
  HANDLE_SLOTS_HI,
  HANDLE_SLOTS_LO,
  runtimeWordCount,
  SIZE_BASE_HI,
  SIZE_BASE_LO,
} from './runtime-layout.js';
import { splitBucketLocked, tryMergeLocked } from './structure.js';

/** The root word of the image that names a standalone table's header page. */
export const EHASH_ROOT = 0;
export const EHASH_IMAGE_FILE = 'ehash.nvm';
const PUT_INSERTED = 0;
const PUT_PRESENT = 1;
const PUT_REPLACED = 2;
/** Bound on optimistic retries of one operation; reaching it means a lock holder died. */
const RETRY_LIMIT = 1_000_000;

export type PmEHashOptions = NvmOpenOptions;

/** Structured-clone safe; pass it to a worker and call `PmEHash.attach` there. */
export interface PmEHashHandle {
  readonly image: NvmHandle;
  readonly runtime: SharedArrayBuffer;
  readonly headerPage: number;
}

export interface PmEHashStats {
  readonly backend: string;
  readonly keys: number;
  readonly globalDepth: number;
  readonly directoryEntries: number;
  readonly buckets: number;
  /** Pages this table owns: header, directory and bucket pages. */
  readonly pages: number;
  /** keys / (buckets * 15). */
  readonly loadFactor: number;
  /** Bytes of the image in use (all pages below the high-water mark). */
  readonly imageBytes: number;
}

export class PmEHash {
  private readonly image: NvmImage;
  private readonly core: HashCore;
  private readonly words: Uint32Array;
  private readonly words64: BigUint64Array;
  private readonly bucketLocks: Int32Array;
  private readonly runtime: Int32Array;
  private readonly dirWordIndex: number;
  private readonly counterIndex: number;
  private readonly handleSlot: number;
  /** The thread that opened the table (not attached): it records the key count at close. */
  private readonly opener: boolean;
  /** Whether close() also closes the image (standalone tables and attached handles). */
  private readonly ownsImage: boolean;
  private readonly out = new Uint32Array(2);
  private closed = false;

  private constructor(
    image: NvmImage,
    runtime: SharedArrayBuffer,
    headerPage: number,
    role: { readonly opener: boolean; readonly ownsImage: boolean },
  ) {
    this.image = image;
    this.words = image.words;
    this.words64 = image.words64;
    this.bucketLocks = new Int32Array(image.buffer);
    this.runtime = new Int32Array(runtime);
    this.opener = role.opener;
    this.ownsImage = role.ownsImage;
    const headerWord = headerPage * (PAGE_BYTES / 4);
    this.dirWordIndex = headerWord + H_DIR / 4;
    this.handleSlot = role.opener ? 0 : claimHandleSlot(this.runtime);
    this.counterIndex = COUNTERS + this.handleSlot * COUNTER_STRIDE;
    const bucketCounter = this.counterIndex + COUNTER_BUCKETS;
    this.core = {
      image,
      words: image.words,
      bucketLocks: this.bucketLocks,
      runtime: this.runtime,
      allocator: new BucketAllocator(image, this.runtime, headerPage, (delta) => {
        Atomics.add(this.runtime, bucketCounter, delta);
      }),
      headerPage,
      headerWord,
      dirWordIndex: this.dirWordIndex,
      intentSlot: this.handleSlot,
      atGlobalDepthCounter: this.counterIndex + COUNTER_AT_GLOBAL_DEPTH,
    };
  }

  /** Creates the table in `dir` (ehash.nvm) or recovers it. Synchronous: no I/O beyond open. */
  static open(dir: string, options: PmEHashOptions = {}): PmEHash {
    if (typeof dir !== 'string' || dir.length === 0) {
      throw new StrataError('ERR_INVALID_ARGUMENT', 'PmEHash.open needs a directory path');
    }
    if (options.create !== false) mkdirSync(dir, { recursive: true });
    const image = NvmImage.open(join(dir, EHASH_IMAGE_FILE), options);
    try {
      return PmEHash.openInImage(image);
    } catch (error) {
      image.close();
      throw error;
    }
  }

  /** In a worker thread: the same table over the same shared memory. */
  static attach(handle: PmEHashHandle): PmEHash {
    const image = NvmImage.attach(handle.image);
    return new PmEHash(image, handle.runtime, handle.headerPage, {
      opener: false,
      ownsImage: true,
    });
  }

  /** Removes the table's files. The table must be closed. */
  static destroy(dir: string): void {
    NvmImage.destroy(join(dir, EHASH_IMAGE_FILE));
    try {
      if (readdirSync(dir).length === 0) rmdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  /**
   * Creates an empty table inside an image another structure owns (the memtable) and returns its
   * header page. The caller must record the page durably (its commit point); until then a crash
   * leaves an orphan that `reclaimOrphansIn` frees.
   */
  static createIn(image: NvmImage): number {
    return createTable(image);
  }

  /** Opens (recovering) a table created by `createIn`; close() leaves the image open. */
  static openIn(image: NvmImage, headerPage: number): PmEHash {
    return PmEHash.recoverIn(image, headerPage, false);
  }

  /** Frees every page of a closed table created by `createIn`. Idempotent. */
  static dropIn(image: NvmImage, headerPage: number): void {
    dropTable(image, headerPage);
  }

  /**
   * After an unclean shutdown: frees the pages of every table in `image` whose header is not in
   * `liveHeaders` (tables whose creation was cut short, or whose drop was).
   */
  static reclaimOrphansIn(image: NvmImage, liveHeaders: ReadonlySet<number>): void {
    reclaimOrphanTables(image, liveHeaders);
  }

  private static openInImage(image: NvmImage): PmEHash {
    let headerPage = Number(image.root(EHASH_ROOT));
    if (!image.wasCleanShutdown) {
      reclaimOrphanTables(image, new Set(headerPage === 0 ? [] : [headerPage]));
    }
    if (headerPage === 0) {
      headerPage = createTable(image);
      image.setRoot(EHASH_ROOT, BigInt(headerPage));
    }
    return PmEHash.recoverIn(image, headerPage, true);
  }

  private static recoverIn(image: NvmImage, headerPage: number, ownsImage: boolean): PmEHash {
    checkHeader(image, headerPage);
    const runtime = new SharedArrayBuffer(runtimeWordCount(image.pageCountMax) * 4);
    const table = new PmEHash(image, runtime, headerPage, { opener: true, ownsImage });
    table.recover();
    return table;
  }

  private recover(): void {
    const core = this.core;
    redoIntents(core);
    if (!this.image.wasCleanShutdown) reclaimLeakedDirectories(core);
    // Lock words live in the buckets. Memory is the file on the mapped backend, so after a clean
    // close they are all free; otherwise a crashed holder or a persisted copy may have left one set.
    const saved = readSavedSize(core);
    // rebuild() recounts buckets from the pages, so drop what the intent redo counted.
    const counted = core.allocator.rebuild({
      resetLocks: this.image.backend !== 'mapped' || !this.image.wasCleanShutdown,
      countKeys: saved === undefined,
    });
    const keys = saved ?? counted;
    this.runtime[this.counterIndex + COUNTER_BUCKETS] = 0;
    this.runtime[SIZE_BASE_LO] = keys % 2 ** 32;
    this.runtime[SIZE_BASE_HI] = Math.floor(keys / 2 ** 32);
    if (saved !== undefined) writeSavedSize(core, undefined);
    if (process.env['STRATA_INVARIANTS'] === '1') checkDepths(core);
  }

  handle(): PmEHashHandle {
    this.checkOpen();
    return {
      image: this.image.handle(),
      runtime: this.runtime.buffer as SharedArrayBuffer,
      headerPage: this.core.headerPage,
    };
  }

  insert(key: bigint | number, value: bigint | number): boolean {
    splitU64(key, 'ERR_KEY_RANGE', 'key');
    const keyLow = scratchWords[0]!;
    const keyHigh = scratchWords[1]!;
    splitU64(value, 'ERR_VALUE_RANGE', 'value');
    return this.insertWords(keyHigh, keyLow, scratchWords[1]!, scratchWords[0]!);
  }

  search(key: bigint | number): bigint | undefined {
    splitU64(key, 'ERR_KEY_RANGE', 'key');
    const out = this.out;
    if (!this.searchWords(scratchWords[1]!, scratchWords[0]!, out)) return undefined;
    return joinU64(out[1]!, out[0]!);
  }

  update(key: bigint | number, value: bigint | number): boolean {
    splitU64(key, 'ERR_KEY_RANGE', 'key');
    const keyLow = scratchWords[0]!;
    const keyHigh = scratchWords[1]!;
    splitU64(value, 'ERR_VALUE_RANGE', 'value');
    return this.updateWords(keyHigh, keyLow, scratchWords[1]!, scratchWords[0]!);
  }

  remove(key: bigint | number): boolean {
    splitU64(key, 'ERR_KEY_RANGE', 'key');
    return this.removeWords(scratchWords[1]!, scratchWords[0]!);
  }

  /** Inserts unless the key is present. Keys and values as unsigned 32-bit halves. */
  insertWords(keyHigh: number, keyLow: number, valueHigh: number, valueLow: number): boolean {
    return this.put(keyHigh, keyLow, valueHigh, valueLow, undefined) === PUT_INSERTED;
  }

  /**
   * Inserts, or replaces the value of a present key in the same bucket-locked step, writing the
   * value it replaced to previous[0] (low) and previous[1] (high). Returns true if it replaced.
   */
  upsertWords(
    keyHigh: number,
    keyLow: number,
    valueHigh: number,
    valueLow: number,
    previous: Uint32Array,
  ): boolean {
    return this.put(keyHigh, keyLow, valueHigh, valueLow, previous) === PUT_REPLACED;
  }

  private put(
    keyHigh: number,
    keyLow: number,
    valueHigh: number,
    valueLow: number,
    previous: Uint32Array | undefined,
  ): number {
    this.checkOpen();
    checkWords(keyHigh, keyLow, 'ERR_KEY_RANGE');
    checkWords(valueHigh, valueLow, 'ERR_VALUE_RANGE');
    const hash = hashKey(keyHigh, keyLow);
    const words = this.words;
    for (let attempt = 0; attempt < SLOTS_PER_BUCKET * 64; attempt++) {
      const bucketId = this.lockBucket(hash);
      try {
        const base = bucketId * BUCKET_WORDS;
        const state = words[base]!;
        const bitmap = state & SLOT_MASK_FULL;
        const found = findSlot(words, base, bitmap, keyHigh, keyLow);
        if (found >= 0) {
          if (previous === undefined) return PUT_PRESENT;
          const valueWord = base + BUCKET_HEADER_WORDS + found * SLOT_WORDS + 2;
          previous[0] = words[valueWord]!;
          previous[1] = words[valueWord + 1]!;
          this.storeValueLocked(valueWord, valueHigh, valueLow);
          return PUT_REPLACED;
        }
        if (bitmap !== SLOT_MASK_FULL) {
          const slot = 31 - Math.clz32(~bitmap & (bitmap + 1));
          const at = base + BUCKET_HEADER_WORDS + slot * SLOT_WORDS;
          words[at] = keyLow;
          words[at + 1] = keyHigh;
          words[at + 2] = valueLow;
          words[at + 3] = valueHigh;
          this.image.persist(at * 4, SLOT_WORDS * 4);
          Atomics.store(words, base, state | (1 << slot));
          this.image.persist(base * 4, 4);
          this.countKeys(1);
          return PUT_INSERTED;
        }
        splitBucketLocked(this.core, bucketId, hash);
      } finally {
        seqMutexUnlock(this.bucketLocks, lockWordOf(bucketId));
      }
    }
    throw new StrataError('ERR_BUSY', 'insert did not find room after repeated bucket splits');
  }

  /**
   * One 8-byte store, so a crash at any instant leaves the old or the new value, never half.
   * Requires: caller holds the bucket lock.
   */
  private storeValueLocked(valueWord: number, valueHigh: number, valueLow: number): void {
    Atomics.store(this.words64, valueWord / 2, joinU64(valueHigh, valueLow));
    this.image.persist(valueWord * 4, 8);
  }

  /**
   * Writes the value's halves to out[0] (low) and out[1] (high) and returns true if present.
   * Lock-free: reads the directory and the bucket with plain loads and accepts them only if the
   * bucket's seq-mutex word, the DIR word and the entry are unchanged afterwards (atomic loads).
   * A garbage id from a directory freed meanwhile is only ever read, never written, and bounded.
   */
  searchWords(keyHigh: number, keyLow: number, out: Uint32Array): boolean {
    this.checkOpen();
    const hash = hashKey(keyHigh, keyLow);
    const words = this.words;
    const bucketLocks = this.bucketLocks;
    const dirWordIndex = this.dirWordIndex;
    for (let attempt = 0; attempt < RETRY_LIMIT; attempt++) {
      const dirWord = words[dirWordIndex]!;
      const entry =
        (dirWord >>> 5) * DIRECTORY_ENTRIES_PER_PAGE + (hash & ((1 << (dirWord & 31)) - 1));
      const bucketId = words[entry]!;
      const base = bucketId * BUCKET_WORDS;
      if (bucketId === 0 || base >= words.length) continue;
      const version = Atomics.load(bucketLocks, base + BUCKET_LOCK_WORD);
      if ((version & SEQ_LOCKED) !== 0) {
        this.waitForWriter(dirWord, base);
        continue;
      }
      const slot = findSlot(words, base, words[base]! & SLOT_MASK_FULL, keyHigh, keyLow);
      if (slot >= 0) {
        const at = base + BUCKET_HEADER_WORDS + slot * SLOT_WORDS;
        out[0] = words[at + 2]!;
        out[1] = words[at + 3]!;
      }
      if (!seqReadValid(bucketLocks, base + BUCKET_LOCK_WORD, version)) continue;
      if (Atomics.load(words, dirWordIndex) !== dirWord) continue;
      if (Atomics.load(words, entry) !== bucketId) continue;
      return slot >= 0;
    }
    throw new StrataError('ERR_BUSY', 'search did not settle: a bucket stayed locked');
  }

  /**
   * A writer holds the bucket: wait for it the way this thread may (workers sleep, the main
   * thread spins boundedly), but only on a bucket a live directory names.
   */
  private waitForWriter(dirWord: number, base: number): void {
    if (Atomics.load(this.words, this.dirWordIndex) !== dirWord) return;
    seqReadBegin(this.bucketLocks, base + BUCKET_LOCK_WORD);
  }

  updateWords(keyHigh: number, keyLow: number, valueHigh: number, valueLow: number): boolean {
    this.checkOpen();
    checkWords(keyHigh, keyLow, 'ERR_KEY_RANGE');
    checkWords(valueHigh, valueLow, 'ERR_VALUE_RANGE');
    const bucketId = this.lockBucket(hashKey(keyHigh, keyLow));
    try {
      const base = bucketId * BUCKET_WORDS;
      const slot = findSlot(this.words, base, this.words[base]! & SLOT_MASK_FULL, keyHigh, keyLow);
      if (slot < 0) return false;
      this.storeValueLocked(
        base + BUCKET_HEADER_WORDS + slot * SLOT_WORDS + 2,
        valueHigh,
        valueLow,
      );
      return true;
    } finally {
      seqMutexUnlock(this.bucketLocks, lockWordOf(bucketId));
    }
  }

  removeWords(keyHigh: number, keyLow: number): boolean {
    this.checkOpen();
    checkWords(keyHigh, keyLow, 'ERR_KEY_RANGE');
    const hash = hashKey(keyHigh, keyLow);
    const bucketId = this.lockBucket(hash);
    try {
      const base = bucketId * BUCKET_WORDS;
      const state = this.words[base]!;
      const slot = findSlot(this.words, base, state & SLOT_MASK_FULL, keyHigh, keyLow);
      if (slot < 0) return false;
      const next = state & ~(1 << slot);
      Atomics.store(this.words, base, next);
      this.image.persist(base * 4, 4);
      this.countKeys(-1);
      if ((next & SLOT_MASK_FULL) === 0 && stateDepth(next) > 0)
        tryMergeLocked(this.core, bucketId, hash);
      return true;
    } finally {
      seqMutexUnlock(this.bucketLocks, lockWordOf(bucketId));
    }
  }

  /** Exact when no other thread is writing; otherwise a value the count passed through. */
  get size(): number {
    this.checkOpen();
    let keys = this.runtime[SIZE_BASE_HI]! * 2 ** 32 + (this.runtime[SIZE_BASE_LO]! >>> 0);
    for (let slot = 0; slot < HANDLE_SLOT_COUNT; slot++) {
      keys += Atomics.load(this.runtime, COUNTERS + slot * COUNTER_STRIDE);
    }
    return keys;
  }

  stats(): PmEHashStats {
    const keys = this.size;
    const globalDepth = dirWordDepth(Atomics.load(this.words, this.dirWordIndex));
    let buckets = Atomics.load(this.runtime, BUCKET_COUNT);
    for (let slot = 0; slot < HANDLE_SLOT_COUNT; slot++) {
      buckets += Atomics.load(this.runtime, COUNTERS + slot * COUNTER_STRIDE + COUNTER_BUCKETS);
    }
    const bucketPages = Atomics.load(this.runtime, BUCKET_PAGES);
    return {
      backend: this.image.backend,
      keys,
      globalDepth,
      directoryEntries: 2 ** globalDepth,
      buckets,
      pages: 1 + directoryPages(globalDepth) + bucketPages,
      loadFactor: buckets === 0 ? 0 : keys / (buckets * SLOTS_PER_BUCKET),
      imageBytes: this.image.stats().imageBytesUsed,
    };
  }

  /**
   * The opener records the key count and closes the image; an attached handle only detaches.
   * Close attached handles first: the opener's close ends the image for everyone.
   */
  close(): void {
    if (this.closed) return;
    try {
      this.core.allocator.close();
      if (this.opener) writeSavedSize(this.core, this.size);
      else releaseHandleSlot(this.runtime, this.handleSlot);
    } finally {
      this.closed = true;
      if (this.ownsImage) this.image.close();
    }
  }

  /**
   * Locks the bucket the directory names for `hash` and returns its id, re-checking after the
   * lock that the directory still names it (a split or merge may have moved the key meanwhile).
   */
  private lockBucket(hash: number): number {
    const words = this.words;
    for (let attempt = 0; attempt < RETRY_LIMIT; attempt++) {
      const dirWord = words[this.dirWordIndex]!;
      const entry =
        (dirWord >>> 5) * DIRECTORY_ENTRIES_PER_PAGE + (hash & ((1 << (dirWord & 31)) - 1));
      const bucketId = words[entry]!;
      // The atomic re-read of the DIR word proves the entry came from a live directory, so the
      // lock word written next belongs to a bucket and not to a page reused meanwhile.
      if (bucketId === 0 || Atomics.load(words, this.dirWordIndex) !== dirWord) continue;
      seqMutexLock(this.bucketLocks, lockWordOf(bucketId));
      if (
        Atomics.load(words, this.dirWordIndex) === dirWord &&
        Atomics.load(words, entry) === bucketId
      ) {
        return bucketId;
      }
      seqMutexUnlock(this.bucketLocks, lockWordOf(bucketId));
    }
    throw new StrataError('ERR_BUSY', 'could not lock a bucket: the directory kept changing');
  }

  /**
   * A handle that owns its counter slot is its only writer, so a plain add suffices (readers use
   * Atomics.load, and an aligned Int32 never tears); a shared slot needs an atomic add.
   */
  private countKeys(delta: number): void {
    this.runtime[this.counterIndex]! += delta;
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError('ERR_CLOSED', 'the hash table is closed');
  }

  /** For tests: the word index of a header field. */
  headerWordIndexForTest(byteOffset: number): number {
    return headerWordIndex(this.core, byteOffset);
  }
}

function findSlot(
  words: Uint32Array,
  base: number,
  bitmap: number,
  keyHigh: number,
  keyLow: number,
): number {
  let at = base + BUCKET_HEADER_WORDS;
  for (let slot = 0, rest = bitmap; rest !== 0; slot++, rest >>>= 1, at += SLOT_WORDS) {
    if ((rest & 1) !== 0 && words[at] === keyLow && words[at + 1] === keyHigh) return slot;
  }
  return -1;
}

function checkWords(high: number, low: number, code: 'ERR_KEY_RANGE' | 'ERR_VALUE_RANGE'): void {
  if (isU32(high) && isU32(low)) return;
  throw new StrataError(
    code,
    `${code === 'ERR_KEY_RANGE' ? 'key' : 'value'} halves must be unsigned 32-bit integers, got ${high}, ${low}`,
  );
}

/**
 * Every handle owns a slot: its key and bucket counters and its intent record. Slot 0 is the
 * opener's; attached handles claim 1..63 and release theirs at close.
 */
function claimHandleSlot(runtime: Int32Array): number {
  for (let slot = 1; slot < HANDLE_SLOT_COUNT; slot++) {
    const word = slot < 32 ? HANDLE_SLOTS_LO : HANDLE_SLOTS_HI;
    const bit = 1 << (slot % 32);
    for (let attempt = 0; attempt < 64; attempt++) {
      const current = Atomics.load(runtime, word);
      if ((current & bit) !== 0) break;
      if (Atomics.compareExchange(runtime, word, current, current | bit) === current) return slot;
    }
  }
  throw new StrataError(
    'ERR_BUSY',
    `a table takes at most ${HANDLE_SLOT_COUNT - 1} attached handles at once; close some first`,
  );
}

function releaseHandleSlot(runtime: Int32Array, slot: number): void {
  if (slot <= 0 || slot >= HANDLE_SLOT_COUNT) return;
  const word = slot < 32 ? HANDLE_SLOTS_LO : HANDLE_SLOTS_HI;
  Atomics.and(runtime, word, ~(1 << (slot % 32)));
}
