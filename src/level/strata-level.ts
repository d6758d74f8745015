/**
 * StrataLevel: a Strata database behind the abstract-level 3 interface, so that code written for
 * `level` / `classic-level` (encodings, sublevels, chained batches, iterators, snapshots) runs on
 * it. abstract-level owns the public API, the open/close state machine, deferred open, encodings,
 * sublevels, hooks and events; this class implements its private `_*` methods on one Strata
 * instance, which exists while the database is open. Keys are stored behind a tag byte
 * (key-space.ts); README.md beside this file lists what the manifest declares and why.
 *
 * Thread model: main thread only, like Strata. Every read (`_get`, `_getSync`, `_iterator`, ...)
 * reads synchronously when abstract-level calls it, which is what makes implicit snapshots hold.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type AbstractDatabaseOptions, AbstractLevel } from 'abstract-level';
import { assert } from '../assert.js';
import type { StrataIterator } from '../db/iterator.js';
import { MAX_KEY_BYTES_DEFAULT } from '../db/options.js';
import {
  type BatchOp,
  CATALOG_DIR_NAME,
  IMAGE_FILE_NAME,
  Strata,
  type StrataOptions,
  type StrataSnapshot,
  type StrataStats,
} from '../db/strata.js';
import {
  type EncodedRange,
  fromBytes,
  type LevelEncoded,
  type LevelFormat,
  storedKey,
  storedRange,
} from './key-space.js';
import { rethrowAsLevelError, StrataLevelError, toLevelError } from './level-errors.js';
import {
  type PrivateIteratorOptions,
  StrataLevelIterator,
  StrataLevelKeyIterator,
  StrataLevelValueIterator,
} from './strata-level-iterator.js';
import { type SnapshotOptions, StrataLevelSnapshot } from './strata-level-snapshot.js';

/**
 * abstract-level's database options, and Strata's under `strata` (see src/db/README.md): kept
 * apart so that neither set of names can shadow the other, and read by the constructor only
 * (open() takes abstract-level's options). `strata.maxKeyBytes` limits the user's keys; the
 * stored keys are one tag byte longer.
 */
export interface StrataLevelOptions<K = string, V = string> extends AbstractDatabaseOptions<K, V> {
  readonly strata?: StrataOptions | undefined;
}

type Manifest = ConstructorParameters<typeof AbstractLevel>[0];

/** What StrataLevel supports; abstract-level adds the transcoded encodings and its events. */
const MANIFEST: Manifest & { readonly getSync: boolean } = {
  encodings: { buffer: true, view: true, utf8: true },
  implicitSnapshots: true,
  explicitSnapshots: true,
  getSync: true,
  has: true,
  permanence: true,
  seek: true,
  createIfMissing: true,
  errorIfExists: true,
  signals: { iterators: true },
  additionalMethods: { flush: true, stats: true },
};

/** The open options StrataLevel reads (abstract-level forwards any others the user gave). */
interface PrivateOpenOptions {
  readonly createIfMissing: boolean;
  readonly errorIfExists: boolean;
}

interface PrivateReadOptions {
  readonly keyEncoding: LevelFormat;
  readonly valueEncoding: LevelFormat;
  readonly snapshot?: StrataLevelSnapshot;
}

interface PrivateBatchOp {
  readonly type: 'put' | 'del';
  readonly key: LevelEncoded;
  readonly value?: LevelEncoded;
}

interface PrivateClearOptions extends EncodedRange {
  readonly reverse: boolean;
  readonly limit: number;
  readonly snapshot?: StrataLevelSnapshot;
}

/** Deletes per engine batch in `clear()`. */
const CLEAR_BATCH_OPS_MAX = 1024;

type LevelFormatValue = string | Buffer | Uint8Array;

export class StrataLevel<KDefault = string, VDefault = string> extends AbstractLevel<
  LevelFormatValue,
  KDefault,
  VDefault
> {
  readonly #location: string;
  readonly #strataOptions: StrataOptions;
  /** The engine while the database is open (or closing). */
  #engine: Strata | undefined;

  constructor(location: string, options: StrataLevelOptions<KDefault, VDefault> = {}) {
    if (typeof location !== 'string' || location === '') {
      throw new TypeError("The first argument 'location' must be a non-empty string");
    }
    // abstract-level hands the rest to every open(); the engine's options stay here.
    const { strata = {}, ...levelOptions } = options;
    super(MANIFEST, levelOptions);
    this.#location = location;
    this.#strataOptions = engineOptions(strata);
  }

  get location(): string {
    return this.#location;
  }

  /** Flushes every memtable into tables (Strata's `flush()`). Deferred while opening. */
  async flush(): Promise<void> {
    if (this.status === 'opening') return this.deferAsync(() => this.flush());
    return this.#open('flush').flush().catch(rethrowAsLevelError);
  }

  /** Strata's engine statistics. Synchronous, so it cannot be deferred: requires an open db. */
  stats(): StrataStats {
    return this.#open('stats').stats();
  }

  async _open(options: PrivateOpenOptions): Promise<void> {
    const exists = databaseExists(this.#location);
    if (!exists && !options.createIfMissing) {
      throw new StrataLevelError(
        'LEVEL_DATABASE_MISSING',
        `database ${this.#location} does not exist (createIfMissing is false)`,
      );
    }
    if (exists && options.errorIfExists) {
      throw new StrataLevelError(
        'LEVEL_DATABASE_EXISTS',
        `database ${this.#location} exists (errorIfExists is true)`,
      );
    }
    this.#engine = await Strata.open(this.#location, this.#strataOptions).catch(
      rethrowAsLevelError,
    );
  }

  async _close(): Promise<void> {
    const engine = this.#engine;
    assert(engine !== undefined, 'abstract-level closes only a database that opened');
    // Strata's close is idempotent: if it fails, abstract-level's retry gets the same outcome.
    await engine.close().catch(rethrowAsLevelError);
    this.#engine = undefined;
  }

  async _get(key: LevelEncoded, options: PrivateReadOptions): Promise<LevelEncoded | undefined> {
    return this._getSync(key, options);
  }

  _getSync(key: LevelEncoded, options: PrivateReadOptions): LevelEncoded | undefined {
    try {
      const value = this.#reader(options.snapshot).get(storedKey(key));
      return value === undefined ? undefined : fromBytes(value, options.valueEncoding);
    } catch (error) {
      throw toLevelError(error);
    }
  }

  async _getMany(
    keys: readonly LevelEncoded[],
    options: PrivateReadOptions,
  ): Promise<(LevelEncoded | undefined)[]> {
    return keys.map((key) => this._getSync(key, options));
  }

  async _has(key: LevelEncoded, options: PrivateReadOptions): Promise<boolean> {
    return this.#hasSync(key, options.snapshot);
  }

  async _hasMany(keys: readonly LevelEncoded[], options: PrivateReadOptions): Promise<boolean[]> {
    return keys.map((key) => this.#hasSync(key, options.snapshot));
  }

  async _put(key: LevelEncoded, value: LevelEncoded): Promise<void> {
    return this.#open().put(storedKey(key), value).catch(rethrowAsLevelError);
  }

  async _del(key: LevelEncoded): Promise<void> {
    return this.#open().del(storedKey(key)).catch(rethrowAsLevelError);
  }

  /** Atomic. abstract-level has already encoded and prefixed (sublevel) every op. */
  async _batch(operations: readonly PrivateBatchOp[]): Promise<void> {
    const ops = operations.map((op): BatchOp => {
      if (op.type === 'del') return { type: 'del', key: storedKey(op.key) };
      assert(op.value !== undefined, 'abstract-level checked every put for a value');
      return { type: 'put', key: storedKey(op.key), value: op.value };
    });
    return this.#open().batch(ops).catch(rethrowAsLevelError);
  }

  /**
   * Deletes what the range holds at the moment of the call (or in `options.snapshot`). The keys
   * are collected and every delete batch is queued before this returns to the event loop, so a
   * write issued after clear() lands after the deletes and survives. Not atomic as a whole.
   */
  async _clear(options: PrivateClearOptions): Promise<void> {
    const engine = this.#open();
    let keys: Uint8Array[];
    try {
      keys = this.#keysIn(options);
    } catch (error) {
      throw toLevelError(error);
    }
    const writes: Promise<void>[] = [];
    for (let start = 0; start < keys.length; start += CLEAR_BATCH_OPS_MAX) {
      const chunk = keys.slice(start, start + CLEAR_BATCH_OPS_MAX);
      writes.push(engine.batch(chunk.map((key): BatchOp => ({ type: 'del', key }))));
    }
    await Promise.all(writes).catch(rethrowAsLevelError);
  }

  _iterator(options: PrivateIteratorOptions): StrataLevelIterator<this> {
    return new StrataLevelIterator(this, options, this.#engineIterator(options));
  }

  _keys(options: PrivateIteratorOptions): StrataLevelKeyIterator<this> {
    return new StrataLevelKeyIterator(this, options, this.#engineIterator(options));
  }

  _values(options: PrivateIteratorOptions): StrataLevelValueIterator<this> {
    return new StrataLevelValueIterator(this, options, this.#engineIterator(options));
  }

  _snapshot(options: SnapshotOptions): StrataLevelSnapshot {
    return new StrataLevelSnapshot(options, this.#open().snapshot());
  }

  #hasSync(key: LevelEncoded, snapshot: StrataLevelSnapshot | undefined): boolean {
    try {
      return this.#reader(snapshot).get(storedKey(key)) !== undefined;
    } catch (error) {
      throw toLevelError(error);
    }
  }

  /** The stored keys in the range, in iteration order, up to the limit (-1: none). */
  #keysIn(options: PrivateClearOptions): Uint8Array[] {
    const limit = options.limit < 0 ? Number.POSITIVE_INFINITY : options.limit;
    const iterator = this.#reader(options.snapshot).iterator({
      ...storedRange(options),
      reverse: options.reverse,
    });
    const keys: Uint8Array[] = [];
    try {
      if (options.reverse) iterator.seekLast();
      else iterator.seekFirst();
      while (keys.length < limit && iterator.valid()) {
        keys.push(iterator.key());
        if (options.reverse) iterator.prev();
        else iterator.next();
      }
    } finally {
      iterator.close();
    }
    return keys;
  }

  /**
   * The engine iterator, or undefined when `options.snapshot` is closed already: abstract-level
   * creates the iterator regardless and rejects its first read with LEVEL_SNAPSHOT_NOT_OPEN.
   */
  #engineIterator(options: PrivateIteratorOptions): StrataIterator | undefined {
    if (options.snapshot?.strata.released === true) return undefined;
    try {
      return this.#reader(options.snapshot).iterator({
        ...storedRange(options),
        reverse: options.reverse,
      });
    } catch (error) {
      throw toLevelError(error);
    }
  }

  /** The snapshot a read names, else the database (which reads at the current state). */
  #reader(snapshot: StrataLevelSnapshot | undefined): Strata | StrataSnapshot {
    if (snapshot === undefined) return this.#open();
    if (!(snapshot instanceof StrataLevelSnapshot)) {
      throw new TypeError('options.snapshot must be a snapshot of a StrataLevel database');
    }
    return snapshot.strata;
  }

  /** The engine; abstract-level calls the private methods only while the database is open. */
  #open(method?: string): Strata {
    const engine = this.#engine;
    if (engine !== undefined && this.status === 'open') return engine;
    if (method !== undefined) {
      throw new StrataLevelError(
        'LEVEL_DATABASE_NOT_OPEN',
        `Database is not open: cannot call ${method}()`,
      );
    }
    assert(engine !== undefined, 'abstract-level calls private methods only while open');
    return engine;
  }
}

/** A database lives in `location` once its image or its catalog exists. */
function databaseExists(location: string): boolean {
  return (
    existsSync(join(location, IMAGE_FILE_NAME)) || existsSync(join(location, CATALOG_DIR_NAME))
  );
}

/** Strata's options with room for the tag byte in maxKeyBytes. */
function engineOptions(given: StrataOptions): StrataOptions {
  const maxKeyBytes = given.maxKeyBytes ?? MAX_KEY_BYTES_DEFAULT;
  // A bad value goes to Strata unchanged, which rejects it with ERR_INVALID_ARGUMENT at open.
  return { ...given, maxKeyBytes: typeof maxKeyBytes === 'number' ? maxKeyBytes + 1 : maxKeyBytes };
}
