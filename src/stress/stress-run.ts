/**
 * One stress run in this process (`strata stress` without --crash-loop, and each child of the
 * crash loop): opens the store as its coordinator, verifies it against the logs (settling a
 * write a kill left in flight), starts one worker thread per --threads on an attached handle
 * (stress-thread.ts), and while they run flushes, compacts, collects blob garbage and checks
 * every index in full at a snapshot (index-check.ts). Once they are done it verifies the store
 * again, closes it and returns the report. With `progressLines` it prints `started`,
 * `progress <json>` and `failure <json>` lines for a crash-loop parent (crash-loop.ts).
 *
 * Thread model: the main thread is the coordinator; each stress thread is a worker.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Strata } from '../db/strata.js';
import { Prng } from '../ehash/testing/prng.js';
import { packageRoot } from '../package-root.js';
import { checkIndexesFull } from './index-check.js';
import { type VerifyResult, verifyStore } from './store-verify.js';
import {
  logPath,
  ownedFields,
  prepareLayout,
  type StressConfig,
  type StressLayout,
  stressStoreOptions,
} from './stress-config.js';
import {
  addCounters,
  emptyCounters,
  type Failure,
  type StoreCounters,
  type StressCounters,
  storeCounters,
} from './stress-report.js';
import type { ThreadInit, ThreadMessage } from './stress-thread.js';
import { writeLine } from './write-line.js';

export interface StressReport {
  readonly config: StressConfig;
  readonly elapsedMs: number;
  readonly counters: StressCounters;
  /** The first failures (at most FAILURES_KEPT); counters.failures counts them all. */
  readonly failures: readonly Failure[];
  readonly store: StoreCounters;
  readonly startup: VerifySummary;
  readonly final: VerifySummary | undefined;
}

export type VerifySummary = Omit<VerifyResult, 'replays' | 'failures'>;

const FAILURES_KEPT = 50;
const PROGRESS_LINE_EVERY_MS = 200;
/** A thread that has not finished this long after the deadline is stuck. */
const STUCK_AFTER_MS = 60_000;

export function stressWorkerPath(): string {
  return join(packageRoot(), 'dist', 'workers', 'stress-worker.js');
}

export async function runStress(
  config: StressConfig,
  options: { readonly progressLines?: boolean } = {},
): Promise<StressReport> {
  const startedMs = Date.now();
  const layout = prepareLayout(config.dir, config.keysPerThread);
  const failures: Failure[] = [];
  const counters = emptyCounters();
  const fail = (failure: Failure): void => {
    counters.failures++;
    if (failures.length < FAILURES_KEPT) failures.push(failure);
    if (options.progressLines === true) writeLine(`failure ${JSON.stringify(failure)}\n`);
  };
  const db = await Strata.open(layout.storeDir, stressStoreOptions());
  try {
    // Checks every key and index, counting the checks and reporting failures as `where`.
    const verify = async (where: string): Promise<VerifyResult> => {
      const result = await verifyStore(db, layout, {
        keysPerThread: config.keysPerThread,
        settle: true,
      });
      counters.checks.recoveredKey += result.keys;
      counters.checks.indexFull += result.indexes;
      for (const detail of result.failures) fail({ where, detail });
      return result;
    };
    const startup = await verify('open');
    const report = (final: VerifySummary | undefined, store: StoreCounters): StressReport => ({
      config,
      elapsedMs: Date.now() - startedMs,
      counters,
      failures,
      store,
      startup: summary(startup),
      final,
    });
    if (startup.failures.length > 0) return report(undefined, storeCounters(db.stats()));
    const coordinator = new Coordinator(db, config, fail);
    const threads = startThreads({ db, config, layout, startup, fail });
    const progress =
      options.progressLines === true
        ? setInterval(() => {
            const total = threads.counters();
            addCounters(total, coordinator.counters);
            const line = { counters: total, store: storeCounters(db.stats()) };
            writeLine(`progress ${JSON.stringify(line)}\n`);
          }, PROGRESS_LINE_EVERY_MS)
        : undefined;
    if (options.progressLines === true) void threads.ready.then(() => writeLine('started\n'));
    try {
      await coordinator.runUntil(threads);
    } finally {
      clearInterval(progress);
    }
    addCounters(counters, threads.counters());
    addCounters(counters, coordinator.counters);
    const final = await verify('after the run');
    const store = storeCounters(db.stats());
    if (options.progressLines === true) {
      writeLine(`progress ${JSON.stringify({ counters, store, done: true })}\n`);
    }
    return report(summary(final), store);
  } finally {
    await db.close();
  }
}

function summary(result: VerifyResult): VerifySummary {
  const { replays: _replays, failures: _failures, ...rest } = result;
  return rest;
}

interface RunningThreads {
  /** Settles once every thread is attached and running (or gone). */
  readonly ready: Promise<void>;
  /** Settles once every thread posted `done` or died. */
  readonly finished: Promise<void>;
  /** The latest counters of every thread. */
  counters(): StressCounters;
  /** What each unfinished thread is doing. */
  current(): string[];
  terminate(): Promise<void>;
}

function startThreads(run: {
  readonly db: Strata;
  readonly config: StressConfig;
  readonly layout: StressLayout;
  readonly startup: VerifyResult;
  readonly fail: (failure: Failure) => void;
}): RunningThreads {
  const { db, config, startup, fail } = run;
  const keyThreads = Math.max(
    config.threads,
    ...startup.replays.map((replay) => replay.thread + 1),
  );
  const issued = new Int32Array(new SharedArrayBuffer(4 * keyThreads));
  for (const replay of startup.replays) issued[replay.thread] = replay.nextOpId - 1;
  const latest = new Map<number, StressCounters>();
  const current = new Map<number, string>();
  const workers: Worker[] = [];
  const exits: Promise<void>[] = [];
  const readies: Promise<void>[] = [];
  for (let thread = 0; thread < config.threads; thread++) {
    const replay = startup.replays.find((each) => each.thread === thread);
    const handle = db.handle();
    const init: ThreadInit = {
      handle,
      thread,
      keyThreads,
      keysPerThread: config.keysPerThread,
      seed: (config.seed * 1_000_003 + thread * 7919) >>> 0,
      deadlineMs: Date.now() + config.seconds * 1000,
      opsMax: config.opsPerThread,
      logPath: logPath(run.layout, thread),
      specs:
        replay === undefined
          ? []
          : [...replay.state.values].map(([index, value]) => [index, value.spec]),
      nextOpId: replay?.nextOpId ?? 1,
      issued: issued.buffer as SharedArrayBuffer,
      ownedFields: ownedFields(thread, config.threads),
      tolerateKnownIssues: config.tolerateKnownIssues === true,
    };
    const worker = new Worker(stressWorkerPath(), {
      workerData: init,
      transferList: [...handle.transferList],
    });
    workers.push(worker);
    current.set(thread, 'starting');
    let markReady = (): void => undefined;
    readies.push(new Promise<void>((resolve) => (markReady = resolve)));
    exits.push(
      new Promise<void>((resolve) => {
        let done = false;
        worker.on('message', (message: ThreadMessage) => {
          if (message.type === 'ready') markReady();
          else if (message.type === 'failure') fail(message.failure);
          else latest.set(message.thread, message.counters);
          if (message.type === 'progress') current.set(thread, message.current);
          if (message.type === 'done') {
            done = true;
            current.delete(thread);
          }
        });
        worker.on('error', (error) =>
          fail({ where: `thread ${thread}`, detail: `crashed: ${error.stack ?? String(error)}` }),
        );
        worker.on('exit', (code) => {
          if (!done)
            fail({ where: `thread ${thread}`, detail: `exited with ${code} before it was done` });
          current.delete(thread);
          markReady();
          resolve();
        });
      }),
    );
  }
  return {
    ready: Promise.all(readies).then(() => undefined),
    finished: Promise.all(exits).then(() => undefined),
    counters: () => {
      const total = emptyCounters();
      for (const counters of latest.values()) addCounters(total, counters);
      return total;
    },
    current: () => [...current].map(([thread, what]) => `thread ${thread}: ${what}`),
    terminate: async () => {
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}

/**
 * The coordinator's share of the run: every few hundred milliseconds a flush, a compaction, a
 * blob GC round, or a full check of every index at a snapshot.
 */
class Coordinator {
  readonly counters = emptyCounters();
  readonly #db: Strata;
  readonly #config: StressConfig;
  readonly #fail: (failure: Failure) => void;
  readonly #prng: Prng;

  constructor(db: Strata, config: StressConfig, fail: (failure: Failure) => void) {
    this.#db = db;
    this.#config = config;
    this.#fail = fail;
    this.#prng = new Prng(config.seed ^ 0x5bd1e995);
  }

  async runUntil(threads: RunningThreads): Promise<void> {
    let finished = false;
    void threads.finished.then(() => (finished = true));
    const deadlineMs = Date.now() + this.#config.seconds * 1000;
    while (!finished) {
      await Promise.race([threads.finished, sleep(50 + this.#prng.below(300))]);
      if (finished) break;
      await this.#step().catch((error: unknown) =>
        this.#fail({ where: 'coordinator', detail: `background step failed: ${String(error)}` }),
      );
      if (Date.now() > deadlineMs + STUCK_AFTER_MS) {
        this.#fail({
          where: 'coordinator',
          detail: `threads stuck: ${threads.current().join('; ')}`,
        });
        await threads.terminate();
        break;
      }
    }
    await threads.finished;
  }

  async #step(): Promise<void> {
    const roll = this.#prng.below(100);
    if (roll < 40) return this.#checkIndexes();
    if (roll < 60) {
      this.counters.ops.flush++;
      return this.#db.flush();
    }
    if (roll < 75) {
      this.counters.ops.compactRange++;
      return this.#db.compactRange();
    }
    this.counters.ops.collectBlobGarbage++;
    await this.#db.collectBlobGarbage();
  }

  async #checkIndexes(): Promise<void> {
    const snapshot = this.#db.snapshot();
    try {
      const result = await checkIndexesFull(this.#db, snapshot);
      this.counters.checks.indexFull += result.indexes;
      for (const detail of result.failures)
        this.#fail({ where: 'coordinator index check at a snapshot', detail });
    } finally {
      snapshot.release();
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
