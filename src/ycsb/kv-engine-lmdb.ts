import type { Database } from 'lmdb';
import { openLmdb } from './engine-lmdb.js';
import type { EngineDirectory } from './engines.js';
import type { KvEngine, RecordSink } from './kv-engines.js';

/**
 * lmdb-js through its synchronous calls: `getBinaryFast` (a view of a reused buffer, valid until
 * the next call: core-driver copies before it patches; no copy per read), one `putSync` transaction per write, and
 * `getRange({ start, limit })` for scans. `noSync: true` (`lmdb-nosync`) skips the fsync, so a
 * write survives a process crash but not power loss: the class of Strata's default. Plain `lmdb`
 * fsyncs every commit (power-loss durable) and is slow accordingly.
 */
export async function openLmdbKv(
  directory: EngineDirectory,
  options: { readonly noSync: boolean },
): Promise<KvEngine> {
  const { name, database } = await openLmdb(directory.path, options);
  return new LmdbKv(name, directory, database);
}

class LmdbKv implements KvEngine {
  readonly label: string;
  readonly dir: string;

  constructor(
    readonly name: 'lmdb' | 'lmdb-nosync',
    private readonly directory: EngineDirectory,
    private readonly database: Database<Buffer, Buffer>,
  ) {
    this.label = name === 'lmdb' ? 'lmdb (sync)' : 'lmdb (noSync)';
    this.dir = directory.path;
  }

  get(key: Buffer): Uint8Array | undefined {
    const value = this.database.getBinaryFast(key);
    // The fast buffer is lmdb-js's shared one with an own `length` property set to the value's
    // size; a view of exactly that size keeps TypedArray methods (`set`) within the value.
    return value === undefined ? undefined : value.subarray(0, value.length);
  }

  put(key: Buffer, value: Buffer): undefined {
    this.database.putSync(key, value);
    return undefined;
  }

  scan(start: Buffer, count: number, sink: RecordSink): number {
    let visited = 0;
    for (const { value } of this.database.getRange({ start, limit: count })) {
      sink.add(value);
      visited++;
    }
    return visited;
  }

  async settle(): Promise<void> {
    await this.database.flushed;
  }

  async close(): Promise<void> {
    await this.database.close();
    this.directory.release();
  }
}
