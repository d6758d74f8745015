/**
 * The flush job: writes an immutable memtable out as one sorted table, for `CommitFlush` to
 * install in level 0. It runs on a Piscina worker (workers/flush.ts) or, in tests, on any thread.
 *
 * What it keeps: EVERY version with seq <= the flush's limit, newest first per user key,
 * tombstones included. A pinned snapshot may still need a version that a newer one shadows, and
 * the flush does not know which snapshots are pinned, so it drops nothing; compaction, which is
 * told the oldest pinned snapshot, is where shadowed versions and tombstones disappear. A
 * tombstone must survive in any case: it hides older versions of its key in older tables.
 *
 * Thread model: the job attaches its own handle to the memtable and only reads through it (it
 * never takes the write mutex), while the opener keeps the memtable open. The memtable should be
 * immutable (frozen in the catalog); if a writer still commits batches, the limit taken at
 * attach keeps them out of the table, and `limitSeq` in the result says which seqs it holds.
 */
import { pathToFileURL } from 'node:url';
import { assert, invariantsEnabled } from '../assert.js';
import type { TableProperties as FlushedTableProperties } from '../catalog/operations/table-properties.js';
import { StrataError } from '../errors.js';
import { Memtable, type MemtableHandle } from '../memtable/memtable.js';
import { packageRoot } from '../package-root.js';
import {
  compareInternalKeys,
  encodeInternalKey,
  type InternalKeyKind,
  KIND_MAX,
  SEQ_MAX,
  type Seq,
} from '../sst/internal-key.js';
import { TableWriter, type TableWriterOptions } from '../sst/table-writer.js';

/** Table layout options; a flushed table is always fsynced before the job returns. */
export type FlushTableOptions = Omit<TableWriterOptions, 'sync'>;

/** Structured-clone safe: Piscina posts it to a worker. */
export interface FlushTask {
  readonly memtable: MemtableHandle;
  /** Versions with a larger seq stay out of the table. Default: the memtable's visibleSeq. */
  readonly snapshotSeq?: Seq;
  /** Where the table goes: `catalog.newTempPath()`. Must not exist. */
  readonly tempPath: string;
  readonly options?: FlushTableOptions;
}

/** Nothing was visible to the flush: no file was written. */
export interface FlushEmpty {
  readonly empty: true;
  /** The seq limit the flush read at: min(snapshotSeq, visibleSeq at attach). */
  readonly limitSeq: Seq;
}

/** A table was written and fsynced at the task's `tempPath`. Structured-clone safe. */
export interface FlushWritten {
  readonly empty: false;
  readonly limitSeq: Seq;
  /** `CommitFlush`'s `table` input, as is. */
  readonly table: FlushedTableProperties;
  readonly tombstoneCount: number;
  readonly userKeyCount: number;
}

export type FlushResult = FlushEmpty | FlushWritten;

/**
 * Writes every version of the memtable visible at the task's limit to `tempPath` in internal-key
 * order. On any failure the temp file is removed and the error rethrown; the memtable handle is
 * detached in every case.
 */
export function flushMemtable(task: FlushTask): FlushResult {
  checkTask(task);
  const memtable = Memtable.attach(task.memtable);
  try {
    return writeVersions(memtable, task);
  } finally {
    memtable.close();
  }
}

/** The compiled worker entry as a file URL, for `new Piscina({ filename })`. */
export function flushWorkerUrl(): string {
  return pathToFileURL(`${packageRoot()}/dist/workers/flush.js`).href;
}

function writeVersions(memtable: Memtable, task: FlushTask): FlushResult {
  const iterator = memtable.iterator(task.snapshotSeq ?? SEQ_MAX);
  const limitSeq = iterator.limitSeq;
  iterator.seekFirst();
  if (!iterator.valid()) return { empty: true, limitSeq };
  // Created only once there is an entry, so an empty flush never touches the file system.
  const writer = new TableWriter(task.tempPath, { ...task.options, sync: true });
  try {
    let addedCount = 0;
    let previousKey: Uint8Array | undefined;
    for (; iterator.valid(); iterator.next()) {
      const seq = iterator.seq();
      const kind = iterator.kind();
      assert(seq <= limitSeq, 'the memtable iterator yields only visible versions');
      assert(kind >= 0 && kind <= KIND_MAX, 'a memtable record has a stored kind');
      const internalKey = encodeInternalKey(iterator.key(), seq, kind as InternalKeyKind);
      if (invariantsEnabled && previousKey !== undefined) {
        assert(compareInternalKeys(previousKey, internalKey) < 0, 'memtable order is key order');
      }
      writer.add(internalKey, iterator.value());
      previousKey = internalKey;
      addedCount++;
    }
    const properties = writer.finish();
    assert(properties.entryCount === addedCount);
    assert(properties.seqMax <= limitSeq);
    return {
      empty: false,
      limitSeq,
      table: {
        sizeBytes: properties.fileSizeBytes,
        entryCount: properties.entryCount,
        smallest: properties.smallestKey,
        largest: properties.largestKey,
        seqMin: properties.seqMin,
        seqMax: properties.seqMax,
      },
      tombstoneCount: properties.tombstoneCount,
      userKeyCount: properties.userKeyCount,
    };
  } catch (error) {
    abandonAfter(writer, error);
  }
}

/** Removes the temp file and rethrows `error`; a failed removal travels with it as `cause`. */
function abandonAfter(writer: TableWriter, error: unknown): never {
  try {
    writer.abandon();
  } catch (abandonError) {
    throw new StrataError(
      'ERR_IO',
      `flush to ${writer.path} failed and the temp file could not be removed`,
      { cause: new AggregateError([error, abandonError]) },
    );
  }
  throw error;
}

function checkTask(task: FlushTask): void {
  if (typeof task.tempPath !== 'string' || task.tempPath.length === 0) {
    throw new StrataError('ERR_INVALID_ARGUMENT', 'flush tempPath must be a non-empty path');
  }
  const snapshotSeq = task.snapshotSeq;
  if (snapshotSeq === undefined) return;
  if (!Number.isSafeInteger(snapshotSeq) || snapshotSeq < 0) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `flush snapshotSeq must be an integer in [0, ${SEQ_MAX}]: ${snapshotSeq}`,
    );
  }
}
