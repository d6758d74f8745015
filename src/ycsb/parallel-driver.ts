import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { PhaseContext, PhaseResult } from './driver.js';
import { phaseResult } from './driver.js';
import type { U64Engine } from './engines.js';
import { createLatencyHistogram } from './latency.js';
import type { AttachableEngine, PhaseWork } from './parallel-layout.js';
import { partitionByKey } from './partition.js';
import { addCounters, emptyCounters } from './phase-loop.js';
import { mergeReplies, WorkerRunner } from './worker-runner.js';

export { ycsbWorkerPath } from './worker-runner.js';

/**
 * The course files' load/run phases on N worker threads attached to one engine: ehash (the
 * same table; the sync loop) or strata (one attached handle per thread; the async loop). A
 * phase is partitioned by a hash of the key, so every key's operations stay in order on one
 * thread and the verification figures equal a single-threaded run's (misses per key are
 * order-dependent only within the key; the checksum is an order-independent sum). A phase with
 * SCAN lines and writes also orders scans against other threads' writes (op-order.ts), since a
 * scan reads every thread's keys.
 */
export interface ParallelRunner {
  readonly threads: number;
  close(): Promise<void>;
}

export async function startParallelRunner(
  engine: U64Engine,
  threads: number,
): Promise<ParallelRunner> {
  if (!isAttachable(engine)) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `--threads needs the ehash or strata engine, not ${engine.name}`,
    );
  }
  return WorkerRunner.start(engine, threads);
}

export async function runParallelPhase(
  runner: ParallelRunner,
  context: PhaseContext,
): Promise<PhaseResult> {
  assert(runner instanceof WorkerRunner);
  const { workload } = context;
  const ordered = workload.opCounts.scan > 0 && writeCount(workload.opCounts) > 0;
  const works: PhaseWork[] = partitionByKey(workload, runner.threads, { ordered }).map((ops) => ({
    kind: 'u64',
    ops,
    ordered,
  }));
  const { elapsedMs, replies } = await runner.runPhase({
    label: context.phase,
    count: workload.count,
    showProgress: context.showProgress,
    sampleEvery: context.sampleEvery,
    works,
  });
  const counters = emptyCounters();
  const histogram = createLatencyHistogram();
  try {
    const perThread = mergeReplies(replies, histogram, (reply) => {
      assert(reply.outcome.kind === 'u64');
      addCounters(counters, reply.outcome.counters);
      return reply.outcome.counters.ops;
    });
    assert(counters.ops === workload.count, 'every op ran on exactly one thread');
    return phaseResult(context, { counters, elapsedMs, histogram, perThread });
  } finally {
    histogram.destroy();
  }
}

function writeCount(counts: {
  readonly insert: number;
  readonly update: number;
  readonly remove: number;
}): number {
  return counts.insert + counts.update + counts.remove;
}

function isAttachable(engine: U64Engine): engine is U64Engine & AttachableEngine {
  return typeof (engine as Partial<AttachableEngine>).attachment === 'function';
}
