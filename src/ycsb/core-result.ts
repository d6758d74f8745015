import type { Histogram } from 'hdr-histogram-js';
import type { CoreCounters } from './core-loop.js';
import { type CoreWorkloadName, OP_INSERT } from './core-workload.js';
import type { LatencySummary, ThreadResult } from './driver.js';

/** The figures of one core-workload phase, from the main thread or merged over workers. */
export interface CoreVerification {
  readonly readMisses: number;
  readonly updateMisses: number;
  readonly recordsRead: number;
  readonly badRecords: number;
  /** ReadChecksum (core-record.ts) of every record read, as 8 hex digits. */
  readonly checksum: string;
}

export interface CorePhaseResult {
  /** 'load' or the workload letter. */
  readonly phase: 'load' | CoreWorkloadName;
  readonly ops: number;
  /** Operations per kind, indexed by OP_* (the load: all INSERT). */
  readonly kindCounts: readonly number[];
  readonly elapsedMs: number;
  readonly opsPerSecond: number;
  readonly latency: LatencySummary;
  readonly verification: CoreVerification;
  /** One entry per worker thread; empty when the phase ran on the main thread. */
  readonly perThread: readonly ThreadResult[];
  /** The main thread's time on a CPU and waiting for one, when the phase ran there (Linux). */
  readonly mainThread?: { readonly cpuMs: number; readonly runQueueMs: number };
  /** CPU of the whole process over the phase: client threads plus flushes, compactions, GC. */
  readonly processCpuMs: number;
}

/** The load phase's kinds (OP_* order): every op an INSERT. */
export function loadKindCounts(recordCount: number): number[] {
  const counts = [0, 0, 0, 0, 0];
  counts[OP_INSERT] = recordCount;
  return counts;
}

/** A phase's figures; the caller owns (and destroys) the histogram. */
export function corePhaseResult(
  phase: 'load' | CoreWorkloadName,
  measured: {
    readonly ops: number;
    readonly kindCounts: readonly number[];
    readonly elapsedMs: number;
    readonly sampleEvery: number;
    readonly histogram: Histogram;
    readonly counters: CoreCounters;
    readonly perThread: readonly ThreadResult[];
    readonly mainThread?: { readonly cpuMs: number; readonly runQueueMs: number } | undefined;
    readonly processCpuMs: number;
  },
): CorePhaseResult {
  const { ops, elapsedMs, histogram, counters } = measured;
  return {
    phase,
    ops,
    kindCounts: [...measured.kindCounts],
    elapsedMs,
    opsPerSecond: elapsedMs > 0 ? Math.round((ops * 1000) / elapsedMs) : 0,
    latency: {
      sampleEvery: measured.sampleEvery,
      samples: histogram.totalCount,
      p50Ns: histogram.getValueAtPercentile(50),
      p99Ns: histogram.getValueAtPercentile(99),
      p999Ns: histogram.getValueAtPercentile(99.9),
      maxNs: histogram.maxValue,
      meanNs: Math.round(histogram.mean),
    },
    verification: {
      readMisses: counters.readMisses,
      updateMisses: counters.updateMisses,
      recordsRead: counters.recordsRead,
      badRecords: counters.badRecords,
      checksum: counters.checksum.toString(16).padStart(8, '0'),
    },
    perThread: measured.perThread,
    ...(measured.mainThread === undefined ? {} : { mainThread: measured.mainThread }),
    processCpuMs: measured.processCpuMs,
  };
}
