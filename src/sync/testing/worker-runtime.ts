/**
 * The worker side of the sync tests: start gate, limits, result reporting, and small helpers.
 * Test support only. Runs inside worker threads, so blocking waits are allowed here.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setWaitLimitMs } from '../wait-policy.js';
import { CONTROL_GO, type WorkerInput } from './protocol.js';

/**
 * Reports ready, waits at the start gate so all workers begin together, runs `body` and posts
 * its result. A throw from `body` becomes the worker's 'error' event in the test.
 */
export function runWorker<D extends WorkerInput, R>(body: (data: D) => R): void {
  const port = parentPort;
  if (port === null) throw new Error('a worker entry file was loaded outside a worker thread');
  const data = workerData as D;
  setWaitLimitMs(data.waitLimitMs);
  port.postMessage({ type: 'ready' });
  waitForWordBlocking(data.control, CONTROL_GO, 1, data.waitLimitMs);
  const result = body(data);
  port.postMessage({ type: 'result', result });
}

/** Sleeps until `words[index] === value`; throws after `limitMs`. */
export function waitForWordBlocking(
  words: Int32Array,
  index: number,
  value: number,
  limitMs: number,
): void {
  const deadline = performance.now() + limitMs;
  for (;;) {
    const current = Atomics.load(words, index);
    if (current === value) return;
    const remainingMs = deadline - performance.now();
    if (remainingMs <= 0) throw new Error(`word ${index} stayed ${current}, wanted ${value}`);
    Atomics.wait(words, index, current, remainingMs);
  }
}

/** Burns a little time inside a critical section to widen the window for races. */
export function busyWork(iterations: number): number {
  let x = iterations;
  for (let i = 0; i < iterations; i++) x = (x * 1_664_525 + 1_013_904_223) | 0;
  return x;
}

/** xorshift32: a seeded generator, so a failing random mix can be replayed. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed | 0 || 0x9e3779b9;
  }

  /** A uniform integer in [0, bound). */
  below(bound: number): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x;
    return (x >>> 0) % bound;
  }
}
