/**
 * The catalog's state as plain, deeply frozen data: what a snapshot shows and what a checkpoint
 * stores. It holds no functions and no references to the catalog, so it can be handed to worker
 * threads (structured clone) as it is. Keys are Uint8Arrays, which JavaScript cannot freeze; the
 * catalog copies every key it is given and nobody may write to the ones it hands out.
 *
 * Numbers that FORMAT.md stores as u64 (file numbers, ids, sizes, sequence numbers, locators) are
 * safe integers here: 2^53 sequence numbers last 28 years at 10 million writes a second.
 */
import { assert } from '../assert.js';

/** Persisted widths, named so the encoders can assert ranges (FORMAT.md "Field types"). */
export type U8 = number;
export type U32 = number;
export type U64 = number;

/** Levels L0..L6. On disk as a u8 (never renumber); a new count is a new format version. */
export const LEVEL_COUNT = 7;

export type MemtableState = 'mutable' | 'immutable';

export interface MemtableMeta {
  /** Assigned by the catalog from `nextMemtableId`; never reused. */
  readonly id: U64;
  readonly state: MemtableState;
  /** Opaque to the catalog: where the memtable layer finds this memtable (e.g. its NVM page). */
  readonly locator: U64;
}

/** A sorted table, named `NNNNNN.sst` after its file number. */
export interface FileMeta {
  readonly fileNumber: U64;
  readonly level: U8;
  readonly sizeBytes: U64;
  readonly entryCount: U64;
  /** Smallest and largest internal key, as the sst layer encodes them. */
  readonly smallest: Uint8Array;
  readonly largest: Uint8Array;
  readonly seqMin: U64;
  readonly seqMax: U64;
}

/** Names one table in one level (compaction inputs, removals). */
export interface FileRef {
  readonly level: U8;
  readonly fileNumber: U64;
}

/** A blob file, named `NNNNNN.blob` (issue 5: key-value separation). */
export interface BlobFileMeta {
  readonly fileNumber: U64;
  /** Size when it was registered; the blob layer tracks appends itself. */
  readonly sizeBytes: U64;
  /** Bytes no live reference reaches any more, summed from edits; drives blob GC. */
  readonly garbageBytes: U64;
}

export type IndexState = 'building' | 'ready' | 'dropping';

/** A secondary index over one field (issue 6). */
export interface IndexMeta {
  readonly name: string;
  /**
   * Names the index's entries in the keyspace (`FF FF FF FF 69 78 | id u32 BE | ...`, src/fields/). Taken
   * from `nextFileNumber` when the index is created, so it is never reused within a database
   * (not even by a file), and kept through every later state.
   */
  readonly id: U32;
  readonly state: IndexState;
}

/** The largest index id: ids are u32 on disk and in entry keys. */
export const INDEX_ID_MAX: U32 = 0xffffffff;

export interface CatalogState {
  /** +1 per applied edit; survives reopen (checkpoints store it, edits carry theirs). */
  readonly version: U64;
  readonly nextFileNumber: U64;
  readonly nextMemtableId: U64;
  /** The largest sequence number in any flushed table (raised by flush commits). */
  readonly lastSequence: U64;
  /** Ascending id. At most one is mutable. */
  readonly memtables: readonly MemtableMeta[];
  /**
   * `levels[n]` are the tables of Ln. L0 is ordered by seqMax, oldest first (readers look from
   * the end); L1 and below by smallest key, and their key ranges do not overlap.
   */
  readonly levels: readonly (readonly FileMeta[])[];
  /** Ascending file number. */
  readonly blobFiles: readonly BlobFileMeta[];
  /** Ascending name (code-unit order). */
  readonly indexes: readonly IndexMeta[];
}

/** Orders internal keys; the lsm layer passes its comparator, the default is bytewise. */
export type CompareKeys = (left: Uint8Array, right: Uint8Array) => number;

export const compareBytes: CompareKeys = (left, right) => Buffer.compare(left, right);

export function emptyState(): CatalogState {
  return deepFreeze({
    version: 0,
    nextFileNumber: 1,
    nextMemtableId: 1,
    lastSequence: 0,
    memtables: [],
    levels: Array.from({ length: LEVEL_COUNT }, () => []),
    blobFiles: [],
    indexes: [],
  });
}

export function findMemtable(state: CatalogState, id: number): MemtableMeta | undefined {
  return state.memtables.find((memtable) => memtable.id === id);
}

export function mutableMemtable(state: CatalogState): MemtableMeta | undefined {
  return state.memtables.find((memtable) => memtable.state === 'mutable');
}

export function findFile(state: CatalogState, ref: FileRef): FileMeta | undefined {
  return state.levels[ref.level]?.find((file) => file.fileNumber === ref.fileNumber);
}

export function findBlobFile(state: CatalogState, fileNumber: number): BlobFileMeta | undefined {
  return state.blobFiles.find((blob) => blob.fileNumber === fileNumber);
}

export function findIndex(state: CatalogState, name: string): IndexMeta | undefined {
  return state.indexes.find((index) => index.name === name);
}

/** Every table and blob file number the state references (what must exist on disk). */
export function referencedFileNumbers(state: CatalogState): Set<number> {
  const numbers = new Set<number>();
  for (const level of state.levels) for (const file of level) numbers.add(file.fileNumber);
  for (const blob of state.blobFiles) numbers.add(blob.fileNumber);
  return numbers;
}

/** True when the key ranges [a.smallest, a.largest] and [b.smallest, b.largest] intersect. */
export function rangesOverlap(a: FileMeta, b: FileMeta, compareKeys: CompareKeys): boolean {
  return compareKeys(a.smallest, b.largest) <= 0 && compareKeys(b.smallest, a.largest) <= 0;
}

/** Freezes a state or edit in place, skipping typed arrays (which cannot be frozen). */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  if (Object.isFrozen(value)) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}

export function isU64(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

export function assertU64(value: number, what: string): void {
  assert(isU64(value), `${what} must be a safe non-negative integer, got ${value}`);
}
