import type { ClassicLevel } from 'classic-level';
import {
  type AsyncU64Engine,
  type EngineDirectory,
  type EngineStats,
  importPeer,
  readU64BigEndianHi,
  readU64BigEndianLo,
  type ValueSink,
  writeU64BigEndian,
} from './engines.js';

/**
 * classic-level (LevelDB) through its promise API: `await get` / `await put` / `await del`, keys
 * and values as 8-byte big-endian Uint8Arrays ('view' encoding), so SCAN works in key order.
 * Insert and update read first to keep the adapter contract (insert fails on a present key,
 * update on an absent one). Each operation gets fresh buffers because a write may still be
 * queued when the call returns. Writes use LevelDB's default (no fsync per write).
 */
export async function openClassicLevelEngine(directory: EngineDirectory): Promise<AsyncU64Engine> {
  return new ClassicLevelEngine(directory, await openClassicLevel(directory.path));
}

/** classic-level with 'view' keys and values, open; every adapter over LevelDB starts here. */
export async function openClassicLevel(
  path: string,
): Promise<ClassicLevel<Uint8Array, Uint8Array>> {
  const { ClassicLevel } = await importPeer(
    'classic-level',
    () => import('classic-level'),
    'classic-level',
  );
  const database = new ClassicLevel<Uint8Array, Uint8Array>(path, {
    keyEncoding: 'view',
    valueEncoding: 'view',
  });
  await database.open();
  return database;
}

class ClassicLevelEngine implements AsyncU64Engine {
  readonly name = 'classic-level';
  readonly label = 'classic-level';
  readonly mode = 'async';
  readonly supportsScan = true;
  readonly dir: string;

  constructor(
    private readonly directory: EngineDirectory,
    private readonly database: ClassicLevel<Uint8Array, Uint8Array>,
  ) {
    this.dir = directory.path;
  }

  async insert(keyHi: number, keyLo: number, valueHi: number, valueLo: number): Promise<boolean> {
    const key = encode(keyHi, keyLo);
    if ((await this.database.get(key)) !== undefined) return false;
    await this.database.put(key, encode(valueHi, valueLo));
    return true;
  }

  async read(keyHi: number, keyLo: number, out: Uint32Array): Promise<boolean> {
    const value = await this.database.get(encode(keyHi, keyLo));
    if (value === undefined) return false;
    out[0] = readU64BigEndianLo(value);
    out[1] = readU64BigEndianHi(value);
    return true;
  }

  async update(keyHi: number, keyLo: number, valueHi: number, valueLo: number): Promise<boolean> {
    const key = encode(keyHi, keyLo);
    if ((await this.database.get(key)) === undefined) return false;
    await this.database.put(key, encode(valueHi, valueLo));
    return true;
  }

  async remove(keyHi: number, keyLo: number): Promise<boolean> {
    const key = encode(keyHi, keyLo);
    if ((await this.database.get(key)) === undefined) return false;
    await this.database.del(key);
    return true;
  }

  async scan(keyHi: number, keyLo: number, count: number, sink: ValueSink): Promise<number> {
    const values = await this.database.values({ gte: encode(keyHi, keyLo), limit: count }).all();
    for (const value of values) sink.add(readU64BigEndianHi(value), readU64BigEndianLo(value));
    return values.length;
  }

  stats(): EngineStats | undefined {
    return undefined;
  }

  async close(): Promise<void> {
    await this.database.close();
    this.directory.release();
  }
}

function encode(hi: number, lo: number): Uint8Array {
  const bytes = new Uint8Array(8);
  writeU64BigEndian(bytes, hi, lo);
  return bytes;
}
