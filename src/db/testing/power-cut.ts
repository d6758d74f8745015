/**
 * For engine crash tests: one "power switch" over the two things a crashed Strata process leaves
 * behind, the NVM image (emulated backend) and the catalog's files. Whichever crashes first, the
 * other stops at the same instant, as a dead process would:
 *
 * - the image crashes at its `crashAtPersist` (the NVM hook), or when `cutNow()` marks its
 *   runtime crashed, after which every persist throws ERR_CRASH_INJECTED and writes nothing;
 * - the catalog file system (`fs`, a CrashingCatalogFs over the real one) crashes at its N-th
 *   mutating call, and refuses every call once the image has crashed.
 *
 * `abandon(db)` then releases the database's file handles without persisting anything: the NVM
 * is dead, so `db.close()` can write nothing there, and the catalog refuses every call; the
 * image's fd is closed here if `close()` stopped early (it throws once a memtable's close
 * persist fails). The test must hand over the image `Strata.open` opened (`adoptImage`),
 * because Strata keeps it private.
 */
import type { NvmImage } from '../../../nvm/image.js';
import { RT_CONTROL_WORDS, RT_CRASHED } from '../../../nvm/runtime-layout.js';
import { type CatalogFs, type FileStat, nodeCatalogFs } from '../../catalog/catalog-fs.js';
import { CrashingCatalogFs, type CrashOptions } from '../../catalog/testing/crashing-fs.js';
import { StrataError } from '../../errors.js';
import type { Strata } from '../strata.js';

export class PowerCut {
  readonly fs: CatalogFs;
  readonly #catalogFs: CrashingCatalogFs;
  #image: NvmImage | undefined;
  #runtimeWords: Int32Array | undefined;
  #cut = false;

  constructor(catalogCrash: CrashOptions = {}) {
    this.#catalogFs = new CrashingCatalogFs(nodeCatalogFs, catalogCrash);
    this.fs = guardedFs(this.#catalogFs, this);
  }

  /** The image of `dir/strata.nvm` that Strata.open opened (from a spy on NvmImage.open). */
  adoptImage(image: NvmImage): void {
    this.#image = image;
    this.#runtimeWords = new Int32Array(image.handle().runtime, 0, RT_CONTROL_WORDS);
    if (this.#cut) this.cutNow();
  }

  /** True once either side crashed (or `cutNow()` was called). */
  get crashed(): boolean {
    if (this.#cut) return true;
    if (this.#runtimeWords !== undefined && Atomics.load(this.#runtimeWords, RT_CRASHED) !== 0) {
      this.#cut = true;
    }
    return this.#cut;
  }

  /** Mutating catalog calls made so far, the crashing one included. */
  get catalogCallCount(): number {
    return this.#catalogFs.mutatingCallCount;
  }

  /** One line per mutating catalog call so far ("rename T…tmp 000004.sst", …). */
  get catalogCalls(): readonly string[] {
    return this.#catalogFs.calls;
  }

  /** Both sides are dead from now on. */
  cutNow(): void {
    this.#cut = true;
    if (this.#runtimeWords !== undefined) Atomics.store(this.#runtimeWords, RT_CRASHED, 1);
  }

  /** Noticed by the fs guard: the catalog's crashing call just started. */
  noteCatalogCrash(): void {
    if (this.#catalogFs.crashed) this.cutNow();
  }

  /**
   * Stops everything and closes every handle without a single persist. `db` is undefined when
   * `Strata.open` itself crashed. Errors that only say "crashed" are expected and ignored.
   */
  async abandon(db: Strata | undefined): Promise<void> {
    this.cutNow();
    if (db !== undefined) await db.close().catch((error: unknown) => this.#expectDead(error));
    try {
      this.#image?.close(); // a no-op when db.close() got that far; RT_CRASHED skips the persist
    } catch (error) {
      this.#expectDead(error);
    }
  }

  #expectDead(error: unknown): void {
    // A dead process may fail in any StrataError way (crashed, closed, I/O); an assertion is a bug.
    if (error instanceof StrataError) return;
    throw error;
  }
}

/** `base` with every call refused once the power is cut, and the catalog's crash cutting it. */
function guardedFs(base: CrashingCatalogFs, cut: PowerCut): CatalogFs {
  const refuse = (): Promise<never> =>
    Promise.reject(new StrataError('ERR_CRASH_INJECTED', 'the process is dead (power cut)'));
  const read =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      cut.crashed ? refuse() : call(...args);
  const mutate =
    <A extends unknown[]>(call: (...args: A) => Promise<void>) =>
    (...args: A): Promise<void> => {
      if (cut.crashed) return refuse();
      const done = call(...args);
      cut.noteCatalogCrash(); // the crashing call marks itself synchronously
      return done;
    };
  return {
    readFile: read((path: string) => base.readFile(path)),
    readdir: read((dir: string) => base.readdir(dir)),
    stat: read((path: string): Promise<FileStat | undefined> => base.stat(path)),
    mkdir: mutate((dir: string) => base.mkdir(dir)),
    writeFile: mutate((path: string, bytes: Uint8Array) => base.writeFile(path, bytes)),
    appendFile: mutate((path: string, bytes: Uint8Array) => base.appendFile(path, bytes)),
    truncate: mutate((path: string, lengthBytes: number) => base.truncate(path, lengthBytes)),
    fsyncFile: mutate((path: string) => base.fsyncFile(path)),
    rename: mutate((from: string, to: string) => base.rename(from, to)),
    unlink: mutate((path: string) => base.unlink(path)),
    fsyncDir: mutate((dir: string) => base.fsyncDir(dir)),
  };
}
