/**
 * Secondary indexes: their life (create, build, ready, drop, entry removal) as tasks on one
 * queue, run in order, and the queries over them.
 *
 * A build (issue 6): the index is created in the catalog as `building` and, in one synchronous
 * step, made active on the write path and pinned by a snapshot at seq S0 — every write after S0
 * maintains the index, so the build only has to index the data as of S0. The memtables are
 * flushed so that all of it is in tables; a worker scans those tables at S0 and writes the
 * entries, each carrying its record's own seq (≤ S0, older than every write-path entry of the
 * index), into sorted tables that `CommitIndexBuild` ingests below every newer entry of the
 * index and, in the same edit, marks the index ready. A crash before that commit leaves the
 * index `building`; the next open keeps the write path maintaining it and builds it again.
 *
 * A drop marks the index `dropping` (the write path stops maintaining it at once), then a queued
 * task deletes its entries in batches and removes it from the catalog; an open finding an index
 * `dropping` resumes that. Index ids are never reused, so leftovers could never be misread.
 *
 * Thread model: main thread only.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Catalog } from '../catalog/catalog.js';
import type { FileMeta, IndexMeta } from '../catalog/catalog-state.js';
import { blobFileName, TEMP_SUFFIX, tableFileName } from '../catalog/file-names.js';
import { ChangeIndexState } from '../catalog/operations/change-index-state.js';
import { CommitIndexBuild } from '../catalog/operations/commit-index-build.js';
import { StrataError } from '../errors.js';
import type { IndexBuildResult, IndexBuildTask } from '../fields/index-build-job.js';
import {
  decodeIndexKey,
  hasIndexKeyspacePrefix,
  type IndexKeyRange,
  indexKeyspaceRange,
  indexRange,
  indexValueRange,
} from '../fields/index-key.js';
import type { CompactionResult, CompactionTask } from '../lsm/compaction-job.js';
import { compareUserKeys, type Seq, userKeyOf } from '../sst/internal-key.js';
import type { WriteOp } from '../write/write-op.js';
import type { IndexMaintenance } from './index-maintenance.js';
import { invalid } from './options.js';
import type { StrataSnapshot } from './read-view.js';

export type IndexState = 'building' | 'ready';

export interface IndexInfo {
  readonly field: string;
  readonly state: IndexState;
}

export interface IndexQueryOptions {
  /** The most primary keys returned. Default Infinity. */
  readonly limit?: number;
  /** Read at this snapshot instead of the current state. */
  readonly snapshot?: StrataSnapshot;
  /** On an index still being built: wait until it is ready (default), or fail ERR_INDEX_BUILDING. */
  readonly whenBuilding?: 'wait' | 'fail';
}

export interface IndexRangeQueryOptions extends IndexQueryOptions {
  readonly gt?: Uint8Array | string;
  readonly gte?: Uint8Array | string;
  readonly lt?: Uint8Array | string;
  readonly lte?: Uint8Array | string;
  /** Descending field value (then primary key) order. Default false. */
  readonly reverse?: boolean;
}

export interface IndexManagerStats {
  readonly indexBuilds: number;
  /** Scan tasks of index builds (a build split across workers runs several). */
  readonly indexBuildSlices: number;
  readonly indexBuildRecordsScanned: number;
  readonly indexBuildEntriesWritten: number;
  readonly indexEntriesRemoved: number;
  readonly indexTasksFailed: number;
}

/** One pass over index entry keys in [range.gte, range.lt): each key (a view, valid in the call). */
export type ScanIndexKeys = (
  range: IndexKeyRange,
  options: { readonly snapshot?: StrataSnapshot; readonly reverse?: boolean },
  visit: (key: Uint8Array) => boolean,
) => void;

export interface IndexManagerHost {
  readonly catalog: Catalog;
  readonly maintenance: IndexMaintenance;
  readonly maxIndexedValueBytes: number;
  readonly targetFileBytes: number;
  readonly closed: boolean;
  /** A snapshot of the database, taken now (synchronously). */
  snapshot(): StrataSnapshot;
  flush(): Promise<void>;
  /** Parallel scan tasks per build (each on a pool worker when there is a pool). */
  readonly indexBuildThreads: number;
  runBuild(task: IndexBuildTask): Promise<IndexBuildResult>;
  /** Merges the scan tasks' outputs (a compaction task). */
  runMerge(task: CompactionTask): Promise<CompactionResult>;
  scan: ScanIndexKeys;
  write(ops: WriteOp[]): Promise<void>;
  /** The catalog's tables changed (an ingest): re-sync the open tables, schedule compaction. */
  tablesChanged(): void;
}

interface BuildOutcome {
  readonly outputs: IndexBuildResult['outputs'];
  readonly recordsScanned: number;
  readonly entriesWritten: number;
}

interface LiveIndex {
  readonly id: number;
  readonly field: string;
  state: IndexState | 'dropping';
  /** Snapshots older than this seq predate the index: queries on them are refused. */
  readySeq: Seq;
  ready: Promise<void>;
  markReady: () => void;
  markFailed: (error: unknown) => void;
  /** Set once dropped: the removal of its entries. */
  removal?: Promise<void>;
}

/** Entry deletes per batch while removing a dropped index. */
const REMOVE_BATCH_KEYS = 1024;
const BUILD_SORT_BUFFER_BYTES = 64 * 1024 * 1024;
const BUILD_COMMIT_ATTEMPTS = 3;

export class IndexManager {
  readonly #host: IndexManagerHost;
  readonly #indexes = new Map<string, LiveIndex>();
  readonly #removals = new Set<Promise<void>>();
  #queue: Promise<void> = Promise.resolve();
  #counters = {
    indexBuilds: 0,
    indexBuildSlices: 0,
    indexBuildRecordsScanned: 0,
    indexBuildEntriesWritten: 0,
    indexEntriesRemoved: 0,
    indexTasksFailed: 0,
  };

  /**
   * Takes over the catalog's indexes at open: ready and building ones are maintained by the
   * write path from now on (before any write), building ones are built again and dropping ones
   * have their removal resumed, as queued tasks.
   */
  constructor(host: IndexManagerHost, indexes: readonly IndexMeta[]) {
    this.#host = host;
    for (const meta of indexes) {
      const live = liveIndex(meta.id, meta.name, meta.state);
      this.#indexes.set(meta.name, live);
      if (meta.state === 'ready') live.markReady();
    }
    this.#syncActive();
    for (const live of this.#indexes.values()) {
      if (live.state === 'building') this.#enqueue(() => this.#build(live)).catch(() => undefined);
      if (live.state === 'dropping') this.#startRemoval(live);
    }
  }

  stats(): IndexManagerStats {
    return { ...this.#counters };
  }

  list(): IndexInfo[] {
    const infos: IndexInfo[] = [];
    for (const live of this.#indexes.values()) {
      if (live.state !== 'dropping') infos.push({ field: live.field, state: live.state });
    }
    return infos.sort((left, right) =>
      left.field < right.field ? -1 : left.field > right.field ? 1 : 0,
    );
  }

  /** Resolves once the index is built and ready; ERR_INDEX_EXISTS when it exists. */
  create(field: string): Promise<void> {
    const name = checkField(field);
    return this.#enqueue(async () => {
      let existing = this.#indexes.get(name);
      // A dropped index of that field first has its entries removed: names are one per index.
      if (existing?.removal !== undefined) await existing.removal;
      existing = this.#indexes.get(name);
      if (existing !== undefined) {
        throw new StrataError(
          'ERR_INDEX_EXISTS',
          `an index on field ${JSON.stringify(name)} exists`,
        );
      }
      const meta = await this.#changeState(name, 'building');
      if (meta === undefined) throw new StrataError('ERR_CONFLICT', 'index creation was undone');
      const live = liveIndex(meta.id, name, 'building');
      this.#indexes.set(name, live);
      await this.#build(live);
    });
  }

  /**
   * Resolves once the index is marked dropped (durably): queries and the write path stop using
   * it at once; its entries are removed by a task queued right after. ERR_INDEX_NOT_FOUND when
   * there is no such index.
   */
  drop(field: string): Promise<void> {
    const name = checkField(field);
    return this.#enqueue(async () => {
      const live = this.#indexes.get(name);
      if (live === undefined || live.state === 'dropping') throw notFound(name);
      await this.#changeState(name, 'dropping');
      live.state = 'dropping';
      live.markFailed(notFound(name));
      this.#syncActive();
      this.#startRemoval(live);
    });
  }

  /** Primary keys whose `field` equals `value`, in primary-key order. */
  async query(field: string, value: Uint8Array, options: IndexQueryOptions): Promise<Uint8Array[]> {
    const live = await this.#usable(field, options);
    return this.#collect(indexValueRange(live.id, value), options, false);
  }

  /** Primary keys whose `field` lies in the bounds, in (value, primary key) order. */
  async queryRange(
    field: string,
    bounds: {
      readonly gt?: Uint8Array;
      readonly gte?: Uint8Array;
      readonly lt?: Uint8Array;
      readonly lte?: Uint8Array;
    },
    options: IndexRangeQueryOptions,
  ): Promise<Uint8Array[]> {
    const live = await this.#usable(field, options);
    return this.#collect(indexRange(live.id, bounds), options, options.reverse === true);
  }

  /**
   * Resolves once every queued index task and entry removal has finished or stopped. After the
   * database closed, a build's worker task runs out and the build fails; a removal stops after
   * its batch in flight and stays `dropping` in the catalog, for the next open to resume.
   */
  async whenIdle(): Promise<void> {
    for (;;) {
      const queued = this.#queue;
      const removals = [...this.#removals];
      await queued;
      await Promise.allSettled(removals);
      if (queued === this.#queue && this.#removals.size === 0) return;
    }
  }

  /** In the background, after the drop: deletes the entries, then forgets the index. */
  #startRemoval(live: LiveIndex): void {
    const removal = this.#remove(live);
    live.removal = removal;
    this.#removals.add(removal);
    const settle = (): void => {
      this.#removals.delete(removal);
    };
    removal.then(settle, settle);
  }

  async #usable(field: string, options: IndexQueryOptions): Promise<LiveIndex> {
    const name = checkField(field);
    const whenBuilding = options.whenBuilding ?? 'wait';
    if (whenBuilding !== 'wait' && whenBuilding !== 'fail') {
      throw invalid("whenBuilding must be 'wait' or 'fail'");
    }
    const live = this.#indexes.get(name);
    if (live === undefined || live.state === 'dropping') throw notFound(name);
    if (live.state === 'building') {
      if (whenBuilding === 'fail') {
        throw new StrataError(
          'ERR_INDEX_BUILDING',
          `the index on field ${JSON.stringify(name)} is still being built`,
        );
      }
      await live.ready;
    }
    const snapshot = options.snapshot;
    if (snapshot !== undefined && snapshot.seq < live.readySeq) {
      throw new StrataError(
        'ERR_INDEX_BUILDING',
        `the snapshot (seq ${snapshot.seq}) predates the index on field ${JSON.stringify(name)}`,
      );
    }
    return live;
  }

  #collect(range: IndexKeyRange, options: IndexQueryOptions, reverse: boolean): Uint8Array[] {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (!(limit === Number.POSITIVE_INFINITY || (Number.isSafeInteger(limit) && limit >= 0))) {
      throw invalid('limit must be an integer >= 0 or Infinity');
    }
    const keys: Uint8Array[] = [];
    if (limit === 0) return keys;
    const scanOptions =
      options.snapshot === undefined ? { reverse } : { reverse, snapshot: options.snapshot };
    this.#host.scan(range, scanOptions, (key) => {
      keys.push(decodeIndexKey(key).primaryKey.slice());
      return keys.length < limit;
    });
    return keys;
  }

  async #build(live: LiveIndex): Promise<void> {
    try {
      await this.#buildOnce(live);
      live.state = 'ready';
      this.#counters.indexBuilds++;
      live.markReady();
    } catch (error) {
      this.#counters.indexTasksFailed++;
      if (!this.#host.closed) live.markFailed(error);
      throw error;
    }
  }

  async #buildOnce(live: LiveIndex): Promise<void> {
    const host = this.#host;
    // One synchronous step: the write path maintains the index for every write after S0.
    this.#syncActive();
    const snapshot = host.snapshot();
    try {
      live.readySeq = snapshot.seq;
      await host.flush();
      for (let attempt = 1; ; attempt++) {
        checkOpen(host);
        const result = await this.#runBuildTasks(live, snapshot.seq);
        const committed = await this.#commitBuild(live, result, attempt < BUILD_COMMIT_ATTEMPTS);
        if (committed) {
          this.#counters.indexBuildRecordsScanned += result.recordsScanned;
          this.#counters.indexBuildEntriesWritten += result.entriesWritten;
          return;
        }
      }
    } finally {
      snapshot.release();
    }
  }

  /**
   * Scans the pinned tables at `readSeq` in `indexBuildThreads` slices of the primary keys, one
   * task each on the pool, then merges the slices' outputs (they overlap in entry keys) with a
   * compaction task into tables that do not. On failure every output is removed.
   */
  async #runBuildTasks(live: LiveIndex, readSeq: Seq): Promise<BuildOutcome> {
    const host = this.#host;
    const pinned = host.catalog.getSnapshot();
    const written: string[] = [];
    try {
      const state = pinned.state;
      const base = {
        tables: state.levels.flat().map((file) => ({
          path: join(host.catalog.dir, tableFileName(file.fileNumber)),
          fileNumber: file.fileNumber,
        })),
        blobFiles: state.blobFiles.map((blob) => ({
          fileNumber: blob.fileNumber,
          path: join(host.catalog.dir, blobFileName(blob.fileNumber)),
        })),
        readSeq,
        indexId: live.id,
        field: live.field,
        targetFileBytes: host.targetFileBytes,
        sortBufferBytes: BUILD_SORT_BUFFER_BYTES,
        maxIndexedValueBytes: host.maxIndexedValueBytes,
      };
      const ranges = splitKeyRanges(state.levels, host.indexBuildThreads);
      this.#counters.indexBuildSlices += ranges.length;
      const settled = await Promise.allSettled(
        ranges.map((keyRange) =>
          host.runBuild({ ...base, keyRange, tempPathPrefix: this.#tempPrefix() }),
        ),
      );
      for (const outcome of settled) {
        if (outcome.status === 'fulfilled') {
          for (const output of outcome.value.outputs) written.push(output.tempPath);
        }
      }
      for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
      const results = settled.map(
        (outcome) => (outcome as PromiseFulfilledResult<IndexBuildResult>).value,
      );
      const counts = {
        recordsScanned: results.reduce((sum, result) => sum + result.recordsScanned, 0),
        entriesWritten: results.reduce((sum, result) => sum + result.entriesWritten, 0),
      };
      const outputs = results.flatMap((result) => result.outputs);
      if (results.length === 1 || outputs.length <= 1) return { outputs, ...counts };
      const merged = await host.runMerge({
        inputs: outputs.map((output, index) => ({ path: output.tempPath, fileNumber: index })),
        tempPathPrefix: this.#tempPrefix(),
        targetFileBytes: host.targetFileBytes,
        snapshotSeqs: [],
        bottommost: false,
      });
      for (const path of written) rmSync(path, { force: true });
      written.length = 0;
      return { outputs: merged.outputs, ...counts };
    } catch (error) {
      for (const path of written) rmSync(path, { force: true });
      throw error;
    } finally {
      pinned.release();
    }
  }

  #tempPrefix(): string {
    const tempPath = this.#host.catalog.newTempPath();
    return tempPath.slice(0, tempPath.length - TEMP_SUFFIX.length);
  }

  /** False when the ingest conflicted and may be retried (a compaction moved a table meanwhile). */
  async #commitBuild(live: LiveIndex, result: BuildOutcome, mayRetry: boolean): Promise<boolean> {
    const host = this.#host;
    const snapshot = host.catalog.getSnapshot();
    try {
      checkOpen(host);
      await new CommitIndexBuild(snapshot, {
        name: live.field,
        id: live.id,
        outputs: result.outputs,
      })
        .push()
        .waitDone();
    } catch (error) {
      // Not committed: the outputs are nobody's (a crash here leaves them to the next open).
      for (const output of result.outputs) rmSync(output.tempPath, { force: true });
      if (mayRetry && error instanceof StrataError && error.code === 'ERR_CONFLICT') return false;
      throw error;
    } finally {
      snapshot.release();
    }
    host.tablesChanged();
    return true;
  }

  async #remove(live: LiveIndex): Promise<void> {
    const host = this.#host;
    try {
      const range = indexKeyspaceRange(live.id);
      for (;;) {
        checkOpen(host);
        const ops: WriteOp[] = [];
        host.scan(range, {}, (key) => {
          ops.push({ type: 'del', key: key.slice() });
          return ops.length < REMOVE_BATCH_KEYS;
        });
        if (ops.length === 0) break;
        await host.write(ops);
        this.#counters.indexEntriesRemoved += ops.length;
      }
      await this.#changeState(live.field, 'absent');
      if (this.#indexes.get(live.field) === live) this.#indexes.delete(live.field);
    } catch {
      // Left `dropping` in the catalog: the next open resumes the removal.
      if (!this.#host.closed) this.#counters.indexTasksFailed++;
    }
  }

  async #changeState(
    name: string,
    state: IndexMeta['state'] | 'absent',
  ): Promise<IndexMeta | undefined> {
    checkOpen(this.#host);
    const snapshot = this.#host.catalog.getSnapshot();
    try {
      return await new ChangeIndexState(snapshot, { name, state }).push().waitDone();
    } finally {
      snapshot.release();
    }
  }

  /** Requires: not inside a group's apply (index changes run on the queue, never in one). */
  #syncActive(): void {
    const active = [];
    for (const live of this.#indexes.values()) {
      if (live.state !== 'dropping') active.push({ id: live.id, field: live.field });
    }
    this.#host.maintenance.setActive(active);
  }

  /** Runs `task` after every task queued before it; a failed task does not stop later ones. */
  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(() => {
      checkOpen(this.#host);
      return task();
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

function liveIndex(id: number, field: string, state: IndexMeta['state']): LiveIndex {
  let markReady!: () => void;
  let markFailed!: (error: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });
  // A query may never wait on it; an unobserved rejection must not end the process.
  ready.catch(() => undefined);
  return { id, field, state, readySeq: 0, ready, markReady, markFailed };
}

function checkField(field: unknown): string {
  if (typeof field !== 'string' || field.length === 0 || !field.isWellFormed()) {
    throw invalid('an index field must be a non-empty, well-formed string');
  }
  return field;
}

function notFound(field: string): StrataError {
  return new StrataError(
    'ERR_INDEX_NOT_FOUND',
    `there is no index on field ${JSON.stringify(field)}`,
  );
}

function checkOpen(host: IndexManagerHost): void {
  if (host.closed) throw new StrataError('ERR_CLOSED', 'database is closed');
}

/**
 * Up to `parts` slices of the primary keys of about equal table bytes, cut at the smallest user
 * keys of tables (level 1 and below, outside the index keyspace); one slice when there is little
 * to split.
 */
export function splitKeyRanges(
  levels: readonly (readonly FileMeta[])[],
  parts: number,
): { gte?: Uint8Array; lt?: Uint8Array }[] {
  if (parts <= 1) return [{}];
  const files = levels
    .slice(1)
    .flat()
    .map((file) => ({ key: userKeyOf(file.smallest), bytes: file.sizeBytes }))
    .filter((file) => !hasIndexKeyspacePrefix(file.key))
    .sort((left, right) => compareUserKeys(left.key, right.key));
  let total = 0;
  for (const file of files) total += file.bytes;
  const cuts: Uint8Array[] = [];
  let sum = 0;
  for (const file of files) {
    const share = (total * (cuts.length + 1)) / parts;
    if (sum >= share && cuts.length < parts - 1) {
      const last = cuts.at(-1);
      if (last === undefined || compareUserKeys(last, file.key) < 0) cuts.push(file.key);
    }
    sum += file.bytes;
  }
  if (cuts.length === 0) return [{}];
  const ranges: { gte?: Uint8Array; lt?: Uint8Array }[] = [];
  for (let index = 0; index <= cuts.length; index++) {
    const range: { gte?: Uint8Array; lt?: Uint8Array } = {};
    if (index > 0) range.gte = cuts[index - 1]!;
    if (index < cuts.length) range.lt = cuts[index]!;
    ranges.push(range);
  }
  return ranges;
}
