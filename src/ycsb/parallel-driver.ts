import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import { assert } from '../assert.js';
import { StrataError, type StrataErrorCode } from '../errors.js';
import { packageRoot } from '../package-root.js';
import {
  opsPerSecond,
  type PhaseContext,
  type PhaseResult,
  phaseResult,
  type ThreadResult,
} from './driver.js';
import type { EhashEngine } from './engine-ehash.js';
import type { U64Engine } from './engines.js';
import { createLatencyHistogram } from './latency.js';
import {
  CONTROL_ABORT,
  CONTROL_DONE,
  CONTROL_PROGRESS,
  CONTROL_READY,
  CONTROL_START,
  controlWordCount,
  type MainMessage,
  type WorkerInit,
  type WorkerMessage,
} from './parallel-layout.js';
import { partitionByKey } from './partition.js';
import { addCounters, emptyCounters } from './phase-loop.js';
import { PhaseProgress } from './progress.js';

/** How often the main thread re-checks for dead workers and redraws progress while waiting. */
const POLL_MS = 100;

/**
 * N worker threads attached to one ehash table. A phase is partitioned by a hash of the key, so
 * every key's operations stay in order on one thread and the verification figures equal a
 * single-threaded run's (misses per key are order-dependent only within the key; the checksum
 * is an order-independent sum).
 *
 * Thread model: the main thread owns the runner; workers share only the control buffer
 * (parallel-layout.ts) and read their own partition buffers.
 */
export interface ParallelRunner {
  readonly threads: number;
  close(): Promise<void>;
}

export async function startParallelRunner(
  engine: U64Engine,
  threads: number,
): Promise<ParallelRunner> {
  if (!isEhashEngine(engine)) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `--threads needs the ehash engine, not ${engine.name}`,
    );
  }
  const runner = new WorkerRunner(engine, threads);
  try {
    await runner.start();
  } catch (error) {
    await runner.close();
    throw error;
  }
  return runner;
}

export async function runParallelPhase(
  runner: ParallelRunner,
  context: PhaseContext,
): Promise<PhaseResult> {
  assert(runner instanceof WorkerRunner);
  return runner.runPhase(context);
}

/** The compiled worker entry, found from the package root (works from src/ under vitest too). */
export function ycsbWorkerPath(): string {
  const path = join(packageRoot(), 'dist', 'workers', 'ycsb-worker.js');
  if (!existsSync(path)) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `the worker entry ${path} is missing; run npm run build`,
    );
  }
  return path;
}

class WorkerRunner implements ParallelRunner {
  private readonly control: Int32Array;
  private readonly workers: Worker[] = [];
  private readonly inboxes: Mailbox[] = [];
  private failure: Error | undefined;
  private generation = 0;

  constructor(
    private readonly engine: EhashEngine,
    readonly threads: number,
  ) {
    this.control = new Int32Array(new SharedArrayBuffer(controlWordCount(threads) * 4));
  }

  async start(): Promise<void> {
    const path = ycsbWorkerPath();
    const handle = this.engine.handle();
    for (let thread = 0; thread < this.threads; thread++) {
      const workerData: WorkerInit = {
        handle,
        control: this.control.buffer as SharedArrayBuffer,
        thread,
      };
      const worker = new Worker(path, { workerData });
      const inbox = new Mailbox();
      worker.on('message', (message: WorkerMessage) => inbox.push(message));
      worker.on('error', (error) =>
        this.fail(
          new StrataError('ERR_IO', `YCSB worker ${thread} crashed: ${error.message}`, {
            cause: error,
          }),
        ),
      );
      worker.on('exit', (code) => {
        if (code !== 0)
          this.fail(new StrataError('ERR_IO', `YCSB worker ${thread} exited with code ${code}`));
      });
      this.workers.push(worker);
      this.inboxes.push(inbox);
    }
    for (let thread = 0; thread < this.threads; thread++) await this.receive(thread, 'attached');
  }

  async runPhase(context: PhaseContext): Promise<PhaseResult> {
    const partitions = partitionByKey(context.workload, this.threads);
    const generation = ++this.generation;
    Atomics.store(this.control, CONTROL_READY, 0);
    Atomics.store(this.control, CONTROL_DONE, 0);
    for (let thread = 0; thread < this.threads; thread++) {
      Atomics.store(this.control, CONTROL_PROGRESS + thread, 0);
      const message: MainMessage = {
        type: 'phase',
        generation,
        sampleEvery: context.sampleEvery,
        ops: partitions[thread]!,
      };
      this.workers[thread]!.postMessage(message);
    }
    await this.waitForCount(CONTROL_READY, () => {});
    const progress = new PhaseProgress(context.phase, context.workload.count, context.showProgress);
    const startedMs = performance.now();
    Atomics.store(this.control, CONTROL_START, generation);
    Atomics.notify(this.control, CONTROL_START);
    try {
      await this.waitForCount(CONTROL_DONE, () => progress.update(this.progressOps()));
    } finally {
      progress.stop();
    }
    const elapsedMs = performance.now() - startedMs;
    return this.collect(context, elapsedMs);
  }

  /**
   * Detaches every worker and ends it. After a failed phase the workers' state is unknown, so
   * they are terminated without waiting (the phase already threw the failure).
   */
  async close(): Promise<void> {
    if (this.failure === undefined) {
      for (const worker of this.workers)
        worker.postMessage({ type: 'close' } satisfies MainMessage);
      for (let thread = 0; thread < this.workers.length; thread++)
        await this.receive(thread, 'closed');
    }
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private async collect(context: PhaseContext, elapsedMs: number): Promise<PhaseResult> {
    const counters = emptyCounters();
    const histogram = createLatencyHistogram();
    const perThread: ThreadResult[] = [];
    try {
      for (let thread = 0; thread < this.threads; thread++) {
        const reply = await this.receive(thread, 'done');
        assert(reply.type === 'done' && reply.generation === this.generation);
        addCounters(counters, reply.counters);
        const part = decodeFromCompressedBase64(reply.histogram, 32);
        histogram.add(part);
        part.destroy();
        perThread.push({
          thread,
          ops: reply.counters.ops,
          elapsedMs: reply.elapsedMs,
          opsPerSecond: opsPerSecond(reply.counters.ops, reply.elapsedMs),
        });
      }
      assert(counters.ops === context.workload.count, 'every op ran on exactly one thread');
      return phaseResult(context, { counters, elapsedMs, histogram, perThread });
    } finally {
      histogram.destroy();
    }
  }

  /** Waits for the next message of `type` from a worker; a 'failed' reply becomes the error. */
  private async receive(thread: number, type: WorkerMessage['type']): Promise<WorkerMessage> {
    const inbox = this.inboxes[thread]!;
    for (;;) {
      const message = inbox.shift();
      if (message !== undefined) {
        if (message.type === 'failed') {
          this.failure ??= rebuildError(thread, message.message, message.code);
          throw this.failure;
        }
        if (message.type === type) return message;
        continue;
      }
      if (this.failure !== undefined) throw this.failure;
      await inbox.arrival(POLL_MS);
    }
  }

  /** Waits without blocking the event loop until `word` reaches the thread count. */
  private async waitForCount(word: number, onPoll: () => void): Promise<void> {
    for (;;) {
      const current = Atomics.load(this.control, word);
      if (current >= this.threads) return;
      if (this.failure !== undefined) throw this.failure;
      onPoll();
      const waited = Atomics.waitAsync(this.control, word, current, POLL_MS);
      if (waited.async) await waited.value;
    }
  }

  private progressOps(): number {
    let done = 0;
    for (let thread = 0; thread < this.threads; thread++) {
      done += Atomics.load(this.control, CONTROL_PROGRESS + thread);
    }
    return done;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    Atomics.store(this.control, CONTROL_ABORT, 1);
    Atomics.notify(this.control, CONTROL_START);
  }
}

/** Messages from one worker, with a way to await the next one. */
class Mailbox {
  private readonly queue: WorkerMessage[] = [];
  private wake: (() => void) | undefined;

  push(message: WorkerMessage): void {
    this.queue.push(message);
    this.wake?.();
    this.wake = undefined;
  }

  shift(): WorkerMessage | undefined {
    return this.queue.shift();
  }

  /** Resolves when a message arrives or after `timeoutMs` (so callers re-check for failures). */
  arrival(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function isEhashEngine(engine: U64Engine): engine is EhashEngine {
  return engine.name === 'ehash';
}

function rebuildError(thread: number, message: string, code: string | undefined): Error {
  const text = `YCSB worker ${thread}: ${message}`;
  return code === undefined ? new Error(text) : new StrataError(code as StrataErrorCode, text);
}
