import { StrataError } from '../errors.js';
import { EngineDirectory } from './engines.js';

/**
 * The byte-keyed adapter interface the core workloads (A–F) run through, one per engine. Keys and
 * values are bytes; a record is one value (the 10 fields concatenated, see core-record.ts), so
 * every engine does the same work per YCSB operation (core-driver.ts maps read, update, insert,
 * scan and read-modify-write onto these three calls).
 *
 * Each adapter uses the engine's fastest public call for a client that waits for every operation
 * before the next (YCSB's one client thread): gets are synchronous everywhere; writes are
 * synchronous where the engine has them (lmdb `putSync`, better-sqlite3) and awaited promises
 * otherwise (Strata group commit, classic-level); `put` returns undefined when it finished
 * synchronously, so sync engines never pay for an `await`.
 */
export type KvEngineName = 'strata' | 'classic-level' | 'lmdb' | 'lmdb-nosync' | 'sqlite' | 'map';
export const KV_ENGINE_NAMES: readonly KvEngineName[] = [
  'strata',
  'classic-level',
  'lmdb',
  'lmdb-nosync',
  'sqlite',
  'map',
];

/** What a write has survived once its call returned (or its promise resolved). */
export const KV_DURABILITY: Readonly<Record<KvEngineName, string>> = {
  strata: 'process crash (kill -9), not power loss',
  'classic-level': 'process crash, not power loss (LevelDB default: no fsync per write)',
  lmdb: 'power loss (fsync per commit)',
  'lmdb-nosync': 'process crash, not power loss (noSync: true, the class of Strata default)',
  sqlite: 'process crash, not power loss (WAL, synchronous=NORMAL)',
  map: 'none (in memory)',
};

export interface RecordSink {
  add(value: Uint8Array): void;
}

export interface KvEngine {
  readonly name: KvEngineName;
  readonly label: string;
  readonly dir: string;
  /** The value, or undefined. The bytes may be reused by the engine's next call. */
  get(key: Buffer): Uint8Array | undefined;
  /** Inserts or overwrites. The engine may keep `key` and `value`; callers never change them. */
  put(key: Buffer, value: Buffer): Promise<void> | undefined;
  /** Hands up to `count` values with key >= `start`, in key order, to `sink`; returns how many. */
  scan(start: Buffer, count: number, sink: RecordSink): number | Promise<number>;
  /** Waits for background work (Strata flushes) so a phase does not inherit the last one's. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export function isKvEngineName(name: string): name is KvEngineName {
  return (KV_ENGINE_NAMES as readonly string[]).includes(name);
}

/** Opens an engine in `dir` (kept) or a fresh temp directory (removed on close). */
export async function openKvEngine(
  name: KvEngineName,
  options: { readonly dir?: string } = {},
): Promise<KvEngine> {
  const directory = EngineDirectory.create(`kv-${name}`, options.dir);
  try {
    switch (name) {
      case 'strata': {
        const { openStrataKv } = await import('./kv-engine-strata.js');
        return await openStrataKv(directory);
      }
      case 'map': {
        const { openMapKv } = await import('./kv-engine-map.js');
        return openMapKv(directory);
      }
      case 'sqlite': {
        const { openSqliteKv } = await import('./kv-engine-sqlite.js');
        return await openSqliteKv(directory);
      }
      case 'classic-level': {
        const { openClassicLevelKv } = await import('./kv-engine-level.js');
        return await openClassicLevelKv(directory);
      }
      case 'lmdb':
      case 'lmdb-nosync': {
        const { openLmdbKv } = await import('./kv-engine-lmdb.js');
        return await openLmdbKv(directory, { noSync: name === 'lmdb-nosync' });
      }
    }
  } catch (error) {
    directory.release();
    if (error instanceof StrataError) throw error;
    throw new StrataError('ERR_IO', `cannot open the ${name} engine: ${String(error)}`, {
      cause: error,
    });
  }
}
