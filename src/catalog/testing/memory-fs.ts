/**
 * An in-memory CatalogFs that models power loss under strict POSIX rules: file bytes survive only
 * up to the last `fsyncFile`, and names (created, renamed, unlinked) only as of the last
 * `fsyncDir` of their directory. `powerLoss()` rolls the whole tree back to that durable view.
 * With a seed, it instead keeps a random prefix of each file's unsynced appended bytes (a torn
 * append) and a random subset of the directory changes made since the last `fsyncDir`, in any
 * combination, since a file system may write back any of them before the power fails.
 * Directories themselves are durable once made (the catalog makes one and never removes it).
 */
import { basename, dirname } from 'node:path';
import { Prng } from '../../ehash/testing/prng.js';
import { StrataError } from '../../errors.js';
import type { CatalogFs, FileStat } from '../catalog-fs.js';

interface Inode {
  data: Uint8Array;
  durable: Uint8Array;
}

/** A change to a directory's names since its last fsync; a rename is atomic. */
type DirectoryChange =
  | { readonly kind: 'create' | 'unlink'; readonly name: string; readonly inode: Inode }
  | { readonly kind: 'rename'; readonly from: string; readonly to: string; readonly inode: Inode };

interface Directory {
  entries: Map<string, Inode>;
  durableEntries: Map<string, Inode>;
  pending: DirectoryChange[];
}

export class MemoryCatalogFs implements CatalogFs {
  private readonly directories = new Map<string, Directory>();

  async readFile(path: string): Promise<Uint8Array> {
    return this.inode(path, 'read').data.slice();
  }

  async readdir(dir: string): Promise<string[] | undefined> {
    const directory = this.directories.get(dir);
    return directory === undefined ? undefined : [...directory.entries.keys()].sort();
  }

  async stat(path: string): Promise<FileStat | undefined> {
    const inode = this.directories.get(dirname(path))?.entries.get(basename(path));
    return inode === undefined ? undefined : { sizeBytes: inode.data.length };
  }

  async mkdir(dir: string): Promise<void> {
    if (!this.directories.has(dir)) {
      this.directories.set(dir, { entries: new Map(), durableEntries: new Map(), pending: [] });
    }
  }

  async writeFile(path: string, bytes: Uint8Array): Promise<void> {
    const directory = this.directory(path, 'write');
    const inode = directory.entries.get(basename(path));
    if (inode === undefined) {
      const created = { data: bytes.slice(), durable: new Uint8Array(0) };
      directory.entries.set(basename(path), created);
      directory.pending.push({ kind: 'create', name: basename(path), inode: created });
    } else {
      inode.data = bytes.slice();
    }
  }

  async appendFile(path: string, bytes: Uint8Array): Promise<void> {
    const inode = this.inode(path, 'append to');
    const data = new Uint8Array(inode.data.length + bytes.length);
    data.set(inode.data, 0);
    data.set(bytes, inode.data.length);
    inode.data = data;
  }

  async truncate(path: string, lengthBytes: number): Promise<void> {
    const inode = this.inode(path, 'truncate');
    const data = new Uint8Array(lengthBytes);
    data.set(inode.data.subarray(0, Math.min(lengthBytes, inode.data.length)));
    inode.data = data;
  }

  async fsyncFile(path: string): Promise<void> {
    const inode = this.inode(path, 'fsync');
    inode.durable = inode.data.slice();
  }

  /** Requires: both paths in one directory (all the catalog needs). */
  async rename(from: string, to: string): Promise<void> {
    const inode = this.inode(from, 'rename');
    const directory = this.directory(from, 'rename');
    if (dirname(to) !== dirname(from))
      throw new StrataError('ERR_IO', `rename across directories: ${to}`);
    directory.entries.delete(basename(from));
    directory.entries.set(basename(to), inode);
    directory.pending.push({ kind: 'rename', from: basename(from), to: basename(to), inode });
  }

  async unlink(path: string): Promise<void> {
    const inode = this.inode(path, 'unlink');
    const directory = this.directory(path, 'unlink');
    directory.entries.delete(basename(path));
    directory.pending.push({ kind: 'unlink', name: basename(path), inode });
  }

  async fsyncDir(dir: string): Promise<void> {
    const directory = this.directories.get(dir);
    if (directory === undefined) throw missing('fsync directory', dir);
    directory.durableEntries = new Map(directory.entries);
    directory.pending = [];
  }

  /**
   * Drops everything not durable. With `tornSeed`, a file whose unsynced bytes extend its
   * durable ones keeps a random prefix of them, as a cut-off append would.
   */
  powerLoss(options: { readonly tornSeed?: number } = {}): void {
    const prng = options.tornSeed === undefined ? undefined : new Prng(options.tornSeed);
    for (const directory of this.directories.values()) {
      directory.entries = new Map(directory.durableEntries);
      for (const change of directory.pending) {
        if (prng !== undefined && prng.below(2) === 1) applyChange(directory.entries, change);
      }
      directory.durableEntries = new Map(directory.entries);
      directory.pending = [];
      for (const inode of directory.entries.values()) {
        const appended = startsWith(inode.data, inode.durable);
        const extra = inode.data.length - inode.durable.length;
        const kept = prng !== undefined && appended && extra > 0 ? prng.below(extra + 1) : 0;
        inode.data = inode.data.slice(0, inode.durable.length + kept);
        inode.durable = inode.data.slice();
      }
    }
  }

  /** Every file of a directory with its current bytes (test inspection). */
  files(dir: string): Map<string, Uint8Array> {
    const directory = this.directories.get(dir);
    const files = new Map<string, Uint8Array>();
    for (const [name, inode] of directory?.entries ?? []) files.set(name, inode.data.slice());
    return files;
  }

  private directory(path: string, what: string): Directory {
    const directory = this.directories.get(dirname(path));
    if (directory === undefined) throw missing(what, dirname(path));
    return directory;
  }

  private inode(path: string, what: string): Inode {
    const inode = this.directory(path, what).entries.get(basename(path));
    if (inode === undefined) throw missing(what, path);
    return inode;
  }
}

/** Replays one unsynced change that happened to reach the disk. */
function applyChange(entries: Map<string, Inode>, change: DirectoryChange): void {
  switch (change.kind) {
    case 'create':
      entries.set(change.name, change.inode);
      return;
    case 'rename':
      if (entries.get(change.from) === change.inode) entries.delete(change.from);
      entries.set(change.to, change.inode);
      return;
    case 'unlink':
      if (entries.get(change.name) === change.inode) entries.delete(change.name);
      return;
  }
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length) return false;
  for (let index = 0; index < prefix.length; index++)
    if (data[index] !== prefix[index]) return false;
  return true;
}

function missing(what: string, path: string): StrataError {
  return new StrataError('ERR_IO', `${what} ${path} failed: ENOENT (memory fs)`);
}
