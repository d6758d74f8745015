/**
 * The engine's read path over one read view (memtables newest first, then the table levels, at a
 * seq): point lookups, iterators, and `StrataSnapshot`, which reads the current memtables and
 * tables at its own seq. Nothing here changes state; `Strata` (strata.ts) makes the views and
 * pins what iterators read.
 *
 * Thread model: main thread only, like the Strata that owns the views.
 */
import { StrataError } from '../errors.js';
import { INDEX_KEYSPACE_PREFIX } from '../fields/index-key.js';
import { DbIterator, type DbIteratorOptions } from '../lsm/db-iterator.js';
import { type InternalIterator, memtableSource, tableSource } from '../lsm/internal-iterator.js';
import { findTable, levelSource } from '../lsm/level-source.js';
import { MergingIterator } from '../lsm/merging-iterator.js';
import type { Memtable } from '../memtable/memtable.js';
import {
  compareUserKeys,
  KIND_BLOB_REFERENCE,
  KIND_DELETION,
  KIND_VALUE,
  type Seq,
} from '../sst/internal-key.js';
import { AggregationBuffer } from '../write/aggregation-buffer.js';
import type { BlobStore } from './blob-store.js';
import { StrataIterator } from './iterator.js';
import { encodeBound, encodeKey, invalid } from './options.js';
import type { LiveLevels, LiveTable } from './table-set.js';

export interface IteratorOptions {
  readonly gt?: Uint8Array | string;
  readonly gte?: Uint8Array | string;
  readonly lt?: Uint8Array | string;
  readonly lte?: Uint8Array | string;
  /** Yield keys in descending order. Default false. */
  readonly reverse?: boolean;
  /** The most entries the for…of loop yields. Default Infinity. */
  readonly limit?: number;
  /**
   * Read at this snapshot (of the same database) instead of the current state;
   * `db.iterator({ snapshot, ...rest })` is `snapshot.iterator(rest)`.
   */
  readonly snapshot?: StrataSnapshot;
}

export interface LiveMemtable {
  readonly id: number;
  readonly memtable: Memtable;
  /** Readers (iterators, snapshots) holding this memtable in their view. */
  refs: number;
  /** Flushed and removed from the catalog; dropped once refs is 0 and `unpinned`. */
  retired: boolean;
  unpinned: boolean;
  dropped: boolean;
  /** The first view version posted to attached threads without it (handle-server.ts). */
  leftAtVersion?: number;
}

export interface ReadView {
  /** Newest first. */
  readonly memtables: readonly LiveMemtable[];
  /** The table levels (level 0 oldest first, as the catalog orders it). */
  readonly levels: LiveLevels;
  readonly seq: Seq;
}

/**
 * A consistent view at one seq. It holds no tables or memtables: each read looks at the current
 * ones at the snapshot's seq, and every version that seq can see survives until `release()`,
 * because flushes keep every version and compactions keep the newest version per snapshot
 * stripe (src/lsm/compaction-job.ts).
 */
export class StrataSnapshot {
  readonly #seq: Seq;
  readonly #owner: SnapshotOwner;
  #released = false;

  /** Internal: use `db.snapshot()`. */
  constructor(seq: Seq, owner: SnapshotOwner) {
    this.#seq = seq;
    this.#owner = owner;
  }

  /** The newest seq this snapshot sees. */
  get seq(): Seq {
    return this.#seq;
  }

  get released(): boolean {
    return this.#released;
  }

  get(key: Uint8Array | string): Uint8Array | undefined {
    this.#check();
    const bytes = encodeKey(key, this.#owner.maxKeyBytes);
    return lookup({ ...this.#owner.view(), seq: this.#seq }, bytes, this.#owner.blobs);
  }

  /** An iterator at this snapshot's seq; it stays usable after `release()` until closed. */
  iterator(options: IteratorOptions = {}): StrataIterator {
    this.#check();
    const view = this.#owner.acquire({ ...this.#owner.view(), seq: this.#seq });
    try {
      return iteratorOn(view, options, () => this.#owner.release(view), this.#owner.blobs);
    } catch (error) {
      this.#owner.release(view);
      throw error;
    }
  }

  /** Idempotent. Lets compactions drop the versions only this snapshot could see. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#owner.forget(this);
  }

  #check(): void {
    if (this.#released) throw new StrataError('ERR_CLOSED', 'snapshot was released');
  }
}

/** What reads need of the blob store: resolving a reference (attached threads have their own). */
export type BlobReader = Pick<BlobStore, 'read'>;

export interface SnapshotOwner {
  readonly maxKeyBytes: number;
  readonly blobs: BlobReader;
  /** The database's current memtables and tables. Throws ERR_CLOSED after close. */
  view(): ReadView;
  acquire(view: ReadView): ReadView;
  release(view: ReadView): void;
  forget(snapshot: StrataSnapshot): void;
}

/**
 * Newest version first: memtables, then level-0 tables newest first, then in each deeper level
 * the one table whose key range holds the key; a tombstone ends the search. A table's bloom
 * filter answers most misses without reading a block.
 */
export function lookup(view: ReadView, key: Uint8Array, blobs: BlobReader): Uint8Array | undefined {
  const stored = lookupAt(view.memtables, view.levels, view.seq, key);
  return stored !== undefined && storedKind === KIND_BLOB_REFERENCE ? blobs.read(stored) : stored;
}

/**
 * The kind of the value the last lookupAt returned: KIND_VALUE, or KIND_BLOB_REFERENCE when the
 * value is an encoded reference to resolve. A module variable instead of a result object keeps a
 * point read free of allocations; lookupAt is synchronous, so the caller reads it right after.
 */
export let storedKind = KIND_VALUE;

/**
 * What a point read returns is a private copy carved from 64 KiB slabs (values up to a quarter
 * of that; longer ones get their own array), as Node's pooled Buffers are. A fresh Uint8Array of
 * 1 KB costs about 1 µs to allocate, which was a third of a get; a slab copy costs 0.2 µs. So
 * values returned by get may share an ArrayBuffer (never written again) with other values;
 * `value.slice()` gives one of its own to a caller who keeps a small value long and wants its
 * slab freed. One copier per thread: each thread loads its own module instance.
 */
const VALUE_SLAB_BYTES = 64 * 1024;
const valueCopies = new AggregationBuffer(VALUE_SLAB_BYTES);

export function lookupAt(
  memtables: readonly LiveMemtable[],
  levels: LiveLevels,
  seq: Seq,
  key: Uint8Array,
): Uint8Array | undefined {
  for (let index = 0; index < memtables.length; index++) {
    const entry = memtables[index]!.memtable.getView(key, seq);
    if (entry !== undefined) {
      storedKind = entry.kind;
      return entry.kind === KIND_DELETION ? undefined : valueCopies.copy(entry.value);
    }
  }
  const level0 = levels[0] ?? [];
  for (let index = level0.length - 1; index >= 0; index--) {
    const entry = level0[index]!.reader.get(key, seq);
    if (entry !== undefined) {
      storedKind = entry.kind;
      return entry.kind === KIND_DELETION ? undefined : valueCopies.copy(entry.value);
    }
  }
  for (let level = 1; level < levels.length; level++) {
    const tables = levels[level]!;
    if (tables.length === 0) continue;
    const index = findTable(tables, key);
    const table = tables[index];
    if (table === undefined || compareUserKeys(table.smallestUserKey, key) > 0) continue;
    const entry = table.reader.get(key, seq);
    if (entry !== undefined) {
      storedKind = entry.kind;
      return entry.kind === KIND_DELETION ? undefined : valueCopies.copy(entry.value);
    }
  }
  return undefined;
}

export function iteratorOn(
  view: ReadView,
  options: unknown,
  release: () => void,
  blobs: BlobReader,
  check?: () => void,
): StrataIterator {
  const dbOptions = iteratorOptions(options);
  // Index entries share the keyspace; users never see them (their keys are refused, too).
  const inner = new DbIterator(mergedSources(view), view.seq, {
    ...dbOptions,
    hiddenPrefix: INDEX_KEYSPACE_PREFIX,
  });
  return new StrataIterator(inner, release, (encodedRef) => blobs.read(encodedRef), check);
}

/** Every version in the view's memtables and tables, merged in internal-key order. */
export function mergedSources(view: ReadView): MergingIterator {
  const sources: InternalIterator[] = [];
  for (const live of view.memtables) sources.push(memtableSource(live.memtable, view.seq));
  const levels = view.levels;
  const level0 = levels[0] ?? [];
  for (let index = level0.length - 1; index >= 0; index--) {
    sources.push(tableSource(level0[index]!.reader));
  }
  for (let level = 1; level < levels.length; level++) {
    const tables: readonly LiveTable[] = levels[level]!;
    if (tables.length > 0) sources.push(levelSource(tables));
  }
  return new MergingIterator(sources);
}

function iteratorOptions(options: unknown): DbIteratorOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalid('iterator options must be an object');
  }
  const given = options as Record<string, unknown>;
  if (given.gt !== undefined && given.gte !== undefined) throw invalid('give gt or gte, not both');
  if (given.lt !== undefined && given.lte !== undefined) throw invalid('give lt or lte, not both');
  const reverse = given.reverse ?? false;
  if (typeof reverse !== 'boolean') throw invalid('reverse must be a boolean');
  const limit = given.limit ?? Number.POSITIVE_INFINITY;
  if (
    typeof limit !== 'number' ||
    !(limit === Number.POSITIVE_INFINITY || (Number.isSafeInteger(limit) && limit >= 0))
  ) {
    throw invalid('limit must be an integer >= 0 or Infinity');
  }
  const result: {
    gt?: Uint8Array;
    gte?: Uint8Array;
    lt?: Uint8Array;
    lte?: Uint8Array;
    reverse: boolean;
    limit: number;
  } = { reverse, limit };
  for (const name of ['gt', 'gte', 'lt', 'lte'] as const) {
    const bound = encodeBound(given[name], name);
    if (bound !== undefined) result[name] = bound;
  }
  return result;
}
