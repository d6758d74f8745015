import { Strata } from '../db/strata.js';
import type { EngineDirectory } from './engines.js';
import type { KvEngine, RecordSink } from './kv-engines.js';

/**
 * The Strata engine (`src/db/`) with its defaults: synchronous `get` and `iterator`, awaited
 * `put` (one group commit per write, since the client waits for each). Returned values are
 * private copies. Durability: a resolved put survives kill -9, not power loss.
 */
export async function openStrataKv(directory: EngineDirectory): Promise<KvEngine> {
  return new StrataKv(directory, await Strata.open(directory.path));
}

const SETTLE_POLL_MS = 20;
const SETTLE_POLLS_MAX = 6_000;

class StrataKv implements KvEngine {
  readonly name = 'strata';
  readonly label = 'strata';
  readonly dir: string;

  constructor(
    private readonly directory: EngineDirectory,
    private readonly db: Strata,
  ) {
    this.dir = directory.path;
  }

  get(key: Buffer): Uint8Array | undefined {
    return this.db.get(key);
  }

  put(key: Buffer, value: Buffer): Promise<void> {
    return this.db.put(key, value);
  }

  scan(start: Buffer, count: number, sink: RecordSink): number {
    let visited = 0;
    // Iterating to the end releases the memtables the iterator pinned.
    for (const [, value] of this.db.iterator({ gte: start, limit: count })) {
      sink.add(value);
      visited++;
    }
    return visited;
  }

  /** Waits until no frozen memtable is left to flush (one mutable memtable). */
  async settle(): Promise<void> {
    for (let poll = 0; poll < SETTLE_POLLS_MAX; poll++) {
      if (this.db.stats().memtables === 1) return;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    }
    throw new Error('strata: the background flush did not finish in two minutes');
  }

  async close(): Promise<void> {
    await this.db.close();
    this.directory.release();
  }
}
