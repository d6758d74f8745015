/**
 * The catalog's single writer: runs operations from the queue against the latest state, makes
 * each edit durable (renames, directory fsync, manifest append and fsync) before publishing its
 * version, checkpoints every N edits, and deletes files once no alive version references them.
 *
 * Thread model: main thread only. Everything here runs on the OperationQueue, one task at a
 * time, except `submit`, `whenIdle`, `close` and the registry's pins, which only touch memory.
 *
 * Failure model: an operation that fails before it writes anything (a conflict, a missing temp
 * file) rejects and changes nothing. A failed write (manifest append, rename, fsync, checkpoint,
 * file deletion) leaves the disk in a state only recovery can judge, so the executor stops: that
 * operation and every later one reject, and `close()` rejects with the failure. Reopening
 * recovers the last durable version.
 */
import { basename, dirname, join, resolve } from 'node:path';
import { assert, invariantsEnabled } from '../assert.js';
import { StrataError } from '../errors.js';
import { applyEdit, type EditParts, makeEdit } from './catalog-edit.js';
import type { CatalogFs } from './catalog-fs.js';
import type { CompareKeys } from './catalog-state.js';
import { checkState } from './check-state.js';
import { removeGeneration, switchGeneration } from './checkpoint.js';
import { decodeEdit, encodeEdit, encodeState } from './edit-codec.js';
import { blobFileName, TEMP_SUFFIX, tableFileName } from './file-names.js';
import type { ManifestWriter } from './manifest.js';
import { OperationQueue } from './operation-queue.js';
import type {
  ApplyContext,
  FileInstall,
  OperationJob,
  PreparedEdit,
} from './operations/operation.js';
import { CATALOG_FORMAT_VERSION } from './record-file.js';
import type { RecoveredCatalog } from './recovery.js';
import { type ObsoleteFile, SnapshotRegistry } from './snapshot-registry.js';

export interface ExecutorSettings {
  readonly dir: string;
  readonly fs: CatalogFs;
  readonly compareKeys: CompareKeys;
  readonly checkpointEveryEdits: number;
}

export class CatalogExecutor {
  readonly registry: SnapshotRegistry;
  readonly #dir: string;
  readonly #fs: CatalogFs;
  readonly #compareKeys: CompareKeys;
  readonly #checkpointEveryEdits: number;
  readonly #queue = new OperationQueue();
  #manifest: ManifestWriter;
  #generation: number;
  #failure: StrataError | undefined;
  #checkpointQueued = false;
  #closing: Promise<void> | undefined;
  #closed = false;

  constructor(settings: ExecutorSettings, recovered: RecoveredCatalog) {
    this.#dir = settings.dir;
    this.#fs = settings.fs;
    this.#compareKeys = settings.compareKeys;
    this.#checkpointEveryEdits = settings.checkpointEveryEdits;
    this.#manifest = recovered.manifest;
    this.#generation = recovered.generation;
    this.registry = new SnapshotRegistry(recovered.state, (files) => this.#onObsolete(files));
  }

  get closed(): boolean {
    return this.#closed;
  }

  whenIdle(): Promise<void> {
    return this.#queue.whenIdle();
  }

  /** Refuses new jobs, waits for queued ones, rejects if the executor stopped after a failure. */
  close(): Promise<void> {
    this.#closing ??= this.#queue.whenIdle().then(() => {
      this.#closed = true;
      if (this.#failure !== undefined) throw this.#stoppedError('close');
    });
    return this.#closing;
  }

  /** The sink behind `op.push()`: rejects when closing or full, else queues the job. */
  submit(job: OperationJob): void {
    if (this.#closing !== undefined) {
      job.reject(
        new StrataError('ERR_CLOSED', `catalog ${this.#dir} is closed; ${job.name} refused`),
      );
      return;
    }
    if (this.#queue.full) {
      job.reject(new StrataError('ERR_BUSY', `catalog queue is full; ${job.name} refused`));
      return;
    }
    this.#queue.enqueue({ name: job.name, run: () => this.#run(job) });
  }

  async #run(job: OperationJob): Promise<void> {
    if (this.#failure !== undefined) {
      job.reject(this.#stoppedError(job.name));
      return;
    }
    const progress = { mutated: false };
    try {
      job.resolve(await job.apply(this.#contextFor(job, progress)));
    } catch (error) {
      if (progress.mutated) this.#fail(error);
      job.reject(error);
    }
  }

  #contextFor(job: OperationJob, progress: { mutated: boolean }): ApplyContext {
    const latest = this.registry.latest;
    const conflict = (problem: string): Error =>
      new StrataError(
        'ERR_CONFLICT',
        `${job.name} planned on version ${job.plannedVersion} no longer applies at version ` +
          `${latest.version}: ${problem}`,
      );
    return {
      latest,
      compareKeys: this.#compareKeys,
      conflict,
      prepare: (parts: EditParts): PreparedEdit => {
        const edit = makeEdit(latest.version + 1, parts);
        const outcome = applyEdit(latest, edit, this.#compareKeys);
        if (!outcome.ok) throw conflict(outcome.problem);
        return { edit, state: outcome.state };
      },
      installFiles: async (installs) => {
        for (const install of installs) await this.#checkInstall(job.name, install);
        progress.mutated = true;
        await this.#install(installs);
      },
      commit: async (prepared) => {
        progress.mutated = true;
        await this.#commit(prepared);
      },
      checkpoint: async () => {
        progress.mutated = true;
        return this.#checkpoint();
      },
      whenMemtableUnpinned: (id) => this.registry.whenMemtableUnpinned(id),
    };
  }

  async #checkInstall(operationName: string, install: FileInstall): Promise<void> {
    const { tempPath } = install;
    const inDir = resolve(dirname(tempPath)) === resolve(this.#dir);
    if (!inDir || !basename(tempPath).endsWith(TEMP_SUFFIX)) {
      throw new StrataError(
        'ERR_INVALID_ARGUMENT',
        `${operationName}: ${tempPath} is not a temp path of ${this.#dir} (use newTempPath())`,
      );
    }
    const stat = await this.#fs.stat(tempPath);
    if (stat === undefined) {
      throw new StrataError('ERR_INVALID_ARGUMENT', `${operationName}: ${tempPath} does not exist`);
    }
    if (stat.sizeBytes !== install.sizeBytes) {
      throw new StrataError(
        'ERR_CORRUPT',
        `${operationName}: ${tempPath} ends at byte ${stat.sizeBytes} but its metadata says ` +
          `${install.sizeBytes} bytes`,
      );
    }
  }

  /** Renames before the manifest names the files, and makes the renames durable first. */
  async #install(installs: readonly FileInstall[]): Promise<void> {
    if (installs.length === 0) return;
    for (const install of installs) {
      const name =
        install.kind === 'table'
          ? tableFileName(install.fileNumber)
          : blobFileName(install.fileNumber);
      await this.#fs.rename(install.tempPath, join(this.#dir, name));
    }
    await this.#fs.fsyncDir(this.#dir);
  }

  async #commit(prepared: PreparedEdit): Promise<void> {
    const latest = this.registry.latest;
    assert(prepared.edit.version === latest.version + 1, 'edit prepared on a stale version');
    // A generation recovered from an older format takes no records of this one: the first edit
    // starts a new generation (a checkpoint of the state before it) and goes there.
    if (this.#manifest.formatVersion !== CATALOG_FORMAT_VERSION) await this.#checkpoint();
    await this.#manifest.append(prepared.edit);
    if (invariantsEnabled) this.#checkCommitted(prepared);
    this.registry.publish(prepared.state);
    if (this.#manifest.recordCount >= this.#checkpointEveryEdits && !this.#checkpointQueued) {
      this.#checkpointQueued = true;
      this.#queue.enqueue({
        name: 'automatic checkpoint',
        run: () => this.#runAutomaticCheckpoint(),
      });
    }
  }

  /** The edit as replay will read it gives the same state, and that state keeps every rule. */
  #checkCommitted(prepared: PreparedEdit): void {
    const source = { file: 'memory', baseOffset: 0 };
    const replayed = applyEdit(
      this.registry.latest,
      decodeEdit(encodeEdit(prepared.edit), source, CATALOG_FORMAT_VERSION),
      this.#compareKeys,
    );
    assert(replayed.ok, 'committed edit does not replay');
    assert(Buffer.from(encodeState(replayed.state)).equals(encodeState(prepared.state)));
    const problem = checkState(prepared.state, this.#compareKeys);
    assert(problem === undefined, `published state breaks a rule: ${problem}`);
  }

  async #checkpoint(): Promise<number> {
    const previous = this.#generation;
    const generation = previous + 1;
    const state = this.registry.latest;
    this.#manifest = await switchGeneration(this.#fs, { dir: this.#dir, state, generation });
    this.#generation = generation;
    await removeGeneration(this.#fs, this.#dir, previous);
    return generation;
  }

  async #runAutomaticCheckpoint(): Promise<void> {
    this.#checkpointQueued = false;
    if (this.#failure !== undefined) return;
    try {
      await this.#checkpoint();
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Files no alive version references: delete them on the executor, after queued work. */
  #onObsolete(files: readonly ObsoleteFile[]): void {
    // Once closed or stopped, the next open removes them instead.
    if (this.#closed || this.#failure !== undefined) return;
    this.#queue.enqueue({ name: 'delete obsolete files', run: () => this.#deleteFiles(files) });
  }

  async #deleteFiles(files: readonly ObsoleteFile[]): Promise<void> {
    if (this.#failure !== undefined) return;
    try {
      for (const file of files) {
        const name =
          file.kind === 'table' ? tableFileName(file.fileNumber) : blobFileName(file.fileNumber);
        const path = join(this.#dir, name);
        if ((await this.#fs.stat(path)) !== undefined) await this.#fs.unlink(path);
      }
    } catch (error) {
      this.#fail(error);
    }
  }

  #fail(error: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure =
      error instanceof StrataError
        ? error
        : new StrataError('ERR_IO', `catalog write failed: ${String(error)}`, { cause: error });
  }

  #stoppedError(what: string): StrataError {
    const failure = this.#failure;
    assert(failure !== undefined);
    return new StrataError(
      failure.code,
      `${what} refused: catalog ${this.#dir} stopped after a failed write (${failure.message})`,
      { cause: failure },
    );
  }
}
