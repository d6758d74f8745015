import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { decodeFromCompressedBase64, type Histogram } from 'hdr-histogram-js';
import { assert } from '../assert.js';
import { StrataError, type StrataErrorCode } from '../errors.js';
import { packageRoot } from '../package-root.js';
import type { ThreadResult } from './driver.js';
import {
  type AttachableEngine,
  CONTROL_ABORT,
  CONTROL_DONE,
  CONTROL_PROGRESS,
  CONTROL_READY,
  CONTROL_START,
  controlWordCount,
  type DoneMessage,
  type MainMessage,
  type PhaseWork,
  type WorkerInit,
  type WorkerMessage,
} from './parallel-layout.js';
import { PhaseProgress } from './progress.js';
import { cpuMsSince } from './thread-time.js';

/** How often the main thread re-checks for dead workers and redraws progress while waiting. */
const POLL_MS = 100;

/** One phase for every worker: `works[t]` is thread t's share. */
export interface PhaseRequest {
  /** Progress bar label. */
  readonly label: string;
  /** Operations over all threads. */
  readonly count: number;
  readonly showProgress: boolean;
  readonly sampleEvery: number;
  readonly works: readonly PhaseWork[];
}

export interface PhaseReplies {
  /** From the start barrier to the last thread's DONE, on the main thread's clock. */
  readonly elapsedMs: number;
  /** CPU time of the whole process (every thread, background work too) over the same span. */
  readonly processCpuMs: number;
  /** One per thread, in thread order. */
  readonly replies: readonly DoneMessage[];
}

/**
 * N YCSB worker threads (workers/ycsb-worker.ts → worker-loop.ts), each attached to the main
 * thread's engine with its own attachment. A phase is posted to all, they wait at the start
 * barrier in the control buffer (parallel-layout.ts), main releases them at once and times the
 * phase until the last one is DONE; each then sends one reply. The drivers (parallel-driver.ts
 * for the course files, core-parallel.ts for the core workloads) partition and merge.
 *
 * Thread model: the main thread owns the runner; workers share only the control buffer and
 * read their own partition buffers.
 */
export class WorkerRunner {
  private readonly control: Int32Array;
  private readonly workers: Worker[] = [];
  private readonly inboxes: Mailbox[] = [];
  private failure: Error | undefined;
  private generation = 0;

  private constructor(readonly threads: number) {
    this.control = new Int32Array(new SharedArrayBuffer(controlWordCount(threads) * 4));
  }

  /** Starts `threads` workers, one `engine.attachment()` each, and waits until all attached. */
  static async start(engine: AttachableEngine, threads: number): Promise<WorkerRunner> {
    assert(Number.isInteger(threads) && threads >= 1);
    const runner = new WorkerRunner(threads);
    try {
      await runner.startWorkers(engine);
    } catch (error) {
      await runner.close();
      throw error;
    }
    return runner;
  }

  async runPhase(request: PhaseRequest): Promise<PhaseReplies> {
    assert(request.works.length === this.threads);
    const generation = ++this.generation;
    Atomics.store(this.control, CONTROL_READY, 0);
    Atomics.store(this.control, CONTROL_DONE, 0);
    for (let thread = 0; thread < this.threads; thread++) {
      Atomics.store(this.control, CONTROL_PROGRESS + thread, 0);
      const message: MainMessage = {
        type: 'phase',
        generation,
        sampleEvery: request.sampleEvery,
        work: request.works[thread]!,
      };
      this.workers[thread]!.postMessage(message);
    }
    await this.waitForCount(CONTROL_READY, () => {});
    const progress = new PhaseProgress(request.label, request.count, request.showProgress);
    const startedCpu = process.cpuUsage();
    const startedMs = performance.now();
    Atomics.store(this.control, CONTROL_START, generation);
    Atomics.notify(this.control, CONTROL_START);
    try {
      await this.waitForCount(CONTROL_DONE, () => progress.update(this.progressOps()));
    } finally {
      progress.stop();
    }
    const elapsedMs = performance.now() - startedMs;
    const processCpuMs = cpuMsSince(startedCpu);
    return { elapsedMs, processCpuMs, replies: await this.collect(generation) };
  }

  /**
   * Detaches every worker and ends it. After a failed phase the workers' state is unknown, so
   * they are terminated without waiting (the phase already threw the failure).
   */
  async close(): Promise<void> {
    try {
      if (this.failure === undefined) {
        for (const worker of this.workers)
          worker.postMessage({ type: 'close' } satisfies MainMessage);
        for (let thread = 0; thread < this.workers.length; thread++) {
          const message = await this.receive(thread, ['closed']);
          if (message.type === 'failed') throw this.failOn(thread, message);
        }
      }
    } finally {
      await Promise.all(this.workers.map((worker) => worker.terminate()));
    }
  }

  private async startWorkers(engine: AttachableEngine): Promise<void> {
    const path = ycsbWorkerPath();
    for (let thread = 0; thread < this.threads; thread++) {
      const attachment = engine.attachment();
      const workerData: WorkerInit = {
        attachment,
        control: this.control.buffer as SharedArrayBuffer,
        thread,
        threads: this.threads,
      };
      const transferList =
        attachment.engine === 'strata' ? [...attachment.handle.transferList] : [];
      const worker = new Worker(path, { workerData, transferList });
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
    for (let thread = 0; thread < this.threads; thread++) {
      const message = await this.receive(thread, ['attached']);
      if (message.type === 'failed') throw this.failOn(thread, message);
    }
  }

  /**
   * Every thread's reply. When some failed, the error is the first one that failed on its own
   * (the others gave up at ABORT because of it).
   */
  private async collect(generation: number): Promise<DoneMessage[]> {
    const replies: DoneMessage[] = [];
    let failed: { thread: number; message: Extract<WorkerMessage, { type: 'failed' }> } | undefined;
    for (let thread = 0; thread < this.threads; thread++) {
      const message = await this.receive(thread, ['done']);
      if (message.type === 'failed') {
        if (failed === undefined || (failed.message.aborted && !message.aborted)) {
          failed = { thread, message };
        }
        continue;
      }
      assert(message.type === 'done' && message.generation === generation);
      replies.push(message);
    }
    if (failed !== undefined) throw this.failOn(failed.thread, failed.message);
    return replies;
  }

  private failOn(thread: number, message: Extract<WorkerMessage, { type: 'failed' }>): Error {
    this.failure ??= rebuildError(thread, message.message, message.code);
    return this.failure;
  }

  /** The next message of one of `types` (or a 'failed' one) from a worker. */
  private async receive(
    thread: number,
    types: readonly WorkerMessage['type'][],
  ): Promise<WorkerMessage> {
    const inbox = this.inboxes[thread]!;
    for (;;) {
      const message = inbox.shift();
      if (message !== undefined) {
        if (message.type === 'failed' || types.includes(message.type)) return message;
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

/**
 * Adds every reply's histogram into `histogram` and returns the per-thread figures (ops as the
 * drivers count them, from `opsOf`).
 */
export function mergeReplies(
  replies: readonly DoneMessage[],
  histogram: Histogram,
  opsOf: (reply: DoneMessage, thread: number) => number,
): ThreadResult[] {
  return replies.map((reply, thread) => {
    const part = decodeFromCompressedBase64(reply.histogram, 32);
    histogram.add(part);
    part.destroy();
    const ops = opsOf(reply, thread);
    return {
      thread,
      ops,
      elapsedMs: reply.elapsedMs,
      opsPerSecond: reply.elapsedMs > 0 ? Math.round((ops * 1000) / reply.elapsedMs) : 0,
      orderWaitMs: reply.orderWaitMs,
      ...(reply.scheduler === undefined
        ? {}
        : { cpuMs: reply.scheduler.cpuMs, runQueueMs: reply.scheduler.runQueueMs }),
    };
  });
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

function rebuildError(thread: number, message: string, code: string | undefined): Error {
  const text = `YCSB worker ${thread}: ${message}`;
  return code === undefined ? new Error(text) : new StrataError(code as StrataErrorCode, text);
}
