/**
 * Index build throughput in bench/index.ts: `createIndex` over the loaded records with
 * `indexBuildThreads` 1 and 2 (compaction pool of 2), on the same data. The loaded database is
 * compacted down once (`compactRange`), so the records sit in level 1 and below, where a build
 * cuts its slices, and no memtable is left for the build's own flush; then closed. Every timed
 * build runs on a fresh copy of that directory (`cp --sparse=always`: the NVM image is mostly a
 * hole), opened with its options, so each sees exactly the same files. The builds run in ABBA
 * order (1, 2, 2, 1) to cancel drift on a shared machine.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Strata, type StrataOptions } from '../src/db/strata.js';
import { waitUntilWritesSettle } from './append-io.js';

export const BUILD_FIELD = 'year';
/** indexBuildThreads of each timed build, in order. */
export const BUILD_THREAD_ORDER: readonly number[] = [1, 2, 2, 1];
export const COMPACTION_THREADS = 2;

export interface BuildSample {
  readonly field: string;
  readonly threads: number;
  readonly elapsedMs: number;
  /** From the call until the slices' merge started (the whole build when there is none). */
  readonly scanMs: number;
  /** From the merge's start until the index was ready (merge and ingest); undefined: none. */
  readonly mergeMs: number | undefined;
  /** CPU time of the process during the build, all threads. */
  readonly cpuMs: number;
  readonly recordsScanned: number;
  readonly entriesWritten: number;
  /** Scan tasks the build ran (one per slice of the primary keys). */
  readonly slices: number;
  readonly recordsPerSecond: number;
}

export interface BuildOptions {
  /** Table size (StrataOptions.targetFileSize); undefined: the default. */
  readonly targetFileBytes: number | undefined;
}

/** The options every database of the query and build phases opens with. */
export function buildPhaseOptions(threads: number, options: BuildOptions): StrataOptions {
  return {
    compactionThreads: COMPACTION_THREADS,
    indexBuildThreads: threads,
    ...(options.targetFileBytes === undefined ? {} : { targetFileSize: options.targetFileBytes }),
  };
}

/** Compacts the loaded database down and waits until nothing writes any more, untimed. */
export async function compactDown(db: Strata): Promise<void> {
  await db.compactRange();
  await waitUntilWritesSettle(() => db.stats().compactionsRunning > 0);
}

/**
 * When the current build's slices were merged: set by Strata's test hook `beforeCompactionTask`
 * (a build split in slices merges their outputs with a compaction task; a compacted copy runs
 * no other compaction), so the report can split a build into its scan and its merge.
 */
export interface MergeClock {
  mergeStartedMs: number | undefined;
}

/** Opens `dir` for builds with `threads` slices, with a clock of its merges. */
export async function openForBuilds(
  dir: string,
  threads: number,
  options: BuildOptions,
): Promise<{ db: Strata; clock: MergeClock }> {
  const clock: MergeClock = { mergeStartedMs: undefined };
  const db = await Strata.open(dir, buildPhaseOptions(threads, options), {
    beforeCompactionTask: () => {
      clock.mergeStartedMs ??= performance.now();
    },
  });
  return { db, clock };
}

/**
 * The timed builds of BUILD_FIELD, each on its own copy of `baseDir` (a closed, compacted
 * database) at `workDir`, removed afterwards.
 */
export async function runBuildRounds(
  dirs: { readonly baseDir: string; readonly workDir: string },
  options: BuildOptions & { readonly log: (line: string) => void },
): Promise<BuildSample[]> {
  const samples: BuildSample[] = [];
  for (const [round, threads] of BUILD_THREAD_ORDER.entries()) {
    rmSync(dirs.workDir, { recursive: true, force: true });
    execFileSync('cp', ['-R', '--sparse=always', dirs.baseDir, dirs.workDir]);
    const { db, clock } = await openForBuilds(dirs.workDir, threads, options);
    try {
      await waitUntilWritesSettle();
      options.log(
        `index: build ${round + 1} of ${BUILD_THREAD_ORDER.length}, ${threads} worker(s)`,
      );
      samples.push(await timeBuild(db, { field: BUILD_FIELD, threads, clock }));
    } finally {
      await db.close();
      rmSync(dirs.workDir, { recursive: true, force: true });
    }
  }
  return samples;
}

/**
 * One createIndex, timed from the call until the index is ready, with the CPU time of the
 * whole process meanwhile (every thread: the pool's workers and the main thread).
 */
export async function timeBuild(
  db: Strata,
  build: { readonly field: string; readonly threads: number; readonly clock: MergeClock },
): Promise<BuildSample> {
  const { field, threads, clock } = build;
  const before = db.stats();
  clock.mergeStartedMs = undefined;
  const cpuBefore = process.cpuUsage();
  const startedMs = performance.now();
  await db.createIndex(field);
  const endedMs = performance.now();
  const cpu = process.cpuUsage(cpuBefore);
  const after = db.stats();
  const recordsScanned = after.indexBuildRecordsScanned - before.indexBuildRecordsScanned;
  const entriesWritten = after.indexBuildEntriesWritten - before.indexBuildEntriesWritten;
  if (entriesWritten !== recordsScanned) {
    throw new Error(
      `index build of ${field}: ${entriesWritten} entries for ${recordsScanned} records`,
    );
  }
  const elapsedMs = endedMs - startedMs;
  return {
    field,
    threads,
    elapsedMs,
    scanMs: (clock.mergeStartedMs ?? endedMs) - startedMs,
    mergeMs: clock.mergeStartedMs === undefined ? undefined : endedMs - clock.mergeStartedMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    recordsScanned,
    entriesWritten,
    slices: after.indexBuildSlices - before.indexBuildSlices,
    recordsPerSecond: (recordsScanned * 1000) / elapsedMs,
  };
}
