/**
 * A sequence mutex: one shared Int32 word that is both a writers' mutex and a sequence lock for
 * optimistic readers. It is the extendible hash's bucket lock, so there are millions of them, and
 * every hash operation takes one or reads under one; hence plain functions over (words, index),
 * one atomic operation per uncontended lock and per unlock, and no notify without a sleeper.
 *
 *    31                                              2   1   0
 *   ┌─────────────────────────────────────────────────┬───┬───┐
 *   │ version (30 bits, wraps)                        │ W │ L │   a zeroed word: version 0, free
 *   └─────────────────────────────────────────────────┴───┴───┘
 *   L (bit 0) = a writer holds the lock (the word is odd)
 *   W (bit 1) = some thread (writer or reader) sleeps until L clears
 *
 *   lock      Atomics.or(L); it was ours if L was clear before. Never changes a locked word.
 *   unlock    one Atomics.add of 3: version + 1 and L cleared; only if W was set, clear W
 *             and notify all (seqlock.ts `seqRelease`)
 *   read      seqReadBegin → read data with Atomics.load → seqReadValid (seqlock.ts); readers
 *             never write the word except to set W before sleeping
 *
 * The word is the same as seqlock.ts's, so `seqReadBegin` and `seqReadValid` serve both; they are
 * re-exported here for callers that only import the seq-mutex. Unlock wakes every sleeper because
 * sleeping readers all want the same event; sleeping writers that lose the race set W again.
 */
import { StrataError } from '../errors.js';
import { assertLockWord, SEQ_LOCKED, SEQ_WAITERS } from './layout.js';
import { seqReadBegin, seqReadValid, seqRelease } from './seqlock.js';
import {
  ARM_ACQUIRED,
  ARM_RETRY,
  acquireContended,
  acquireContendedAsync,
  type LockWaitOps,
} from './wait-policy.js';

export { seqReadBegin, seqReadValid };

/** Takes the lock if no writer holds it; never waits. Readers setting W cannot make it fail. */
export function seqMutexTryLock(words: Int32Array, index: number): boolean {
  return (Atomics.or(words, index, SEQ_LOCKED) & SEQ_LOCKED) === 0;
}

/**
 * Takes the lock, waiting as the calling thread may (wait-policy.ts); throws ERR_BUSY at the
 * bound. Readers inside a read section will fail validation from here on.
 */
export function seqMutexLock(words: Int32Array, index: number): void {
  if ((Atomics.or(words, index, SEQ_LOCKED) & SEQ_LOCKED) === 0) return;
  acquireContended(SEQ_MUTEX_WAIT_OPS, words, index);
}

/** Takes the lock without blocking the event loop. Rejects with ERR_BUSY at the wait limit. */
export function seqMutexLockAsync(words: Int32Array, index: number): Promise<void> {
  if ((Atomics.or(words, index, SEQ_LOCKED) & SEQ_LOCKED) === 0) return RESOLVED;
  return acquireContendedAsync(SEQ_MUTEX_WAIT_OPS, words, index);
}

/**
 * Publishes the write: advances the version, releases the lock and wakes sleepers if W was set.
 * Requires: the calling thread holds the lock; unlocking a free seq-mutex is an assertion failure.
 */
export function seqMutexUnlock(words: Int32Array, index: number): void {
  seqRelease(words, index, 'seq-mutex');
}

/** For assertions in `...Locked` functions: true while some writer holds the lock. */
export function seqMutexIsLocked(words: Int32Array, index: number): boolean {
  return (Atomics.load(words, index) & SEQ_LOCKED) !== 0;
}

/**
 * One seq-mutex word as an object; hot code should call the plain functions instead.
 *
 * Thread model: any thread may lock, and any thread may read optimistically. Worker threads sleep
 * while they wait; the main thread spins boundedly in `lock()` and `readBegin()` and should use
 * `lockAsync()` when the holder may be slow. Not reentrant.
 */
export class SeqMutex {
  readonly words: Int32Array;
  readonly index: number;

  constructor(words: Int32Array, index: number) {
    assertLockWord(words, index);
    this.words = words;
    this.index = index;
  }

  tryLock(): boolean {
    return seqMutexTryLock(this.words, this.index);
  }

  lock(): void {
    seqMutexLock(this.words, this.index);
  }

  lockAsync(): Promise<void> {
    return seqMutexLockAsync(this.words, this.index);
  }

  /** Requires: the calling thread holds the lock. */
  unlock(): void {
    seqMutexUnlock(this.words, this.index);
  }

  isLocked(): boolean {
    return seqMutexIsLocked(this.words, this.index);
  }

  readBegin(): number {
    return seqReadBegin(this.words, this.index);
  }

  readValid(begin: number): boolean {
    return seqReadValid(this.words, this.index, begin);
  }

  /** Runs `fn` while holding the lock; the version advances however `fn` ends. */
  runExclusive<T>(fn: () => T): T {
    seqMutexLock(this.words, this.index);
    try {
      return fn();
    } finally {
      seqMutexUnlock(this.words, this.index);
    }
  }

  /**
   * Runs `read` until it saw a consistent snapshot and returns its result. `read` must only load
   * (with `Atomics.load`) and must tolerate torn values, which are discarded. Bounded by
   * `attemptsMax`; a writer that keeps winning makes this throw ERR_BUSY.
   */
  readConsistent<T>(read: () => T, attemptsMax = READ_ATTEMPTS_MAX): T {
    for (let attempt = 0; attempt < attemptsMax; attempt++) {
      const begin = seqReadBegin(this.words, this.index);
      const result = read();
      if (seqReadValid(this.words, this.index, begin)) return result;
    }
    throw new StrataError('ERR_BUSY', `seq-mutex at word ${this.index}: ${attemptsMax} reads torn`);
  }
}

const READ_ATTEMPTS_MAX = 1_000;
const RESOLVED: Promise<void> = Promise.resolve();

const SEQ_MUTEX_WAIT_OPS: LockWaitOps = {
  kind: 'seq-mutex',
  enter: doNothing,
  tryAcquire: seqMutexTryLock,
  armSleep: seqMutexArmSleep,
  abandon: doNothing,
};

/**
 * Takes the lock if L is clear, else sets W on the exact word seen and returns it to sleep on.
 * Giving up needs no undo: a W left behind costs at most one spurious notify.
 */
function seqMutexArmSleep(words: Int32Array, index: number): number {
  const word = Atomics.load(words, index);
  if ((word & SEQ_LOCKED) === 0) {
    return Atomics.compareExchange(words, index, word, word | SEQ_LOCKED) === word
      ? ARM_ACQUIRED
      : ARM_RETRY;
  }
  const sleepWord = word | SEQ_WAITERS;
  if (word === sleepWord) return sleepWord;
  return Atomics.compareExchange(words, index, word, sleepWord) === word ? sleepWord : ARM_RETRY;
}

function doNothing(): void {}
