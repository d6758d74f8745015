/**
 * The compaction coordinator of one database: picks work (src/lsm/compaction-picker.ts), runs
 * merges on the compaction pool (or this thread), and commits each result through one catalog
 * operation, `CommitCompaction`, which checks that the inputs are still live. Up to
 * `compactionThreads` compactions run at once, on tables no other running compaction uses.
 *
 * A pick is planned on the current levels; the merge runs without any lock; the commit is the
 * only step that changes metadata, and the host then re-syncs its table set from the catalog. A
 * commit refused with ERR_CONFLICT (its inputs went away meanwhile) only removes its outputs. Any
 * other failure is counted, reported to the host, and stops automatic compaction until the
 * host clears it (the next `compactRange` or a reopen retries).
 *
 * Thread model: main thread only, owned by one Strata.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../assert.js';
import type { Catalog } from '../catalog/catalog.js';
import type { FileMeta } from '../catalog/catalog-state.js';
import { TEMP_SUFFIX, tableFileName } from '../catalog/file-names.js';
import { CommitCompaction } from '../catalog/operations/commit-compaction.js';
import { isStrataError } from '../errors.js';
import type { CompactionResult, CompactionTask } from '../lsm/compaction-job.js';
import {
  type CompactionPick,
  type LevelShape,
  overlapsRange,
  pickCompaction,
  pickRange,
  userRange,
} from '../lsm/compaction-picker.js';
import type { Seq } from '../sst/internal-key.js';

export interface CompactorHost {
  readonly catalog: Catalog;
  /** The catalog's current levels (what a pick is planned on). */
  levels(): readonly (readonly FileMeta[])[];
  /** Seqs of the pinned snapshots, ascending, without duplicates. */
  snapshotSeqs(): Seq[];
  /** Runs the merge (on the pool, or this thread). */
  runTask(task: CompactionTask): Promise<CompactionResult>;
  /** Called after each commit: adopt the catalog's new levels. */
  committed(): void;
  /** A compaction failed with something other than a conflict. */
  failed(error: unknown): void;
  readonly closed: boolean;
}

export interface CompactorSettings {
  readonly shape: LevelShape;
  readonly targetFileBytes: number;
  readonly concurrency: number;
}

export interface CompactionStats {
  readonly compactions: number;
  readonly trivialMoves: number;
  readonly compactionsRunning: number;
  readonly compactionBytesRead: number;
  readonly compactionBytesWritten: number;
  readonly compactionConflicts: number;
  readonly compactionErrors: number;
  readonly versionsDropped: number;
  readonly tombstonesDropped: number;
}

export class Compactor {
  readonly #host: CompactorHost;
  readonly #settings: CompactorSettings;
  readonly #running = new Set<Promise<void>>();
  /** File numbers of the tables running compactions read. */
  readonly #busy = new Set<number>();
  /** Per level: the largest user key of the last table compacted there (round robin). */
  readonly #pointers = new Map<number, Uint8Array>();
  #error: unknown;
  #counters = {
    compactions: 0,
    trivialMoves: 0,
    compactionBytesRead: 0,
    compactionBytesWritten: 0,
    compactionConflicts: 0,
    compactionErrors: 0,
    versionsDropped: 0,
    tombstonesDropped: 0,
  };

  constructor(host: CompactorHost, settings: CompactorSettings) {
    this.#host = host;
    this.#settings = settings;
  }

  get shape(): LevelShape {
    return this.#settings.shape;
  }

  /** Starts what the levels' scores call for, up to the concurrency limit. */
  schedule(): void {
    if (this.#host.closed || this.#error !== undefined) return;
    while (this.#running.size < this.#settings.concurrency) {
      const pick = pickCompaction(this.#host.levels(), this.#busy, this.shape, this.#pointers);
      if (pick === undefined) return;
      this.#start(pick);
    }
  }

  /** Resolves once no compaction runs (new ones may start right after). */
  async whenIdle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /**
   * Compacts every table overlapping [start, end] (user keys; undefined = open) down to the
   * deepest level holding any of it, one level at a time, waiting for running compactions that
   * hold a table it needs. Rethrows the first failure; clears an earlier failure first.
   */
  async compactRange(start: Uint8Array | undefined, end: Uint8Array | undefined): Promise<void> {
    this.#error = undefined;
    const target = this.#deepestLevelWith(start, end);
    await this.#compactLevelsDown(target, start, end);
    // Last, the deepest level's tables in the range are rewritten where they are, so shadowed
    // versions no snapshot needs and tombstones go from there too.
    await this.#waitForRange(target, start, end);
    const pick = pickRange(this.#host.levels(), this.#busy, this.shape, {
      level: target,
      start,
      end,
      inPlace: true,
    });
    if (pick !== undefined && !this.#host.closed) {
      this.#start(pick);
      await this.whenIdle();
      if (this.#error !== undefined) throw this.#error;
    }
  }

  async #waitForRange(
    level: number,
    start: Uint8Array | undefined,
    end: Uint8Array | undefined,
  ): Promise<void> {
    for (let round = 0; round < 1_000_000 && this.#holdsBusy(level, start, end); round++) {
      await Promise.race([...this.#running]).catch(() => undefined);
    }
  }

  async #compactLevelsDown(
    target: number,
    start: Uint8Array | undefined,
    end: Uint8Array | undefined,
  ): Promise<void> {
    for (let level = 0; level < target; level++) {
      // Bounded: each round either compacts this level's part of the range or waits for a
      // running compaction to finish; the range's tables at this level only ever go down.
      for (let round = 0; round < 1_000_000; round++) {
        if (this.#host.closed) return;
        const pick = pickRange(this.#host.levels(), this.#busy, this.shape, { level, start, end });
        if (pick === undefined) {
          if (!this.#holdsBusy(level, start, end)) break;
          await Promise.race([...this.#running]).catch(() => undefined);
          continue;
        }
        this.#start(pick);
        await this.whenIdle();
        if (this.#error !== undefined) throw this.#error;
      }
    }
  }

  stats(): CompactionStats {
    return { ...this.#counters, compactionsRunning: this.#running.size };
  }

  #start(pick: CompactionPick): void {
    for (const file of pick.inputs) {
      assert(!this.#busy.has(file.fileNumber), 'a pick never takes a busy table');
      this.#busy.add(file.fileNumber);
    }
    const last = pick.inputs.filter((file) => file.level === pick.level).at(-1);
    if (last !== undefined && pick.level > 0)
      this.#pointers.set(pick.level, userRange(last).largest);
    const run: Promise<void> = this.#run(pick)
      .catch((error: unknown) => this.#fail(error))
      .finally(() => {
        for (const file of pick.inputs) this.#busy.delete(file.fileNumber);
        this.#running.delete(run);
        this.schedule();
      });
    this.#running.add(run);
  }

  async #run(pick: CompactionPick): Promise<void> {
    const catalog = this.#host.catalog;
    if (pick.trivialMove) {
      const file = pick.inputs[0]!;
      const move = {
        fileNumber: file.fileNumber,
        fromLevel: pick.level,
        toLevel: pick.outputLevel,
      };
      await this.#commit({ inputs: [], outputs: [], moves: [move] }, []);
      this.#counters.trivialMoves++;
      return;
    }
    const tempPath = catalog.newTempPath();
    const task: CompactionTask = {
      inputs: pick.inputs.map((file) => ({
        path: join(catalog.dir, tableFileName(file.fileNumber)),
        fileNumber: file.fileNumber,
      })),
      tempPathPrefix: tempPath.slice(0, tempPath.length - TEMP_SUFFIX.length),
      targetFileBytes: this.#settings.targetFileBytes,
      snapshotSeqs: this.#host.snapshotSeqs(),
      bottommost: pick.bottommost,
    };
    const result = await this.#host.runTask(task);
    const outputs = result.outputs.map((output) => ({
      tempPath: output.tempPath,
      level: pick.outputLevel,
      table: output.table,
    }));
    const inputs = pick.inputs.map((file) => ({ level: file.level, fileNumber: file.fileNumber }));
    await this.#commit(
      { inputs, outputs, blobGarbage: result.blobGarbage },
      outputs.map((output) => output.tempPath),
    );
    this.#counters.compactions++;
    this.#counters.compactionBytesRead += result.bytesRead;
    this.#counters.compactionBytesWritten += result.bytesWritten;
    this.#counters.versionsDropped += result.versionsDropped;
    this.#counters.tombstonesDropped += result.tombstonesDropped;
  }

  async #commit(
    input: ConstructorParameters<typeof CommitCompaction>[1],
    tempPaths: readonly string[],
  ): Promise<void> {
    const snapshot = this.#host.catalog.getSnapshot();
    try {
      await new CommitCompaction(snapshot, input).push().waitDone();
    } catch (error) {
      // Not committed: the outputs are nobody's (a crash here leaves them to the next open).
      for (const path of tempPaths) rmSync(path, { force: true });
      if (isStrataError(error, 'ERR_CONFLICT')) {
        this.#counters.compactionConflicts++;
        return;
      }
      throw error;
    } finally {
      snapshot.release();
    }
    this.#host.committed();
  }

  #fail(error: unknown): void {
    if (this.#host.closed && isStrataError(error, 'ERR_CLOSED')) return;
    this.#counters.compactionErrors++;
    this.#error = error;
    this.#host.failed(error);
  }

  /** 1 when only level 0 holds the range (so it goes to level 1), else the deepest level. */
  #deepestLevelWith(start: Uint8Array | undefined, end: Uint8Array | undefined): number {
    const levels = this.#host.levels();
    let deepest = 0;
    for (let level = 0; level < levels.length; level++) {
      const files = levels[level] ?? [];
      if (files.some((file) => overlapsRange(file, { start, end }))) deepest = level;
    }
    return Math.max(1, deepest);
  }

  #holdsBusy(level: number, start: Uint8Array | undefined, end: Uint8Array | undefined): boolean {
    const levels = this.#host.levels();
    for (const at of [level, level + 1]) {
      for (const file of levels[at] ?? []) {
        if (this.#busy.has(file.fileNumber) && overlapsRange(file, { start, end })) return true;
      }
    }
    return false;
  }
}
