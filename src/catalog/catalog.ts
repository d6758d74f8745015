/**
 * The catalog: the one writer of Strata's metadata (live memtables, tables per level, blob
 * files, secondary indexes). Readers pin immutable snapshots; changes are operations applied one
 * at a time, in push order, each made durable in the manifest before its new version is
 * published. See README.md for the flow and FORMAT.md for the files; the writing itself happens
 * in catalog-executor.ts.
 *
 * Thread model: main thread only, owned by the coordinator. Worker threads never see the
 * catalog or a snapshot; they receive plain data (`snapshot.state`, temp paths) and return plain
 * results, which the coordinator turns into operations.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { StrataError } from '../errors.js';
import { CatalogExecutor } from './catalog-executor.js';
import { type CatalogFs, nodeCatalogFs } from './catalog-fs.js';
import { CatalogSnapshot, type SnapshotOwner } from './catalog-snapshot.js';
import { type CompareKeys, compareBytes } from './catalog-state.js';
import { TEMP_SUFFIX } from './file-names.js';
import { recoverCatalog } from './recovery.js';

export interface CatalogOptions {
  /** Checkpoint and start a fresh manifest after this many edits. Default 1000. */
  readonly checkpointEveryEdits?: number;
  /** Order of internal keys in levels 1 and below. Default: bytewise. */
  readonly compareKeys?: CompareKeys;
  /** The file system. Default: the real one; tests pass a crashing or in-memory one. */
  readonly fs?: CatalogFs;
  /**
   * Change nothing on disk at open (no torn-tail cut, no leftover removal) until
   * `finishRecovery()`, which must come before the first operation. The engine sets it so that it
   * can check the catalog against the NVM image first: a catalog that disagrees with it (a
   * damaged last manifest record) then fails open without deleting a table. Default false.
   */
  readonly deferCleanUp?: boolean;
}

export const CHECKPOINT_EVERY_EDITS_DEFAULT = 1000;
const CHECKPOINT_EVERY_EDITS_MAX = 1_000_000_000;

export class Catalog {
  readonly dir: string;
  readonly #executor: CatalogExecutor;
  readonly #owner: SnapshotOwner;
  readonly #tempPrefix = `T${process.pid}-${randomBytes(4).toString('hex')}`;
  #tempCount = 0;
  #cleanUp: () => Promise<void> = async () => undefined;

  private constructor(dir: string, executor: CatalogExecutor) {
    this.dir = dir;
    this.#executor = executor;
    this.#owner = {
      sink: { submit: (job) => executor.submit(job) },
      unpin: (version) => executor.registry.unpin(version),
    };
  }

  /** Creates the catalog in `dir` (made if missing) or recovers the one there. */
  static async open(dir: string, options: CatalogOptions = {}): Promise<Catalog> {
    const checkpointEveryEdits = options.checkpointEveryEdits ?? CHECKPOINT_EVERY_EDITS_DEFAULT;
    if (
      !Number.isInteger(checkpointEveryEdits) ||
      checkpointEveryEdits < 1 ||
      checkpointEveryEdits > CHECKPOINT_EVERY_EDITS_MAX
    ) {
      throw new StrataError('ERR_INVALID_ARGUMENT', 'checkpointEveryEdits must be an integer ≥ 1');
    }
    if (typeof dir !== 'string' || dir.length === 0) {
      throw new StrataError('ERR_INVALID_ARGUMENT', 'dir must be a non-empty path');
    }
    const fs = options.fs ?? nodeCatalogFs;
    const compareKeys = options.compareKeys ?? compareBytes;
    const { recovered, cleanUp } = await recoverCatalog(fs, dir, {
      compareKeys,
      deferCleanUp: options.deferCleanUp ?? false,
    });
    const settings = { dir, fs, compareKeys, checkpointEveryEdits };
    const catalog = new Catalog(dir, new CatalogExecutor(settings, recovered));
    catalog.#cleanUp = cleanUp;
    return catalog;
  }

  /**
   * Runs the clean-up that `deferCleanUp` postponed: cuts a torn manifest tail and removes
   * leftovers (temp files, unreferenced tables, old generations). Idempotent.
   */
  finishRecovery(): Promise<void> {
    return this.#cleanUp();
  }

  /** The latest version, pinned until `release()`. */
  getSnapshot(): CatalogSnapshot {
    if (this.#executor.closed) throw new StrataError('ERR_CLOSED', `catalog ${this.dir} is closed`);
    return new CatalogSnapshot(this.#executor.registry.pin(), this.#owner);
  }

  /** A fresh path in the catalog's directory for a table or blob file an operation will commit. */
  newTempPath(): string {
    this.#tempCount++;
    return join(this.dir, `${this.#tempPrefix}-${this.#tempCount}${TEMP_SUFFIX}`);
  }

  /** Resolves when every pushed operation (and the deletions they caused) has been applied. */
  whenIdle(): Promise<void> {
    return this.#executor.whenIdle();
  }

  /**
   * Refuses new operations (ERR_CLOSED), waits for the queued ones, and rejects if the catalog
   * stopped after a failed write. Files only a still-pinned snapshot needs are left for the next
   * open to remove.
   */
  close(): Promise<void> {
    return this.#executor.close();
  }
}

export type { CatalogEdit } from './catalog-edit.js';
export type { CatalogFs, FileStat } from './catalog-fs.js';
export { CatalogSnapshot } from './catalog-snapshot.js';
export type {
  BlobFileMeta,
  CatalogState,
  CompareKeys,
  FileMeta,
  FileRef,
  IndexMeta,
  IndexState,
  MemtableMeta,
  MemtableState,
} from './catalog-state.js';
export { INDEX_ID_MAX, LEVEL_COUNT } from './catalog-state.js';
export { AddBlobFile, type AddBlobFileInput } from './operations/add-blob-file.js';
export {
  ChangeIndexState,
  type ChangeIndexStateInput,
} from './operations/change-index-state.js';
export { Checkpoint, type CheckpointResult } from './operations/checkpoint-operation.js';
export { CommitBlobGc, type CommitBlobGcInput } from './operations/commit-blob-gc.js';
export {
  CommitCompaction,
  type CommitCompactionInput,
  type CommitCompactionResult,
  type CompactionOutput,
  type TableMove,
} from './operations/commit-compaction.js';
export {
  CommitFlush,
  type CommitFlushInput,
  type CommitFlushResult,
} from './operations/commit-flush.js';
export {
  CommitIndexBuild,
  type CommitIndexBuildInput,
  type CommitIndexBuildResult,
  type IndexBuildOutput,
} from './operations/commit-index-build.js';
export { CreateMemtable, type CreateMemtableInput } from './operations/create-memtable.js';
export {
  FreezeMemtable,
  type FreezeMemtableInput,
  type FreezeMemtableResult,
} from './operations/freeze-memtable.js';
export type { CatalogOperation } from './operations/operation.js';
export type { TableProperties } from './operations/table-properties.js';
