/**
 * Plain timed loops for bench/engine.ts: run an operation until a time budget or an op cap is
 * spent and report ops/s. Each loop reads the clock once per op (~0.1 µs, far below the
 * microseconds an engine op costs), except the synchronous one, which reads it every
 * SYNC_OPS_PER_CLOCK ops because a point get can cost under a microsecond.
 */
import { performance } from 'node:perf_hooks';

export interface TimedResult {
  readonly ops: number;
  readonly elapsedMs: number;
  readonly opsPerSecond: number;
}

export interface Budget {
  readonly durationMs: number;
  /** Stop after this many ops even if time is left (bounds the disk a put phase fills). */
  readonly opsMax: number;
}

const SYNC_OPS_PER_CLOCK = 32;

/** `step(i)` for i = 0, 1, … on this thread, synchronously. */
export function timeSync(budget: Budget, step: (index: number) => void): TimedResult {
  const startedMs = performance.now();
  const deadlineMs = startedMs + budget.durationMs;
  let ops = 0;
  while (ops < budget.opsMax) {
    const end = Math.min(budget.opsMax, ops + SYNC_OPS_PER_CLOCK);
    for (; ops < end; ops++) step(ops);
    if (performance.now() >= deadlineMs) break;
  }
  return result(ops, performance.now() - startedMs);
}

/** One caller: each `step(i)` is awaited before the next starts (when it returns a promise). */
export async function timeSerial(
  budget: Budget,
  step: (index: number) => Promise<unknown> | number,
): Promise<TimedResult> {
  const startedMs = performance.now();
  const deadlineMs = startedMs + budget.durationMs;
  let ops = 0;
  while (ops < budget.opsMax && performance.now() < deadlineMs) {
    const outcome = step(ops++);
    if (typeof outcome !== 'number') await outcome;
  }
  return result(ops, performance.now() - startedMs);
}

/**
 * `callers` async loops, each awaiting its own steps, so that up to `callers` steps are in
 * flight at once. Op indexes are handed out in order across the loops.
 */
export async function timeConcurrent(
  budget: Budget,
  callers: number,
  step: (index: number) => Promise<unknown>,
): Promise<TimedResult> {
  const startedMs = performance.now();
  const deadlineMs = startedMs + budget.durationMs;
  let next = 0;
  const loop = async (): Promise<void> => {
    while (next < budget.opsMax && performance.now() < deadlineMs) await step(next++);
  };
  await Promise.all(Array.from({ length: callers }, loop));
  return result(next, performance.now() - startedMs);
}

function result(ops: number, elapsedMs: number): TimedResult {
  return { ops, elapsedMs, opsPerSecond: elapsedMs > 0 ? (ops * 1000) / elapsedMs : 0 };
}
