/**
 * The four ways bench/append.ts appends a chunk to a stored value: Strata's `append` (in place
 * into the blob's reserve when it fits), and read-modify-write (get, concatenate, put) on a
 * second Strata database with the same options, on classic-level and on lmdb-js (noSync). The
 * peers come from engine-stores.ts, so they run exactly as in bench/engine.ts.
 */
import { Strata, type StrataStats } from '../src/db/strata.js';
import { type BenchStore, openStore } from './engine-stores.js';

export type AppenderName = 'strata-append' | 'strata-rmw' | 'classic-level' | 'lmdb';
export const APPENDER_NAMES: readonly AppenderName[] = [
  'strata-append',
  'strata-rmw',
  'classic-level',
  'lmdb',
];

/** Strata's counters a phase reports, as deltas. */
export interface StrataWriteCounters {
  readonly blobBytesWritten: number;
  readonly memtableBytesWritten: number;
  readonly flushBytesWritten: number;
  readonly compactionBytesWritten: number;
  readonly appendsInPlace: number;
  readonly appendsRewritten: number;
  readonly flushes: number;
  readonly compactions: number;
}

export interface Appender {
  readonly name: AppenderName;
  readonly label: string;
  /** Writes the initial value, untimed. */
  load(key: Uint8Array, value: Uint8Array): Promise<void>;
  /** The timed operation: the value of `key` becomes its old bytes followed by `chunk`. */
  append(key: Uint8Array, chunk: Uint8Array): Promise<void>;
  /** The whole value (a view the store may reuse on its next call). */
  get(key: Uint8Array): Uint8Array | undefined;
  /** Strata's cumulative counters since open; undefined for the peers. */
  counters(): StrataWriteCounters | undefined;
  /** Background work the store knows of (Strata: a flush or compaction in flight). */
  busy(): boolean;
  close(): Promise<void>;
}

export async function openAppender(name: AppenderName, dir: string): Promise<Appender> {
  if (name === 'strata-append' || name === 'strata-rmw') {
    return new StrataAppender(name, await Strata.open(dir));
  }
  return new PeerAppender(name, await openStore(name, dir, { sync: false }));
}

class StrataAppender implements Appender {
  readonly label: string;

  constructor(
    readonly name: 'strata-append' | 'strata-rmw',
    private readonly db: Strata,
  ) {
    this.label = name === 'strata-append' ? 'strata append (in place)' : 'strata get + put';
  }

  load(key: Uint8Array, value: Uint8Array): Promise<void> {
    return this.db.put(key, value);
  }

  append(key: Uint8Array, chunk: Uint8Array): Promise<void> {
    if (this.name === 'strata-append') return this.db.append(key, chunk);
    return this.db.put(key, concat(this.db.get(key), chunk));
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.db.get(key);
  }

  counters(): StrataWriteCounters {
    return countersOf(this.db.stats());
  }

  busy(): boolean {
    const stats = this.db.stats();
    return stats.memtables > 1 || stats.compactionsRunning > 0;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

function countersOf(stats: StrataStats): StrataWriteCounters {
  return {
    blobBytesWritten: stats.blobBytesWritten,
    memtableBytesWritten: stats.memtableBytesWritten,
    flushBytesWritten: stats.flushBytesWritten,
    compactionBytesWritten: stats.compactionBytesWritten,
    appendsInPlace: stats.appendsInPlace,
    appendsRewritten: stats.appendsRewritten,
    flushes: stats.flushes,
    compactions: stats.compactions,
  };
}

/** Read-modify-write through bench/engine-stores.ts (classic-level `getSync`, lmdb `getBinaryFast`). */
class PeerAppender implements Appender {
  readonly label: string;

  constructor(
    readonly name: 'classic-level' | 'lmdb',
    private readonly store: BenchStore,
  ) {
    this.label = `${store.label} get + put`;
  }

  load(key: Uint8Array, value: Uint8Array): Promise<void> {
    return this.store.put(key, value);
  }

  append(key: Uint8Array, chunk: Uint8Array): Promise<void> {
    // concat copies at once: lmdb's getBinaryFast returns a buffer its next get reuses.
    return this.store.put(key, concat(this.store.get(key), chunk));
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.store.get(key);
  }

  counters(): undefined {
    return undefined;
  }

  busy(): boolean {
    return false;
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

/**
 * A fresh array holding `head` (absent: nothing) then `tail`. Copies `length` bytes explicitly:
 * lmdb's getBinaryFast returns its 16 MiB read buffer with `length` set to the value's size, and
 * `TypedArray.set` would copy the whole buffer.
 */
function concat(head: Uint8Array | undefined, tail: Uint8Array): Uint8Array {
  const headBytes = head?.length ?? 0;
  const joined = new Uint8Array(headBytes + tail.length);
  if (head !== undefined) joined.set(head.subarray(0, headBytes));
  joined.set(tail, headBytes);
  return joined;
}

/** `after - before`, field by field. */
export function countersDelta(
  before: StrataWriteCounters,
  after: StrataWriteCounters,
): StrataWriteCounters {
  return {
    blobBytesWritten: after.blobBytesWritten - before.blobBytesWritten,
    memtableBytesWritten: after.memtableBytesWritten - before.memtableBytesWritten,
    flushBytesWritten: after.flushBytesWritten - before.flushBytesWritten,
    compactionBytesWritten: after.compactionBytesWritten - before.compactionBytesWritten,
    appendsInPlace: after.appendsInPlace - before.appendsInPlace,
    appendsRewritten: after.appendsRewritten - before.appendsRewritten,
    flushes: after.flushes - before.flushes,
    compactions: after.compactions - before.compactions,
  };
}

export function countersSum(all: readonly StrataWriteCounters[]): StrataWriteCounters {
  const sum = (pick: (counters: StrataWriteCounters) => number): number =>
    all.reduce((total, counters) => total + pick(counters), 0);
  return {
    blobBytesWritten: sum((counters) => counters.blobBytesWritten),
    memtableBytesWritten: sum((counters) => counters.memtableBytesWritten),
    flushBytesWritten: sum((counters) => counters.flushBytesWritten),
    compactionBytesWritten: sum((counters) => counters.compactionBytesWritten),
    appendsInPlace: sum((counters) => counters.appendsInPlace),
    appendsRewritten: sum((counters) => counters.appendsRewritten),
    flushes: sum((counters) => counters.flushes),
    compactions: sum((counters) => counters.compactions),
  };
}

/** Every byte Strata's counters say it wrote: blob files, NVM memtable, flushes, compactions. */
export function strataBytesWritten(counters: StrataWriteCounters): number {
  return (
    counters.blobBytesWritten +
    counters.memtableBytesWritten +
    counters.flushBytesWritten +
    counters.compactionBytesWritten
  );
}
