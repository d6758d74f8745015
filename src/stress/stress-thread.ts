/**
 * One stress thread (a worker, `workers/stress-worker.ts`): attaches to the coordinator's store
 * and runs a seeded mix of every operation (op-mix.ts) until the deadline or its op budget.
 * It writes only its own keys, one write at a time, logging each before it is issued and once
 * acknowledged (op-log.ts), so its expected state (expected-state.ts) is exact; it reads every
 * thread's keys and checks each read (read-checks.ts): own keys exactly, other threads' keys
 * against what those threads had issued (the `issued` words) and never older than read before.
 * It posts `ready` once attached, progress every PROGRESS_EVERY_MS, each failure at once, and
 * its counters at the end; after a failure it stops.
 *
 * Thread model: the worker's own thread; `issued` is shared with every stress thread (each
 * stores only its own word, with Atomics, before it issues a write).
 */
import type { MessagePort } from 'node:worker_threads';
import type { AttachedStrata } from '../db/attached.js';
import type { StrataHandle } from '../db/handle-layout.js';
import { Strata } from '../db/strata.js';
import { Prng } from '../ehash/testing/prng.js';
import { ThreadState, touchedIndexes, type WriteOp } from './expected-state.js';
import { OpLog } from './op-log.js';
import { OpMix } from './op-mix.js';
import { type CheckKind, knownIssueOf, type OpKind } from './stress-config.js';
import { StressIndexOps } from './stress-index-ops.js';
import { StressReadOps } from './stress-read-ops.js';
import { emptyCounters, type Failure, type StressCounters } from './stress-report.js';
import { StressSnapshotOps } from './stress-snapshot-ops.js';
import { fieldRecordBytes, fieldsFor, segmentBytes, stressKey } from './stress-values.js';

export interface ThreadInit {
  readonly handle: StrataHandle;
  readonly thread: number;
  /** Threads whose keys may exist: reads pick among their keys. */
  readonly keyThreads: number;
  readonly keysPerThread: number;
  readonly seed: number;
  /** Date.now() at which to stop. */
  readonly deadlineMs: number;
  readonly opsMax: number;
  readonly logPath: string;
  /** The own keys' values, as specs, and the next opId: the settled log. */
  readonly specs: readonly (readonly [number, string])[];
  readonly nextOpId: number;
  /** Int32 per thread: the highest opId it has issued. */
  readonly issued: SharedArrayBuffer;
  readonly ownedFields: readonly string[];
  readonly tolerateKnownIssues: boolean;
}

export type ThreadMessage =
  | { readonly type: 'ready'; readonly thread: number }
  | {
      readonly type: 'progress';
      readonly thread: number;
      readonly counters: StressCounters;
      readonly current: string;
    }
  | { readonly type: 'failure'; readonly failure: Failure }
  | { readonly type: 'done'; readonly thread: number; readonly counters: StressCounters };

const PROGRESS_EVERY_MS = 250;
/** Yield to the event loop this often: direct writes and local reads never do by themselves. */
const YIELD_EVERY_OPS = 16;
/** Thrown to end the thread's loop once a failure was reported. */
class StopThread extends Error {}

export async function runStressThread(init: ThreadInit, port: MessagePort): Promise<void> {
  const db = await Strata.attach(init.handle);
  const thread = new StressThread(init, db, port);
  try {
    await thread.run();
  } finally {
    await thread.finish();
  }
}

export class StressThread {
  readonly #init: ThreadInit;
  readonly #db: AttachedStrata;
  readonly #port: MessagePort;
  readonly #mix: OpMix;
  readonly #state: ThreadState;
  readonly #log: OpLog;
  readonly #issued: Int32Array;
  readonly #counters = emptyCounters();
  readonly #snapshots: StressSnapshotOps;
  readonly #reads: StressReadOps;
  readonly #indexOps: StressIndexOps;
  #nextOpId: number;
  #current = 'attach';
  #progressAtMs = Date.now();

  constructor(init: ThreadInit, db: AttachedStrata, port: MessagePort) {
    this.#init = init;
    this.#db = db;
    this.#port = port;
    this.#mix = new OpMix(new Prng(init.seed), { ownsIndexes: init.ownedFields.length > 0 });
    this.#state = new ThreadState(init.thread);
    for (const [index, spec] of init.specs) this.#state.setSpec(index, spec);
    this.#log = new OpLog(init.logPath);
    this.#issued = new Int32Array(init.issued);
    this.#nextOpId = init.nextOpId;
    this.#indexOps = new StressIndexOps({
      db,
      mix: this.#mix,
      state: this.#state,
      thread: init.thread,
      ownedFields: init.ownedFields,
      check: (kind) => this.#check(kind),
      accepted: () => this.#counters.acceptedErrors++,
      fail: (detail) => this.#fail(detail),
    });
    this.#reads = new StressReadOps({
      db,
      mix: this.#mix,
      state: this.#state,
      keyThreads: init.keyThreads,
      keysPerThread: init.keysPerThread,
      issued: this.#issued,
      check: (kind, count = 1) => {
        this.#counters.checks[kind] += count;
      },
      fail: (detail) => this.#fail(detail),
    });
    this.#snapshots = new StressSnapshotOps({
      db,
      mix: this.#mix,
      state: this.#state,
      keyThreads: init.keyThreads,
      keysPerThread: init.keysPerThread,
      check: (kind) => this.#check(kind),
      fail: (detail) => this.#fail(detail),
      foreign: (key, value) => this.#reads.foreign(key, value, false),
      checkScan: (entries, request, own) => this.#reads.checkScan(entries, request, own, false),
    });
  }

  async run(): Promise<void> {
    await this.#indexOps.learnIndexes();
    this.#post({ type: 'ready', thread: this.#init.thread });
    for (let opIndex = 0; opIndex < this.#init.opsMax; opIndex++) {
      if (Date.now() >= this.#init.deadlineMs) break;
      const kind = this.#mix.nextKind();
      this.#current = `${kind} (op ${opIndex})`;
      try {
        await this.#runOp(kind);
      } catch (error) {
        if (error instanceof StopThread) return;
        if (this.#init.tolerateKnownIssues && knownIssueOf(error) !== undefined) {
          // A read failed, nothing changed: the expected state holds, so the thread goes on.
          this.#counters.knownIssues++;
          continue;
        }
        this.#report(`${kind} threw ${describeError(error)}`);
        return;
      }
      this.#counters.ops[kind]++;
      this.#snapshots.expire();
      if (opIndex % YIELD_EVERY_OPS === YIELD_EVERY_OPS - 1) {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      this.#maybeProgress();
    }
  }

  async finish(): Promise<void> {
    this.#snapshots.releaseAll();
    this.#log.close();
    await this.#db.close();
    this.#post({ type: 'done', thread: this.#init.thread, counters: this.#counters });
  }

  async #runOp(kind: OpKind): Promise<void> {
    const keys = this.#init.keysPerThread;
    switch (kind) {
      case 'put':
        return this.#write(this.#mix.put(keys));
      case 'del':
        return this.#write(this.#mix.del(keys));
      case 'batch':
        return this.#write(this.#mix.batch(keys));
      case 'append':
        return this.#write(this.#mix.append(keys, this.#state));
      case 'putFields':
        return this.#write(this.#mix.putFields(keys));
      case 'get':
        return this.#reads.get();
      case 'getFields':
        return this.#reads.getFields();
      case 'iterate':
        return this.#reads.iterate();
      case 'snapshot':
        return this.#snapshots.take();
      case 'snapshotRead':
        return this.#snapshots.read();
      case 'queryByIndex':
        return this.#indexOps.queryByIndex();
      case 'queryRangeByIndex':
        return this.#indexOps.queryRangeByIndex();
      case 'listIndexes':
        return this.#indexOps.listIndexes();
      case 'createIndex':
        return this.#indexOps.createIndex();
      case 'dropIndex':
        return this.#indexOps.dropIndex();
      case 'flush':
        return this.#db.flush();
      case 'compactRange':
        return this.#compactRange();
      case 'collectBlobGarbage':
        // GC waits for every snapshot older than its commit, this thread's own too: awaiting it
        // while holding one would wait forever (as on the coordinator; src/db/README.md).
        this.#snapshots.releaseAll();
        await this.#db.collectBlobGarbage();
        return;
    }
  }

  /** Issues one write (logged before and after), then reads back every key it touched. */
  async #write(op: WriteOp): Promise<void> {
    const opId = this.#nextOpId++;
    Atomics.store(this.#issued, this.#init.thread, opId);
    this.#log.inFlight(opId, op);
    try {
      await this.#issue(opId, op);
    } catch (error) {
      this.#fail(`write ${opId} (${op.kind}) rejected: ${describeError(error)}`);
    }
    this.#log.acked(opId);
    this.#state.apply(opId, op);
    for (const index of touchedIndexes(op)) this.#reads.readOwn(index, `after write ${opId}`);
  }

  #issue(opId: number, op: WriteOp): Promise<void> {
    const db = this.#db;
    const key = (index: number): string => this.#state.key(index);
    switch (op.kind) {
      case 'put':
        return db.put(key(op.index), segmentBytes('P', key(op.index), opId, op.fillerBytes));
      case 'del':
        return db.del(key(op.index));
      case 'append':
        return db.append(key(op.index), segmentBytes('A', key(op.index), opId, op.fillerBytes));
      case 'putFields':
        return db.putFields(key(op.index), fieldsFor(key(op.index), opId));
      case 'batch':
        return db.batch(
          op.parts.map((part) => {
            if (part.type === 'd') return { type: 'del' as const, key: key(part.index) };
            const value =
              part.type === 'p'
                ? segmentBytes('P', key(part.index), opId, part.fillerBytes)
                : fieldRecordBytes(key(part.index), opId);
            return { type: 'put' as const, key: key(part.index), value };
          }),
        );
    }
  }

  async #compactRange(): Promise<void> {
    if (this.#mix.chance(50)) return this.#db.compactRange();
    const first = stressKey(
      this.#mix.below(this.#init.keyThreads),
      this.#mix.below(this.#init.keysPerThread),
    );
    const second = stressKey(
      this.#mix.below(this.#init.keyThreads),
      this.#mix.below(this.#init.keysPerThread),
    );
    const [start, end] = [first, second].sort();
    return this.#db.compactRange(start, end);
  }

  #check(kind: CheckKind): void {
    this.#counters.checks[kind]++;
  }

  /** Reports a failure at once and stops the thread. */
  #fail(detail: string): never {
    this.#report(detail);
    throw new StopThread(detail);
  }

  /** The coordinator counts failures (its `fail`), as they arrive. */
  #report(detail: string): void {
    const where = `thread ${this.#init.thread} seed ${this.#init.seed}, ${this.#current}`;
    this.#post({ type: 'failure', failure: { where, detail } });
  }

  #maybeProgress(): void {
    const now = Date.now();
    if (now - this.#progressAtMs < PROGRESS_EVERY_MS) return;
    this.#progressAtMs = now;
    this.#post({
      type: 'progress',
      thread: this.#init.thread,
      counters: this.#counters,
      current: this.#current,
    });
  }

  #post(message: ThreadMessage): void {
    this.#port.postMessage(message);
  }
}

function describeError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return `${code === undefined ? '' : `${String(code)}: `}${error instanceof Error ? error.message : String(error)}`;
}
