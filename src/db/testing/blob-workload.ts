/**
 * The seeded workload of the blob crash tests (blob-crash.test.ts) and its Map oracle. Values of
 * at least BLOB_MIN_BYTES go to blob files; the steps put them, append to them (small appends
 * that fit the reserve, large ones that rewrite the value), overwrite and delete them, flush,
 * compact, and run blob GC. A GC step also hands the engine writes to issue from
 * `beforeBlobGcTask`, between a round's liveness scan and its reference commit, so the round
 * must skip the keys they changed. Every write is awaited before the next one starts (those of
 * a GC step one by one inside the hook), so at most one write is ever in flight.
 */
import { Prng } from '../../ehash/testing/prng.js';
import type { BatchOp, Strata, StrataStats } from '../strata.js';

export const BLOB_MIN_BYTES = 256;

export type BlobWrite =
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'del'; readonly key: string }
  | { readonly kind: 'append'; readonly key: string; readonly bytes: string }
  | { readonly kind: 'batch'; readonly ops: readonly BatchOp[] };

export type BlobStep =
  | { readonly kind: 'write'; readonly write: BlobWrite }
  | { readonly kind: 'flush' }
  /** compactRange (which accounts blob garbage) then collectBlobGarbage. */
  | { readonly kind: 'gc'; readonly duringTasks: readonly (readonly BlobWrite[])[] };

export interface BlobShape {
  readonly keyCount: number;
  /** Random writes before the first GC step, and between the GC steps. */
  readonly mixBefore: number;
  readonly mixAfter: number;
}

export function blobKey(index: number): string {
  return `blob-${String(index).padStart(2, '0')}`;
}

/**
 * `length` bytes of ASCII that start with the tag and go on with a pattern of it, so that a
 * byte from another value, or a shifted window, never looks right.
 */
export function filler(tag: string, length: number): string {
  let hash = 7;
  for (let index = 0; index < tag.length; index++) hash = (hash * 31 + tag.charCodeAt(index)) >>> 0;
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let text = `${tag}:`;
  for (let index = text.length; index < length; index++) {
    text += alphabet[(index * 7 + hash) % alphabet.length];
  }
  return text.slice(0, length);
}

/** Fill, a random mix, a GC step with interleaved writes, more appends, a second GC step. */
export function makeBlobSteps(seed: number, shape: BlobShape): BlobStep[] {
  const prng = new Prng(seed);
  const planned = new Map<string, string>(); // the model at generation time, to pick blob keys
  const steps: BlobStep[] = [];
  const push = (write: BlobWrite): void => {
    applyBlobWrite(planned, write);
    steps.push({ kind: 'write', write });
  };
  for (let index = 0; index < shape.keyCount; index++) {
    const key = blobKey(index);
    const inline = index % 5 === 4;
    push({ kind: 'put', key, value: filler(`f${index}`, inline ? 40 : 300 + prng.below(300)) });
  }
  for (let index = 0; index < shape.mixBefore; index++) {
    if (prng.below(100) < 6) steps.push({ kind: 'flush' });
    else push(makeMixWrite(prng, shape, `m${index}`));
  }
  steps.push({ kind: 'gc', duringTasks: gcInterleave(prng, planned, 'g1', 3) });
  for (let index = 0; index < shape.mixAfter; index++) {
    // Mostly appends now: the moved values take them in place in the GC output's reserves.
    const key = blobKey(prng.below(shape.keyCount));
    if (prng.below(100) < 70) push(makeAppend(prng, key, `p${index}`));
    else push(makeMixWrite(prng, shape, `p${index}`));
  }
  steps.push({ kind: 'gc', duringTasks: gcInterleave(prng, planned, 'g2', 1) });
  for (let index = 0; index < 4; index++) {
    push(makeAppend(prng, blobKey(prng.below(shape.keyCount)), `z${index}`));
  }
  return steps;
}

function makeMixWrite(prng: Prng, shape: BlobShape, tag: string): BlobWrite {
  const key = blobKey(prng.below(shape.keyCount));
  const roll = prng.below(100);
  if (roll < 40) return makeAppend(prng, key, tag);
  if (roll < 62) return { kind: 'put', key, value: filler(tag, 260 + prng.below(400)) };
  if (roll < 72) return { kind: 'put', key, value: filler(tag, 10 + prng.below(60)) };
  if (roll < 84) return { kind: 'del', key };
  const ops: BatchOp[] = [];
  for (let opIndex = 0; opIndex < 2 + prng.below(2); opIndex++) {
    const opKey = blobKey(prng.below(shape.keyCount));
    ops.push(
      prng.below(4) === 0
        ? { type: 'del', key: opKey }
        : { type: 'put', key: opKey, value: filler(`${tag}.${opIndex}`, 200 + prng.below(300)) },
    );
  }
  return { kind: 'batch', ops };
}

/** Mostly small appends (in place while the reserve lasts), sometimes one too big for it. */
function makeAppend(prng: Prng, key: string, tag: string): BlobWrite {
  const large = prng.below(100) < 15;
  return { kind: 'append', key, bytes: `<${filler(tag, large ? 300 : 8 + prng.below(30))}>` };
}

/** Writes for `tasks` GC copy tasks: an append, an overwrite and a delete of blob values. */
function gcInterleave(
  prng: Prng,
  planned: Map<string, string>,
  tag: string,
  tasks: number,
): BlobWrite[][] {
  const groups: BlobWrite[][] = [];
  for (let task = 0; task < tasks; task++) {
    const blobKeys = [...planned.keys()].filter((key) => planned.get(key)!.length >= 256);
    const pick = (): string => blobKeys[prng.below(blobKeys.length)] ?? blobKey(0);
    const group: BlobWrite[] = [
      { kind: 'append', key: pick(), bytes: `<${filler(`${tag}.${task}a`, 12)}>` },
      { kind: 'put', key: pick(), value: filler(`${tag}.${task}p`, 300) },
    ];
    if (task === 0) group.push({ kind: 'del', key: pick() });
    for (const write of group) applyBlobWrite(planned, write);
    groups.push(group);
  }
  return groups;
}

export function applyBlobWrite(model: Map<string, string>, write: BlobWrite): void {
  if (write.kind === 'put') model.set(write.key, write.value);
  else if (write.kind === 'del') model.delete(write.key);
  else if (write.kind === 'append')
    model.set(write.key, (model.get(write.key) ?? '') + write.bytes);
  else {
    for (const op of write.ops) {
      if (op.type === 'put') model.set(op.key as string, op.value as string);
      else model.delete(op.key as string);
    }
  }
}

export function issueBlobWrite(db: Strata, write: BlobWrite): Promise<void> {
  if (write.kind === 'put') return db.put(write.key, write.value);
  if (write.kind === 'del') return db.del(write.key);
  if (write.kind === 'append') return db.append(write.key, write.bytes);
  return db.batch(write.ops);
}

/**
 * The `beforeBlobGcTask` hook of a run: while a GC step is armed, each copy task first issues
 * the next group of writes, one by one, and records them in the run's model.
 */
export class GcInterleave {
  #db: Strata | undefined;
  #model: Map<string, string> | undefined;
  #groups: (readonly BlobWrite[])[] = [];
  #running: Promise<void> | undefined;
  /** The write that failed inside the hook (the run's in-flight write). */
  failedWrite: BlobWrite | undefined;
  /** Groups issued so far. */
  groupsIssued = 0;

  readonly hook = (): Promise<void> => {
    const group = this.#groups.shift();
    if (group === undefined || this.#db === undefined) return Promise.resolve();
    this.groupsIssued++;
    const running = this.#issue(this.#db, group);
    this.#running = running;
    return running;
  };

  arm(db: Strata, model: Map<string, string>, groups: readonly (readonly BlobWrite[])[]): void {
    this.#db = db;
    this.#model = model;
    this.#groups = [...groups];
  }

  /** Stops issuing and waits for the group in progress. */
  async disarm(): Promise<void> {
    this.#groups = [];
    await this.#running?.catch(() => undefined);
  }

  async #issue(db: Strata, group: readonly BlobWrite[]): Promise<void> {
    for (const write of group) {
      try {
        await issueBlobWrite(db, write);
      } catch (error) {
        this.failedWrite = write;
        this.#groups = [];
        throw error;
      }
      applyBlobWrite(this.#model!, write);
    }
  }
}

export interface BlobStepsOutcome {
  readonly model: Map<string, string>;
  /** The write that failed (at most one was in flight), if a write failed. */
  readonly inFlight: BlobWrite | undefined;
  readonly failure: unknown;
  readonly stepsDone: number;
  /** stats() after each GC step that completed. */
  readonly gcStats: StrataStats[];
  /** Per GC step that started: how many of its write groups the hook issued. */
  readonly groupsIssued: number[];
}

/** Runs the steps until one fails; `interleave` must be the hook `db` was opened with. */
export async function runBlobSteps(
  db: Strata,
  steps: readonly BlobStep[],
  interleave: GcInterleave,
): Promise<BlobStepsOutcome> {
  const model = new Map<string, string>();
  const gcStats: StrataStats[] = [];
  const groupsIssued: number[] = [];
  const outcome = (stepsDone: number, failure: unknown, inFlight?: BlobWrite) => ({
    model,
    inFlight,
    failure,
    stepsDone,
    gcStats,
    groupsIssued,
  });
  for (const [stepIndex, step] of steps.entries()) {
    try {
      if (step.kind === 'write') {
        try {
          await issueBlobWrite(db, step.write);
        } catch (failure) {
          return outcome(stepIndex, failure, step.write);
        }
        applyBlobWrite(model, step.write);
      } else if (step.kind === 'flush') {
        await db.flush();
      } else {
        const before = interleave.groupsIssued;
        interleave.arm(db, model, step.duringTasks);
        try {
          await db.compactRange();
          await db.collectBlobGarbage();
        } finally {
          await interleave.disarm();
          groupsIssued.push(interleave.groupsIssued - before);
        }
        if (interleave.failedWrite !== undefined) {
          return outcome(
            stepIndex,
            new Error('a write during blob GC failed'),
            interleave.failedWrite,
          );
        }
        gcStats.push(db.stats());
      }
    } catch (failure) {
      return outcome(stepIndex, failure, interleave.failedWrite);
    }
  }
  return outcome(steps.length, undefined);
}

/**
 * The model after every step, with the first `groupsIssued[i]` write groups of the i-th GC step
 * (a round runs a copy task only when it found live values, so fewer groups may be issued).
 */
export function fullBlobModel(
  steps: readonly BlobStep[],
  groupsIssued: readonly number[],
): Map<string, string> {
  const model = new Map<string, string>();
  let gcIndex = 0;
  for (const step of steps) {
    if (step.kind === 'write') applyBlobWrite(model, step.write);
    if (step.kind !== 'gc') continue;
    const groups = step.duringTasks.slice(0, groupsIssued[gcIndex++] ?? 0);
    for (const write of groups.flat()) applyBlobWrite(model, write);
  }
  return model;
}
