/**
 * The compaction job: merges input tables (all versions, internal-key order) into new tables of
 * the output level, for `CommitCompaction` to install. It runs on a Piscina worker
 * (workers/compaction.ts) or, in tests, on any thread; it only reads its inputs and writes temp
 * files, so a crash at any moment leaves nothing but temp files for the next open to remove.
 *
 * What it drops (RocksDB's snapshot stripes): the pinned snapshot seqs s1 < … < sk cut the seqs
 * into stripes; stripe i holds the seqs that exactly i snapshots cannot see (s_i < seq ≤ s_i+1).
 * For each user key the newest version of each stripe is kept — the one its snapshots read — and
 * older versions of the same stripe are dropped: no reader can see them. A tombstone in stripe
 * 0 (visible to every snapshot) hides only dropped versions, so at the bottommost level (no
 * table below overlaps the inputs' key range, so nothing older exists) it is dropped too.
 * Readers without a snapshot read at the newest seq: the top stripe.
 *
 * Output tables are cut near `targetFileBytes`, never inside a user key's versions, so the
 * tables of a level (1 and below) never share a user key and a point read looks in one of them.
 * They are also always cut where the keyspace partition changes (below the index keyspace, one
 * index's range, above it: `keyspacePartition`), whatever their size: an index build ingests
 * tables of one index's range below every newer entry of that index, which it can only do if no
 * table's key range reaches into that index's range from outside it.
 *
 * Thread model: the job opens its own table readers (its thread's block cache) and owns them.
 */

import { unlinkSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { assert } from '../assert.js';
import { RECORD_HEADER_BYTES } from '../blob/blob-format.js';
import { type BlobRef, decodeBlobRef, sameBlobLocation } from '../blob/blob-ref.js';
import type { TableProperties } from '../catalog/operations/table-properties.js';
import { StrataError } from '../errors.js';
import { keyspacePartition } from '../fields/index-key.js';
import { packageRoot } from '../package-root.js';
import {
  compareUserKeys,
  encodeInternalKey,
  type InternalKeyKind,
  KIND_BLOB_REFERENCE,
  KIND_DELETION,
  type Seq,
  userKeyOf,
} from '../sst/internal-key.js';
import { TableReader } from '../sst/table-reader.js';
import { TableWriter, type TableWriterOptions } from '../sst/table-writer.js';
import { type InternalIterator, tableSource } from './internal-iterator.js';
import { MergingIterator } from './merging-iterator.js';

/** Structured-clone safe: Piscina posts it to a worker. */
export interface CompactionTask {
  /** The input tables, any order: paths and catalog file numbers. */
  readonly inputs: readonly { readonly path: string; readonly fileNumber: number }[];
  /** Outputs are written to `${tempPathPrefix}-N.tmp` (N = 1, 2, …), in key order. */
  readonly tempPathPrefix: string;
  /** Cut an output once it holds about this many bytes (at a user-key boundary). */
  readonly targetFileBytes: number;
  /** Seqs of the pinned snapshots, ascending. */
  readonly snapshotSeqs: readonly Seq[];
  /** No table below the output level overlaps the inputs: stripe-0 tombstones can go. */
  readonly bottommost: boolean;
  readonly options?: Omit<TableWriterOptions, 'sync'>;
}

export interface CompactionOutputTable {
  readonly tempPath: string;
  /** `CommitCompaction`'s `table` input, as is. */
  readonly table: TableProperties;
}

export interface CompactionResult {
  readonly outputs: readonly CompactionOutputTable[];
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly entriesRead: number;
  readonly entriesWritten: number;
  /** Versions dropped as shadowed within their stripe, and tombstones dropped at the bottom. */
  readonly versionsDropped: number;
  readonly tombstonesDropped: number;
  /** Blob bytes the dropped versions were the last to reference, per blob file, for blob GC. */
  readonly blobGarbage: readonly { readonly fileNumber: number; readonly garbageBytes: number }[];
}

/** The compiled worker entry as a file URL, for `new Piscina({ filename })`. */
export function compactionWorkerUrl(): string {
  return pathToFileURL(`${packageRoot()}/dist/workers/compaction.js`).href;
}

/**
 * Merges the inputs. On any failure every output written so far is removed and the error
 * rethrown; input readers are closed in every case.
 */
export function compactTables(task: CompactionTask): CompactionResult {
  checkTask(task);
  const readers: TableReader[] = [];
  const outputs = new OutputFiles(task);
  try {
    const bytesRead = openInputTables(task.inputs, readers);
    const sources: InternalIterator[] = readers.map((reader) => tableSource(reader));
    const counts = mergeInto(new MergingIterator(sources), task, outputs);
    const written = outputs.finish();
    return { ...counts, ...written, bytesRead };
  } catch (error) {
    return outputs.abandon(error);
  } finally {
    for (const reader of readers) reader.close();
  }
}

/**
 * Opens a job's input tables into `readers` (the caller closes them, also after a failure part
 * way), without filling this thread's block cache; returns their total size.
 */
export function openInputTables(
  tables: readonly { readonly path: string; readonly fileNumber: number }[],
  readers: TableReader[],
): number {
  let bytes = 0;
  for (const table of tables) {
    const reader = TableReader.open(table.path, { fileNumber: table.fileNumber, fillCache: false });
    readers.push(reader);
    bytes += reader.properties.fileSizeBytes;
  }
  return bytes;
}

interface MergeCounts {
  readonly entriesRead: number;
  readonly entriesWritten: number;
  readonly versionsDropped: number;
  readonly tombstonesDropped: number;
  readonly blobGarbage: { fileNumber: number; garbageBytes: number }[];
}

function mergeInto(
  merged: MergingIterator,
  task: CompactionTask,
  outputs: OutputFiles,
): MergeCounts {
  const snapshots = task.snapshotSeqs;
  let entriesRead = 0;
  let entriesWritten = 0;
  let versionsDropped = 0;
  let tombstonesDropped = 0;
  const garbage = new BlobGarbageCounter();
  let currentKey: Uint8Array | undefined;
  let lastStripe = -1;
  for (merged.seekFirst(); merged.valid(); merged.next()) {
    entriesRead++;
    const userKey = merged.userKey();
    const seq = merged.seq();
    const kind = merged.kind();
    const newKey = currentKey === undefined || compareUserKeys(currentKey, userKey) !== 0;
    if (newKey) {
      currentKey = userKey.slice();
      lastStripe = -1;
      garbage.startKey();
    }
    const stripe = stripeOf(snapshots, seq);
    // Versions come newest first, so stripes only go down within a key.
    assert(lastStripe === -1 || stripe <= lastStripe, 'versions of a key come newest first');
    if (stripe === lastStripe) {
      versionsDropped++;
      garbage.dropped(kind, merged.value(), userKey.length);
      continue;
    }
    garbage.kept(kind, merged.value());
    lastStripe = stripe;
    if (kind === KIND_DELETION && stripe === 0 && task.bottommost) {
      tombstonesDropped++;
      continue;
    }
    outputs.add(encodeInternalKey(userKey, seq, kind as InternalKeyKind), merged.value(), newKey);
    entriesWritten++;
  }
  return {
    entriesRead,
    entriesWritten,
    versionsDropped,
    tombstonesDropped,
    blobGarbage: garbage.totals(),
  };
}

/**
 * Blob garbage of one merge. A dropped version's blob becomes garbage unless the version just
 * newer than it (dropped or kept) names the same blob: an in-place append leaves a new reference
 * to the same bytes, and only the last reference to go frees them. Comparing with the version
 * just newer, not the newest kept, counts each blob exactly once when a run of versions drops.
 */
class BlobGarbageCounter {
  readonly #bytes = new Map<number, number>();
  #newer: BlobRef | undefined;

  startKey(): void {
    this.#newer = undefined;
  }

  kept(kind: number, value: Uint8Array): void {
    this.#newer =
      kind === KIND_BLOB_REFERENCE ? decodeBlobRef(value, 'a compaction input') : undefined;
  }

  dropped(kind: number, value: Uint8Array, keyBytes: number): void {
    if (kind !== KIND_BLOB_REFERENCE) {
      this.#newer = undefined;
      return;
    }
    const ref = decodeBlobRef(value, 'a compaction input');
    if (this.#newer === undefined || !sameBlobLocation(this.#newer, ref)) {
      const recordBytes = RECORD_HEADER_BYTES + keyBytes + ref.capacity;
      this.#bytes.set(ref.fileNumber, (this.#bytes.get(ref.fileNumber) ?? 0) + recordBytes);
    }
    this.#newer = ref;
  }

  totals(): { fileNumber: number; garbageBytes: number }[] {
    return [...this.#bytes].map(([fileNumber, garbageBytes]) => ({ fileNumber, garbageBytes }));
  }
}

/** How many snapshots cannot see `seq`: the snapshots below it (binary search). */
function stripeOf(snapshots: readonly Seq[], seq: Seq): number {
  let low = 0;
  let high = snapshots.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (snapshots[middle]! < seq) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Where OutputFiles writes and when it cuts: the parts of a CompactionTask it reads. */
export type OutputFilesTask = Pick<
  CompactionTask,
  'tempPathPrefix' | 'targetFileBytes' | 'options'
>;

/**
 * The outputs in order, as `${tempPathPrefix}-N.tmp`, synced: a new table starts at a user-key
 * boundary once the current is full, and at every change of keyspace partition (see the top of
 * this file). Index builds (src/fields/index-build-job.ts) write their outputs with it too.
 */
export class OutputFiles {
  readonly #task: OutputFilesTask;
  /** Names the job in the error of a failed cleanup. */
  readonly #jobName: string;
  readonly #done: CompactionOutputTable[] = [];
  #writer: TableWriter | undefined;
  /** keyspacePartition of the last user key added. */
  #partition = Number.NEGATIVE_INFINITY;
  #bytesWritten = 0;

  constructor(task: OutputFilesTask, jobName = 'compaction') {
    this.#task = task;
    this.#jobName = jobName;
  }

  /** Requires: internal keys strictly ascending; the first one starts a user key. */
  add(internalKey: Uint8Array, value: Uint8Array, startsUserKey: boolean): void {
    if (startsUserKey) {
      const partition = keyspacePartition(userKeyOf(internalKey));
      assert(partition >= this.#partition, 'keyspace partitions never decrease as keys grow');
      // A table never straddles two partitions, however small it is: index builds rely on it.
      const crossesPartition = partition !== this.#partition;
      this.#partition = partition;
      if (
        this.#writer !== undefined &&
        (crossesPartition || this.#writer.estimatedSizeBytes() >= this.#task.targetFileBytes)
      ) {
        this.#finishCurrent();
      }
    }
    if (this.#writer === undefined) {
      assert(startsUserKey, 'an output table starts at a user key');
      const path = `${this.#task.tempPathPrefix}-${this.#done.length + 1}.tmp`;
      this.#writer = new TableWriter(path, { ...this.#task.options, sync: true });
    }
    this.#writer.add(internalKey, value);
  }

  finish(): { outputs: CompactionOutputTable[]; bytesWritten: number } {
    if (this.#writer !== undefined) this.#finishCurrent();
    return { outputs: [...this.#done], bytesWritten: this.#bytesWritten };
  }

  /** Removes every output (finished or not) and rethrows `error`. */
  abandon(error: unknown): never {
    const problems: unknown[] = [];
    try {
      this.#writer?.abandon();
    } catch (abandonError) {
      problems.push(abandonError);
    }
    for (const output of this.#done) {
      try {
        unlinkSync(output.tempPath);
      } catch (removeError) {
        problems.push(removeError);
      }
    }
    if (problems.length > 0) {
      throw new StrataError(
        'ERR_IO',
        `${this.#jobName} failed and its temp files could not be removed`,
        { cause: new AggregateError([error, ...problems]) },
      );
    }
    throw error;
  }

  #finishCurrent(): void {
    const writer = this.#writer;
    assert(writer !== undefined);
    this.#writer = undefined;
    const properties = writer.finish();
    this.#bytesWritten += properties.fileSizeBytes;
    this.#done.push({
      tempPath: writer.path,
      table: {
        sizeBytes: properties.fileSizeBytes,
        entryCount: properties.entryCount,
        smallest: properties.smallestKey,
        largest: properties.largestKey,
        seqMin: properties.seqMin,
        seqMax: properties.seqMax,
      },
    });
  }
}

function checkTask(task: CompactionTask): void {
  if (!Array.isArray(task.inputs) || task.inputs.length === 0) {
    throw new StrataError('ERR_INVALID_ARGUMENT', 'a compaction needs at least one input table');
  }
  if (!Number.isSafeInteger(task.targetFileBytes) || task.targetFileBytes < 1) {
    throw new StrataError('ERR_INVALID_ARGUMENT', 'targetFileBytes must be a positive integer');
  }
  for (let index = 1; index < task.snapshotSeqs.length; index++) {
    if (!(task.snapshotSeqs[index - 1]! < task.snapshotSeqs[index]!)) {
      throw new StrataError('ERR_INVALID_ARGUMENT', 'snapshotSeqs must be strictly ascending');
    }
  }
}
