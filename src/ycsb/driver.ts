import { performance } from 'node:perf_hooks';
import type { Histogram } from 'hdr-histogram-js';
import { StrataError } from '../errors.js';
import {
  type EngineName,
  type EngineOptions,
  type EngineStats,
  engineSupportsScan,
  openEngine,
  type U64Engine,
} from './engines.js';
import { createLatencyHistogram, measureClockOverheadNs, recordSamples } from './latency.js';
import { type ParallelRunner, runParallelPhase, startParallelRunner } from './parallel-driver.js';
import {
  addCounters,
  createSampleBuffer,
  emptyCounters,
  isPowerOfTwo,
  type PhaseCounters,
  runAsyncOps,
  runSyncOps,
  warmUpReads,
} from './phase-loop.js';
import { PhaseProgress } from './progress.js';
import { U64Sum } from './u64-sum.js';
import type { OpCounts, Workload } from './workload.js';

export type PhaseName = 'load' | 'run';

/** Attached handles per Strata store (src/db/handle-layout.ts SLOT_COUNT). */
const STRATA_THREADS_MAX = 64;

export interface DriverOptions {
  readonly engine: EngineName;
  readonly engineOptions?: EngineOptions;
  readonly load?: Workload;
  readonly run?: Workload;
  /** Default 1 (the main thread, no workers). More than 1: ehash or strata (worker threads). */
  readonly threads?: number;
  /** Time every n-th op (a power of two). Default: 16 for sync engines, 1 for async ones. */
  readonly latencySampleEvery?: number;
  /** Show a progress bar on stderr for phases longer than a second. Default: stderr is a TTY. */
  readonly progress?: boolean;
}

export interface LatencySummary {
  readonly sampleEvery: number;
  readonly samples: number;
  readonly p50Ns: number;
  readonly p99Ns: number;
  readonly p999Ns: number;
  readonly maxNs: number;
  readonly meanNs: number;
}

export interface Verification {
  readonly failedInserts: number;
  readonly readMisses: number;
  readonly updateMisses: number;
  readonly removeMisses: number;
  readonly scanRecords: number;
  /** Sum of the values read modulo 2^64, as decimal and as hex. */
  readonly checksum: string;
  readonly checksumHex: string;
}

export interface ThreadResult {
  readonly thread: number;
  readonly ops: number;
  readonly elapsedMs: number;
  readonly opsPerSecond: number;
  /** Waiting for other threads' earlier writes or scans (phases with both; op-order.ts). */
  readonly orderWaitMs: number;
  /** On a CPU, and runnable but waiting for one, over the phase (Linux only; thread-time.ts). */
  readonly cpuMs?: number;
  readonly runQueueMs?: number;
}

export interface PhaseResult {
  readonly phase: PhaseName;
  readonly source: string;
  readonly ops: number;
  readonly opCounts: OpCounts;
  readonly elapsedMs: number;
  readonly opsPerSecond: number;
  readonly latency: LatencySummary;
  readonly verification: Verification;
  /** One entry per worker thread; empty when the phase ran on the main thread. */
  readonly perThread: readonly ThreadResult[];
}

export interface YcsbResult {
  readonly engine: EngineName;
  readonly label: string;
  readonly threads: number;
  /** Median cost of one back-to-back pair of clock reads, included in every sampled latency. */
  readonly clockOverheadNs: number;
  readonly phases: readonly PhaseResult[];
  /** Figures summed over all phases. */
  readonly verification: Verification;
  /** Table shape after the last phase (ehash only). */
  readonly stats: EngineStats | undefined;
}

/**
 * Opens the engine, runs the load phase then the run phase on it, closes it. Checks every
 * precondition (scan support, thread support) before the first operation.
 */
export async function runYcsb(options: DriverOptions): Promise<YcsbResult> {
  const threads = options.threads ?? 1;
  validateDriverOptions(options, threads);
  const phases: [PhaseName, Workload][] = [];
  if (options.load !== undefined) phases.push(['load', options.load]);
  if (options.run !== undefined) phases.push(['run', options.run]);
  refuseUnsupportedScans(options.engine, engineSupportsScan(options.engine), phases);
  const engine = await openEngine(options.engine, options.engineOptions ?? {});
  let runner: ParallelRunner | undefined;
  try {
    refuseUnsupportedScans(engine.name, engine.supportsScan, phases);
    const clockOverheadNs = measureClockOverheadNs();
    if (threads > 1) runner = await startParallelRunner(engine, threads);
    const sampleEvery = options.latencySampleEvery ?? (engine.mode === 'sync' ? 16 : 1);
    const showProgress = options.progress ?? process.stderr.isTTY === true;
    const results: PhaseResult[] = [];
    for (const [phase, workload] of phases) {
      const context = { phase, workload, sampleEvery, showProgress };
      results.push(
        runner === undefined
          ? await runPhaseOnMainThread(engine, context)
          : await runParallelPhase(runner, context),
      );
    }
    return {
      engine: options.engine,
      label: engine.label,
      threads,
      clockOverheadNs,
      phases: results,
      verification: sumVerification(results),
      stats: engine.stats(),
    };
  } finally {
    await runner?.close();
    await engine.close();
  }
}

export interface PhaseContext {
  readonly phase: PhaseName;
  readonly workload: Workload;
  readonly sampleEvery: number;
  readonly showProgress: boolean;
}

async function runPhaseOnMainThread(
  engine: U64Engine,
  context: PhaseContext,
): Promise<PhaseResult> {
  const histogram = createLatencyHistogram();
  const progress = new PhaseProgress(context.phase, context.workload.count, context.showProgress);
  const loopOptions = {
    sampleEvery: context.sampleEvery,
    samplesNs: createSampleBuffer(context.workload.count, context.sampleEvery),
    onProgress: (done: number) => progress.update(done),
  };
  try {
    if (engine.mode === 'sync') warmUpReads(engine, context.workload);
    const startedMs = performance.now();
    const counters =
      engine.mode === 'sync'
        ? runSyncOps(engine, context.workload, loopOptions)
        : await runAsyncOps(engine, context.workload, loopOptions);
    const elapsedMs = performance.now() - startedMs;
    recordSamples(histogram, loopOptions.samplesNs);
    return phaseResult(context, { counters, elapsedMs, histogram, perThread: [] });
  } finally {
    progress.stop();
    histogram.destroy();
  }
}

export function phaseResult(
  context: PhaseContext,
  measured: {
    readonly counters: PhaseCounters;
    readonly elapsedMs: number;
    readonly histogram: Histogram;
    readonly perThread: readonly ThreadResult[];
  },
): PhaseResult {
  const { counters, elapsedMs, histogram } = measured;
  return {
    phase: context.phase,
    source: context.workload.source,
    ops: counters.ops,
    opCounts: { ...context.workload.opCounts },
    elapsedMs,
    opsPerSecond: opsPerSecond(counters.ops, elapsedMs),
    latency: {
      sampleEvery: context.sampleEvery,
      samples: histogram.totalCount,
      p50Ns: histogram.getValueAtPercentile(50),
      p99Ns: histogram.getValueAtPercentile(99),
      p999Ns: histogram.getValueAtPercentile(99.9),
      maxNs: histogram.maxValue,
      meanNs: Math.round(histogram.mean),
    },
    verification: verificationOf(counters),
    perThread: measured.perThread,
  };
}

export function opsPerSecond(ops: number, elapsedMs: number): number {
  return elapsedMs > 0 ? Math.round((ops * 1000) / elapsedMs) : 0;
}

function verificationOf(counters: PhaseCounters): Verification {
  const sum = new U64Sum();
  sum.add(counters.checksumHi, counters.checksumLo);
  return {
    failedInserts: counters.failedInserts,
    readMisses: counters.readMisses,
    updateMisses: counters.updateMisses,
    removeMisses: counters.removeMisses,
    scanRecords: counters.scanRecords,
    checksum: sum.toDecimal(),
    checksumHex: sum.toHex(),
  };
}

function sumVerification(results: readonly PhaseResult[]): Verification {
  const total = emptyCounters();
  for (const result of results) {
    const checksum = BigInt(result.verification.checksum);
    addCounters(total, {
      ...result.verification,
      ops: result.ops,
      checksumHi: Number(checksum >> 32n),
      checksumLo: Number(checksum & 0xffffffffn),
    });
  }
  return verificationOf(total);
}

function validateDriverOptions(options: DriverOptions, threads: number): void {
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new StrataError('ERR_INVALID_ARGUMENT', `--threads must be an integer in [1, 256]`);
  }
  if (threads > 1 && options.engine !== 'ehash' && options.engine !== 'strata') {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `--threads ${threads} needs the ehash or strata engine; ${options.engine} runs on one thread`,
    );
  }
  if (threads > STRATA_THREADS_MAX && options.engine === 'strata') {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `--threads ${threads}: a strata store takes at most ${STRATA_THREADS_MAX} attached threads`,
    );
  }
  const sampleEvery = options.latencySampleEvery;
  if (sampleEvery !== undefined && !isPowerOfTwo(sampleEvery)) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      'the latency sample interval must be a power of two',
    );
  }
  if (options.load === undefined && options.run === undefined) {
    throw new StrataError('ERR_INVALID_ARGUMENT', 'give a load workload, a run workload or both');
  }
}

function refuseUnsupportedScans(
  engine: EngineName,
  supportsScan: boolean,
  phases: readonly [PhaseName, Workload][],
): void {
  if (supportsScan) return;
  for (const [, workload] of phases) {
    if (workload.opCounts.scan > 0) {
      throw new StrataError(
        'ERR_WORKLOAD',
        `${workload.source} has ${workload.opCounts.scan} SCAN lines, but the ${engine} engine has no ordered scans (use strata, lmdb or classic-level)`,
      );
    }
  }
}
