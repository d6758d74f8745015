import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { addCoreCounters, emptyCoreCounters } from './core-loop.js';
import { type CorePhaseResult, corePhaseResult, loadKindCounts } from './core-result.js';
import { type CoreRun, OP_READ, OP_SCAN } from './core-workload.js';
import type { KvEngine } from './kv-engines.js';
import { createLatencyHistogram } from './latency.js';
import type { AttachableEngine, DoneMessage, PhaseWork } from './parallel-layout.js';
import { partitionCoreLoad, partitionCoreRun } from './partition.js';
import { mergeReplies, WorkerRunner } from './worker-runner.js';

/**
 * The core workloads on N worker threads attached to the main thread's Strata store (one
 * `db.handle()` each). Every phase is split by key number (partition.ts), so each record's
 * operations run in phase order on one thread; each op keeps its phase index, which names the
 * versions it writes and seeds the read checksum, and a phase with scans and writes (E) orders
 * scans against other threads' writes (op-order.ts). So misses, records read and the checksum
 * equal a one-thread run's.
 */
export async function startCoreRunner(engine: KvEngine, threads: number): Promise<WorkerRunner> {
  if (!isAttachable(engine)) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `--threads ${threads} needs the strata engine; ${engine.name} runs on one thread`,
    );
  }
  return WorkerRunner.start(engine, threads);
}

export async function runCoreLoadOnThreads(
  runner: WorkerRunner,
  context: { readonly recordCount: number; readonly sampleEvery: number },
): Promise<CorePhaseResult> {
  const works: PhaseWork[] = partitionCoreLoad(context.recordCount, runner.threads).map((ops) => ({
    kind: 'core-load',
    ops,
  }));
  const replies = await runner.runPhase({
    label: 'load',
    count: context.recordCount,
    showProgress: false,
    sampleEvery: context.sampleEvery,
    works,
  });
  return merge('load', replies, {
    ops: context.recordCount,
    kindCounts: loadKindCounts(context.recordCount),
    sampleEvery: context.sampleEvery,
    counts: works.map((work) => (work.kind === 'core-load' ? work.ops.count : 0)),
  });
}

export async function runCoreRunOnThreads(
  runner: WorkerRunner,
  context: { readonly run: CoreRun; readonly sampleEvery: number },
): Promise<CorePhaseResult> {
  const { run } = context;
  const writes = run.count - run.kindCounts[OP_SCAN]! - run.kindCounts[OP_READ]!;
  const ordered = run.kindCounts[OP_SCAN]! > 0 && writes > 0;
  assert(!ordered || run.count < 0x7fffffff, 'ordered phases index ops in Int32 words');
  const partitions = partitionCoreRun(run, runner.threads);
  const replies = await runner.runPhase({
    label: run.workload,
    count: run.count,
    showProgress: false,
    sampleEvery: context.sampleEvery,
    works: partitions.map((ops) => ({ kind: 'core-run', ops, ordered })),
  });
  return merge(run.workload, replies, {
    ops: run.count,
    kindCounts: run.kindCounts,
    sampleEvery: context.sampleEvery,
    counts: partitions.map((ops) => ops.count),
  });
}

function merge(
  phase: CorePhaseResult['phase'],
  measured: {
    readonly elapsedMs: number;
    readonly processCpuMs: number;
    readonly replies: readonly DoneMessage[];
  },
  context: {
    readonly ops: number;
    readonly kindCounts: readonly number[];
    readonly sampleEvery: number;
    /** Operations per thread, as partitioned. */
    readonly counts: readonly number[];
  },
): CorePhaseResult {
  const counters = emptyCoreCounters();
  const histogram = createLatencyHistogram();
  try {
    const perThread = mergeReplies(measured.replies, histogram, (reply, thread) => {
      assert(reply.outcome.kind === 'core');
      addCoreCounters(counters, reply.outcome.counters);
      return context.counts[thread]!;
    });
    assert(perThread.reduce((sum, thread) => sum + thread.ops, 0) === context.ops);
    return corePhaseResult(phase, {
      ops: context.ops,
      kindCounts: context.kindCounts,
      elapsedMs: measured.elapsedMs,
      sampleEvery: context.sampleEvery,
      histogram,
      counters,
      perThread,
      processCpuMs: measured.processCpuMs,
    });
  } finally {
    histogram.destroy();
  }
}

function isAttachable(engine: KvEngine): engine is KvEngine & AttachableEngine {
  return typeof (engine as Partial<AttachableEngine>).attachment === 'function';
}
