/**
 * Verifies a stress store against its logs: every key of every thread that ever logged holds
 * exactly the value its acknowledged writes left — or, for the keys of the one write a thread
 * had in flight, all of them the value with that write applied (it landed) or all without it
 * (it did not: a batch is atomic); a full scan shows those keys and values and nothing else; and
 * every index matches a brute-force scan (index-check.ts). Run by the crash loop after each
 * kill, and by every run before it starts and after it ends. With `settle`, it rewrites each
 * log as a checkpoint of what it found, the write in flight applied if it landed.
 */
import type { Strata } from '../db/strata.js';
import { type ThreadState, touchedIndexes } from './expected-state.js';
import { checkIndexesFull } from './index-check.js';
import { logThreads, type Replay, replayLog, settle, writeCheckpoint } from './op-log.js';
import { compareOwn } from './read-checks.js';
import { logPath, type StressLayout } from './stress-config.js';
import { parseStressKey } from './stress-values.js';

const decoder = new TextDecoder();

export interface VerifyResult {
  /** Threads with a log. */
  readonly threads: number;
  readonly keys: number;
  /** Acknowledged writes over the logs' history, all of whose effects were found. */
  readonly ackedWrites: number;
  /** Writes in flight at the stop (at most one per thread), and how many had landed. */
  readonly inFlight: number;
  readonly landed: number;
  /** Keys whose acknowledged value the store does not hold (must be 0). */
  readonly lost: number;
  readonly indexes: number;
  readonly indexEntries: number;
  readonly failures: readonly string[];
  /** The logs after settling: where the next run's threads start from. */
  readonly replays: readonly Replay[];
}

export async function verifyStore(
  db: Strata,
  layout: StressLayout,
  options: { readonly keysPerThread: number; readonly settle: boolean },
): Promise<VerifyResult> {
  const failures: string[] = [];
  const replays: Replay[] = [];
  const states: ThreadState[] = [];
  let keys = 0;
  let ackedWrites = 0;
  let inFlight = 0;
  let landed = 0;
  let lost = 0;
  for (const thread of logThreads(layout.logDir)) {
    const path = logPath(layout, thread);
    const replay = replayLog(path, thread);
    const outcome = verifyThread(db, replay, options.keysPerThread);
    keys += options.keysPerThread;
    ackedWrites += replay.acked;
    lost += outcome.lost.length;
    failures.push(...outcome.lost);
    states.push(outcome.state);
    if (replay.pending !== undefined) {
      inFlight++;
      if (outcome.landed) landed++;
    }
    if (outcome.lost.length > 0 || !options.settle) {
      replays.push(replay);
      continue;
    }
    const settled = settle(replay, outcome.landed);
    writeCheckpoint(path, settled);
    replays.push(settled);
  }
  failures.push(...scanAll(db, states));
  const indexCheck = await checkIndexesFull(db);
  failures.push(...indexCheck.failures);
  return {
    threads: replays.length,
    keys,
    ackedWrites,
    inFlight,
    landed,
    lost,
    indexes: indexCheck.indexes,
    indexEntries: indexCheck.entries,
    failures,
    replays,
  };
}

/** One thread's keys: which of them differ from every allowed state, and whether its write in flight landed. */
function verifyThread(
  db: Strata,
  replay: Replay,
  keysPerThread: number,
): { lost: string[]; landed: boolean; state: ThreadState } {
  const acked = replay.state;
  const pending = replay.pending;
  const withPending = acked.clone();
  if (pending !== undefined) withPending.apply(pending.opId, pending.op);
  const touched = new Set(pending === undefined ? [] : touchedIndexes(pending.op));
  const lost: string[] = [];
  const asAcked: string[] = [];
  const asLanded: string[] = [];
  for (let index = 0; index < keysPerThread; index++) {
    const key = acked.key(index);
    const found = db.get(key);
    const failure = compareOwn(key, found, acked.get(index));
    if (!touched.has(index)) {
      if (failure !== undefined) lost.push(`after reopen: ${failure}`);
      continue;
    }
    if (failure !== undefined) asAcked.push(failure);
    const landedFailure = compareOwn(key, found, withPending.get(index));
    if (landedFailure !== undefined) asLanded.push(landedFailure);
  }
  if (pending !== undefined && asLanded.length === 0) {
    return { lost, landed: true, state: withPending };
  }
  if (asAcked.length === 0) return { lost, landed: false, state: acked };
  lost.push(
    `after reopen: write ${pending!.opId} of thread ${replay.thread} in flight neither landed ` +
      `whole nor not at all: as acknowledged ${asAcked.join('; ')} | with it ${asLanded.join('; ')}`,
  );
  return { lost, landed: false, state: acked };
}

/** A full scan holds exactly the keys and values the threads' states hold. */
function scanAll(db: Strata, threadStates: readonly ThreadState[]): string[] {
  const states = new Map(threadStates.map((state) => [state.thread, state]));
  const failures: string[] = [];
  let present = 0;
  let expectedPresent = 0;
  for (const state of threadStates) expectedPresent += state.values.size;
  for (const [keyBytes, value] of db.iterator()) {
    const key = decoder.decode(keyBytes);
    const parsed = parseStressKey(key);
    const state = parsed === undefined ? undefined : states.get(parsed.thread);
    if (parsed === undefined || state === undefined) {
      failures.push(`full scan: key ${JSON.stringify(key)} no thread wrote`);
      continue;
    }
    const failure = compareOwn(key, value, state.get(parsed.index));
    if (failure !== undefined) failures.push(`full scan: ${failure}`);
    present++;
  }
  if (present !== expectedPresent) {
    failures.push(`full scan: ${present} keys, the logs say ${expectedPresent}`);
  }
  return failures.slice(0, 20);
}
