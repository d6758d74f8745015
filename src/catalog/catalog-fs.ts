/**
 * The file-system calls the catalog makes, behind one small interface so that tests can crash at
 * the N-th mutating call (`testing/crashing-fs.ts`) and model power loss (`testing/memory-fs.ts`).
 *
 * Every step that persists goes through a *mutating* method: mkdir, writeFile, appendFile,
 * truncate, fsyncFile, rename, unlink, fsyncDir. The read methods never change the disk. Writes
 * are not durable until `fsyncFile`; creating, renaming and unlinking a name is not durable until
 * `fsyncDir` of its directory. The catalog orders its calls for that strict model (FORMAT.md,
 * "Commit points"), which is also the one the memory file system enforces on power loss.
 *
 * All methods reject with a `StrataError` ('ERR_IO' wrapping the system error as `cause`).
 */
import * as fs from 'node:fs/promises';
import { StrataError } from '../errors.js';

export interface FileStat {
  readonly sizeBytes: number;
}

export interface CatalogFs {
  /** The whole file. Rejects when it is missing. */
  readFile(path: string): Promise<Uint8Array>;
  /** Entry names of a directory, or undefined when the directory does not exist. */
  readdir(dir: string): Promise<string[] | undefined>;
  /** Size of a file, or undefined when it does not exist. */
  stat(path: string): Promise<FileStat | undefined>;

  /** Creates the directory and its parents; succeeds if it exists. */
  mkdir(dir: string): Promise<void>;
  /** Creates or replaces the file's contents (not durable until fsyncFile). */
  writeFile(path: string, bytes: Uint8Array): Promise<void>;
  /** Appends to an existing file (not durable until fsyncFile). */
  appendFile(path: string, bytes: Uint8Array): Promise<void>;
  truncate(path: string, lengthBytes: number): Promise<void>;
  fsyncFile(path: string): Promise<void>;
  /** Atomically replaces `to` with `from`. */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  fsyncDir(dir: string): Promise<void>;
}

/** Names of the methods that change the disk; crash injection counts exactly these. */
export const MUTATING_METHODS = [
  'mkdir',
  'writeFile',
  'appendFile',
  'truncate',
  'fsyncFile',
  'rename',
  'unlink',
  'fsyncDir',
] as const satisfies readonly (keyof CatalogFs)[];

/** The real file system (node:fs/promises). Files are opened per call: catalog writes are rare. */
export const nodeCatalogFs: CatalogFs = {
  readFile: (path) => io(`read ${path}`, async () => new Uint8Array(await fs.readFile(path))),
  readdir: (dir) =>
    io(`list ${dir}`, async () => {
      try {
        return await fs.readdir(dir);
      } catch (error) {
        if (isErrno(error, 'ENOENT')) return undefined;
        throw error;
      }
    }),
  stat: (path) =>
    io(`stat ${path}`, async () => {
      try {
        return { sizeBytes: (await fs.stat(path)).size };
      } catch (error) {
        if (isErrno(error, 'ENOENT')) return undefined;
        throw error;
      }
    }),
  mkdir: (dir) =>
    io(`create directory ${dir}`, async () => {
      await fs.mkdir(dir, { recursive: true });
    }),
  writeFile: (path, bytes) => io(`write ${path}`, () => writeAll(path, 'w', bytes)),
  appendFile: (path, bytes) => io(`append to ${path}`, () => writeAll(path, 'a', bytes)),
  truncate: (path, lengthBytes) => io(`truncate ${path}`, () => fs.truncate(path, lengthBytes)),
  fsyncFile: (path) => io(`fsync ${path}`, () => syncPath(path, 'r+')),
  rename: (from, to) => io(`rename ${from} to ${to}`, () => fs.rename(from, to)),
  unlink: (path) => io(`unlink ${path}`, () => fs.unlink(path)),
  fsyncDir: (dir) => io(`fsync directory ${dir}`, () => syncPath(dir, 'r')),
};

async function writeAll(path: string, flags: 'w' | 'a', bytes: Uint8Array): Promise<void> {
  const handle = await fs.open(path, flags);
  try {
    // FileHandle.writeFile loops until every byte is written, unlike a single write().
    await handle.writeFile(bytes);
  } finally {
    await handle.close();
  }
}

async function syncPath(path: string, flags: 'r' | 'r+'): Promise<void> {
  const handle = await fs.open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function io<T>(what: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof StrataError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new StrataError('ERR_IO', `${what} failed: ${detail}`, { cause: error });
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
