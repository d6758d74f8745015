/**
 * The one cursor shape every source of internal entries adapts to, so the merging iterator can
 * combine tables, memtables and test arrays without knowing which is which. Entries come in
 * internal-key order: user key bytewise ascending, then seq descending, then kind descending
 * (src/sst/internal-key.ts), so the newest version of a user key comes first.
 *
 * Arrays returned by userKey() and value() are never changed in place after the cursor moves, so a
 * caller may keep them (the DbIterator's reverse scan saves them). Table values are views of
 * immutable cached blocks; memtable keys and values are views of immutable records in the image,
 * valid while the reader pins the memtable (the engine's iterators do, and copy what they return).
 *
 * Thread model: each cursor is owned by one caller on one thread, like the iterators it wraps.
 */
import { assert, invariantsEnabled } from '../assert.js';
import type { Memtable } from '../memtable/memtable.js';
import type { MemtableIterator } from '../memtable/memtable-iterator.js';
import {
  compareUserKeys,
  internalKeyKind,
  internalKeySeq,
  lookupKey,
  SEQ_MAX,
  type Seq,
  userKeyOf,
} from '../sst/internal-key.js';
import type { TableIterator } from '../sst/table-iterator.js';
import type { TableReader } from '../sst/table-reader.js';

export interface InternalIterator {
  valid(): boolean;
  /** Requires: valid(). */
  userKey(): Uint8Array;
  /** Requires: valid(). */
  seq(): Seq;
  /** Requires: valid(). */
  kind(): number;
  /** Requires: valid(). */
  value(): Uint8Array;
  seekFirst(): void;
  seekLast(): void;
  /** Moves to the first entry whose user key is >= target: its newest version. */
  seek(userKey: Uint8Array): void;
  /** Requires: valid(). */
  next(): void;
  /** Requires: valid(). */
  prev(): void;
}

/** One version of a user key, as arraySource takes it and tests' oracles hold it. */
export interface InternalEntry {
  readonly userKey: Uint8Array;
  readonly seq: Seq;
  readonly kind: number;
  readonly value: Uint8Array;
}

/** Internal-key order on decoded entries: user key ascending, seq descending, kind descending. */
export function compareEntries(
  a: { userKey: Uint8Array; seq: Seq; kind: number },
  b: { userKey: Uint8Array; seq: Seq; kind: number },
): number {
  const byUserKey = compareUserKeys(a.userKey, b.userKey);
  if (byUserKey !== 0) return byUserKey;
  if (a.seq !== b.seq) return a.seq > b.seq ? -1 : 1;
  return b.kind - a.kind;
}

/** Every entry of a table, all versions and tombstones included. */
export function tableSource(reader: TableReader): InternalIterator {
  return new TableSource(reader.iterator());
}

/** Every version in `memtable` with seq <= min(snapshotSeq, its visible seq now). */
export function memtableSource(memtable: Memtable, snapshotSeq: Seq): InternalIterator {
  return new MemtableSource(memtable.iterator(snapshotSeq));
}

/** Requires: entries sorted by compareEntries, with no two equal. */
export function arraySource(entries: readonly InternalEntry[]): InternalIterator {
  if (invariantsEnabled) {
    for (let index = 1; index < entries.length; index++) {
      assert(compareEntries(entries[index - 1]!, entries[index]!) < 0, 'arraySource: unsorted');
    }
  }
  return new ArraySource(entries);
}

/**
 * The table iterator copies the internal key on every key() call, so the adapter decodes the
 * current key once per move and answers from that.
 */
class TableSource implements InternalIterator {
  private readonly iterator: TableIterator;
  private currentUserKey: Uint8Array = new Uint8Array(0);
  private currentSeq: Seq = 0;
  private currentKind = 0;

  constructor(iterator: TableIterator) {
    this.iterator = iterator;
  }

  valid(): boolean {
    return this.iterator.valid();
  }

  userKey(): Uint8Array {
    assert(this.iterator.valid(), 'userKey() on an invalid table source');
    return this.currentUserKey;
  }

  seq(): Seq {
    assert(this.iterator.valid(), 'seq() on an invalid table source');
    return this.currentSeq;
  }

  kind(): number {
    assert(this.iterator.valid(), 'kind() on an invalid table source');
    return this.currentKind;
  }

  value(): Uint8Array {
    return this.iterator.value();
  }

  seekFirst(): void {
    this.iterator.seekFirst();
    this.decode();
  }

  seekLast(): void {
    this.iterator.seekLast();
    this.decode();
  }

  seek(userKey: Uint8Array): void {
    this.iterator.seek(lookupKey(userKey, SEQ_MAX));
    this.decode();
  }

  next(): void {
    this.iterator.next();
    this.decode();
  }

  prev(): void {
    this.iterator.prev();
    this.decode();
  }

  private decode(): void {
    if (!this.iterator.valid()) return;
    const key = this.iterator.key();
    this.currentUserKey = userKeyOf(key);
    this.currentSeq = internalKeySeq(key);
    this.currentKind = internalKeyKind(key);
  }
}

/**
 * Answers with views of the records in the image (never changed once written), which stay valid
 * while the reader pins the memtable: the engine's iterators do, and copy what they hand out.
 */
class MemtableSource implements InternalIterator {
  private readonly iterator: MemtableIterator;
  private currentUserKey: Uint8Array | undefined;

  constructor(iterator: MemtableIterator) {
    this.iterator = iterator;
  }

  valid(): boolean {
    return this.iterator.valid();
  }

  userKey(): Uint8Array {
    if (this.currentUserKey === undefined) this.currentUserKey = this.iterator.keyView();
    return this.currentUserKey;
  }

  seq(): Seq {
    return this.iterator.seq();
  }

  kind(): number {
    return this.iterator.kind();
  }

  value(): Uint8Array {
    return this.iterator.valueView();
  }

  seekFirst(): void {
    this.currentUserKey = undefined;
    this.iterator.seekFirst();
  }

  seekLast(): void {
    this.currentUserKey = undefined;
    this.iterator.seekLast();
  }

  seek(userKey: Uint8Array): void {
    this.currentUserKey = undefined;
    this.iterator.seek(userKey);
  }

  next(): void {
    this.currentUserKey = undefined;
    this.iterator.next();
  }

  prev(): void {
    this.currentUserKey = undefined;
    this.iterator.prev();
  }
}

class ArraySource implements InternalIterator {
  private readonly entries: readonly InternalEntry[];
  /** -1 or entries.length when invalid. */
  private index = -1;

  constructor(entries: readonly InternalEntry[]) {
    this.entries = entries;
  }

  valid(): boolean {
    return this.index >= 0 && this.index < this.entries.length;
  }

  userKey(): Uint8Array {
    return this.current().userKey;
  }

  seq(): Seq {
    return this.current().seq;
  }

  kind(): number {
    return this.current().kind;
  }

  value(): Uint8Array {
    return this.current().value;
  }

  seekFirst(): void {
    this.index = 0;
  }

  seekLast(): void {
    this.index = this.entries.length - 1;
  }

  seek(userKey: Uint8Array): void {
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareUserKeys(this.entries[middle]!.userKey, userKey) < 0) low = middle + 1;
      else high = middle;
    }
    this.index = low;
  }

  next(): void {
    assert(this.valid(), 'next() on an invalid array source');
    this.index++;
  }

  prev(): void {
    assert(this.valid(), 'prev() on an invalid array source');
    this.index--;
  }

  private current(): InternalEntry {
    const entry = this.entries[this.index];
    assert(entry !== undefined, 'array source is not valid');
    return entry;
  }
}
