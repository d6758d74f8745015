/**
 * One source for a whole sorted level (1 and below): its tables never share a user key and are
 * ordered by key, so the level reads as one run. Only the table under the cursor has an open
 * iterator; `seek` finds its table by binary search over the tables' largest user keys, and
 * moving off a table's end opens the next (or previous) one. The merging iterator then works
 * on one child per level instead of one per table (LevelDB's two-level "concatenating"
 * iterator).
 *
 * Thread model: like every InternalIterator, owned by one caller on one thread.
 */
import { assert } from '../assert.js';
import { compareUserKeys, type Seq } from '../sst/internal-key.js';
import type { TableReader } from '../sst/table-reader.js';
import { type InternalIterator, tableSource } from './internal-iterator.js';

/** A table of the level with its user-key range (decoded once by the caller). */
export interface LevelTable {
  readonly reader: TableReader;
  readonly smallestUserKey: Uint8Array;
  readonly largestUserKey: Uint8Array;
}

/** Requires: `tables` sorted by key, their user-key ranges disjoint. */
export function levelSource(tables: readonly LevelTable[]): InternalIterator {
  return new LevelSource(tables);
}

/** The index of the first table whose largest user key is >= `userKey` (tables.length if none). */
export function findTable(tables: readonly LevelTable[], userKey: Uint8Array): number {
  let low = 0;
  let high = tables.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareUserKeys(tables[middle]!.largestUserKey, userKey) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

class LevelSource implements InternalIterator {
  readonly #tables: readonly LevelTable[];
  #index = -1;
  #current: InternalIterator | undefined;

  constructor(tables: readonly LevelTable[]) {
    this.#tables = tables;
  }

  valid(): boolean {
    return this.#current?.valid() === true;
  }

  userKey(): Uint8Array {
    return this.#valid().userKey();
  }

  seq(): Seq {
    return this.#valid().seq();
  }

  kind(): number {
    return this.#valid().kind();
  }

  value(): Uint8Array {
    return this.#valid().value();
  }

  seekFirst(): void {
    this.#open(0);
    this.#current?.seekFirst();
    this.#skipEmptyForward();
  }

  seekLast(): void {
    this.#open(this.#tables.length - 1);
    this.#current?.seekLast();
    this.#skipEmptyBackward();
  }

  seek(userKey: Uint8Array): void {
    this.#open(findTable(this.#tables, userKey));
    this.#current?.seek(userKey);
    this.#skipEmptyForward();
  }

  next(): void {
    this.#valid().next();
    this.#skipEmptyForward();
  }

  prev(): void {
    this.#valid().prev();
    this.#skipEmptyBackward();
  }

  #valid(): InternalIterator {
    const current = this.#current;
    assert(current?.valid() === true, 'level source is not valid');
    return current as InternalIterator;
  }

  /** Positions on table `index` (unpositioned), or nowhere when out of range. */
  #open(index: number): void {
    if (index < 0 || index >= this.#tables.length) {
      this.#index = -1;
      this.#current = undefined;
      return;
    }
    if (index !== this.#index || this.#current === undefined) {
      this.#index = index;
      this.#current = tableSource(this.#tables[index]!.reader);
    }
  }

  #skipEmptyForward(): void {
    // Bounded: each step opens the next table.
    while (this.#current !== undefined && !this.#current.valid()) {
      this.#open(this.#index + 1);
      this.#current?.seekFirst();
    }
  }

  #skipEmptyBackward(): void {
    while (this.#current !== undefined && !this.#current.valid()) {
      this.#open(this.#index - 1);
      this.#current?.seekLast();
    }
  }
}
