/**
 * The iterators of StrataLevel: entries (`db.iterator()`), keys (`db.keys()`) and values
 * (`db.values()`). abstract-level's three iterator classes share no base class, so each kind is a
 * thin subclass over one `Cursor`, which walks a StrataIterator created when the iterator was (so
 * it reads at that moment's state: implicit snapshots) and turns stored bytes into the format
 * asked for. abstract-level itself checks state (closed, busy, aborted before a call), counts
 * entries against `limit` and decodes the formats into the user's encodings.
 *
 * Strata reads are synchronous, so a call runs to completion without yielding, except: with a
 * `signal`, a call yields once to let an abort that follows it land; `all()` yields to the event
 * loop between chunks of ALL_CHUNK_SIZE entries so that a long scan does not starve it.
 *
 * Thread model: main thread, one caller at a time (abstract-level rejects overlapping calls).
 */
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import {
  AbstractIterator,
  type AbstractIteratorOptions,
  AbstractKeyIterator,
  AbstractValueIterator,
} from 'abstract-level';
import type { StrataIterator } from '../db/iterator.js';
import { fromBytes, type LevelEncoded, type LevelFormat, storedKey, userKey } from './key-space.js';
import { AbortError, StrataLevelError } from './level-errors.js';
import type { StrataLevelSnapshot } from './strata-level-snapshot.js';

/** The options abstract-level passes to `_iterator()`, `_keys()` and `_values()`. */
export interface PrivateIteratorOptions {
  readonly gt?: LevelEncoded;
  readonly gte?: LevelEncoded;
  readonly lt?: LevelEncoded;
  readonly lte?: LevelEncoded;
  readonly reverse: boolean;
  /** -1 for no limit. */
  readonly limit: number;
  /** Only `_iterator()`: false leaves keys (or values) out of the entries. */
  readonly keys?: boolean;
  readonly values?: boolean;
  readonly keyEncoding: LevelFormat;
  readonly valueEncoding: LevelFormat;
  readonly signal?: AbortSignal;
  readonly snapshot?: StrataLevelSnapshot;
}

type Entry = [LevelEncoded | undefined, LevelEncoded | undefined];
type BaseOptions = AbstractIteratorOptions<LevelEncoded, LevelEncoded>;

/** Entries per synchronous stretch of `all()`. */
const ALL_CHUNK_SIZE = 1000;

export class StrataLevelIterator<TDatabase> extends AbstractIterator<
  TDatabase,
  LevelEncoded,
  LevelEncoded
> {
  readonly #cursor: Cursor<Entry>;

  /** Internal: use `db.iterator()`. */
  constructor(db: TDatabase, options: PrivateIteratorOptions, inner: StrataIterator | undefined) {
    super(db, options as BaseOptions);
    const keys = options.keys !== false;
    const values = options.values !== false;
    const { keyEncoding, valueEncoding } = options;
    this.#cursor = new Cursor(inner, options, (cursor) => [
      keys ? userKey(cursor.key(), keyEncoding) : undefined,
      values ? fromBytes(cursor.value(), valueEncoding) : undefined,
    ]);
  }

  async _next(): Promise<Entry | undefined> {
    return this.#cursor.next();
  }

  async _nextv(size: number): Promise<Entry[]> {
    return this.#cursor.nextv(size);
  }

  async _all(): Promise<Entry[]> {
    return this.#cursor.all(this.limit - this.count);
  }

  _seek(target: LevelEncoded): void {
    this.#cursor.seek(target);
  }

  async _close(): Promise<void> {
    this.#cursor.close();
  }
}

export class StrataLevelKeyIterator<TDatabase> extends AbstractKeyIterator<
  TDatabase,
  LevelEncoded
> {
  readonly #cursor: Cursor<LevelEncoded>;

  /** Internal: use `db.keys()`. */
  constructor(db: TDatabase, options: PrivateIteratorOptions, inner: StrataIterator | undefined) {
    super(db, options as BaseOptions);
    const { keyEncoding } = options;
    this.#cursor = new Cursor(inner, options, (cursor) => userKey(cursor.key(), keyEncoding));
  }

  async _next(): Promise<LevelEncoded | undefined> {
    return this.#cursor.next();
  }

  async _nextv(size: number): Promise<LevelEncoded[]> {
    return this.#cursor.nextv(size);
  }

  async _all(): Promise<LevelEncoded[]> {
    return this.#cursor.all(this.limit - this.count);
  }

  _seek(target: LevelEncoded): void {
    this.#cursor.seek(target);
  }

  async _close(): Promise<void> {
    this.#cursor.close();
  }
}

export class StrataLevelValueIterator<TDatabase> extends AbstractValueIterator<
  TDatabase,
  LevelEncoded,
  LevelEncoded
> {
  readonly #cursor: Cursor<LevelEncoded>;

  /** Internal: use `db.values()`. */
  constructor(db: TDatabase, options: PrivateIteratorOptions, inner: StrataIterator | undefined) {
    super(db, options as BaseOptions);
    const { valueEncoding } = options;
    this.#cursor = new Cursor(inner, options, (cursor) => fromBytes(cursor.value(), valueEncoding));
  }

  async _next(): Promise<LevelEncoded | undefined> {
    return this.#cursor.next();
  }

  async _nextv(size: number): Promise<LevelEncoded[]> {
    return this.#cursor.nextv(size);
  }

  async _all(): Promise<LevelEncoded[]> {
    return this.#cursor.all(this.limit - this.count);
  }

  _seek(target: LevelEncoded): void {
    this.#cursor.seek(target);
  }

  async _close(): Promise<void> {
    this.#cursor.close();
  }
}

/**
 * A StrataIterator walked in iteration order. It is positioned lazily (first call or `seek`),
 * reads the entry it stands on and steps past it at once, so `valid()` always says whether one
 * more item exists. Without one (its snapshot was closed first) every read throws.
 */
class Cursor<T> {
  readonly #engineIterator: StrataIterator | undefined;
  readonly #reverse: boolean;
  readonly #signal: AbortSignal | undefined;
  readonly #read: (inner: StrataIterator) => T;
  #positioned = false;

  constructor(
    inner: StrataIterator | undefined,
    options: PrivateIteratorOptions,
    read: (inner: StrataIterator) => T,
  ) {
    this.#engineIterator = inner;
    this.#reverse = options.reverse;
    this.#signal = options.signal ?? undefined;
    this.#read = read;
  }

  async next(): Promise<T | undefined> {
    await this.#yieldToAbort();
    return this.#take();
  }

  async nextv(size: number): Promise<T[]> {
    await this.#yieldToAbort();
    return this.#takeUpTo(size);
  }

  /** Every remaining item, at most `remaining` (Infinity without a limit). */
  async all(remaining: number): Promise<T[]> {
    await this.#yieldToAbort();
    const items = this.#takeUpTo(Math.min(remaining, ALL_CHUNK_SIZE));
    // Only a full chunk can have more behind it, and every further stretch takes entries, so
    // the loop ends with the data.
    let chunkSize = items.length;
    while (chunkSize === ALL_CHUNK_SIZE && items.length < remaining) {
      await nextMacrotask();
      this.#throwIfAborted();
      const chunk = this.#takeUpTo(Math.min(remaining - items.length, ALL_CHUNK_SIZE));
      chunkSize = chunk.length;
      for (const item of chunk) items.push(item);
    }
    return items;
  }

  /** The first key >= target (the last one <= target in reverse), within the range. */
  seek(target: LevelEncoded): void {
    this.#inner.seek(storedKey(target));
    this.#positioned = true;
  }

  close(): void {
    this.#engineIterator?.close();
  }

  get #inner(): StrataIterator {
    if (this.#engineIterator !== undefined) return this.#engineIterator;
    throw new StrataLevelError(
      'LEVEL_SNAPSHOT_NOT_OPEN',
      'the snapshot was closed before the iterator was created',
    );
  }

  #take(): T | undefined {
    if (!this.#more()) return undefined;
    const item = this.#read(this.#inner);
    if (this.#reverse) this.#inner.prev();
    else this.#inner.next();
    return item;
  }

  #takeUpTo(size: number): T[] {
    const items: T[] = [];
    while (items.length < size) {
      const item = this.#take();
      if (item === undefined) break;
      items.push(item);
    }
    return items;
  }

  #more(): boolean {
    if (!this.#positioned) {
      this.#positioned = true;
      if (this.#reverse) this.#inner.seekLast();
      else this.#inner.seekFirst();
    }
    return this.#inner.valid();
  }

  /**
   * With a signal, the call is in progress across one microtask, so an abort issued right after
   * the call (abstract-level checks the signal only before it) rejects it.
   */
  async #yieldToAbort(): Promise<void> {
    if (this.#signal === undefined) return;
    await undefined;
    this.#throwIfAborted();
  }

  #throwIfAborted(): void {
    if (this.#signal?.aborted === true) throw new AbortError();
  }
}
