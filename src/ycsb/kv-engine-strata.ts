import type { AttachedStrata } from '../db/attached.js';
import { Strata } from '../db/strata.js';
import type { EngineDirectory } from './engines.js';
import type { KvEngine, RecordSink } from './kv-engines.js';
import type { AttachableEngine, EngineAttachment } from './parallel-layout.js';

/**
 * The Strata engine (`src/db/`) with its defaults: synchronous `get` and `iterator`, awaited
 * `put` (one group commit per write, since the client waits for each). Returned values are
 * private copies. Durability: a resolved put survives kill -9, not power loss.
 *
 * In the parallel core driver's workers the same adapter runs over an attached store
 * (`attachStrataKv`: its small puts go straight into the shared memtable); the main thread's
 * adapter hands out one `db.handle()` per worker and waits for flushes between phases.
 */
export async function openStrataKv(
  directory: EngineDirectory,
): Promise<KvEngine & AttachableEngine> {
  const db = await Strata.open(directory.path);
  const engine = new StrataKv(db, {
    label: 'strata',
    dir: directory.path,
    settle: () => settleFlushes(db),
    close: async () => {
      await db.close();
      directory.release();
    },
  });
  return Object.assign(engine, {
    attachment: (): EngineAttachment => ({ engine: 'strata', handle: db.handle() }),
  });
}

/** In a worker thread: the adapter over an attached store; closing it detaches. */
export function attachStrataKv(db: AttachedStrata): KvEngine {
  return new StrataKv(db, {
    label: 'strata (attached)',
    dir: db.dir,
    settle: async () => {},
    close: () => db.close(),
  });
}

/** What the adapter uses of a store: `Strata` on the main thread, `AttachedStrata` in a worker. */
interface KvStore {
  get(key: Uint8Array): Uint8Array | undefined;
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  iterator(options: {
    readonly gte: Uint8Array;
    readonly limit: number;
  }): Iterable<[Uint8Array, Uint8Array]>;
}

const SETTLE_POLL_MS = 20;
const SETTLE_POLLS_MAX = 6_000;

class StrataKv implements KvEngine {
  readonly name = 'strata';
  readonly label: string;
  readonly dir: string;

  constructor(
    private readonly db: KvStore,
    private readonly host: {
      readonly label: string;
      readonly dir: string;
      settle(): Promise<void>;
      close(): Promise<void>;
    },
  ) {
    this.label = host.label;
    this.dir = host.dir;
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

  settle(): Promise<void> {
    return this.host.settle();
  }

  close(): Promise<void> {
    return this.host.close();
  }
}

/** Waits until no frozen memtable is left to flush (one mutable memtable). */
async function settleFlushes(db: Strata): Promise<void> {
  for (let poll = 0; poll < SETTLE_POLLS_MAX; poll++) {
    if (db.stats().memtables === 1) return;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
  }
  throw new Error('strata: the background flush did not finish in two minutes');
}
