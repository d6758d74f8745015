import type { ClassicLevel } from 'classic-level';
import { openClassicLevel } from './engine-classic-level.js';
import type { EngineDirectory } from './engines.js';
import type { KvEngine, RecordSink } from './kv-engines.js';

/**
 * classic-level (LevelDB) with its defaults ('view' encodings): `getSync` for reads, awaited
 * `put` (LevelDB's default: no fsync per write, so a write survives a process crash, not power
 * loss), and scans through `values({ gte, limit }).all()`.
 */
export async function openClassicLevelKv(directory: EngineDirectory): Promise<KvEngine> {
  return new ClassicLevelKv(directory, await openClassicLevel(directory.path));
}

class ClassicLevelKv implements KvEngine {
  readonly name = 'classic-level';
  readonly label = 'classic-level';
  readonly dir: string;

  constructor(
    private readonly directory: EngineDirectory,
    private readonly database: ClassicLevel<Uint8Array, Uint8Array>,
  ) {
    this.dir = directory.path;
  }

  get(key: Buffer): Uint8Array | undefined {
    return this.database.getSync(key);
  }

  put(key: Buffer, value: Buffer): Promise<void> {
    return this.database.put(key, value);
  }

  /** `all()` reads until `limit` (one `nextv` may return fewer entries than asked for). */
  async scan(start: Buffer, count: number, sink: RecordSink): Promise<number> {
    const values = await this.database.values({ gte: start, limit: count }).all();
    for (const value of values) sink.add(value);
    return values.length;
  }

  async settle(): Promise<void> {}

  async close(): Promise<void> {
    await this.database.close();
    this.directory.release();
  }
}
