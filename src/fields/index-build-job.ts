/**
 * The index build job: reads every record of a pinned set of tables as it was at `readSeq` and
 * writes the index entries of the records that have the field into new sorted tables, for the
 * catalog to ingest (`CommitIndexBuild`). It runs on a Piscina worker (workers/index-build.ts)
 * or on any thread; it only reads its inputs and writes temp files, so a crash leaves nothing but
 * temp files for the next open to remove, and a failure removes what it wrote.
 *
 *   tables --merge--> newest version per user key with seq <= readSeq --> a value (inline, or
 *   read from its blob file) that is a field record holding the field --> entry key
 *   encodeIndexKey(indexId, field value, user key) at the version's own seq --> external sort
 *   (entry-sorter.ts) --> output tables, cut near targetFileBytes (compaction's OutputFiles)
 *
 * An entry carries the seq of the record version it indexes, not readSeq: ingested below every
 * newer entry of the index, it must lose to the write path's entries for the same key, which
 * carry the seqs of the writes that replaced or deleted that version.
 *
 * Keys in the index keyspace are not records and are skipped; deletions and values that are not
 * field records (a raw `put` value may be anything) or lack the field give no entry, and a field
 * value above maxIndexedValueBytes gives none either (counted). Damaged tables and blobs are
 * ERR_CORRUPT naming the file and offset, from the readers; OS failures are ERR_IO.
 *
 * Thread model: the job opens its own table and blob readers and closes them before it returns.
 */
import { pathToFileURL } from 'node:url';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { type CompactionOutputTable, OutputFiles, openInputTables } from '../lsm/compaction-job.js';
import { type InternalIterator, tableSource } from '../lsm/internal-iterator.js';
import { MergingIterator } from '../lsm/merging-iterator.js';
import { packageRoot } from '../package-root.js';
import {
  compareUserKeys,
  encodeInternalKey,
  KIND_BLOB_REFERENCE,
  KIND_DELETION,
  KIND_VALUE,
  SEQ_MAX,
  type Seq,
} from '../sst/internal-key.js';
import type { TableReader } from '../sst/table-reader.js';
import type { TableWriterOptions } from '../sst/table-writer.js';
import { BlobValues } from './blob-values.js';
import { EntrySorter } from './entry-sorter.js';
import { FIELD_NAME_BYTES_MAX, fieldValue, isFieldRecord } from './field-codec.js';
import { encodeIndexKey, hasIndexKeyspacePrefix, indexKeyspaceEnd } from './index-key.js';

/** Structured-clone safe: Piscina posts it to a worker. */
export interface IndexBuildTask {
  /** Every table of the pinned catalog snapshot, any order: paths and catalog file numbers. */
  readonly tables: readonly { readonly path: string; readonly fileNumber: number }[];
  /** The blob files the tables may reference. */
  readonly blobFiles: readonly { readonly fileNumber: number; readonly path: string }[];
  /** Each user key is indexed as its newest version with seq <= readSeq. */
  readonly readSeq: Seq;
  /** u32, assigned by the catalog. */
  readonly indexId: number;
  readonly field: string;
  /** Outputs go to `${tempPathPrefix}-N.tmp` (N = 1, 2, …), sort runs to `-run-N.tmp`. */
  readonly tempPathPrefix: string;
  /** Cut an output once it holds about this many bytes. */
  readonly targetFileBytes: number;
  /** Entries are sorted in memory up to about this many bytes, then spilled to sorted runs. */
  readonly sortBufferBytes: number;
  /** A field value longer than this is not indexed (counted in valuesTooLong). */
  readonly maxIndexedValueBytes: number;
  /**
   * Only records with gte <= key < lt (either bound optional): a build split across workers
   * gives each a slice of the primary keys; their outputs are then merged.
   */
  readonly keyRange?: { readonly gte?: Uint8Array; readonly lt?: Uint8Array };
  readonly options?: Omit<TableWriterOptions, 'sync'>;
}

export interface IndexBuildResult {
  /** In key order, none overlapping; each `table` is the catalog's table input, as is. */
  readonly outputs: readonly CompactionOutputTable[];
  /** User keys whose visible version is a value (inline or in a blob). */
  readonly recordsScanned: number;
  readonly entriesWritten: number;
  readonly valuesTooLong: number;
  /** The tables' sizes plus the blob value bytes read. */
  readonly bytesRead: number;
  /** The outputs' sizes (sort runs not counted). */
  readonly bytesWritten: number;
}

/** The compiled worker entry as a file URL, for `new Piscina({ filename })`. */
export function indexBuildWorkerUrl(): string {
  return pathToFileURL(`${packageRoot()}/dist/workers/index-build.js`).href;
}

/**
 * Builds the index entries. On any failure every output and sort run written so far is removed
 * and the error rethrown; readers are closed in every case.
 */
export function buildIndex(task: IndexBuildTask): IndexBuildResult {
  checkTask(task);
  const readers: TableReader[] = [];
  const blobs = new BlobValues(task.blobFiles);
  const sorter = new EntrySorter({
    runPathPrefix: `${task.tempPathPrefix}-run`,
    sortBufferBytes: task.sortBufferBytes,
    options: task.options,
  });
  const outputs = new OutputFiles(task, 'index build');
  try {
    const tableBytes = openInputTables(task.tables, readers);
    const merged = new MergingIterator(readers.map((reader) => tableSource(reader)));
    const counts = scanRecords(merged, task, { blobs, sorter });
    closeAll(readers, blobs);
    const empty = new Uint8Array(0);
    sorter.drain((entry) => {
      outputs.add(encodeInternalKey(entry.userKey, entry.seq, KIND_VALUE), empty, true);
    });
    const written = outputs.finish();
    return {
      outputs: written.outputs,
      ...counts,
      entriesWritten: sorter.entryCount,
      bytesRead: tableBytes + blobs.bytesRead,
      bytesWritten: written.bytesWritten,
    };
  } catch (error) {
    return outputs.abandon(sorter.abandon(error));
  } finally {
    closeAll(readers, blobs);
  }
}

interface ScanCounts {
  readonly recordsScanned: number;
  readonly valuesTooLong: number;
}

/** Hands the sorter one entry per visible record that has the field. */
function scanRecords(
  merged: InternalIterator,
  task: IndexBuildTask,
  parts: { readonly blobs: BlobValues; readonly sorter: EntrySorter },
): ScanCounts {
  let recordsScanned = 0;
  let valuesTooLong = 0;
  const keyspaceEnd = indexKeyspaceEnd();
  /** The user key whose visible version was found; its older versions are passed over. */
  let decidedKey: Uint8Array | undefined;
  const lower = task.keyRange?.gte;
  const upper = task.keyRange?.lt;
  // Every pass moves forward by one entry or seeks past the index keyspace, at most once.
  if (lower === undefined) merged.seekFirst();
  else merged.seek(lower);
  while (merged.valid()) {
    const userKey = merged.userKey();
    if (upper !== undefined && compareUserKeys(userKey, upper) >= 0) break;
    if (decidedKey !== undefined && compareUserKeys(userKey, decidedKey) === 0) {
      merged.next();
      continue;
    }
    if (hasIndexKeyspacePrefix(userKey)) {
      merged.seek(keyspaceEnd); // index entries, of this index or others, are not records
      continue;
    }
    const seq = merged.seq();
    if (seq > task.readSeq) {
      merged.next(); // written after the build's view: an older version may be visible
      continue;
    }
    decidedKey = userKey; // userKey() arrays are never changed in place: it may be kept
    const value = visibleValue(merged, parts.blobs);
    merged.next();
    if (value === undefined) continue;
    recordsScanned++;
    const fieldBytes = recordField(value, task.field);
    if (fieldBytes === undefined) continue;
    if (fieldBytes.length > task.maxIndexedValueBytes) {
      valuesTooLong++;
      continue;
    }
    parts.sorter.add(encodeIndexKey(task.indexId, fieldBytes, userKey), seq);
  }
  return { recordsScanned, valuesTooLong };
}

/** The value of the version the iterator is on, or undefined for a deletion. */
function visibleValue(merged: InternalIterator, blobs: BlobValues): Uint8Array | undefined {
  const kind = merged.kind();
  if (kind === KIND_DELETION) return undefined;
  if (kind === KIND_VALUE) return merged.value();
  // Merge operands are a reserved kind that no writer produces yet (db-iterator.ts agrees).
  assert(kind === KIND_BLOB_REFERENCE, `kind ${kind} is not readable yet`);
  return blobs.read(merged.value(), merged.userKey());
}

/**
 * The bytes of `field` when `value` is a field record that has it; a value that does not decode
 * has no fields. fieldValue finds the field without decoding the rest, so a record lacking it
 * costs no full decode; when the record decodes, fieldValue's bytes are decodeFields'.
 */
function recordField(value: Uint8Array, field: string): Uint8Array | undefined {
  const bytes = fieldValue(value, field);
  if (bytes === undefined || !isFieldRecord(value)) return undefined;
  return bytes;
}

/** Closes the readers (idempotent: both lists are emptied). */
function closeAll(readers: TableReader[], blobs: BlobValues): void {
  try {
    for (const reader of readers.splice(0)) reader.close();
  } finally {
    blobs.close();
  }
}

function checkTask(task: IndexBuildTask): void {
  if (!Array.isArray(task.tables) || !Array.isArray(task.blobFiles)) {
    invalid('an index build needs lists of tables and blob files');
  }
  if (typeof task.tempPathPrefix !== 'string' || task.tempPathPrefix.length === 0) {
    invalid('tempPathPrefix must be a non-empty path');
  }
  if (!Number.isSafeInteger(task.readSeq) || task.readSeq < 0 || task.readSeq > SEQ_MAX) {
    invalid(`readSeq must be an integer in [0, ${SEQ_MAX}]`);
  }
  if (!Number.isInteger(task.indexId) || task.indexId < 0 || task.indexId > 0xffffffff) {
    invalid('indexId must be a u32');
  }
  const field = task.field;
  if (typeof field !== 'string' || !field.isWellFormed()) {
    invalid('field must be a well-formed string');
  }
  if (Buffer.byteLength(field, 'utf8') > FIELD_NAME_BYTES_MAX) {
    invalid(`field name above ${FIELD_NAME_BYTES_MAX} bytes of UTF-8`);
  }
  for (const name of ['targetFileBytes', 'sortBufferBytes'] as const) {
    if (!Number.isSafeInteger(task[name]) || task[name] < 1) {
      invalid(`${name} must be a positive integer`);
    }
  }
  if (!Number.isSafeInteger(task.maxIndexedValueBytes) || task.maxIndexedValueBytes < 0) {
    invalid('maxIndexedValueBytes must be a non-negative integer');
  }
}

function invalid(message: string): never {
  throw new StrataError('ERR_INVALID_ARGUMENT', `index build: ${message}`);
}
