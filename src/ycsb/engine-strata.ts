import type { AttachedStrata } from '../db/attached.js';
import { Strata } from '../db/strata.js';
import {
  type AsyncU64Engine,
  type EhashBackend,
  type EngineDirectory,
  type EngineStats,
  readU64BigEndianHi,
  readU64BigEndianLo,
  type ValueSink,
  writeU64BigEndian,
} from './engines.js';
import type { AttachableEngine, EngineAttachment } from './parallel-layout.js';

/**
 * The Strata engine (`src/db/`) in the engine's directory: keys and values as 8-byte big-endian
 * Uint8Arrays, so key order is numeric order and SCAN works. Reads and scans are synchronous
 * (`db.get`, `db.iterator`); writes are async (`await db.put` / `await db.del`, one group commit
 * each, since the driver awaits every op before the next). The adapter is therefore an
 * `AsyncU64Engine`; its reads return already-settled promises.
 *
 * Insert and update check presence with a synchronous `get` first to keep the adapter contract
 * (insert fails on a present key, update and remove on an absent one). That check and the write
 * are not atomic, which is fine because the driver runs one op at a time per key (one thread
 * owns each key). The read key buffer is reused (Strata encodes a key before `get` returns); a
 * written key gets fresh bytes, because the committer may still hold it when `put` returns.
 * Durability is Strata's default: a write survives a process crash, not a power loss (the class
 * of lmdb-nosync).
 *
 * The same adapter runs in the parallel driver's workers over an attached store
 * (`attachStrataEngine`); the main thread's hands out one `db.handle()` per worker.
 */
export async function openStrataEngine(
  directory: EngineDirectory,
  backend: EhashBackend | undefined,
): Promise<AsyncU64Engine & AttachableEngine> {
  const db = await Strata.open(directory.path, backend === undefined ? {} : { backend });
  const engine = new StrataEngine(db, {
    label: backend === undefined ? 'strata' : `strata (${backend})`,
    dir: directory.path,
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
export function attachStrataEngine(db: AttachedStrata): AsyncU64Engine {
  return new StrataEngine(db, {
    label: 'strata (attached)',
    dir: db.dir,
    close: () => db.close(),
  });
}

/** What the adapter uses of a store: `Strata` on the main thread, `AttachedStrata` in a worker. */
export interface StrataStore {
  get(key: Uint8Array): Uint8Array | undefined;
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  del(key: Uint8Array): Promise<void>;
  iterator(options: {
    readonly gte: Uint8Array;
    readonly limit: number;
  }): Iterable<[Uint8Array, Uint8Array]>;
}

class StrataEngine implements AsyncU64Engine {
  readonly name = 'strata';
  readonly mode = 'async';
  readonly supportsScan = true;
  readonly label: string;
  readonly dir: string;
  private readonly readKey = new Uint8Array(8);
  private readonly closeStore: () => Promise<void>;

  constructor(
    private readonly db: StrataStore,
    options: { readonly label: string; readonly dir: string; close(): Promise<void> },
  ) {
    this.label = options.label;
    this.dir = options.dir;
    this.closeStore = options.close;
  }

  async insert(keyHi: number, keyLo: number, valueHi: number, valueLo: number): Promise<boolean> {
    if (this.present(keyHi, keyLo)) return false;
    await this.db.put(encode(keyHi, keyLo), encode(valueHi, valueLo));
    return true;
  }

  async read(keyHi: number, keyLo: number, out: Uint32Array): Promise<boolean> {
    writeU64BigEndian(this.readKey, keyHi, keyLo);
    const value = this.db.get(this.readKey);
    if (value === undefined) return false;
    out[0] = readU64BigEndianLo(value);
    out[1] = readU64BigEndianHi(value);
    return true;
  }

  async update(keyHi: number, keyLo: number, valueHi: number, valueLo: number): Promise<boolean> {
    if (!this.present(keyHi, keyLo)) return false;
    await this.db.put(encode(keyHi, keyLo), encode(valueHi, valueLo));
    return true;
  }

  async remove(keyHi: number, keyLo: number): Promise<boolean> {
    if (!this.present(keyHi, keyLo)) return false;
    await this.db.del(encode(keyHi, keyLo));
    return true;
  }

  async scan(keyHi: number, keyLo: number, count: number, sink: ValueSink): Promise<number> {
    writeU64BigEndian(this.readKey, keyHi, keyLo);
    let visited = 0;
    // Iterating to the end releases the memtables the iterator pinned.
    for (const [, value] of this.db.iterator({ gte: this.readKey, limit: count })) {
      sink.add(readU64BigEndianHi(value), readU64BigEndianLo(value));
      visited++;
    }
    return visited;
  }

  stats(): EngineStats | undefined {
    return undefined;
  }

  close(): Promise<void> {
    return this.closeStore();
  }

  private present(keyHi: number, keyLo: number): boolean {
    writeU64BigEndian(this.readKey, keyHi, keyLo);
    return this.db.get(this.readKey) !== undefined;
  }
}

function encode(hi: number, lo: number): Uint8Array {
  const bytes = new Uint8Array(8);
  writeU64BigEndian(bytes, hi, lo);
  return bytes;
}
