/**
 * Crash injection for the catalog: wraps a CatalogFs, counts mutating calls, and at the N-th one
 * throws ERR_CRASH_INJECTED and refuses every later call (reads included) as a dead process
 * would. With `tearSeed`, the crashing call, if it writes bytes, first writes a random prefix of
 * them, as a process killed mid-write leaves. Pair it with MemoryCatalogFs.powerLoss() to also
 * lose what was never fsynced.
 */
import { basename } from 'node:path';
import { Prng } from '../../ehash/testing/prng.js';
import { StrataError } from '../../errors.js';
import type { CatalogFs, FileStat } from '../catalog-fs.js';

export interface CrashOptions {
  /** 1-based index of the mutating call that crashes; undefined: never (just count). */
  readonly crashAtCall?: number;
  readonly tearSeed?: number;
}

export class CrashingCatalogFs implements CatalogFs {
  /** Mutating calls made (or attempted) so far. */
  mutatingCallCount = 0;
  /** One line per mutating call, for failure messages. */
  readonly calls: string[] = [];
  private crashedAt: number | undefined;
  private readonly prng: Prng | undefined;

  constructor(
    private readonly base: CatalogFs,
    private readonly options: CrashOptions = {},
  ) {
    this.prng = options.tearSeed === undefined ? undefined : new Prng(options.tearSeed);
  }

  get crashed(): boolean {
    return this.crashedAt !== undefined;
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.read(() => this.base.readFile(path));
  }

  readdir(dir: string): Promise<string[] | undefined> {
    return this.read(() => this.base.readdir(dir));
  }

  stat(path: string): Promise<FileStat | undefined> {
    return this.read(() => this.base.stat(path));
  }

  mkdir(dir: string): Promise<void> {
    return this.mutate(`mkdir ${dir}`, () => this.base.mkdir(dir));
  }

  writeFile(path: string, bytes: Uint8Array): Promise<void> {
    return this.mutate(`writeFile ${basename(path)}`, () => this.base.writeFile(path, bytes), {
      tear: (prefix) => this.base.writeFile(path, prefix),
      bytes,
    });
  }

  appendFile(path: string, bytes: Uint8Array): Promise<void> {
    return this.mutate(`appendFile ${basename(path)}`, () => this.base.appendFile(path, bytes), {
      tear: (prefix) => this.base.appendFile(path, prefix),
      bytes,
    });
  }

  truncate(path: string, lengthBytes: number): Promise<void> {
    return this.mutate(`truncate ${basename(path)}`, () => this.base.truncate(path, lengthBytes));
  }

  fsyncFile(path: string): Promise<void> {
    return this.mutate(`fsyncFile ${basename(path)}`, () => this.base.fsyncFile(path));
  }

  rename(from: string, to: string): Promise<void> {
    return this.mutate(`rename ${basename(from)} ${basename(to)}`, () =>
      this.base.rename(from, to),
    );
  }

  unlink(path: string): Promise<void> {
    return this.mutate(`unlink ${basename(path)}`, () => this.base.unlink(path));
  }

  fsyncDir(dir: string): Promise<void> {
    return this.mutate('fsyncDir', () => this.base.fsyncDir(dir));
  }

  private async read<T>(action: () => Promise<T>): Promise<T> {
    this.refuseIfCrashed();
    return action();
  }

  private async mutate(
    call: string,
    action: () => Promise<void>,
    torn?: { readonly tear: (prefix: Uint8Array) => Promise<void>; readonly bytes: Uint8Array },
  ): Promise<void> {
    this.refuseIfCrashed();
    this.mutatingCallCount++;
    this.calls.push(call);
    if (this.mutatingCallCount !== this.options.crashAtCall) return action();
    this.crashedAt = this.mutatingCallCount;
    if (torn !== undefined && this.prng !== undefined && torn.bytes.length > 0) {
      await torn.tear(torn.bytes.subarray(0, this.prng.below(torn.bytes.length)));
    }
    throw new StrataError(
      'ERR_CRASH_INJECTED',
      `crash injected at mutating call ${this.crashedAt}: ${call}`,
    );
  }

  private refuseIfCrashed(): void {
    if (this.crashedAt !== undefined) {
      throw new StrataError(
        'ERR_CRASH_INJECTED',
        `process crashed at mutating call ${this.crashedAt}`,
      );
    }
  }
}
