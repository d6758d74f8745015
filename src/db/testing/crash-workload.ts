/**
 * The seeded write sequence of the engine crash tests and its Map oracle. A step is either one
 * group of writes issued in the same event-loop turn (so the GroupCommitter applies them as one
 * group and they commit or fail together) or a `db.flush()`. `runSteps` runs the steps until
 * the first failure and reports what was acknowledged and what was in flight.
 */
import { Prng } from '../../ehash/testing/prng.js';
import type { BatchOp, Strata } from '../strata.js';

export interface Write {
  readonly kind: 'put' | 'del' | 'batch';
  readonly ops: readonly BatchOp[];
}

export type Step =
  | { readonly kind: 'writes'; readonly writes: readonly Write[] }
  | { readonly kind: 'flush' };

export interface WorkloadShape {
  readonly stepCount: number;
  readonly keyCount: number;
  readonly valueBytesMax: number;
}

export function keyName(index: number): string {
  return `key-${String(index).padStart(3, '0')}`;
}

/** Steps: mostly single awaited writes, some groups of 2–5 concurrent writes, a few flushes. */
export function makeSteps(seed: number, shape: WorkloadShape): Step[] {
  const prng = new Prng(seed);
  const steps: Step[] = [];
  for (let stepIndex = 0; stepIndex < shape.stepCount; stepIndex++) {
    const roll = prng.below(100);
    if (roll < 10) {
      steps.push({ kind: 'flush' });
      continue;
    }
    const writeCount = roll < 80 ? 1 : 2 + prng.below(4);
    const writes: Write[] = [];
    for (let writeIndex = 0; writeIndex < writeCount; writeIndex++) {
      writes.push(makeWrite(prng, shape, `${stepIndex}.${writeIndex}`));
    }
    steps.push({ kind: 'writes', writes });
  }
  return steps;
}

function makeWrite(prng: Prng, shape: WorkloadShape, tag: string): Write {
  const roll = prng.below(100);
  if (roll < 55) return { kind: 'put', ops: [makePut(prng, shape, tag)] };
  if (roll < 70)
    return { kind: 'del', ops: [{ type: 'del', key: keyName(prng.below(shape.keyCount)) }] };
  const ops: BatchOp[] = [];
  const opCount = 2 + prng.below(5);
  for (let opIndex = 0; opIndex < opCount; opIndex++) {
    ops.push(
      prng.below(4) === 0
        ? { type: 'del', key: keyName(prng.below(shape.keyCount)) }
        : makePut(prng, shape, `${tag}.${opIndex}`),
    );
  }
  return { kind: 'batch', ops };
}

function makePut(prng: Prng, shape: WorkloadShape, tag: string): BatchOp {
  const key = keyName(prng.below(shape.keyCount));
  return { type: 'put', key, value: `${tag}:${'x'.repeat(prng.below(shape.valueBytesMax))}` };
}

/** Applies writes in order, as the committer numbers them. */
export function applyWrites(model: Map<string, string>, writes: readonly Write[]): void {
  for (const write of writes) {
    for (const op of write.ops) {
      if (op.type === 'put') model.set(op.key as string, op.value as string);
      else model.delete(op.key as string);
    }
  }
}

export function issue(db: Strata, write: Write): Promise<void> {
  const op = write.ops[0]!;
  if (write.kind === 'put') return db.put(op.key, op.value!);
  if (write.kind === 'del') return db.del(op.key);
  return db.batch(write.ops);
}

export interface StepsOutcome {
  /** Every write acknowledged before the failure, applied in order. */
  readonly model: Map<string, string>;
  /** The writes of the step that failed (rejected together), if a write step failed. */
  readonly inFlight: readonly Write[] | undefined;
  /** The failure that ended the run; undefined when every step succeeded. */
  readonly failure: unknown;
  readonly stepsDone: number;
}

/**
 * Runs the steps on `db` until one fails. A write step whose writes do not all succeed or all
 * fail breaks the one-group-per-step rule and throws.
 */
export async function runSteps(
  db: Strata,
  steps: readonly Step[],
  context: string,
): Promise<StepsOutcome> {
  const model = new Map<string, string>();
  for (const [stepIndex, step] of steps.entries()) {
    if (step.kind === 'flush') {
      try {
        await db.flush();
      } catch (failure) {
        return { model, inFlight: undefined, failure, stepsDone: stepIndex };
      }
      continue;
    }
    const settled = await Promise.allSettled(step.writes.map((write) => issue(db, write)));
    const rejected = settled.filter((result) => result.status === 'rejected');
    if (rejected.length === 0) {
      applyWrites(model, step.writes);
      continue;
    }
    if (rejected.length !== settled.length) {
      throw new Error(`${context}: step ${stepIndex} committed only part of its group`);
    }
    return { model, inFlight: step.writes, failure: rejected[0]!.reason, stepsDone: stepIndex };
  }
  return { model, inFlight: undefined, failure: undefined, stepsDone: steps.length };
}

/** The model's entries in key order, as the db's iterator yields them. */
export function sortedEntries(model: ReadonlyMap<string, string>): Array<[string, string]> {
  return [...model.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
