/**
 * Memtable: the NVM-resident write buffer of the LSM tree. Records live in an append arena in
 * the image; a PmEHash maps a 64-bit hash of the user key to the newest record with that hash
 * (records with equal hashes chain through `prevSameHash`), and a skiplist threaded through the
 * records orders them by (user key, seq descending) — the HiKV pairing. Byte layout and commit
 * protocol: FORMAT.md beside this file.
 *
 * Thread model: the opener (`Memtable.open`) and any number of threads that attached a handle
 * (`Memtable.attach`) share the image and a volatile runtime buffer (layout.ts, RT_*). One
 * writer at a time applies batches, holding the write mutex (`applyBatch` takes it; callers that
 * group work take `lock()` and call `applyBatchLocked`). Readers never lock: they only see
 * records with seq <= visibleSeq, which the writer raises after a batch's commit mark, so a
 * reader sees a batch wholly or not at all. Old versions stay linked for snapshots.
 */
import { NvmImage } from '../../nvm/image.js';
import type { NvmHandle } from '../../nvm/types.js';
import { PmEHash, type PmEHashHandle } from '../ehash/pm-ehash.js';
import { StrataError } from '../errors.js';
import { compareBytes, SEQ_MAX, type Seq } from '../sst/internal-key.js';
import { mutexLock, mutexLockAsync, mutexUnlock } from '../sync/mutex.js';
import { runNext } from './arena.js';
import { applyBatchLocked, type MemtableRecord } from './batch-writer.js';
import { currentBootTag } from './boot-tag.js';
import { appliedSeqLocked, type MemtableCore, visibleSeq } from './core.js';
import { type KeyHashFunction, murmurKeyHash } from './key-hash.js';
import {
  HEIGHT_MAX,
  headNode,
  PAGE_BYTES,
  R_PREV_SAME_HASH,
  R_VALUE_LENGTH,
  RT_ARENA_BYTES,
  RT_ENTRY_COUNT,
  RT_SEALED,
  RT_STATE,
  RT_WRITE_MUTEX,
  RUNTIME_WORDS,
  STATE_BROKEN,
  STATE_DROPPED,
} from './layout.js';
import {
  createMemtable,
  dropMemtable,
  type MemtableCreateOptions,
  type ReclaimOptions,
  readHeader,
  reclaimOrphanMemtables,
} from './lifecycle.js';
import { MemtableIterator } from './memtable-iterator.js';
import { recordBootTag, relinkCommittedRecords, replaceHashForRebuild } from './rebuild.js';
import { recoverOnOpen } from './recovery.js';
import { nodeKeyLength, nodeKeyStart, nodeKind, nodeSeq } from './skiplist.js';

export type { MemtableRecord } from './batch-writer.js';
export type { KeyHashFunction } from './key-hash.js';
export type { MemtableCreateOptions, ReclaimOptions } from './lifecycle.js';
export { MemtableIterator } from './memtable-iterator.js';

/** Bound on a hash chain walk: distinct records of a ≤ 4 GiB image. */
const CHAIN_STEPS_MAX = 2 ** 29;

export interface MemtableOpenOptions {
  /** For tests: replaces the key hash. Every open and attach of a memtable must use the same. */
  readonly keyHash?: KeyHashFunction;
  /** Seeds skiplist heights (volatile; any value is correct). */
  readonly heightSeed?: number;
  /**
   * The tag of the running boot (boot-tag.ts). Tests pass a new one to model a power loss: a
   * volatile-index memtable then rebuilds its index. Default: the kernel's.
   */
  readonly bootTag?: number;
}

/** Structured-clone safe; pass it to a worker and call `Memtable.attach` there. */
export interface MemtableHandle {
  readonly image: NvmHandle;
  readonly headerPage: number;
  readonly runtime: SharedArrayBuffer;
  readonly hash: PmEHashHandle;
}

export interface MemtableEntry {
  readonly kind: number;
  readonly seq: Seq;
  readonly value: Uint8Array;
}

export interface MemtableKeyedEntry extends MemtableEntry {
  readonly userKey: Uint8Array;
}

export interface MemtableStats {
  readonly headerPage: number;
  readonly entryCount: number;
  readonly approximateBytes: number;
  readonly arenaRuns: number;
  readonly visibleSeq: Seq;
  readonly hashKeys: number;
}

export class Memtable {
  readonly headerPage: number;
  private readonly core: MemtableCore;
  /** Whether close() also closes the image (attached handles own their image). */
  private readonly ownsImage: boolean;
  private closed = false;

  private constructor(core: MemtableCore, ownsImage: boolean) {
    this.core = core;
    this.headerPage = core.headerPage;
    this.ownsImage = ownsImage;
  }

  /**
   * Allocates an empty memtable and returns its header page. The caller records the page
   * durably (its commit point); until then a crash leaves an orphan for `reclaimOrphans`.
   */
  static create(image: NvmImage, options: MemtableCreateOptions = {}): number {
    return createMemtable(image, options);
  }

  /** Opens (recovering after a crash) the memtable at `headerPage`. O(in-flight batch). */
  static open(image: NvmImage, headerPage: number, options: MemtableOpenOptions = {}): Memtable {
    const header = readHeader(image, headerPage);
    const bootTag = options.bootTag ?? currentBootTag();
    // A volatile index opened in another boot (or an unknown one) may have lost any of its stores.
    const rebuild = header.volatileIndex && (bootTag === 0 || header.bootTag !== bootTag);
    const indexImage = header.volatileIndex ? image.volatileView() : image;
    const hashPage = rebuild ? replaceHashForRebuild(image, headerPage) : header.hashPage;
    const hash = PmEHash.openIn(indexImage, hashPage);
    try {
      const runtime = new SharedArrayBuffer(RUNTIME_WORDS * 4);
      const core = makeCore(image, headerPage, runtime, hash, options);
      if (rebuild) relinkCommittedRecords(core);
      recoverOnOpen(core, options.heightSeed ?? 0x6a09e667);
      if (rebuild) recordBootTag(image, headerPage, bootTag);
      return new Memtable(core, false);
    } catch (error) {
      hash.close();
      throw error;
    }
  }

  /** In a worker thread: the same memtable over the same shared memory. */
  static attach(handle: MemtableHandle, options: MemtableOpenOptions = {}): Memtable {
    const image = NvmImage.attach(handle.image);
    try {
      const hash = PmEHash.attach(handle.hash);
      return new Memtable(makeCore(image, handle.headerPage, handle.runtime, hash, options), true);
    } catch (error) {
      image.close();
      throw error;
    }
  }

  /** Frees every page of a memtable that no thread uses any more. Idempotent. */
  static drop(image: NvmImage, headerPage: number): void {
    dropMemtable(image, headerPage);
  }

  /** Frees memtables (with their hash tables and runs) whose header is not in `liveHeaders`. */
  static reclaimOrphans(
    image: NvmImage,
    liveHeaders: ReadonlySet<number>,
    options: ReclaimOptions = {},
  ): void {
    reclaimOrphanMemtables(image, liveHeaders, options);
  }

  /** Takes the write mutex (workers sleep; the main thread spins boundedly, then ERR_BUSY). */
  lock(): void {
    this.checkWritable();
    mutexLock(this.core.runtime, RT_WRITE_MUTEX);
  }

  lockAsync(): Promise<void> {
    this.checkWritable();
    return mutexLockAsync(this.core.runtime, RT_WRITE_MUTEX);
  }

  /**
   * Marks the memtable frozen: writers that check `sealedLocked()` under the write mutex stop
   * adding batches. Takes the mutex, so a batch in progress finishes first.
   */
  seal(): void {
    this.lock();
    try {
      Atomics.store(this.core.runtime, RT_SEALED, 1);
    } finally {
      this.unlock();
    }
  }

  /** Requires: the calling thread holds the write mutex. */
  sealedLocked(): boolean {
    return Atomics.load(this.core.runtime, RT_SEALED) === 1;
  }

  /** Requires: the calling thread holds the write mutex. */
  unlock(): void {
    mutexUnlock(this.core.runtime, RT_WRITE_MUTEX);
  }

  /** Applies `records` atomically: readers and recovery see all of them or none. */
  applyBatch(records: readonly MemtableRecord[]): void {
    this.lock();
    try {
      this.applyBatchLocked(records);
    } finally {
      this.unlock();
    }
  }

  /** Requires: caller holds the write mutex (`lock()`). */
  applyBatchLocked(records: readonly MemtableRecord[]): void {
    this.checkWritable();
    applyBatchLocked(this.core, records);
  }

  /** The newest seq readers see: every batch up to it is committed and published. */
  get visibleSeq(): Seq {
    return visibleSeq(this.core);
  }

  /** The seq of the last committed batch. Requires: caller holds the write mutex. */
  appliedSeqLocked(): Seq {
    return appliedSeqLocked(this.core);
  }

  get entryCount(): number {
    return Atomics.load(this.core.runtime, RT_ENTRY_COUNT) >>> 0;
  }

  /** Arena bytes consumed by committed records (including run-end padding). */
  get approximateBytes(): number {
    return Atomics.load(this.core.runtime, RT_ARENA_BYTES) >>> 0;
  }

  /**
   * The newest version of `userKey` with seq <= min(snapshotSeq, visibleSeq), or undefined. A
   * deletion comes back as kind 0 so the caller stops looking in older tables. The value is a
   * private copy.
   */
  get(userKey: Uint8Array, snapshotSeq: Seq = SEQ_MAX): MemtableEntry | undefined {
    const entry = this.getView(userKey, snapshotSeq);
    if (entry === undefined) return undefined;
    // A fresh array filled by set(): V8 copies out of a SharedArrayBuffer about twice as fast
    // that way as through slice().
    const value = new Uint8Array(entry.value.length);
    value.set(entry.value);
    return { kind: entry.kind, seq: entry.seq, value };
  }

  /**
   * As get(), but the value is a view of the shared memory, valid only until the calling thread
   * next yields to its event loop (a memtable's pages are freed only between tasks, and only once
   * no reader's view holds it). Saves the allocation a copy costs, which for a 1 KB value is
   * most of a memtable read; the caller copies what it keeps.
   */
  getView(userKey: Uint8Array, snapshotSeq: Seq = SEQ_MAX): MemtableEntry | undefined {
    this.checkOpen();
    const core = this.core;
    const limit = Math.min(snapshotSeq, visibleSeq(core));
    core.keyHash(userKey, core.hashOut);
    if (!core.hash.searchWords(core.hashOut[1]!, core.hashOut[0]!, core.valueOut)) return undefined;
    const words = core.words;
    let node = core.valueOut[0]!;
    for (let step = 0; step < CHAIN_STEPS_MAX && node !== 0; step++) {
      if (nodeSeq(words, node) <= limit) {
        const start = nodeKeyStart(words, node);
        const end = start + nodeKeyLength(words, node);
        if (compareBytes(core.bytes, start, end, userKey, 0, userKey.length) === 0) {
          const valueLength = words[(node >>> 2) + R_VALUE_LENGTH]!;
          const value = core.bytes.subarray(end, end + valueLength);
          return { kind: nodeKind(words, node), seq: nodeSeq(words, node), value };
        }
      }
      node = words[(node >>> 2) + R_PREV_SAME_HASH]!;
    }
    return undefined;
  }

  /** Every version visible at min(snapshotSeq, visibleSeq now); unpositioned. */
  iterator(snapshotSeq: Seq = SEQ_MAX): MemtableIterator {
    this.checkOpen();
    return new MemtableIterator(this.core.view, Math.min(snapshotSeq, visibleSeq(this.core)));
  }

  /** The newest visible version of each user key, deletions included, in key order. */
  *entries(snapshotSeq: Seq = SEQ_MAX): Generator<MemtableKeyedEntry> {
    const iterator = this.iterator(snapshotSeq);
    let previousKey: Uint8Array | undefined;
    for (iterator.seekFirst(); iterator.valid(); iterator.next()) {
      if (previousKey !== undefined && iterator.keyEquals(previousKey)) continue;
      previousKey = iterator.key();
      const entry = { userKey: previousKey, kind: iterator.kind(), seq: iterator.seq() };
      yield { ...entry, value: iterator.value() };
    }
  }

  stats(): MemtableStats {
    this.checkOpen();
    let arenaRuns = 0;
    for (let run = this.core.firstRun; run !== 0; run = runNext(this.core.words, run)) arenaRuns++;
    return {
      headerPage: this.headerPage,
      entryCount: this.entryCount,
      approximateBytes: this.approximateBytes,
      arenaRuns,
      visibleSeq: this.visibleSeq,
      hashKeys: this.core.hash.size,
    };
  }

  handle(): MemtableHandle {
    this.checkOpen();
    return {
      image: this.core.image.handle(),
      headerPage: this.headerPage,
      runtime: this.core.runtime.buffer as SharedArrayBuffer,
      hash: this.core.hash.handle(),
    };
  }

  /** Closes attached handles first: the opener's close ends the hash table for everyone. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.core.hash.close();
    } finally {
      if (this.ownsImage) this.core.image.close();
    }
  }

  /** Closes and frees the memtable (after a flush). Requires: attached handles are closed. */
  drop(): void {
    this.checkOpen();
    Atomics.store(this.core.runtime, RT_STATE, STATE_DROPPED);
    this.close();
    dropMemtable(this.core.image, this.headerPage);
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError('ERR_CLOSED', `memtable ${this.headerPage} is closed`);
    if (Atomics.load(this.core.runtime, RT_STATE) === STATE_DROPPED) {
      throw new StrataError('ERR_CLOSED', `memtable ${this.headerPage} was dropped`);
    }
  }

  private checkWritable(): void {
    this.checkOpen();
    if (Atomics.load(this.core.runtime, RT_STATE) === STATE_BROKEN) {
      throw new StrataError(
        'ERR_CLOSED',
        `memtable ${this.headerPage}: a failed batch could not be rolled back; reopen to recover`,
      );
    }
  }
}

function makeCore(
  image: NvmImage,
  headerPage: number,
  runtime: SharedArrayBuffer,
  hash: PmEHash,
  options: MemtableOpenOptions,
): MemtableCore {
  const header = readHeader(image, headerPage);
  const indexImage = header.volatileIndex ? image.volatileView() : image;
  return {
    image,
    indexImage,
    persistIndexWord: (wordIndex) => indexImage.persist(wordIndex * 4, 4),
    preds: new Uint32Array(HEIGHT_MAX),
    words: image.words,
    words64: image.words64,
    bytes: image.bytes,
    headerPage,
    runtime: new Int32Array(runtime),
    hash,
    view: { words: image.words, bytes: image.bytes, head: headNode(headerPage) },
    keyHash: options.keyHash ?? murmurKeyHash,
    baseSeq: header.baseSeq,
    runPagesDefault: header.runBytes / PAGE_BYTES,
    firstRun: header.firstRun,
    hashOut: new Uint32Array(2),
    valueOut: new Uint32Array(2),
  };
}
