/**
 * The AOE operation pattern. An operation is planned on a snapshot, then pushed to the catalog's
 * one queue and applied there, strictly in push order, against the *latest* state:
 *
 *   const snapshot = catalog.getSnapshot();
 *   const op = new CommitFlush(snapshot, { memtableId, tempPath, table }).push();
 *   snapshot.release();
 *   const result = await op.waitDone(); // or rejects with a StrataError
 *
 * If the latest state no longer fits the plan (the memtable was flushed meanwhile, a compaction
 * input is gone), `apply` rejects with ERR_CONFLICT before anything is written, and nothing
 * changes. Otherwise it persists its edit and the catalog publishes the next version before
 * `waitDone` resolves.
 *
 * Thread model: main thread only; `apply` runs on the catalog's executor, never concurrently
 * with another operation.
 */
import { assert } from '../../assert.js';
import type { CatalogEdit, EditParts } from '../catalog-edit.js';
import { type CatalogSnapshot, operationSinkOf } from '../catalog-snapshot.js';
import type { CatalogState, CompareKeys } from '../catalog-state.js';

/** A temp file that an operation renames to its final name when it commits. */
export interface FileInstall {
  readonly tempPath: string;
  readonly kind: 'table' | 'blob';
  readonly fileNumber: number;
  /** What the file's size must be; a mismatch is ERR_CORRUPT and nothing is renamed. */
  readonly sizeBytes: number;
}

export interface PreparedEdit {
  readonly edit: CatalogEdit;
  /** The state after the edit. */
  readonly state: CatalogState;
}

/** What the executor offers an operation while it applies. */
export interface ApplyContext {
  readonly latest: CatalogState;
  /** The catalog's key order (levels 1 and below are sorted by it). */
  readonly compareKeys: CompareKeys;
  /** An ERR_CONFLICT that names the operation and the versions involved. */
  conflict(problem: string): Error;
  /** Checks the edit against the latest state; throws `conflict(...)` when it does not fit. */
  prepare(parts: EditParts): PreparedEdit;
  /**
   * Checks that every temp file exists with its expected size (nothing happens if one does not),
   * then renames each to its final name and makes the renames durable.
   */
  installFiles(installs: readonly FileInstall[]): Promise<void>;
  /** Appends the edit to the manifest, fsyncs, publishes the new version. */
  commit(prepared: PreparedEdit): Promise<void>;
  /** Writes a checkpoint of the latest state and starts a new manifest; returns its generation. */
  checkpoint(): Promise<number>;
  whenMemtableUnpinned(id: number): Promise<void>;
}

export interface OperationJob {
  readonly name: string;
  readonly plannedVersion: number;
  apply(context: ApplyContext): Promise<unknown>;
  resolve(result: unknown): void;
  reject(error: unknown): void;
}

/** The catalog side of `push()`. It rejects the job (never throws) when the catalog is closed. */
export interface OperationSink {
  submit(job: OperationJob): void;
}

export abstract class CatalogOperation<Result> {
  /** The version of the snapshot this operation was planned on. */
  readonly plannedVersion: number;
  readonly #sink: OperationSink;
  readonly #done: Promise<Result>;
  #settle: { resolve(result: Result): void; reject(error: unknown): void } | undefined;
  #pushed = false;

  protected constructor(snapshot: CatalogSnapshot) {
    this.plannedVersion = snapshot.version;
    this.#sink = operationSinkOf(snapshot);
    this.#done = new Promise<Result>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    // A pushed operation whose caller never awaits it must not crash the process with an
    // unhandled rejection; anyone who calls waitDone() still receives the rejection.
    this.#done.catch(() => undefined);
  }

  /** For error messages: the operation's class name. */
  abstract get name(): string;

  /** Enqueues the operation; returns it so that `new Op(...).push()` chains. Push once. */
  push(): this {
    assert(!this.#pushed, `${this.name} pushed twice`);
    const settle = this.#settle;
    assert(settle !== undefined);
    this.#pushed = true;
    this.#sink.submit({
      name: this.name,
      plannedVersion: this.plannedVersion,
      apply: (context) => this.apply(context),
      resolve: (result) => settle.resolve(result as Result),
      reject: (error) => settle.reject(error),
    });
    return this;
  }

  /** Resolves with the result once applied, or rejects with its StrataError. Requires: pushed. */
  waitDone(): Promise<Result> {
    assert(this.#pushed, `${this.name}.waitDone() before push()`);
    return this.#done;
  }

  /** Runs on the executor: validate against `context.latest`, persist, publish. */
  protected abstract apply(context: ApplyContext): Promise<Result>;
}
