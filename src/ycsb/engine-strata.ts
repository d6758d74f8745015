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

/**
 * The Strata engine (`src/db/`) in the engine's directory: keys and values as 8-byte big-endian
 * Uint8Arrays, so key order is numeric order and SCAN works. Reads and scans are synchronous
 * (`db.get`, `db.iterator`); writes are async (`await db.put` / `await db.del`, one group commit
 * each, since the driver awaits every op before the next). The adapter is therefore an
 * `AsyncU64Engine`; its reads return already-settled promises.
 *
 * Insert and update check presence with a synchronous `get` first to keep the adapter contract
 * (insert fails on a present key, update and remove on an absent one). That check and the write
 * are not atomic, which is fine because the driver runs one op at a time. The read key buffer is
 * reused (Strata encodes a key before `get` returns); a written key gets fresh bytes, because
 * the committer may still hold it when `put` returns. Durability is Strata's default: a write
 * survives a process crash, not a power loss (the class of lmdb-nosync).
 */
export async function openStrataEngine(
  directory: EngineDirectory,
  backend: EhashBackend | undefined,
): Promise<AsyncU64Engine> {
  const db = await Strata.open(directory.path, backend === undefined ? {} : { backend });
  return new StrataEngine(directory, db, backend === undefined ? 'strata' : `strata (${backend})`);
}

class StrataEngine implements AsyncU64Engine {
  readonly name = 'strata';
  readonly mode = 'async';
  readonly supportsScan = true;
  readonly dir: string;
  private readonly readKey = new Uint8Array(8);

  constructor(
    private readonly directory: EngineDirectory,
    private readonly db: Strata,
    readonly label: string,
  ) {
    this.dir = directory.path;
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

  async close(): Promise<void> {
    await this.db.close();
    this.directory.release();
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
