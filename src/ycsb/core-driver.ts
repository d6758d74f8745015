import { performance } from 'node:perf_hooks';
import type { Histogram } from 'hdr-histogram-js';
import { StrataError } from '../errors.js';
import { buildRunKeys, emptyCoreCounters, runCoreLoad, runCoreOps } from './core-loop.js';
import { runCoreLoadOnThreads, runCoreRunOnThreads, startCoreRunner } from './core-parallel.js';
import { KeyBuilder } from './core-record.js';
import { type CorePhaseResult, corePhaseResult, loadKindCounts } from './core-result.js';
import {
  type CoreRun,
  type CoreWorkloadName,
  generateCoreRun,
  OP_INSERT,
} from './core-workload.js';
import type { KeyDistribution } from './key-choosers.js';
import { KV_DURABILITY, type KvEngine, type KvEngineName, openKvEngine } from './kv-engines.js';
import { createLatencyHistogram, measureClockOverheadNs, recordSamples } from './latency.js';
import { createSampleBuffer, isPowerOfTwo } from './phase-loop.js';
import { cpuMsSince, threadTime, threadTimeSpent } from './thread-time.js';
import type { WorkerRunner } from './worker-runner.js';

export type { CorePhaseResult, CoreVerification } from './core-result.js';

/**
 * Runs YCSB core workloads on one or more engines, one engine at a time in this process: open,
 * load `recordCount` records (one insert per record, key numbers in order), run each workload's
 * transaction phase in the order given on the same database, close. Every engine runs the same
 * generated operations (they depend only on the seed), so their checksums must agree.
 *
 * How a YCSB operation maps onto the KvEngine calls (YCSB's RocksDB binding does the same):
 * - read: `get` of the whole record (readallfields=true);
 * - update (writeallfields=false): `get`, replace the one chosen field, `put` the whole record;
 * - insert: `put` of a new record with all fields;
 * - scan: `scan` of 1 … 100 records from the start key (all fields);
 * - read-modify-write: `get` (the read, counted in the checksum), then the update of one field
 *   patches the record just read and `put`s it (one get, not two).
 * A workload that inserts (D, E) grows the record count the next workload starts from.
 *
 * With `threads` > 1 (strata only) the main thread opens the store and N worker threads run
 * each phase on attached handles (core-parallel.ts): the operations are partitioned by key, and
 * scans wait for other threads' earlier writes (op-order.ts), so every figure of the
 * verification equals a one-thread run's.
 */
export interface CoreDriverOptions {
  readonly engines: readonly KvEngineName[];
  readonly workloads: readonly CoreWorkloadName[];
  readonly recordCount: number;
  /** Operations per workload; `operationCounts` overrides it per workload. */
  readonly operationCount: number;
  readonly operationCounts?: Partial<Record<CoreWorkloadName, number>>;
  readonly seed: number;
  readonly distribution?: KeyDistribution;
  /** Time every n-th op (a power of two, op index % n == 0). Default 8. */
  readonly latencySampleEvery?: number;
  /** Engine directories are `<dir>/<engine>`, kept; default: temp directories, removed. */
  readonly dir?: string;
  /** Client threads: 1 (default) runs on the main thread; more need the strata engine. */
  readonly threads?: number;
  /**
   * Run on worker threads even when `threads` is 1 (strata only): benchmarks compare one worker
   * with the main thread to tell the cost of an attached handle from the scaling.
   */
  readonly onWorkers?: boolean;
  readonly log?: (line: string) => void;
}

export interface CoreEngineResult {
  readonly engine: KvEngineName;
  readonly label: string;
  readonly durability: string;
  readonly phases: readonly CorePhaseResult[];
}

export interface CoreResult {
  readonly recordCount: number;
  readonly seed: number;
  readonly threads: number;
  readonly clockOverheadNs: number;
  readonly engines: readonly CoreEngineResult[];
}

export async function runCoreWorkloads(options: CoreDriverOptions): Promise<CoreResult> {
  const sampleEvery = options.latencySampleEvery ?? 8;
  const threads = options.threads ?? 1;
  validateCoreOptions(options, sampleEvery, threads);
  const log = options.log ?? (() => {});
  const runs = generateRuns(options);
  const clockOverheadNs = measureClockOverheadNs();
  const keys = new KeyBuilder();
  const engines: CoreEngineResult[] = [];
  for (const name of options.engines) {
    const dirOption = options.dir === undefined ? {} : { dir: `${options.dir}/${name}` };
    const engine = await openKvEngine(name, dirOption);
    let runner: WorkerRunner | undefined;
    try {
      if (threads > 1 || options.onWorkers === true) {
        runner = await startCoreRunner(engine, threads);
      }
      const phases: CorePhaseResult[] = [];
      const on =
        runner === undefined
          ? 'the main thread'
          : `${threads} worker thread${threads === 1 ? '' : 's'}`;
      log(`${engine.label}: load ${options.recordCount} records on ${on}`);
      const load = { recordCount: options.recordCount, sampleEvery };
      phases.push(
        runner === undefined
          ? await runLoad(engine, { ...load, keys })
          : await runCoreLoadOnThreads(runner, load),
      );
      for (const run of runs) {
        await engine.settle();
        log(`${engine.label}: workload ${run.workload}, ${run.count} operations on ${on}`);
        phases.push(
          runner === undefined
            ? await runTransactions(engine, { keys, run, sampleEvery })
            : await runCoreRunOnThreads(runner, { run, sampleEvery }),
        );
      }
      engines.push({
        engine: name,
        label: engine.label,
        durability: KV_DURABILITY[name],
        phases,
      });
    } finally {
      await runner?.close();
      await engine.close();
    }
  }
  return {
    recordCount: options.recordCount,
    seed: options.seed,
    threads,
    clockOverheadNs,
    engines,
  };
}

function validateCoreOptions(
  options: CoreDriverOptions,
  sampleEvery: number,
  threads: number,
): void {
  if (!isPowerOfTwo(sampleEvery)) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      'the latency sample interval must be a power of two',
    );
  }
  if (options.engines.length === 0 || options.workloads.length === 0) {
    throw new StrataError('ERR_INVALID_ARGUMENT', 'give at least one engine and one workload');
  }
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new StrataError('ERR_INVALID_ARGUMENT', '--threads must be an integer in [1, 64]');
  }
  const single = options.engines.find((name) => name !== 'strata');
  if ((threads > 1 || options.onWorkers === true) && single !== undefined) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `--threads ${threads} with --workload needs the strata engine; ${single} runs on one thread`,
    );
  }
}

/** The workloads' operations, generated before any engine runs; inserts grow the next count. */
function generateRuns(options: CoreDriverOptions): CoreRun[] {
  const runs: CoreRun[] = [];
  let recordCount = options.recordCount;
  for (const workload of options.workloads) {
    const run = generateCoreRun({
      workload,
      recordCount,
      operationCount: options.operationCounts?.[workload] ?? options.operationCount,
      seed: options.seed,
      ...(options.distribution === undefined ? {} : { distribution: options.distribution }),
    });
    runs.push(run);
    recordCount += run.kindCounts[OP_INSERT]!;
  }
  return runs;
}

async function runLoad(
  engine: KvEngine,
  context: {
    readonly keys: KeyBuilder;
    readonly recordCount: number;
    readonly sampleEvery: number;
  },
): Promise<CorePhaseResult> {
  const { keys, recordCount, sampleEvery } = context;
  const samplesNs = createSampleBuffer(recordCount, sampleEvery);
  const startedTime = threadTime();
  const startedCpu = process.cpuUsage();
  const startedMs = performance.now();
  const ops = { count: recordCount, keynums: undefined };
  await runCoreLoad(engine, keys, ops, { sampleEvery, samplesNs });
  const elapsedMs = performance.now() - startedMs;
  const processCpuMs = cpuMsSince(startedCpu);
  const mainThread = threadTimeSpent(startedTime, threadTime());
  return withSamples(samplesNs, (histogram) =>
    corePhaseResult('load', {
      ops: recordCount,
      kindCounts: loadKindCounts(recordCount),
      elapsedMs,
      sampleEvery,
      histogram,
      counters: emptyCoreCounters(),
      perThread: [],
      mainThread,
      processCpuMs,
    }),
  );
}

async function runTransactions(
  engine: KvEngine,
  context: { readonly keys: KeyBuilder; readonly run: CoreRun; readonly sampleEvery: number },
): Promise<CorePhaseResult> {
  const { keys, run, sampleEvery } = context;
  buildRunKeys(keys, run); // keys built untimed
  const samplesNs = createSampleBuffer(run.count, sampleEvery);
  const startedTime = threadTime();
  const startedCpu = process.cpuUsage();
  const startedMs = performance.now();
  const counters = await runCoreOps(engine, keys, run, { sampleEvery, samplesNs });
  const elapsedMs = performance.now() - startedMs;
  const processCpuMs = cpuMsSince(startedCpu);
  const mainThread = threadTimeSpent(startedTime, threadTime());
  return withSamples(samplesNs, (histogram) =>
    corePhaseResult(run.workload, {
      ops: run.count,
      kindCounts: run.kindCounts,
      elapsedMs,
      sampleEvery,
      histogram,
      counters,
      perThread: [],
      mainThread,
      processCpuMs,
    }),
  );
}

/** Runs `build` with a histogram of the samples, destroyed afterwards. */
function withSamples<T>(samplesNs: Float64Array, build: (histogram: Histogram) => T): T {
  const histogram = createLatencyHistogram();
  try {
    recordSamples(histogram, samplesNs);
    return build(histogram);
  } finally {
    histogram.destroy();
  }
}
