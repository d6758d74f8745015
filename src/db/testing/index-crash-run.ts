/**
 * Runs the steps of testing/index-crash-workload.ts on a database until one fails. Every write
 * goes through one SerialWriter, so at most one write is ever in flight, also while a build
 * runs, and once a write fails no later one is issued. The outcome names what was acknowledged
 * (data and indexes) and what was in flight (one write, one index operation).
 */
import type { Strata } from '../strata.js';
import type { RunEnd } from './crash-run.js';
import {
  applyIndexWrite,
  type IndexOp,
  type IndexStep,
  issueIndexWrite,
  type Write,
} from './index-crash-workload.js';

export interface IndexStepsOutcome extends RunEnd {
  /** Key → value bytes (as latin1) after every acknowledged write. */
  readonly model: Map<string, string>;
  /** The write that failed, if one did (at most one is in flight). */
  readonly inFlight: Write | undefined;
  /** Whether an index was listed when the in-flight write was issued. */
  readonly inFlightIndexed: boolean;
  /** The fields whose createIndex resolved and whose dropIndex has not resolved. */
  readonly indexes: ReadonlySet<string>;
  /** The index operation that started and did not resolve. */
  readonly indexOp: IndexOp | undefined;
  /** How many times beforeIndexBuildTask issued a create step's `duringBuild` writes. */
  readonly hookGroups: number;
}

/**
 * Issues writes one at a time, in call order, each once the one before settled; applies each to
 * the model once acknowledged. After a failure it issues nothing more.
 */
export class SerialWriter {
  /** The write that failed, and whether an index was listed when it was issued. */
  failed: { readonly write: Write; readonly error: unknown; readonly indexed: boolean } | undefined;
  readonly #db: Strata;
  readonly #model: Map<string, string>;
  #tail: Promise<void> = Promise.resolve();

  constructor(db: Strata, model: Map<string, string>) {
    this.#db = db;
    this.#model = model;
  }

  write(write: Write): Promise<void> {
    const run = this.#tail.then(async () => {
      if (this.failed !== undefined) throw new Error('not issued: an earlier write failed');
      const indexed = this.#db.listIndexes().length > 0;
      try {
        await issueIndexWrite(this.#db, write);
      } catch (error) {
        this.failed = { write, error, indexed };
        throw error;
      }
      applyIndexWrite(this.#model, write);
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }
}

/**
 * The beforeIndexBuildTask hook of a run: while armed, its first call issues the create step's
 * `duringBuild` writes and resolves once they were acknowledged (rejects if one failed).
 */
export class BuildInterleave {
  groupsIssued = 0;
  #writer: SerialWriter | undefined;
  #group: readonly Write[] = [];
  #running: Promise<unknown> | undefined;

  readonly hook = (): Promise<void> => {
    const group = this.#group;
    const writer = this.#writer;
    this.#group = [];
    if (group.length === 0 || writer === undefined) return Promise.resolve();
    this.groupsIssued++;
    const running = Promise.all(group.map((write) => writer.write(write))).then(() => undefined);
    this.#running = running.catch(() => undefined);
    return running;
  };

  arm(writer: SerialWriter, group: readonly Write[]): void {
    this.#writer = writer;
    this.#group = group;
  }

  /** Stops issuing and waits for the group in progress. */
  async disarm(): Promise<void> {
    this.#group = [];
    await this.#running;
  }
}

/** Runs the steps until one fails; `interleave` must be the hook `db` was opened with. */
export async function runIndexSteps(
  db: Strata,
  steps: readonly IndexStep[],
  interleave: BuildInterleave,
): Promise<IndexStepsOutcome> {
  const model = new Map<string, string>();
  const writer = new SerialWriter(db, model);
  const indexes = new Set<string>();
  let indexOp: IndexOp | undefined;
  const outcome = (stepsDone: number, failure: unknown): IndexStepsOutcome => ({
    model,
    inFlight: writer.failed?.write,
    inFlightIndexed: writer.failed?.indexed ?? false,
    indexes,
    indexOp,
    failure: writer.failed?.error ?? failure,
    stepsDone,
    hookGroups: interleave.groupsIssued,
  });
  for (const [stepIndex, step] of steps.entries()) {
    try {
      if (step.kind === 'write') {
        await writer.write(step.write);
      } else if (step.kind === 'flush') {
        await db.flush();
      } else if (step.kind === 'drop') {
        indexOp = step;
        await db.dropIndex(step.field);
        indexes.delete(step.field);
        indexOp = undefined;
      } else {
        indexOp = step;
        interleave.arm(writer, step.duringBuild);
        const created = db.createIndex(step.field);
        const alongside = step.alongside.map((write) => writer.write(write));
        const settled = await Promise.allSettled([created, ...alongside]);
        await interleave.disarm();
        if (settled[0]!.status === 'fulfilled') {
          indexes.add(step.field);
          indexOp = undefined;
        }
        for (const result of settled) if (result.status === 'rejected') throw result.reason;
      }
    } catch (failure) {
      return outcome(stepIndex, failure);
    }
  }
  return outcome(steps.length, undefined);
}
