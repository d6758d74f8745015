/**
 * How every lock in src/sync waits once its one-CAS fast path has failed. The lock files only
 * describe their word (a `LockWaitOps` table); this file owns spinning, sleeping and the bounds.
 *
 * - Worker threads spin briefly with exponential backoff, then sleep in `Atomics.wait` inside a
 *   loop that re-checks the word. Before sleeping, a lock sets its waiter flag so that the thread
 *   releasing it knows to call `Atomics.notify`; without the flag, unlock never notifies.
 * - The main thread never calls `Atomics.wait` (it would freeze the event loop and, with it, the
 *   catalog queue). It spins with backoff for at most `setMainThreadSpinLimitMs` and then throws
 *   `ERR_BUSY`. Main-thread code that may meet a long hold uses the async variants instead.
 * - Async variants sleep in `Atomics.waitAsync` on any thread and never block the event loop.
 *
 * Every wait is bounded: sleeping waits by `setWaitLimitMs` (a deadlock detector, long by
 * default), main-thread spinning by `setMainThreadSpinLimitMs`. Both settings are per thread,
 * because each thread loads its own copy of this module.
 */
import { isMainThread } from 'node:worker_threads';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';

/**
 * What the generic wait loops need to know about one kind of lock. Each lock file declares one
 * constant table of top-level functions, so the slow path allocates nothing per call.
 */
export interface LockWaitOps {
  /** Names the lock in ERR_BUSY messages, e.g. 'mutex' or 'rwlock (write)'. */
  readonly kind: string;
  /** Called once when a thread starts waiting (the rwlock writer announces itself here). */
  readonly enter: (words: Int32Array, index: number) => void;
  /** One acquisition attempt that never marks the word as having sleepers. */
  readonly tryAcquire: (words: Int32Array, index: number) => boolean;
  /**
   * Tries to acquire once more and, if the lock is still taken, sets its waiter flag. Returns
   * ARM_ACQUIRED, ARM_RETRY (the word changed under us), or the exact word value to sleep on.
   */
  readonly armSleep: (words: Int32Array, index: number) => number;
  /** Called when a waiting thread gives up at its deadline, to undo `enter`. */
  readonly abandon: (words: Int32Array, index: number) => void;
}

/**
 * armSleep results. Every lock's sleep value has bit 1 set (mutex: 2; sequence and rwlock words:
 * their waiter bit), so 0 and 1 can never be mistaken for a value to sleep on.
 */
export const ARM_RETRY = 0;
export const ARM_ACQUIRED = 1;

/** Backoff rounds a worker spins before it sleeps: about 3,000 busy iterations, a few µs. */
export const SPIN_ROUNDS_BEFORE_SLEEP = 12;
/** The backoff doubles from one busy iteration up to 2^10 iterations per round, then stays. */
const BACKOFF_SHIFT_MAX = 10;

/** Node turns longer timer delays into 1 ms, which would end the keep-alive at once. */
const TIMER_DELAY_MS_MAX = 2 ** 31 - 1;

let mainThreadSpinLimitMs = 2_000;
let waitLimitMs = 60_000;

/** True where `Atomics.wait` is allowed: any worker thread, never the main thread. */
export const canSleep: boolean = !isMainThread;

/**
 * Sets how long the main thread spins on a taken lock before throwing ERR_BUSY. Applies to the
 * calling thread only. Returns the previous setting so tests can restore it.
 */
export function setMainThreadSpinLimitMs(ms: number): number {
  assert(Number.isFinite(ms) && ms >= 0, `main-thread spin limit ${ms} ms is not a duration`);
  const previous = mainThreadSpinLimitMs;
  mainThreadSpinLimitMs = ms;
  return previous;
}

/**
 * Sets how long a sleeping wait (`Atomics.wait` in a worker, `Atomics.waitAsync` anywhere) lasts
 * before it throws ERR_BUSY. Locks are held for micro- to milliseconds, so reaching this bound
 * means a lost unlock or a deadlock. Applies to the calling thread only. Returns the previous one.
 */
export function setWaitLimitMs(ms: number): number {
  assert(Number.isFinite(ms) && ms >= 0, `wait limit ${ms} ms is not a duration`);
  const previous = waitLimitMs;
  waitLimitMs = ms;
  return previous;
}

/** The bound for a synchronous wait on the calling thread. */
export function syncWaitLimitMs(): number {
  return canSleep ? waitLimitMs : mainThreadSpinLimitMs;
}

export function busyError(kind: string, index: number, limitMs: number): StrataError {
  const how = canSleep ? 'waiting' : 'spinning on the main thread';
  return new StrataError(
    'ERR_BUSY',
    `${kind} at word ${index} still taken after ${limitMs} ms of ${how}`,
  );
}

/**
 * Acquires a lock whose fast path failed, on the calling thread's terms (see the file comment).
 * Throws ERR_BUSY at the deadline, after `ops.abandon` has undone `ops.enter`.
 */
export function acquireContended(ops: LockWaitOps, words: Int32Array, index: number): void {
  ops.enter(words, index);
  const limitMs = syncWaitLimitMs();
  const deadline = performance.now() + limitMs;
  for (let round = 0; ; round++) {
    const spinning = !canSleep || round < SPIN_ROUNDS_BEFORE_SLEEP;
    let expected: number = ARM_RETRY;
    if (spinning) {
      if (ops.tryAcquire(words, index)) return;
    } else {
      expected = ops.armSleep(words, index);
      if (expected === ARM_ACQUIRED) return;
    }
    const remainingMs = deadline - performance.now();
    if (remainingMs <= 0) {
      ops.abandon(words, index);
      throw busyError(ops.kind, index, limitMs);
    }
    if (spinning) spinPause(round);
    else if (expected !== ARM_RETRY) Atomics.wait(words, index, expected, remainingMs);
  }
}

/**
 * Acquires a lock whose fast path failed without ever blocking the event loop. A pending
 * `Atomics.waitAsync` does not keep a Node 20 event loop alive (nodejs/node#61941), so a ref'd
 * timer spans the wait; it fires no earlier than the deadline, when the wait gives up anyway.
 */
export async function acquireContendedAsync(
  ops: LockWaitOps,
  words: Int32Array,
  index: number,
): Promise<void> {
  ops.enter(words, index);
  const limitMs = waitLimitMs;
  const deadline = performance.now() + limitMs;
  const keepAlive = setTimeout(doNothing, Math.min(limitMs + 1, TIMER_DELAY_MS_MAX));
  try {
    for (;;) {
      const expected = ops.armSleep(words, index);
      if (expected === ARM_ACQUIRED) return;
      const remainingMs = deadline - performance.now();
      if (remainingMs <= 0) {
        ops.abandon(words, index);
        throw busyError(ops.kind, index, limitMs);
      }
      if (expected === ARM_RETRY) continue;
      const result = Atomics.waitAsync(words, index, expected, remainingMs);
      if (result.async) await result.value;
    }
  } finally {
    clearTimeout(keepAlive);
  }
}

/**
 * Busy-waits for a round of exponential backoff: 2^round iterations, capped. The loop feeds a
 * module-level sink so the compiler cannot drop it.
 */
export function spinPause(round: number): void {
  const iterations = 1 << Math.min(round, BACKOFF_SHIFT_MAX);
  let x = spinSink;
  for (let i = 0; i < iterations; i++) x = (x * 1_103_515_245 + 12_345) | 0;
  spinSink = x;
}

let spinSink = 1;

function doNothing(): void {}
