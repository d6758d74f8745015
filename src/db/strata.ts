/**
 * Strata: the public engine. One NVM image (`dir/strata.nvm`) holds the memtables, one catalog
 * (`dir/catalog/`) lists them and the level-0 tables (`dir/catalog/NNNNNN.sst`). Writes go through
 * one GroupCommitter into the mutable memtable; when it grows past `memtableSize` it is frozen
 * (FreezeMemtable creates its successor in the same edit), flushed to a table and the table is
 * installed (CommitFlush); its NVM pages are freed once no catalog snapshot and no reader of this
 * process uses it. README.md beside this file describes the API and its guarantees.
 *
 * Reads are synchronous against a read view: the live memtables (newest first), the L0 tables
 * (newest first) and a seq. Iterators and snapshots pin the memtables of their view (`refs`);
 * a flushed memtable is dropped only once its refs are zero and the catalog reported it unpinned.
 *
 * Thread model: main thread only. Flushes run on the main thread in this version.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { NvmImage } from '../../nvm/image.js';
import type { NvmOpenOptions } from '../../nvm/types.js';
import { assert } from '../assert.js';
import {
  type BlobGcResult,
  type BlobGcTask,
  blobGcWorkerUrl,
  rewriteBlobs,
} from '../blob/blob-gc-job.js';
import { reviveWorkerError } from '../blob/worker-error.js';
import { Catalog } from '../catalog/catalog.js';
import type { CatalogFs } from '../catalog/catalog-fs.js';
import { type FileMeta, type IndexMeta, LEVEL_COUNT } from '../catalog/catalog-state.js';
import { CommitFlush } from '../catalog/operations/commit-flush.js';
import { CreateMemtable } from '../catalog/operations/create-memtable.js';
import { FreezeMemtable } from '../catalog/operations/freeze-memtable.js';
import { StrataError } from '../errors.js';
import { encodeFields, type FieldValue } from '../fields/field-codec.js';
import {
  buildIndex,
  type IndexBuildResult,
  type IndexBuildTask,
  indexBuildWorkerUrl,
} from '../fields/index-build-job.js';
import type { IndexKeyRange } from '../fields/index-key.js';
import {
  type CompactionResult,
  type CompactionTask,
  compactionWorkerUrl,
  compactTables,
} from '../lsm/compaction-job.js';
import type { LevelShape } from '../lsm/compaction-picker.js';
import { DbIterator } from '../lsm/db-iterator.js';
import {
  type FlushResult,
  type FlushTask,
  flushMemtable,
  flushWorkerUrl,
} from '../lsm/flush-job.js';
import type { MemtableRecord } from '../memtable/batch-writer.js';
import { Memtable } from '../memtable/memtable.js';
import { type BlockCache, defaultBlockCache } from '../sst/block-cache.js';
import {
  compareInternalKeys,
  compareUserKeys,
  KIND_BLOB_REFERENCE,
  type Seq,
} from '../sst/internal-key.js';
import {
  type GroupCommitTarget,
  GroupCommitter,
  type WriteOptions,
} from '../write/group-commit.js';
import type { EncodedOp, WriteOp } from '../write/write-op.js';
import { Appender } from './appender.js';
import { AttachedStrata } from './attached.js';
import { BlobGc, type BlobGcHost, type BlobGcStats } from './blob-gc.js';
import { BlobStore, type BlobStoreStats } from './blob-store.js';
import { type CompactionStats, Compactor, type CompactorHost } from './compactor.js';
import { coordinatorApi } from './coordinator-api.js';
import { type FieldReadOptions, fieldsOf } from './field-read.js';
import type { StrataHandle } from './handle-layout.js';
import { HandleServer } from './handle-server.js';
import { IndexMaintenance } from './index-maintenance.js';
import {
  type IndexInfo,
  IndexManager,
  type IndexManagerHost,
  type IndexManagerStats,
  type IndexQueryOptions,
  type IndexRangeQueryOptions,
} from './index-manager.js';
import type { StrataIterator } from './iterator.js';
import {
  encodeBound,
  encodeKey,
  encodeValue,
  invalid,
  type ResolvedOptions,
  resolveOptions,
  type StrataOptions,
} from './options.js';
import {
  type IteratorOptions,
  iteratorOn,
  type LiveMemtable,
  lookupAt,
  mergedSources,
  type ReadView,
  StrataSnapshot,
  storedKind,
} from './read-view.js';
import { TableSet } from './table-set.js';

export type { FieldReadOptions } from './field-read.js';
export type { IndexInfo, IndexQueryOptions, IndexRangeQueryOptions } from './index-manager.js';
export { StrataIterator } from './iterator.js';
export type { StrataOptions } from './options.js';
export { type IteratorOptions, StrataSnapshot } from './read-view.js';

/** One operation of `db.batch`. `value` is required for 'put' and must be absent for 'del'. */
export interface BatchOp {
  readonly type: 'put' | 'del';
  readonly key: Uint8Array | string;
  readonly value?: Uint8Array | string;
}

export interface LevelStats {
  readonly level: number;
  readonly files: number;
  readonly bytes: number;
}

export interface StrataStats
  extends CompactionStats,
    BlobStoreStats,
    BlobGcStats,
    IndexManagerStats {
  /** Threads attached through handle() right now. */
  readonly attachedThreads: number;
  readonly indexEntriesWritten: number;
  readonly indexEntriesDeleted: number;
  readonly valuesTooLong: number;
  /** Live memtables: 1 mutable + the frozen ones not flushed yet. */
  readonly memtables: number;
  /** Frozen memtables waiting for (or in) their flush. */
  readonly frozenMemtables: number;
  readonly mutableMemtableBytes: number;
  readonly immutableMemtableBytes: number;
  /** Flushed memtables whose NVM pages wait for their last reader. */
  readonly retiredMemtables: number;
  readonly l0Files: number;
  readonly l0Bytes: number;
  /** Table files and bytes per level, level 0 first. */
  readonly levels: readonly LevelStats[];
  /** Bytes of every live table. */
  readonly tableBytes: number;
  /** Tables compacted away whose readers wait for the last iterator using them. */
  readonly retiredTables: number;
  /** Bytes of tables written by flushes since open. */
  readonly flushBytesWritten: number;
  /** Bytes of keys and values acknowledged since open. */
  readonly userBytesWritten: number;
  /** Bytes of records (headers, keys, values or blob references) written into memtables. */
  readonly memtableBytesWritten: number;
  /** (flush + compaction bytes written) / user bytes written, since open. */
  readonly writeAmplification: number;
  /** Bytes of all tables / bytes of the deepest non-empty level (1 when there are none). */
  readonly spaceAmplification: number;
  /** Writes held back ~1 ms each by the level-0 slowdown (`l0SlowdownTrigger`). */
  readonly slowedWrites: number;
  /** Completed flushes since open. */
  readonly flushes: number;
  readonly flushErrors: number;
  /** Writes that had to wait for a flush (mutable memtable full, `maxFrozenMemtables` frozen). */
  readonly stalledWrites: number;
  /** Stall episodes: stretches of time in which at least one write waited. */
  readonly stalls: number;
  /** Total time of the stall episodes, in milliseconds (a running one included). */
  readonly stallTimeMs: number;
  /** Writes waiting right now. */
  readonly writesStalledNow: number;
  /** The block cache this thread's databases share (counters are the whole cache's). */
  readonly blockCache: {
    readonly capacityBytes: number;
    readonly sizeBytes: number;
    readonly hits: number;
    readonly misses: number;
  };
  /** The newest committed seq. */
  readonly lastSeq: Seq;
  readonly writes: number;
  readonly writeGroups: number;
}

/**
 * Test hooks of `Strata.open` (third argument; not part of the options users pass): crash
 * injection in the emulated NVM backend and a crashing or in-memory file system for the catalog.
 */
export interface StrataTestHooks {
  readonly nvm?: Pick<NvmOpenOptions, 'crashAtPersist' | 'tearOnCrash'>;
  readonly catalogFs?: CatalogFs;
  /**
   * Called before each flush task starts; a throw (or rejection) fails that flush as an I/O
   * error would, and a promise holds the flush until it settles.
   */
  readonly beforeFlushTask?: (tempPath: string) => void | Promise<void>;
  /** Like beforeFlushTask, for each compaction's merge (not for trivial moves). */
  readonly beforeCompactionTask?: () => void | Promise<void>;
  /** Awaited before each blob GC copy task starts. */
  readonly beforeBlobGcTask?: () => void | Promise<void>;
  /** Awaited before each index build task starts. */
  readonly beforeIndexBuildTask?: () => void | Promise<void>;
  /** Passed to Catalog.open (default 1000), so short tests reach checkpoints. */
  readonly checkpointEveryEdits?: number;
  /** The boot tag memtables are opened with (src/memtable/boot-tag.ts): a new one models a power loss. */
  readonly bootTag?: number;
}

/** How long the level-0 slowdown holds a group of writes. */
const SLOWDOWN_DELAY_MS = 1;

/** The file names inside `dir`. */
export const IMAGE_FILE_NAME = 'strata.nvm';
/** How often blob GC re-checks attached threads' snapshots while it waits for old readers. */
const READER_POLL_MS = 20;
export const CATALOG_DIR_NAME = 'catalog';

const ARENA_RUN_BYTES_MAX = 1 << 20;
const PAGE_BYTES = 4096;

interface ReaderWaiter {
  readonly seq: Seq;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** A write held back until a flush makes room; `start` hands it to the committer. */
interface StalledWrite {
  readonly start: () => void;
  readonly fail: (error: unknown) => void;
}

export class Strata {
  readonly dir: string;
  readonly #options: ResolvedOptions;
  readonly #hooks: StrataTestHooks;
  readonly #image: NvmImage;
  readonly #catalog: Catalog;
  readonly #cache: BlockCache;
  readonly #committer: GroupCommitter;
  readonly #blobs: BlobStore;
  /** Set while the first blob file is created: every write waits behind it, in order. */
  #blobGate: Promise<void> | undefined;
  readonly #appender: Appender;
  readonly #blobGc: BlobGc;
  #blobGcScheduled = false;
  readonly #maintenance: IndexMaintenance;
  /** Created by the first handle(): the threads attached to this store. */
  #handles: HandleServer | undefined;
  #indexes!: IndexManager;
  /** Seqs of the read views iterators hold, with how many hold each. */
  readonly #viewSeqs = new Map<Seq, number>();
  #readerWaiters: ReaderWaiter[] = [];
  #readerPoll: ReturnType<typeof setInterval> | undefined;
  #mutable: LiveMemtable;
  /** Frozen, not yet flushed; oldest first. */
  #immutables: LiveMemtable[];
  /** The open tables of every level, mirroring the catalog. */
  readonly #tables: TableSet;
  readonly #compactor: Compactor;
  #compactionPool: Piscina | undefined;
  /** Bytes of tables written by flushes, and of keys and values acknowledged, since open. */
  #flushBytesWritten = 0;
  #userBytesWritten = 0;
  /** Bytes of records written into memtable arenas (the NVM image) since open. */
  #memtableBytesWritten = 0;
  /** Writes held back by the level-0 slowdown; the timer lets them go. */
  #slowdownTimer: ReturnType<typeof setTimeout> | undefined;
  #slowedWrites = 0;
  /** The last automatic compaction's failure; compactRange() clears it. */
  #compactionError: unknown;
  readonly #retired = new Set<LiveMemtable>();
  #memtableOrder: {
    mutable: LiveMemtable | undefined;
    immutables: readonly LiveMemtable[] | undefined;
    newestFirst: readonly LiveMemtable[];
  } = { mutable: undefined, immutables: undefined, newestFirst: [] };
  /** Every seq at or below it is taken: the committer numbers the next batch above it. */
  #seqFloor: Seq;
  /** The FreezeMemtable in flight, if any. */
  #freezing: Promise<void> | undefined;
  /** The flusher: flushes frozen memtables oldest first until none is left. */
  #flushing: Promise<void> | undefined;
  /** The error of the last failed freeze or flush; background work stops until flush() retries. */
  #backgroundError: unknown;
  #flushes = 0;
  #flushErrors = 0;
  /** Writes waiting for room, in arrival order. */
  #stalled: StalledWrite[] = [];
  #stalledWrites = 0;
  #stalls = 0;
  #stallTimeMs = 0;
  #stallStartedMs: number | undefined;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #snapshots = new Set<StrataSnapshot>();
  #pool: Piscina | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(parts: {
    dir: string;
    options: ResolvedOptions;
    hooks: StrataTestHooks;
    image: NvmImage;
    catalog: Catalog;
    cache: BlockCache;
    mutable: LiveMemtable;
    immutables: LiveMemtable[];
    tables: TableSet;
    seqFloor: Seq;
    blobs: BlobStore;
  }) {
    this.dir = parts.dir;
    this.#options = parts.options;
    this.#hooks = parts.hooks;
    this.#image = parts.image;
    this.#catalog = parts.catalog;
    this.#cache = parts.cache;
    this.#mutable = parts.mutable;
    this.#immutables = parts.immutables;
    this.#tables = parts.tables;
    this.#seqFloor = parts.seqFloor;
    const lastSeq = (): Seq => this.#lastSeq();
    let lockedMemtable: Memtable | undefined;
    const target: GroupCommitTarget = {
      // The committer holds the mutable memtable's write mutex around each call (lockForApply).
      applyBatch: (records: readonly MemtableRecord[]) => {
        const memtable = this.#mutable.memtable;
        const before = memtable.approximateBytes;
        memtable.applyBatchLocked(records);
        this.#memtableBytesWritten += memtable.approximateBytes - before;
        // Blobs just replaced may have pushed a file past the GC ratio.
        if (this.#blobs.takeGarbageChanged()) this.#scheduleBlobGc();
        this.#scheduleBackgroundWork();
      },
      get visibleSeq(): Seq {
        return lastSeq();
      },
      lockForApply: () => {
        lockedMemtable = this.#mutable.memtable;
        lockedMemtable.lock();
      },
      unlockAfterApply: () => lockedMemtable?.unlock(),
    };
    this.#blobs = parts.blobs;
    this.#maintenance = new IndexMaintenance({
      // Attached threads write the memtable directly only while no index needs maintaining.
      beforeChange: (indexes) =>
        this.#handles?.setDirectWrites(
          this.#directWritesAllowed(indexes.length),
          () => this.#mutable.memtable,
        ),
      readStored: (key) => this.#readStored(key),
      readBlob: (encodedRef) => this.#blobs.read(encodedRef),
      maxIndexedValueBytes: this.#options.maxKeyBytes,
    });
    this.#committer = new GroupCommitter(target, {
      // Power-loss durability needs the blob bytes durable before the reference that names them.
      separate: (records, sync) => this.#blobs.separate(records, sync || this.#options.sync),
      expand: () => this.#maintenance.expander(),
    });
    this.#blobGc = new BlobGc(this.#blobGcHost());
    this.#appender = new Appender({
      blobs: this.#blobs,
      options: this.#options,
      readStored: (key) => this.#readStored(key),
      storedIs: (key, expected) => this.#storedIs(key, expected),
      canWriteNow: () => this.#appendCanWriteNow(),
      othersMayWrite: () => this.#handles !== undefined,
      writeNow: (op, select) => this.#appendWriteNow(op, select),
      write: (op, select) => this.#write(() => [op], { select }),
      checkOpen: () => this.#checkOpen(),
    });
    this.#compactor = new Compactor(this.#compactorHost(), {
      shape: levelShapeOf(this.#options),
      targetFileBytes: this.#options.targetFileSize,
      concurrency: Math.max(1, this.#options.compactionThreads),
    });
  }

  /**
   * Creates `dir` (and the database in it) or recovers the database there. Rejects with
   * ERR_INVALID_ARGUMENT for bad options, ERR_LOCKED when another process has it open, and the
   * image's or catalog's errors (ERR_CORRUPT, ERR_NVM_*, ERR_IO) otherwise.
   */
  static async open(
    dir: string,
    options?: StrataOptions,
    hooks: StrataTestHooks = {},
  ): Promise<Strata> {
    if (typeof dir !== 'string' || dir.length === 0) throw invalid('dir must be a non-empty path');
    const resolved = resolveOptions(options);
    mkdirSync(dir, { recursive: true });
    const image = NvmImage.open(join(dir, IMAGE_FILE_NAME), {
      backend: resolved.backend,
      durability: resolved.sync ? 'power' : 'process',
      ...(resolved.sizeMaxBytes === undefined ? {} : { sizeMaxBytes: resolved.sizeMaxBytes }),
      ...hooks.nvm,
    });
    const opened: Memtable[] = [];
    let tables: TableSet | undefined;
    let catalog: Catalog | undefined;
    let blobs: BlobStore | undefined;
    // The blob store's garbage estimate looks keys up through the database made below.
    let readStoredOf: (key: Uint8Array) => { kind: number; value: Uint8Array } | undefined = () =>
      undefined;
    try {
      // The catalog changes nothing on disk until every memtable and table it lists opened, so a
      // catalog that disagrees with the image (a damaged manifest) fails open deleting nothing.
      catalog = await Catalog.open(join(dir, CATALOG_DIR_NAME), {
        compareKeys: compareInternalKeys,
        deferCleanUp: true,
        ...(hooks.checkpointEveryEdits === undefined
          ? {}
          : { checkpointEveryEdits: hooks.checkpointEveryEdits }),
        ...(hooks.catalogFs === undefined ? {} : { fs: hooks.catalogFs }),
      });
      // One block cache for every database of this thread; it grows to the largest request.
      const cache = defaultBlockCache;
      if (resolved.blockCacheBytes > cache.capacityBytes) cache.resize(resolved.blockCacheBytes);
      const snapshot = catalog.getSnapshot();
      let seqFloor: Seq;
      let mutable: LiveMemtable | undefined;
      const immutables: LiveMemtable[] = [];
      try {
        seqFloor = snapshot.state.lastSequence;
        for (const meta of snapshot.memtables) {
          const memtable = Memtable.open(image, meta.locator, memtableOpenOptions(hooks));
          opened.push(memtable);
          seqFloor = Math.max(seqFloor, memtable.visibleSeq);
          const live = liveMemtable(meta.id, memtable);
          if (meta.state === 'mutable') mutable = live;
          else immutables.push(live);
        }
        for (const file of snapshot.levels.flat()) seqFloor = Math.max(seqFloor, file.seqMax);
        // A listed table that is missing is ERR_CORRUPT naming it (TableSet.open).
        tables = TableSet.open(catalog.dir, cache, snapshot.levels);
        await catalog.finishRecovery();
        blobs = BlobStore.open(catalog.dir, catalog, {
          minBlobSize: resolved.minBlobSize,
          blobFileSize: resolved.blobFileSize,
          reserve: resolved.blobReserve,
          lookupStored: (key) => readStoredOf(key),
        });
        Memtable.reclaimOrphans(image, new Set(snapshot.memtables.map((meta) => meta.locator)));
      } finally {
        snapshot.release();
      }
      if (mutable === undefined) {
        const headerPage = Memtable.create(image, {
          baseSeq: seqFloor,
          runSizeBytes: runSizeFor(resolved.memtableSize),
          volatileIndex: volatileIndexFor(image),
        });
        const created = await createMemtableIn(catalog, headerPage, image);
        const memtable = Memtable.open(image, headerPage, memtableOpenOptions(hooks));
        opened.push(memtable);
        mutable = liveMemtable(created, memtable);
      }
      const db = new Strata({
        dir,
        options: resolved,
        hooks,
        image,
        catalog,
        cache,
        mutable,
        immutables,
        tables,
        seqFloor,
        blobs,
      });
      readStoredOf = (key) => db.#readStored(key);
      db.#indexes = new IndexManager(db.#indexManagerHost(), catalogIndexes(catalog));
      // A blob GC round a crash interrupted is settled before anything else runs.
      await db.#blobGc.recover();
      db.#compactor.schedule();
      db.#blobGc.schedule();
      // Frozen memtables left by an earlier run get flushed now, in the background.
      db.#scheduleBackgroundWork();
      return db;
    } catch (error) {
      // Release everything, whatever fails on the way: the open's own error is the one to report.
      if (tables !== undefined) tables.close();
      blobs?.close();
      for (const memtable of opened) ignoreError(() => memtable.close());
      if (catalog !== undefined) await catalog.close().catch(() => undefined);
      ignoreError(() => image.close());
      throw error;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves once the put is committed (and durable under the configured durability). */
  put(key: Uint8Array | string, value: Uint8Array | string): Promise<void> {
    return this.#write(() => [
      {
        type: 'put',
        key: encodeKey(key, this.#options.maxKeyBytes),
        value: encodeValue(value, this.#options.maxValueBytes),
      },
    ]);
  }

  del(key: Uint8Array | string): Promise<void> {
    return this.#write(() => [{ type: 'del', key: encodeKey(key, this.#options.maxKeyBytes) }]);
  }

  /** Applies every op or none, also across a crash. An empty batch resolves at once. */
  batch(ops: readonly BatchOp[]): Promise<void> {
    return this.#write(() => {
      if (!Array.isArray(ops)) throw invalid('batch ops must be an array');
      return ops.map((op: unknown, index) => this.#encodeOp(op, index));
    });
  }

  /** The newest value of `key`, or undefined. Synchronous. */
  get(key: Uint8Array | string): Uint8Array | undefined {
    this.#checkOpen();
    const bytes = encodeKey(key, this.#options.maxKeyBytes);
    const stored = lookupAt(
      this.#memtablesNewestFirst(),
      this.#tables.levels,
      this.#lastSeq(),
      bytes,
    );
    return stored !== undefined && storedKind === KIND_BLOB_REFERENCE
      ? this.#blobs.read(stored)
      : stored;
  }

  /**
   * Reads `length` bytes of the value of `key` from byte `offset` (fewer at its end), without
   * reading the rest when the value lives in a blob file; undefined when the key is absent.
   * Unlike get(), a ranged read of a blob is not checksummed (that needs the whole value).
   */
  getRange(key: Uint8Array | string, offset: number, length: number): Uint8Array | undefined {
    this.#checkOpen();
    const bytes = encodeKey(key, this.#options.maxKeyBytes);
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw invalid('offset must be an integer >= 0');
    if (!Number.isSafeInteger(length) || length < 0)
      throw invalid('length must be an integer >= 0');
    const stored = lookupAt(
      this.#memtablesNewestFirst(),
      this.#tables.levels,
      this.#lastSeq(),
      bytes,
    );
    if (stored === undefined) return undefined;
    if (storedKind === KIND_BLOB_REFERENCE) return this.#blobs.readRange(stored, offset, length);
    return stored.slice(Math.min(offset, stored.length), Math.min(offset + length, stored.length));
  }

  /**
   * Appends `bytes` to the value of `key` (creating it when absent). A value in a blob file with
   * room left in its reserve is extended in place: only the new bytes and a new reference are
   * written. Otherwise (no room, an inline value, a blob file retired by GC, or a concurrent
   * write to the key) the value is rewritten into a new blob with a larger reserve. Appends to
   * one key run one at a time, in call order; appends to different keys run in parallel.
   */
  append(key: Uint8Array | string, bytes: Uint8Array | string): Promise<void> {
    try {
      this.#checkOpen();
      // Neither is copied here: the appender copies what it has to keep past this call.
      const keyBytes = encodeKey(key, this.#options.maxKeyBytes);
      const appended = encodeValue(bytes, this.#options.maxValueBytes, 'bytes');
      return this.#appender.append(keyBytes, appended);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The newest stored version of `key` (a private copy), or undefined if absent or deleted. */
  #readStored(key: Uint8Array): { kind: number; value: Uint8Array } | undefined {
    const stored = lookupAt(
      this.#memtablesNewestFirst(),
      this.#tables.levels,
      this.#lastSeq(),
      key,
    );
    return stored === undefined ? undefined : { kind: storedKind, value: stored };
  }

  #storedIs(key: Uint8Array, expected: { kind: number; value: Uint8Array } | undefined): boolean {
    const now = this.#readStored(key);
    if (now === undefined || expected === undefined) return now === expected;
    return now.kind === expected.kind && compareUserKeys(now.value, expected.value) === 0;
  }

  /**
   * Runs blob GC now: rewrites every blob file whose garbage passed `blobGcGarbageRatio` (and
   * the worst ones while blob space amplification is above its cap), waiting for older
   * snapshots and iterators to close before the old files go. Resolves with the files removed.
   */
  async collectBlobGarbage(): Promise<number> {
    this.#checkOpen();
    return this.#blobGc.collect();
  }

  /**
   * Stores `fields` (names to strings or bytes) as one field record under `key`
   * (src/fields/FORMAT.md); indexes on those fields are updated in the same atomic batch.
   */
  putFields(key: Uint8Array | string, fields: Readonly<Record<string, FieldValue>>): Promise<void> {
    return this.#write(() => {
      if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
        throw invalid('fields must be an object of names to strings or Uint8Arrays');
      }
      return [
        {
          type: 'put',
          key: encodeKey(key, this.#options.maxKeyBytes),
          value: encodeValue(encodeFields(fields), this.#options.maxValueBytes, 'field record'),
        },
      ];
    });
  }

  /**
   * The fields stored under `key` (values as bytes, or as strings with `{ strings: true }`), or
   * undefined when the key is absent. ERR_CORRUPT when the value is not a field record (raw bytes
   * written with put, or damaged).
   */
  getFields(
    key: Uint8Array | string,
    options: FieldReadOptions = {},
  ): Record<string, Uint8Array | string> | undefined {
    const value = this.get(key);
    return value === undefined ? undefined : fieldsOf(value, options);
  }

  /** getFields at a snapshot of this database. */
  getFieldsAt(
    snapshot: StrataSnapshot,
    key: Uint8Array | string,
    options: FieldReadOptions = {},
  ): Record<string, Uint8Array | string> | undefined {
    this.#checkSnapshot(snapshot, 'getFieldsAt');
    const value = snapshot.get(key);
    return value === undefined ? undefined : fieldsOf(value, options);
  }

  /**
   * A handle another thread attaches with `await Strata.attach(handle)`: post it with its
   * transfer list, e.g. `new Worker(file, { workerData: handle, transferList: [...handle.transferList] })`.
   * Each handle is for one thread; at most 64 are attached at once (ERR_BUSY).
   */
  handle(): StrataHandle {
    this.#checkOpen();
    this.#handles ??= new HandleServer({
      dir: this.dir,
      catalog: this.#catalog,
      maxKeyBytes: this.#options.maxKeyBytes,
      maxValueBytes: this.#options.maxValueBytes,
      minBlobSize: this.#options.minBlobSize,
      memtableSize: this.#options.memtableSize,
      directWrites: this.#directWritesAllowed(this.#maintenance.active.length),
      view: () => ({
        memtables: this.#memtablesNewestFirst().map((live) => ({
          id: live.id,
          handle: live.memtable.handle(),
        })),
        levels: this.#catalogLevels(),
        seqFloor: this.#seqFloor,
      }),
      api: coordinatorApi(this),
      slotsMoved: () => {
        for (const live of [...this.#retired]) this.#dropIfUnused(live);
      },
    });
    return this.#handles.createHandle();
  }

  /**
   * In a worker thread: the store of `handle` (from `db.handle()` on its coordinator). Reads,
   * scans and snapshots run on shared memory in this thread; writes and metadata changes go to
   * the coordinator. Once the coordinator closes, every call fails with ERR_CLOSED.
   */
  static async attach(handle: StrataHandle): Promise<AttachedStrata> {
    return AttachedStrata.attach(handle);
  }

  /**
   * Creates a secondary index on `field` and builds it over the existing records on the worker
   * pool, while writes go on (the write path indexes them). Resolves once it is ready.
   * ERR_INDEX_EXISTS when the field already has an index. Index tasks run one at a time, in call
   * order.
   */
  createIndex(field: string): Promise<void> {
    try {
      this.#checkOpen();
      return this.#indexes.create(field);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Drops the index on `field`: resolves once the drop is durable (queries fail with
   * ERR_INDEX_NOT_FOUND from then on); its entries are deleted in the background.
   */
  dropIndex(field: string): Promise<void> {
    try {
      this.#checkOpen();
      return this.#indexes.drop(field);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The indexes, by field name, with their state (building or ready). */
  listIndexes(): IndexInfo[] {
    this.#checkOpen();
    return this.#indexes.list();
  }

  /**
   * The primary keys of the records whose `field` equals `value` (bytes, or a string as UTF-8),
   * in key order. On an index still being built it waits (or fails with ERR_INDEX_BUILDING when
   * `whenBuilding: 'fail'`); ERR_INDEX_NOT_FOUND when the field has no index.
   */
  async queryByIndex(
    field: string,
    value: Uint8Array | string,
    options: IndexQueryOptions = {},
  ): Promise<Uint8Array[]> {
    this.#checkOpen();
    const bytes = encodeBound(value, 'index value');
    if (bytes === undefined) throw invalid('index value must be a Uint8Array or a string');
    const checked = this.#queryOptions(options, 'queryByIndex');
    return this.#indexes.query(field, bytes, checked);
  }

  /**
   * The primary keys of the records whose `field` lies within `gt`/`gte`/`lt`/`lte` (bytewise),
   * in (field value, key) order, or the reverse.
   */
  async queryRangeByIndex(
    field: string,
    options: IndexRangeQueryOptions = {},
  ): Promise<Uint8Array[]> {
    this.#checkOpen();
    const checked = this.#queryOptions(options, 'queryRangeByIndex');
    const bounds: { gt?: Uint8Array; gte?: Uint8Array; lt?: Uint8Array; lte?: Uint8Array } = {};
    for (const name of ['gt', 'gte', 'lt', 'lte'] as const) {
      const bound = encodeBound(checked[name], name);
      if (bound !== undefined) bounds[name] = bound;
    }
    return this.#indexes.queryRange(field, bounds, checked);
  }

  #queryOptions<T extends IndexQueryOptions>(options: T, what: string): T {
    if (typeof options !== 'object' || options === null) {
      throw invalid(`${what}: options must be an object`);
    }
    if (options.snapshot !== undefined) this.#checkSnapshot(options.snapshot, what);
    return options;
  }

  #checkSnapshot(snapshot: unknown, what: string): asserts snapshot is StrataSnapshot {
    if (snapshot instanceof StrataSnapshot && this.#snapshots.has(snapshot)) return;
    if (snapshot instanceof StrataSnapshot && snapshot.released) {
      throw new StrataError('ERR_CLOSED', `${what}: the snapshot was released`);
    }
    throw invalid(`${what}: the snapshot must be a snapshot of this database`);
  }

  /** A synchronous iterable of [key, value] in key order at the current seq. */
  iterator(options: IteratorOptions = {}): StrataIterator {
    this.#checkOpen();
    const snapshot = (options as { snapshot?: unknown } | null)?.snapshot;
    if (snapshot !== undefined) {
      if (!(snapshot instanceof StrataSnapshot) || !this.#snapshots.has(snapshot)) {
        const what = snapshot instanceof StrataSnapshot && snapshot.released ? 'released' : 'not';
        throw new StrataError(
          what === 'released' ? 'ERR_CLOSED' : 'ERR_INVALID_ARGUMENT',
          what === 'released'
            ? 'iterator: options.snapshot was released'
            : 'iterator: options.snapshot must be a snapshot of this database',
        );
      }
      const { snapshot: _pinned, ...rest } = options;
      return snapshot.iterator(rest);
    }
    const view = this.#acquire(this.#view());
    try {
      return iteratorOn(view, options, () => this.#releaseView(view), this.#blobs);
    } catch (error) {
      this.#releaseView(view);
      throw error;
    }
  }

  /** Pins the current state: reads through it ignore later writes until `release()`. */
  snapshot(): StrataSnapshot {
    this.#checkOpen();
    const snapshot = new StrataSnapshot(this.#lastSeq(), {
      maxKeyBytes: this.#options.maxKeyBytes,
      blobs: this.#blobs,
      view: () => {
        this.#checkOpen();
        return this.#view();
      },
      acquire: (inner) => this.#acquire(inner),
      release: (inner) => this.#releaseView(inner),
      forget: (released) => {
        this.#snapshots.delete(released);
        this.#wakeReaderWaiters();
      },
    });
    this.#snapshots.add(snapshot);
    return snapshot;
  }

  /**
   * Flushes everything written before the call into L0 tables: freezes the mutable memtable (if
   * it holds anything) and waits until it and every memtable frozen before it are flushed.
   * Retries after a failed background flush; rejects with the error if the flush fails again.
   */
  async flush(): Promise<void> {
    this.#checkOpen();
    while (this.#freezing !== undefined) await this.#freezing;
    this.#checkOpen();
    this.#backgroundError = undefined;
    if (this.#mutable.memtable.entryCount > 0) {
      this.#startFreeze();
      while (this.#freezing !== undefined) await this.#freezing;
    }
    const waitFor = new Set(this.#immutables);
    for (;;) {
      if (this.#backgroundError !== undefined) throw this.#backgroundError;
      if (!this.#immutables.some((live) => waitFor.has(live))) return;
      this.#checkOpen();
      this.#scheduleBackgroundWork();
      const flusher = this.#flushing;
      assert(flusher !== undefined, 'a flusher runs while frozen memtables wait');
      await flusher;
    }
  }

  /**
   * Compacts the keys in [start, end] (both optional, inclusive; undefined = unbounded): flushes
   * the memtables, then merges every table overlapping the range down to the deepest level that
   * holds any of it, dropping shadowed versions no snapshot needs and, at the bottom, tombstones.
   * Retries after a failed automatic compaction; rejects with the error if a compaction fails.
   */
  async compactRange(start?: Uint8Array | string, end?: Uint8Array | string): Promise<void> {
    this.#checkOpen();
    const startKey = encodeBound(start, 'start');
    const endKey = encodeBound(end, 'end');
    if (startKey !== undefined && endKey !== undefined && compareUserKeys(startKey, endKey) > 0) {
      throw invalid('compactRange: start sorts after end');
    }
    await this.flush();
    this.#compactionError = undefined;
    await this.#compactor.compactRange(startKey, endKey);
    this.#compactor.schedule();
  }

  stats(): StrataStats {
    this.#checkOpen();
    const committer = this.#committer.stats();
    let immutableBytes = 0;
    for (const live of this.#immutables) immutableBytes += live.memtable.approximateBytes;
    const levels = this.#tables.levels.map((tables, level) => {
      let bytes = 0;
      for (const table of tables) bytes += table.sizeBytes;
      return { level, files: tables.length, bytes };
    });
    const l0Bytes = levels[0]?.bytes ?? 0;
    let tableBytes = 0;
    for (const level of levels) tableBytes += level.bytes;
    const deepest = levels.findLast((level) => level.files > 0);
    const compaction = this.#compactor.stats();
    const now = performance.now();
    const cacheStats = this.#cache.stats();
    const stallRunningMs = this.#stallStartedMs === undefined ? 0 : now - this.#stallStartedMs;
    return {
      memtables: 1 + this.#immutables.length,
      frozenMemtables: this.#immutables.length,
      mutableMemtableBytes: this.#mutable.memtable.approximateBytes,
      immutableMemtableBytes: immutableBytes,
      retiredMemtables: this.#retired.size,
      l0Files: levels[0]?.files ?? 0,
      l0Bytes,
      levels,
      tableBytes,
      retiredTables: this.#tables.retiredCount,
      ...compaction,
      flushBytesWritten: this.#flushBytesWritten,
      userBytesWritten: this.#userBytesWritten,
      memtableBytesWritten: this.#memtableBytesWritten,
      writeAmplification:
        this.#userBytesWritten === 0
          ? 0
          : (this.#flushBytesWritten + compaction.compactionBytesWritten) / this.#userBytesWritten,
      spaceAmplification: deepest === undefined ? 1 : tableBytes / deepest.bytes,
      slowedWrites: this.#slowedWrites,
      flushes: this.#flushes,
      flushErrors: this.#flushErrors,
      stalledWrites: this.#stalledWrites,
      stalls: this.#stalls,
      stallTimeMs: this.#stallTimeMs + stallRunningMs,
      writesStalledNow: this.#stalled.length,
      blockCache: {
        capacityBytes: cacheStats.capacityBytes,
        sizeBytes: cacheStats.sizeBytes,
        hits: cacheStats.hitCount,
        misses: cacheStats.missCount,
      },
      lastSeq: this.#lastSeq(),
      attachedThreads: this.#handles?.attachedCount ?? 0,
      writes: committer.writes,
      writeGroups: committer.groups,
      ...this.#blobs.stats(),
      ...this.#blobGc.stats(),
      ...this.#indexes.stats(),
      ...this.#maintenance.stats(),
    };
  }

  /**
   * Refuses new calls (ERR_CLOSED), waits for queued writes and a running flush, releases open
   * snapshots, and closes the tables, memtables, catalog and image. Idempotent. Frozen memtables
   * not flushed yet stay in the image and are flushed after the next open.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) this.#closing = this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    // Attached threads' calls fail with ERR_CLOSED from now on; their reads in progress end.
    await this.#handles?.markClosed();
    // Stalled writes were accepted before close: they go in now, past the memtable size.
    this.#releaseStalled();
    await Promise.allSettled([...this.#inFlight]);
    this.#handles?.close();
    while (this.#freezing !== undefined || this.#flushing !== undefined) {
      await (this.#freezing ?? this.#flushing);
    }
    await this.#compactor.whenIdle();
    // A running index build finishes its worker task, then fails with ERR_CLOSED.
    await this.#indexes.whenIdle();
    // A blob GC round waiting for old readers gives up (the next open settles it).
    for (const waiter of this.#readerWaiters.splice(0)) {
      waiter.reject(new StrataError('ERR_CLOSED', `database ${this.dir} is closed`));
    }
    if (this.#readerPoll !== undefined) clearInterval(this.#readerPoll);
    await this.#blobGc.whenIdle();
    await this.#blobs.whenIdle();
    await this.#pool?.destroy();
    await this.#compactionPool?.destroy();
    if (this.#slowdownTimer !== undefined) clearTimeout(this.#slowdownTimer);
    for (const snapshot of [...this.#snapshots]) snapshot.release();
    // Every handle is released even when one close fails (a failed persist, a stopped catalog);
    // the first error is reported after all of them.
    const errors: unknown[] = [];
    const attempt = (action: () => void): void => {
      try {
        action();
      } catch (error) {
        errors.push(error);
      }
    };
    errors.push(...this.#tables.close());
    attempt(() => this.#blobs.close());
    for (const live of [this.#mutable, ...this.#immutables, ...this.#retired]) {
      if (!live.dropped) attempt(() => live.memtable.close());
    }
    await this.#catalog.close().catch((error: unknown) => errors.push(error));
    attempt(() => this.#image.close());
    if (errors.length > 0) throw errors[0];
  }

  #write(encode: () => WriteOp[], options?: WriteOptions): Promise<void> {
    let ops: WriteOp[];
    try {
      this.#checkOpen();
      ops = encode();
    } catch (error) {
      return Promise.reject(error);
    }
    if (ops.length === 0) return Promise.resolve();
    let bytes = 0;
    let storesBlob = false;
    for (const op of ops) {
      const valueBytes = op.value === undefined ? 0 : byteLength(op.value);
      bytes += byteLength(op.key) + valueBytes;
      storesBlob ||= op.type === 'put' && this.#blobs.wantsBlob(valueBytes, op.blobCapacity);
    }
    let written: Promise<unknown>;
    if (this.#blobGate === undefined && storesBlob && !this.#blobs.hasActive) {
      const gate = this.#blobs.ensureActive();
      this.#blobGate = gate;
      const clear = (): void => {
        if (this.#blobGate === gate) this.#blobGate = undefined;
      };
      gate.then(clear, clear);
    }
    if (this.#blobGate !== undefined) {
      // Behind the first blob file's creation, in arrival order (then-callbacks run in order).
      // The caller may reuse its buffers once put() returns: a write that waits keeps copies.
      const copies = ops.map(copyWriteOp);
      written = this.#blobGate.then(() => this.#submit(copies, options));
    } else {
      written = this.#submit(ops, options);
    }
    const acknowledged = written.then(() => {
      this.#userBytesWritten += bytes;
    });
    this.#inFlight.add(acknowledged);
    const forget = (): void => {
      this.#inFlight.delete(acknowledged);
    };
    acknowledged.then(forget, forget);
    return acknowledged;
  }

  /**
   * An in-place append's new reference, applied at once (GroupCommitter.writeNow); false: use
   * #write. Requires: #appendCanWriteNow() returned true in this turn.
   */
  #appendWriteNow(
    op: WriteOp,
    select: ((ops: readonly EncodedOp[]) => readonly EncodedOp[]) | undefined,
  ): boolean {
    this.#checkOpen();
    if (op.type !== 'blobRef') return false;
    const options = select === undefined ? undefined : { select };
    if (this.#committer.writeNow([op], options) === undefined) return false;
    this.#userBytesWritten += byteLength(op.key) + byteLength(op.value!);
    return true;
  }

  /**
   * Whether an append may commit now, when nothing may order before it: no open group, no stall,
   * no write waiting for the first blob file, and no power-loss durability, whose msync a group
   * shares.
   */
  #appendCanWriteNow(): boolean {
    return (
      !this.#options.sync &&
      this.#blobGate === undefined &&
      this.#stalled.length === 0 &&
      this.#stallReason() === undefined &&
      this.#committer.canWriteNow()
    );
  }

  /** To the committer, or to the stall queue when there is no room. */
  #submit(ops: WriteOp[], options: WriteOptions | undefined): Promise<unknown> {
    this.#checkOpen();
    const reason = this.#stallReason();
    if (this.#stalled.length > 0 || reason !== undefined) return this.#stall(ops, reason, options);
    return this.#committer.write(ops, options);
  }

  #encodeOp(op: unknown, index: number): WriteOp {
    if (typeof op !== 'object' || op === null) throw invalid(`ops[${index}] must be an object`);
    const { type, key, value } = op as { type?: unknown; key?: unknown; value?: unknown };
    const encodedKey = encodeKey(key, this.#options.maxKeyBytes, `ops[${index}].key`);
    if (type === 'put') {
      if (value === undefined) throw invalid(`ops[${index}].value is required for put`);
      const encodedValue = encodeValue(value, this.#options.maxValueBytes, `ops[${index}].value`);
      return { type: 'put', key: encodedKey, value: encodedValue };
    }
    if (type === 'del') {
      if (value !== undefined) throw invalid(`ops[${index}].value must be absent for del`);
      return { type: 'del', key: encodedKey };
    }
    throw invalid(`ops[${index}].type must be 'put' or 'del'`);
  }

  #lastSeq(): Seq {
    return Math.max(this.#seqFloor, this.#mutable.memtable.visibleSeq);
  }

  #view(): ReadView {
    return {
      memtables: this.#memtablesNewestFirst(),
      levels: this.#tables.levels,
      seq: this.#lastSeq(),
    };
  }

  /**
   * The mutable memtable, then the frozen ones newest first. Rebuilt only when either changes
   * (both are replaced, never changed in place), so a point read allocates no array.
   */
  #memtablesNewestFirst(): readonly LiveMemtable[] {
    const cached = this.#memtableOrder;
    if (cached.mutable === this.#mutable && cached.immutables === this.#immutables) {
      return cached.newestFirst;
    }
    const newestFirst = [this.#mutable];
    for (let index = this.#immutables.length - 1; index >= 0; index--) {
      newestFirst.push(this.#immutables[index]!);
    }
    this.#memtableOrder = { mutable: this.#mutable, immutables: this.#immutables, newestFirst };
    return newestFirst;
  }

  #acquire(view: ReadView): ReadView {
    for (const live of view.memtables) live.refs++;
    this.#tables.acquire(view.levels);
    this.#viewSeqs.set(view.seq, (this.#viewSeqs.get(view.seq) ?? 0) + 1);
    return view;
  }

  #releaseView(view: ReadView): void {
    for (const live of view.memtables) {
      live.refs--;
      this.#dropIfUnused(live);
    }
    // After close every reader is closed already.
    if (!this.#closed) this.#tables.release(view.levels);
    const count = (this.#viewSeqs.get(view.seq) ?? 1) - 1;
    if (count === 0) this.#viewSeqs.delete(view.seq);
    else this.#viewSeqs.set(view.seq, count);
    this.#wakeReaderWaiters();
  }

  /** The lowest seq an open snapshot or iterator reads at, or undefined when none is open. */
  #oldestReaderSeq(): Seq | undefined {
    let oldest: Seq | undefined;
    for (const seq of this.#viewSeqs.keys()) if (oldest === undefined || seq < oldest) oldest = seq;
    for (const snapshot of this.#snapshots) {
      if (oldest === undefined || snapshot.seq < oldest) oldest = snapshot.seq;
    }
    // Attached threads' snapshots read old blob references too (their views are pinned apart).
    for (const seq of this.#handles?.snapshotSeqs() ?? []) {
      if (oldest === undefined || seq < oldest) oldest = seq;
    }
    return oldest;
  }

  /** Resolves once no snapshot or iterator reads below `seq`; rejects with ERR_CLOSED at close. */
  #whenNoReaderBelow(seq: Seq): Promise<void> {
    const oldest = this.#oldestReaderSeq();
    if (oldest === undefined || oldest >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#readerWaiters.push({ seq, resolve, reject });
      // An attached thread releases its snapshots in shared memory, without telling us: poll.
      if (this.#handles !== undefined && this.#readerPoll === undefined) {
        this.#readerPoll = setInterval(() => this.#wakeReaderWaiters(), READER_POLL_MS);
        this.#readerPoll.unref();
      }
    });
  }

  #wakeReaderWaiters(): void {
    if (this.#readerWaiters.length === 0) return;
    const oldest = this.#oldestReaderSeq();
    const waiting: ReaderWaiter[] = [];
    for (const waiter of this.#readerWaiters) {
      if (oldest === undefined || oldest >= waiter.seq) waiter.resolve();
      else waiting.push(waiter);
    }
    this.#readerWaiters = waiting;
    if (waiting.length === 0 && this.#readerPoll !== undefined) {
      clearInterval(this.#readerPoll);
      this.#readerPoll = undefined;
    }
  }

  #dropIfUnused(live: LiveMemtable): void {
    // After close every memtable is closed; the next open reclaims a retired one's pages.
    if (this.#closed || !live.retired || !live.unpinned || live.refs > 0 || live.dropped) return;
    if (this.#handles !== undefined && !this.#handles.pastVersion(live.leftAtVersion ?? 0)) return;
    live.dropped = true;
    this.#retired.delete(live);
    try {
      live.memtable.drop();
    } catch (error) {
      // The catalog no longer lists it: the next open's reclaimOrphans frees what is left. A
      // failed persist here means the image is failing; later writes report it.
      this.#recordBackgroundError(error);
    }
  }

  /**
   * A write must wait when the mutable memtable is full and no freeze can start because
   * `maxFrozenMemtables` memtables already wait for their flush.
   */
  #mustStall(): boolean {
    const reason = this.#stallReason();
    return reason === 'memtable' || reason === 'level0';
  }

  /**
   * Why a write must wait now: the memtable is full and `maxFrozenMemtables` wait for their
   * flush ('memtable'), level 0 holds `l0StopTrigger` tables ('level0'), or `l0SlowdownTrigger`
   * tables ('slowdown': held ~1 ms, so writers slow down before they must stop).
   */
  #stallReason(): 'memtable' | 'level0' | 'slowdown' | undefined {
    if (this.#closed) return undefined;
    const memtableFull =
      this.#mutable.memtable.approximateBytes > this.#options.memtableSize &&
      this.#immutables.length >= this.#options.maxFrozenMemtables;
    if (memtableFull) return 'memtable';
    const level0 = this.#tables.levels[0]?.length ?? 0;
    if (level0 >= this.#options.l0StopTrigger) return 'level0';
    if (level0 >= this.#options.l0SlowdownTrigger) return 'slowdown';
    return undefined;
  }

  /** The failure that keeps stalled writes from ever going in, if any. */
  #blockingError(): unknown {
    if (this.#backgroundError !== undefined) return this.#backgroundError;
    if (this.#stallReason() === 'level0') return this.#compactionError;
    return undefined;
  }

  /** Queues `ops` until a flush or compaction makes room; the event loop keeps running. */
  #stall(
    given: WriteOp[],
    reason: string | undefined,
    options: WriteOptions | undefined,
  ): Promise<void> {
    if (this.#blockingError() !== undefined) return Promise.reject(this.#stallError());
    // The caller may reuse its buffers once put() returns: a write that waits keeps copies.
    const ops = given.map(copyWriteOp);
    if (reason === 'slowdown') {
      this.#slowedWrites++;
      this.#slowdownTimer ??= setTimeout(() => {
        this.#slowdownTimer = undefined;
        this.#releaseStalled();
      }, SLOWDOWN_DELAY_MS);
    }
    this.#stalledWrites++;
    if (this.#stalled.length === 0) {
      this.#stalls++;
      this.#stallStartedMs = performance.now();
    }
    return new Promise<void>((resolve, reject) => {
      this.#stalled.push({
        start: () => {
          this.#committer.write(ops, options).then(() => resolve(), reject);
        },
        fail: reject,
      });
      this.#scheduleBackgroundWork();
    });
  }

  /** Hands stalled writes to the committer, oldest first, while there is room (or on close). */
  #releaseStalled(): void {
    if (this.#stalled.length === 0) return;
    if (this.#slowdownTimer !== undefined && !this.#closed) return; // the timer releases them
    if (this.#blockingError() !== undefined && !this.#closed) {
      const error = this.#stallError();
      for (const writer of this.#stalled.splice(0)) writer.fail(error);
    } else {
      // Room is re-checked only once per release: the released writes land in the next group,
      // so the memtable overshoots its size by at most what was stalled.
      if (this.#mustStall()) return;
      for (const writer of this.#stalled.splice(0)) writer.start();
    }
    assert(this.#stallStartedMs !== undefined, 'a stall episode is open while writes wait');
    this.#stallTimeMs += performance.now() - this.#stallStartedMs;
    this.#stallStartedMs = undefined;
  }

  #stallError(): StrataError {
    const flushFailed = this.#backgroundError !== undefined;
    const cause = flushFailed ? this.#backgroundError : this.#compactionError;
    const message = cause instanceof Error ? cause.message : String(cause);
    const code = cause instanceof StrataError ? cause.code : 'ERR_IO';
    return new StrataError(
      code,
      flushFailed
        ? `write stalled behind a failed flush (${message}); db.flush() retries it`
        : `write stalled behind a failed compaction (${message}); db.compactRange() retries it`,
      { cause },
    );
  }

  /**
   * Starts what the state calls for: a freeze when the mutable memtable is past its size and
   * fewer than `maxFrozenMemtables` wait, the flusher when frozen memtables wait; then lets
   * stalled writes go if there is room. Called after every group and every finished step.
   */
  #scheduleBackgroundWork(): void {
    if (this.#closed) return;
    if (this.#backgroundError !== undefined) {
      this.#releaseStalled();
      return;
    }
    if (
      this.#freezing === undefined &&
      this.#mutable.memtable.approximateBytes > this.#options.memtableSize &&
      this.#immutables.length < this.#options.maxFrozenMemtables
    ) {
      this.#startFreeze();
    }
    if (this.#flushing === undefined && this.#immutables.length > 0) this.#startFlusher();
    this.#releaseStalled();
  }

  #startFreeze(): void {
    assert(this.#freezing === undefined, 'one freeze at a time');
    this.#freezing = this.#freeze()
      .catch((error: unknown) => this.#recordBackgroundError(error))
      .finally(() => {
        this.#freezing = undefined;
        this.#scheduleBackgroundWork();
      });
  }

  #startFlusher(): void {
    assert(this.#flushing === undefined, 'one flusher at a time');
    this.#flushing = this.#flushFrozen()
      .catch((error: unknown) => this.#recordBackgroundError(error))
      .finally(() => {
        this.#flushing = undefined;
        this.#scheduleBackgroundWork();
      });
  }

  /** Flushes frozen memtables oldest first; stops early on close (the next open goes on). */
  async #flushFrozen(): Promise<void> {
    while (this.#immutables.length > 0 && !this.#closed) {
      await this.#flushOne(this.#immutables[0]!);
      this.#scheduleBackgroundWork();
    }
  }

  #recordBackgroundError(error: unknown): void {
    this.#flushErrors++;
    this.#backgroundError = error;
  }

  /** FreezeMemtable with a fresh successor; the committer writes to the successor from then on. */
  async #freeze(): Promise<void> {
    const frozen = this.#mutable;
    const headerPage = Memtable.create(this.#image, {
      baseSeq: this.#lastSeq(),
      runSizeBytes: runSizeFor(this.#options.memtableSize),
      volatileIndex: volatileIndexFor(this.#image),
    });
    let result: Awaited<ReturnType<FreezeMemtable['waitDone']>>;
    const snapshot = this.#catalog.getSnapshot();
    try {
      const operation = new FreezeMemtable(snapshot, {
        memtableId: frozen.id,
        nextLocator: headerPage,
      }).push();
      result = await operation.waitDone();
    } catch (error) {
      Memtable.drop(this.#image, headerPage);
      throw error;
    } finally {
      snapshot.release();
    }
    // Attached threads writing directly stop at the seal; what they wrote is in the flush.
    frozen.memtable.seal();
    // No group is being applied here (groups apply synchronously), so the switch is atomic.
    this.#seqFloor = this.#lastSeq();
    this.#mutable = liveMemtable(
      result.created.id,
      Memtable.open(this.#image, headerPage, memtableOpenOptions(this.#hooks)),
    );
    this.#immutables = [...this.#immutables, frozen];
    this.#handles?.publish();
  }

  async #flushOne(live: LiveMemtable): Promise<void> {
    const tempPath = this.#catalog.newTempPath();
    const flushed = await this.#runFlushTask({ memtable: live.memtable.handle(), tempPath });
    if (flushed.empty) {
      throw new StrataError('ERR_CORRUPT', `frozen memtable ${live.id} holds no entries`);
    }
    const snapshot = this.#catalog.getSnapshot();
    let result: Awaited<ReturnType<CommitFlush['waitDone']>>;
    try {
      const operation = new CommitFlush(snapshot, {
        memtableId: live.id,
        tempPath,
        table: flushed.table,
      }).push();
      result = await operation.waitDone();
    } finally {
      snapshot.release();
    }
    this.#tables.sync(this.#catalogLevels());
    this.#flushBytesWritten += result.file.sizeBytes;
    this.#immutables = this.#immutables.filter((candidate) => candidate !== live);
    // Attached threads reading a view that still has it keep its pages until they move on.
    if (this.#handles !== undefined) {
      live.leftAtVersion = this.#handles.version + 1;
      this.#handles.publish();
    }
    this.#seqFloor = Math.max(this.#seqFloor, result.file.seqMax);
    this.#flushes++;
    this.#compactor.schedule();
    live.retired = true;
    this.#retired.add(live);
    void result.memtableUnpinned.then(() => {
      live.unpinned = true;
      if (!this.#closed) this.#dropIfUnused(live);
    });
  }

  /** On the pool when `flushThreads` > 0, else on this thread. */
  async #runFlushTask(task: FlushTask): Promise<FlushResult> {
    await this.#hooks.beforeFlushTask?.(task.tempPath);
    const threads = this.#options.flushThreads;
    if (threads === 0) return flushMemtable(task);
    this.#pool ??= new Piscina({ filename: flushWorkerUrl(), minThreads: 1, maxThreads: threads });
    return (await this.#pool.run(task)) as FlushResult;
  }

  /** The catalog's current levels. */
  #catalogLevels(): readonly (readonly FileMeta[])[] {
    const snapshot = this.#catalog.getSnapshot();
    try {
      return snapshot.state.levels;
    } finally {
      snapshot.release();
    }
  }

  #compactorHost(): CompactorHost {
    const db = this;
    return {
      catalog: this.#catalog,
      levels: () => this.#catalogLevels(),
      snapshotSeqs: () =>
        [
          ...new Set([
            ...[...this.#snapshots].map((snap) => snap.seq),
            ...(this.#handles?.snapshotSeqs() ?? []),
          ]),
        ].sort((a, b) => a - b),
      runTask: (task) => this.#runCompactionTask(task),
      committed: () => {
        this.#tables.sync(this.#catalogLevels());
        this.#handles?.publish();
        // Level 0 may have shrunk below the stop or slowdown trigger.
        this.#scheduleBackgroundWork();
        // The compaction may have turned blob bytes into garbage.
        if (!this.#closed) this.#blobGc.schedule();
      },
      failed: (error) => {
        // Counted in stats(); compactRange() retries. Writes stopped by level 0 fail with it.
        this.#compactionError = error;
        this.#releaseStalled();
      },
      get closed(): boolean {
        return db.#closed;
      },
    };
  }

  /** After the current turn (never inside a group's apply), and at most once per turn. */
  #scheduleBlobGc(): void {
    if (this.#blobGcScheduled || this.#closed) return;
    this.#blobGcScheduled = true;
    setImmediate(() => {
      this.#blobGcScheduled = false;
      if (!this.#closed) this.#blobGc.schedule();
    });
  }

  #blobGcHost(): BlobGcHost {
    const options = this.#options;
    return {
      dir: this.#catalog.dir,
      catalog: this.#catalog,
      blobs: this.#blobs,
      garbageRatio: options.blobGcGarbageRatio,
      maxSpaceAmplification: options.maxBlobSpaceAmplification,
      reserve: options.blobReserve,
      roundBytesMax: options.blobFileSize,
      readStored: (key) => this.#readStored(key),
      storedIs: (key, expected) => this.#storedIs(key, expected),
      writeRefs: (ops, select) => this.#write(() => ops, { select }),
      lastSeq: () => this.#lastSeq(),
      whenNoReaderBelow: (seq) => this.#whenNoReaderBelow(seq),
      runTask: (task) => this.#runBlobGcTask(task),
    };
  }

  /** On the compaction pool (its blob GC entry) when `compactionThreads` > 0, else here. */
  async #runBlobGcTask(task: BlobGcTask): Promise<BlobGcResult> {
    await this.#hooks.beforeBlobGcTask?.();
    if (this.#options.compactionThreads === 0) return rewriteBlobs(task);
    this.#compactionPool ??= new Piscina({
      filename: compactionWorkerUrl(),
      minThreads: 1,
      maxThreads: this.#poolThreads(),
    });
    try {
      return (await this.#compactionPool.run(task, {
        filename: blobGcWorkerUrl(),
      })) as BlobGcResult;
    } catch (error) {
      // A StrataError crosses the thread boundary as a plain Error with its code in the message.
      throw reviveWorkerError(error);
    }
  }

  /** On the compaction pool when `compactionThreads` > 0, else on this thread. */
  async #runCompactionTask(task: CompactionTask): Promise<CompactionResult> {
    await this.#hooks.beforeCompactionTask?.();
    const threads = this.#options.compactionThreads;
    if (threads === 0) return compactTables(task);
    this.#compactionPool ??= new Piscina({
      filename: compactionWorkerUrl(),
      minThreads: 1,
      maxThreads: this.#poolThreads(),
    });
    return (await this.#compactionPool.run(task)) as CompactionResult;
  }

  #indexManagerHost(): IndexManagerHost {
    const db = this;
    return {
      catalog: this.#catalog,
      maintenance: this.#maintenance,
      maxIndexedValueBytes: this.#options.maxKeyBytes,
      targetFileBytes: this.#options.targetFileSize,
      get closed(): boolean {
        return db.#closed;
      },
      snapshot: () => this.snapshot(),
      flush: () => this.flush(),
      indexBuildThreads: this.#options.indexBuildThreads,
      runBuild: (task) => this.#runIndexBuildTask(task),
      runMerge: (task) => this.#runCompactionTask(task),
      scan: (range, options, visit) => this.#scanIndexKeys(range, options, visit),
      write: (ops) => this.#write(() => ops),
      tablesChanged: () => {
        this.#tables.sync(this.#catalogLevels());
        this.#handles?.publish();
        this.#compactor.schedule();
      },
    };
  }

  /** Visits index entry keys in [range.gte, range.lt) at the snapshot (or now), in order. */
  #scanIndexKeys(
    range: IndexKeyRange,
    options: { readonly snapshot?: StrataSnapshot; readonly reverse?: boolean },
    visit: (key: Uint8Array) => boolean,
  ): void {
    this.#checkOpen();
    const current = this.#view();
    const view = this.#acquire(
      options.snapshot === undefined ? current : { ...current, seq: options.snapshot.seq },
    );
    try {
      const reverse = options.reverse === true;
      const inner = new DbIterator(mergedSources(view), view.seq, {
        gte: range.gte,
        lt: range.lt,
        reverse,
      });
      if (reverse) inner.seekLast();
      else inner.seekFirst();
      while (inner.valid()) {
        if (!visit(inner.key())) return;
        if (reverse) inner.prev();
        else inner.next();
      }
    } finally {
      this.#releaseView(view);
    }
  }

  /** On the compaction pool when `compactionThreads` > 0, else on this thread. */
  async #runIndexBuildTask(task: IndexBuildTask): Promise<IndexBuildResult> {
    await this.#hooks.beforeIndexBuildTask?.();
    if (this.#options.compactionThreads === 0) return buildIndex(task);
    this.#compactionPool ??= new Piscina({
      filename: compactionWorkerUrl(),
      minThreads: 1,
      maxThreads: this.#poolThreads(),
    });
    try {
      return (await this.#compactionPool.run(task, {
        filename: indexBuildWorkerUrl(),
      })) as IndexBuildResult;
    } catch (error) {
      throw reviveWorkerError(error);
    }
  }

  #directWritesAllowed(activeIndexes: number): boolean {
    return activeIndexes === 0 && !this.#options.sync;
  }

  /** The compaction pool also runs blob GC and index builds (each task names its worker file). */
  #poolThreads(): number {
    return Math.max(this.#options.compactionThreads, this.#options.indexBuildThreads);
  }

  #checkOpen(): void {
    if (this.#closed) throw new StrataError('ERR_CLOSED', `database ${this.dir} is closed`);
  }
}

function byteLength(bytes: Uint8Array | string): number {
  return typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
}

function copyWriteOp(op: WriteOp): WriteOp {
  const key = typeof op.key === 'string' ? op.key : op.key.slice();
  if (op.value === undefined) return { ...op, key };
  return { ...op, key, value: typeof op.value === 'string' ? op.value : op.value.slice() };
}

function memtableOpenOptions(hooks: StrataTestHooks): { bootTag?: number } {
  return hooks.bootTag === undefined ? {} : { bootTag: hooks.bootTag };
}

function ignoreError(action: () => void): void {
  try {
    action();
  } catch {
    // Best effort while unwinding a failed open; the caller rethrows the original error.
  }
}

function liveMemtable(id: number, memtable: Memtable): LiveMemtable {
  return { id, memtable, refs: 0, retired: false, unpinned: false, dropped: false };
}

/**
 * With `sync: true` on the mapped backend, a memtable persists (msyncs) only its records and
 * commit mark per group and rebuilds its index after a power loss (src/memtable/rebuild.ts): a
 * group costs two msyncs instead of about five per record. A process crash keeps every store
 * there, so kill -9 recovery stays instant. Elsewhere every index store is persisted in order.
 */
function volatileIndexFor(image: NvmImage): boolean {
  return image.durability === 'power' && image.backend === 'mapped';
}

function runSizeFor(memtableSize: number): number {
  const rounded = Math.ceil(memtableSize / PAGE_BYTES) * PAGE_BYTES;
  return Math.min(ARENA_RUN_BYTES_MAX, Math.max(PAGE_BYTES, rounded));
}

async function createMemtableIn(
  catalog: Catalog,
  headerPage: number,
  image: NvmImage,
): Promise<number> {
  const snapshot = catalog.getSnapshot();
  try {
    const created = await new CreateMemtable(snapshot, { locator: headerPage }).push().waitDone();
    return created.id;
  } catch (error) {
    Memtable.drop(image, headerPage);
    throw error;
  } finally {
    snapshot.release();
  }
}

/** The compaction picker's view of the options. */
function levelShapeOf(options: ResolvedOptions): LevelShape {
  return {
    l0CompactionTrigger: options.l0CompactionTrigger,
    maxBytesForLevelBase: options.maxBytesForLevelBase,
    levelSizeMultiplier: options.levelSizeMultiplier,
    levelCount: LEVEL_COUNT,
  };
}

function catalogIndexes(catalog: Catalog): readonly IndexMeta[] {
  const snapshot = catalog.getSnapshot();
  try {
    return snapshot.state.indexes;
  } finally {
    snapshot.release();
  }
}
