/**
 * The three stores bench/engine.ts compares, behind one small interface: Strata (src/db/),
 * classic-level (LevelDB) and lmdb-js. Each uses its own fastest public call for the job: puts
 * are awaited promises everywhere (Strata's group commit, classic-level's write queue, lmdb-js's
 * batched async transactions), point gets are synchronous everywhere (Strata `get`,
 * classic-level `getSync`, lmdb `getBinaryFast`, which reuses one buffer where the others copy), and scans are Strata's and lmdb's synchronous
 * iterators against classic-level's `iterator().nextv()`.
 */
import { ClassicLevel } from 'classic-level';
import { type Database, open as openLmdb } from 'lmdb';
import { Strata } from '../src/db/strata.js';

export type StoreName = 'strata' | 'classic-level' | 'lmdb';

export interface BenchStore {
  readonly name: StoreName;
  /** Engine plus its durability mode, for the report. */
  readonly label: string;
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  /** Loads many records as a few atomic batches, untimed. */
  preload(keys: readonly Uint8Array[], value: Uint8Array): Promise<void>;
  get(key: Uint8Array): Uint8Array | undefined;
  /** Visits up to `count` records from `start` on; returns the bytes of the values seen. */
  scan(start: Uint8Array, count: number): number | Promise<number>;
  /** Waits until background work the preload started has settled (Strata: its flush). */
  settle(): Promise<void>;
  /** Group-commit figures (Strata only): writes and groups since open. */
  groups(): { writes: number; groups: number } | undefined;
  close(): Promise<void>;
}

/** `sync`: the power-loss class (Strata `sync: true`, lmdb default, LevelDB `sync: true`). */
export async function openStore(
  name: StoreName,
  dir: string,
  options: { readonly sync: boolean },
): Promise<BenchStore> {
  if (name === 'strata') return new StrataStore(await Strata.open(dir, { sync: options.sync }));
  if (name === 'classic-level') return openClassicLevel(dir, options.sync);
  return new LmdbStore(
    openLmdb<Buffer, Buffer>({
      path: dir,
      keyEncoding: 'binary',
      encoding: 'binary',
      noSync: !options.sync,
    }),
    options.sync,
  );
}

const PRELOAD_BATCH_RECORDS = 500;
const SETTLE_POLL_MS = 20;
const SETTLE_POLLS_MAX = 6_000;

class StrataStore implements BenchStore {
  readonly name = 'strata';
  readonly label: string;

  constructor(private readonly db: Strata) {
    this.label = 'strata';
  }

  put(key: Uint8Array, value: Uint8Array): Promise<void> {
    return this.db.put(key, value);
  }

  async preload(keys: readonly Uint8Array[], value: Uint8Array): Promise<void> {
    for (let start = 0; start < keys.length; start += PRELOAD_BATCH_RECORDS) {
      const slice = keys.slice(start, start + PRELOAD_BATCH_RECORDS);
      await this.db.batch(slice.map((key) => ({ type: 'put', key, value })));
    }
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.db.get(key);
  }

  scan(start: Uint8Array, count: number): number {
    let bytes = 0;
    for (const [, value] of this.db.iterator({ gte: start, limit: count })) bytes += value.length;
    return bytes;
  }

  async settle(): Promise<void> {
    for (let poll = 0; poll < SETTLE_POLLS_MAX; poll++) {
      if (this.db.stats().memtables === 1) return;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    }
    throw new Error('strata: the background flush did not finish in two minutes');
  }

  groups(): { writes: number; groups: number } {
    const stats = this.db.stats();
    return { writes: stats.writes, groups: stats.writeGroups };
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

async function openClassicLevel(dir: string, sync: boolean): Promise<BenchStore> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
    keyEncoding: 'view',
    valueEncoding: 'view',
  });
  await db.open();
  return new ClassicLevelStore(db, sync);
}

class ClassicLevelStore implements BenchStore {
  readonly name = 'classic-level';
  readonly label: string;
  private readonly putOptions: { sync: boolean };

  constructor(
    private readonly db: ClassicLevel<Uint8Array, Uint8Array>,
    sync: boolean,
  ) {
    this.putOptions = { sync };
    this.label = sync ? 'classic-level (sync: true)' : 'classic-level';
  }

  put(key: Uint8Array, value: Uint8Array): Promise<void> {
    return this.db.put(key, value, this.putOptions);
  }

  async preload(keys: readonly Uint8Array[], value: Uint8Array): Promise<void> {
    for (let start = 0; start < keys.length; start += PRELOAD_BATCH_RECORDS) {
      const slice = keys.slice(start, start + PRELOAD_BATCH_RECORDS);
      await this.db.batch(slice.map((key) => ({ type: 'put' as const, key, value })));
    }
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.db.getSync(key);
  }

  async scan(start: Uint8Array, count: number): Promise<number> {
    const iterator = this.db.iterator({ gte: start, limit: count });
    try {
      let bytes = 0;
      for (const [, value] of await iterator.nextv(count)) bytes += value.length;
      return bytes;
    } finally {
      await iterator.close();
    }
  }

  async settle(): Promise<void> {}

  groups(): undefined {
    return undefined;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/**
 * lmdb-js resolves an async put once its batched transaction is committed and visible; with
 * its default `overlappingSync` the fdatasync comes after that. So a power-loss-durable put
 * (`sync`) also awaits `db.flushed`, which resolves once that commit is on disk.
 */
class LmdbStore implements BenchStore {
  readonly name = 'lmdb';
  readonly label: string;

  constructor(
    private readonly db: Database<Buffer, Buffer>,
    private readonly sync: boolean,
  ) {
    this.label = sync ? 'lmdb (default: sync, put + await flushed)' : 'lmdb (noSync)';
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.db.put(asBuffer(key), asBuffer(value));
    if (this.sync) await this.db.flushed;
  }

  async preload(keys: readonly Uint8Array[], value: Uint8Array): Promise<void> {
    const buffer = asBuffer(value);
    for (let start = 0; start < keys.length; start += PRELOAD_BATCH_RECORDS) {
      const end = Math.min(keys.length, start + PRELOAD_BATCH_RECORDS);
      this.db.transactionSync(() => {
        for (let index = start; index < end; index++)
          this.db.putSync(asBuffer(keys[index]!), buffer);
      });
    }
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.db.getBinaryFast(asBuffer(key));
  }

  scan(start: Uint8Array, count: number): number {
    let bytes = 0;
    for (const { value } of this.db.getRange({ start: asBuffer(start), limit: count })) {
      bytes += value.length;
    }
    return bytes;
  }

  async settle(): Promise<void> {
    await this.db.flushed;
  }

  groups(): undefined {
    return undefined;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/** A Buffer view of the same bytes (no copy): lmdb-js's binary encoding wants Buffers. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
