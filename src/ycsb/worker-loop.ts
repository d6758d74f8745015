import { performance } from 'node:perf_hooks';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { assert } from '../assert.js';
import { isStrataError } from '../errors.js';
import { attachEhashEngine, type EhashEngine } from './engine-ehash.js';
import { createLatencyHistogram, recordSamples } from './latency.js';
import {
  CONTROL_ABORT,
  CONTROL_DONE,
  CONTROL_PROGRESS,
  CONTROL_READY,
  CONTROL_START,
  type MainMessage,
  type WorkerInit,
  type WorkerMessage,
} from './parallel-layout.js';
import { createSampleBuffer, runSyncOps, warmUpReads } from './phase-loop.js';

/** Bounds one wait at the start barrier; the loop re-checks ABORT after each. */
const BARRIER_WAIT_MS = 100;

/**
 * The body of workers/ycsb-worker.ts. Thread model: one worker per thread index, attached to
 * the main thread's table; it only ever touches its own progress word and adds to READY/DONE.
 */
export function runYcsbWorker(): void {
  const port = parentPort;
  assert(port !== null, 'the YCSB worker runs in a worker thread');
  const init = workerData as WorkerInit;
  const control = new Int32Array(init.control);
  let engine: EhashEngine;
  try {
    engine = attachEhashEngine(init.handle);
  } catch (error) {
    post(port, failure(error));
    return;
  }
  post(port, { type: 'attached' });
  port.on('message', (message: MainMessage) => {
    if (message.type === 'close') {
      void engine.close().then(() => {
        post(port, { type: 'closed' });
        port.close();
      });
      return;
    }
    post(port, runPhase(engine, control, init.thread, message));
  });
}

function runPhase(
  engine: EhashEngine,
  control: Int32Array,
  thread: number,
  message: Extract<MainMessage, { type: 'phase' }>,
): WorkerMessage {
  const histogram = createLatencyHistogram();
  const samplesNs = createSampleBuffer(message.ops.count, message.sampleEvery);
  // DONE stops the phase clock on the main thread, so it is signalled before the histogram work.
  let doneSignalled = false;
  const signalDone = () => {
    if (doneSignalled) return;
    doneSignalled = true;
    Atomics.add(control, CONTROL_DONE, 1);
    Atomics.notify(control, CONTROL_DONE);
  };
  try {
    warmUpReads(engine, message.ops);
    Atomics.add(control, CONTROL_READY, 1);
    Atomics.notify(control, CONTROL_READY);
    waitForStart(control, message.generation);
    const startedMs = performance.now();
    const counters = runSyncOps(engine, message.ops, {
      sampleEvery: message.sampleEvery,
      samplesNs,
      onProgress: (done) => Atomics.store(control, CONTROL_PROGRESS + thread, done),
    });
    const elapsedMs = performance.now() - startedMs;
    signalDone();
    recordSamples(histogram, samplesNs);
    return {
      type: 'done',
      generation: message.generation,
      counters,
      histogram: encodeIntoCompressedBase64(histogram),
      elapsedMs,
    };
  } catch (error) {
    return failure(error);
  } finally {
    signalDone();
    histogram.destroy();
  }
}

/** Waits at the start barrier until main stores this phase's generation (or aborts). */
function waitForStart(control: Int32Array, generation: number): void {
  for (;;) {
    const current = Atomics.load(control, CONTROL_START);
    if (current === generation) return;
    if (Atomics.load(control, CONTROL_ABORT) !== 0) throw new Error('the phase was aborted');
    Atomics.wait(control, CONTROL_START, current, BARRIER_WAIT_MS);
  }
}

function failure(error: unknown): WorkerMessage {
  return {
    type: 'failed',
    message: error instanceof Error ? error.message : String(error),
    code: isStrataError(error) ? error.code : undefined,
  };
}

function post(port: MessagePort, message: WorkerMessage): void {
  port.postMessage(message);
}
