import type { Database } from 'lmdb';
import {
  type EngineDirectory,
  type EngineStats,
  importPeer,
  readU64BigEndianHi,
  readU64BigEndianLo,
  type SyncU64Engine,
  type ValueSink,
  writeU64BigEndian,
} from './engines.js';

/**
 * lmdb-js through its synchronous API: every write is its own `putSync` / `removeSync`
 * transaction. Keys and values are 8-byte big-endian buffers (so key order is numeric order and
 * SCAN works); the adapter reuses one key and one value buffer, which is safe because lmdb-js
 * copies both before a sync call returns. `noSync` gives the `lmdb-nosync` variant: no fsync,
 * so a committed write survives a process crash but not a power loss, the durability class of
 * the mapped NVM backend. The default variant lets lmdb-js flush each commit to disk.
 */
export async function openLmdbEngine(
  directory: EngineDirectory,
  options: { readonly noSync: boolean },
): Promise<SyncU64Engine> {
  const { name, database } = await openLmdb(directory.path, options);
  return new LmdbEngine(name, directory, database);
}

/** lmdb-js with binary keys and values; its name is `lmdb-nosync` with `noSync`. */
export async function openLmdb(
  path: string,
  options: { readonly noSync: boolean },
): Promise<{ name: 'lmdb' | 'lmdb-nosync'; database: Database<Buffer, Buffer> }> {
  const name = options.noSync ? 'lmdb-nosync' : 'lmdb';
  const lmdb = await importPeer(name, () => import('lmdb'), 'lmdb');
  const database = lmdb.open<Buffer, Buffer>({
    path,
    keyEncoding: 'binary',
    encoding: 'binary',
    noSync: options.noSync,
  });
  return { name, database };
}

const NO_OVERWRITE = { noOverwrite: true } as const;

class LmdbEngine implements SyncU64Engine {
  readonly mode = 'sync';
  readonly supportsScan = true;
  readonly label: string;
  readonly dir: string;
  private readonly keyBuffer = Buffer.alloc(8);
  private readonly valueBuffer = Buffer.alloc(8);

  constructor(
    readonly name: 'lmdb' | 'lmdb-nosync',
    private readonly directory: EngineDirectory,
    private readonly database: Database<Buffer, Buffer>,
  ) {
    this.label = name;
    this.dir = directory.path;
  }

  insert(keyHi: number, keyLo: number, valueHi: number, valueLo: number): boolean {
    writeU64BigEndian(this.keyBuffer, keyHi, keyLo);
    writeU64BigEndian(this.valueBuffer, valueHi, valueLo);
    return (
      (this.database.putSync(this.keyBuffer, this.valueBuffer, NO_OVERWRITE) as unknown) === true
    );
  }

  read(keyHi: number, keyLo: number, out: Uint32Array): boolean {
    writeU64BigEndian(this.keyBuffer, keyHi, keyLo);
    const value = this.database.getBinaryFast(this.keyBuffer);
    if (value === undefined) return false;
    out[0] = readU64BigEndianLo(value);
    out[1] = readU64BigEndianHi(value);
    return true;
  }

  update(keyHi: number, keyLo: number, valueHi: number, valueLo: number): boolean {
    writeU64BigEndian(this.keyBuffer, keyHi, keyLo);
    if (!this.database.doesExist(this.keyBuffer)) return false;
    writeU64BigEndian(this.valueBuffer, valueHi, valueLo);
    this.database.putSync(this.keyBuffer, this.valueBuffer);
    return true;
  }

  remove(keyHi: number, keyLo: number): boolean {
    writeU64BigEndian(this.keyBuffer, keyHi, keyLo);
    return this.database.removeSync(this.keyBuffer);
  }

  scan(keyHi: number, keyLo: number, count: number, sink: ValueSink): number {
    writeU64BigEndian(this.keyBuffer, keyHi, keyLo);
    let visited = 0;
    for (const { value } of this.database.getRange({ start: this.keyBuffer, limit: count })) {
      sink.add(readU64BigEndianHi(value), readU64BigEndianLo(value));
      visited++;
    }
    return visited;
  }

  stats(): EngineStats | undefined {
    return undefined;
  }

  async close(): Promise<void> {
    await this.database.close();
    this.directory.release();
  }
}
