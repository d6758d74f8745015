/**
 * A futex-style mutex in one shared Int32 word [Drepper, "Futexes Are Tricky", mutex 3]:
 *
 *   ┌───────────────────────────────┐
 *   │ 0 free │ 1 locked │ 2 locked, │   a zeroed word is a free mutex
 *   │        │          │ may sleep │
 *   └───────────────────────────────┘
 *
 * Locking is one compare-and-swap 0 → 1 when uncontended. A thread that goes to sleep first
 * exchanges the word to 2, and from then on takes the lock only by exchanging 2 in, so the word
 * says 2 while anyone might sleep. Unlock is one exchange to 0 and calls `Atomics.notify` only if
 * it replaced a 2. The main thread never sleeps and never writes 2: it retries the 0 → 1 swap
 * (see wait-policy.ts), so a main-thread spinner costs the holder no notify.
 *
 * The plain functions are the interface for hot code that keeps millions of locks in one buffer;
 * `Mutex` wraps one word for code that prefers an object. The mutex is not reentrant and has no
 * owner field: unlocking a free mutex is an assertion failure, unlocking another thread's hold is
 * not detectable.
 */
import { AssertionFailure } from '../assert.js';
import { assertLockWord, MUTEX_CONTENDED, MUTEX_FREE, MUTEX_LOCKED } from './layout.js';
import {
  ARM_ACQUIRED,
  acquireContended,
  acquireContendedAsync,
  type LockWaitOps,
} from './wait-policy.js';

/** Takes the mutex if it is free; never waits. */
export function mutexTryLock(words: Int32Array, index: number): boolean {
  return Atomics.compareExchange(words, index, MUTEX_FREE, MUTEX_LOCKED) === MUTEX_FREE;
}

/**
 * Takes the mutex, waiting as the calling thread may (wait-policy.ts). Throws ERR_BUSY when the
 * wait reaches its bound; in particular on the main thread after its spin limit.
 */
export function mutexLock(words: Int32Array, index: number): void {
  if (Atomics.compareExchange(words, index, MUTEX_FREE, MUTEX_LOCKED) === MUTEX_FREE) return;
  acquireContended(MUTEX_WAIT_OPS, words, index);
}

/** Takes the mutex without blocking the event loop. Rejects with ERR_BUSY at the wait limit. */
export function mutexLockAsync(words: Int32Array, index: number): Promise<void> {
  if (Atomics.compareExchange(words, index, MUTEX_FREE, MUTEX_LOCKED) === MUTEX_FREE) {
    return RESOLVED;
  }
  return acquireContendedAsync(MUTEX_WAIT_OPS, words, index);
}

/**
 * Releases the mutex and wakes one sleeper if the word says someone may sleep.
 * Requires: the calling thread holds the mutex.
 */
export function mutexUnlock(words: Int32Array, index: number): void {
  const previous = Atomics.exchange(words, index, MUTEX_FREE);
  if (previous === MUTEX_CONTENDED) Atomics.notify(words, index, 1);
  else if (previous !== MUTEX_LOCKED) throw unlockFailure(index, previous);
}

/** For assertions in `...Locked` functions: true while some thread holds the mutex. */
export function mutexIsLocked(words: Int32Array, index: number): boolean {
  return Atomics.load(words, index) !== MUTEX_FREE;
}

/**
 * One mutex word as an object.
 *
 * Thread model: any thread that holds the SharedArrayBuffer may build its own `Mutex` over the
 * same word; the objects share nothing but the word. Worker threads sleep while they wait; the
 * main thread spins boundedly in `lock()` and should prefer `lockAsync()` when the holder may be
 * slow. A hold must not span an `await` on a thread that another holder of the same word needs.
 */
export class Mutex {
  readonly words: Int32Array;
  readonly index: number;

  constructor(words: Int32Array, index: number) {
    assertLockWord(words, index);
    this.words = words;
    this.index = index;
  }

  tryLock(): boolean {
    return mutexTryLock(this.words, this.index);
  }

  lock(): void {
    mutexLock(this.words, this.index);
  }

  lockAsync(): Promise<void> {
    return mutexLockAsync(this.words, this.index);
  }

  /** Requires: the calling thread holds the mutex. */
  unlock(): void {
    mutexUnlock(this.words, this.index);
  }

  isLocked(): boolean {
    return mutexIsLocked(this.words, this.index);
  }

  /** Runs `fn` while holding the mutex and releases it however `fn` ends. */
  runExclusive<T>(fn: () => T): T {
    mutexLock(this.words, this.index);
    try {
      return fn();
    } finally {
      mutexUnlock(this.words, this.index);
    }
  }

  /** Like `runExclusive`, but acquires with `lockAsync` and holds until `fn`'s promise settles. */
  async runExclusiveAsync<T>(fn: () => T | Promise<T>): Promise<T> {
    await mutexLockAsync(this.words, this.index);
    try {
      return await fn();
    } finally {
      mutexUnlock(this.words, this.index);
    }
  }
}

const RESOLVED: Promise<void> = Promise.resolve();

/** Spinning tries the uncontended swap; sleeping marks the word 2 and takes it only as 2. */
const MUTEX_WAIT_OPS: LockWaitOps = {
  kind: 'mutex',
  enter: doNothing,
  tryAcquire: mutexTryLock,
  armSleep: mutexArmSleep,
  abandon: doNothing,
};

/**
 * Drepper's slow step: exchange in 2. Getting back 0 means the lock is ours (held as 2, which at
 * worst costs one spurious notify); otherwise we sleep on 2 and the holder's unlock will wake us.
 * Giving up needs no undo: the 2 we left makes the holder notify the next sleeper.
 */
function mutexArmSleep(words: Int32Array, index: number): number {
  const previous = Atomics.exchange(words, index, MUTEX_CONTENDED);
  return previous === MUTEX_FREE ? ARM_ACQUIRED : MUTEX_CONTENDED;
}

function unlockFailure(index: number, previous: number): AssertionFailure {
  return new AssertionFailure(
    `mutex at word ${index} unlocked while ${previous === 0 ? 'free' : `in state ${previous}`}`,
  );
}

function doNothing(): void {}
