/**
 * A sequence lock in one shared Int32 word, for data whose writers are already serialised by
 * other means (a mutex, or a single owning thread). Readers never write the word on their fast
 * path; they read a version, read the data, and accept it only if the version did not move.
 *
 *    31                                              2   1   0
 *   ┌─────────────────────────────────────────────────┬───┬───┐
 *   │ version (30 bits, wraps)                        │ W │ L │   a zeroed word: version 0, idle
 *   └─────────────────────────────────────────────────┴───┴───┘
 *   L (bit 0) = a writer is inside, so the word is odd
 *   W (bit 1) = a thread sleeps until L clears: worker readers here, also writers and async
 *               waiters of a seq-mutex. It is set only on a locked word; a release clears it.
 *
 * seq-mutex.ts uses the same word and this same reader path; there, writers exclude each other
 * with the L bit itself. `seqWriteBegin` sets L with one `Atomics.or`; `seqWriteEnd` advances the
 * version by one step (4) and clears L with one `Atomics.add`, and only if W was set does it clear
 * W and notify (see `seqRelease`). A version wraps after 2^30 writes; a reader would have to
 * sleep through exactly that many writes to accept torn data.
 *
 * Memory ordering: under the JavaScript memory model the protected words must be written with
 * `Atomics.store` and read with `Atomics.load` between `seqReadBegin` and `seqReadValid`, so that
 * all accesses are sequentially consistent and no data read can move past the validating load.
 * Plain reads could be reordered by the CPU on ARM, or merged by the JIT. An `Atomics.load` is a
 * plain load on x86-64 plus a builtin call in Node 20 (a few nanoseconds), never a fence.
 */
import { AssertionFailure } from '../assert.js';
import {
  assertLockWord,
  SEQ_FLAGS_MASK,
  SEQ_LOCKED,
  SEQ_VERSION_ONE,
  SEQ_WAITERS,
} from './layout.js';
import {
  busyError,
  canSleep,
  SPIN_ROUNDS_BEFORE_SLEEP,
  spinPause,
  syncWaitLimitMs,
} from './wait-policy.js';

/**
 * Returns the word at a moment no writer was inside, to be passed to `seqReadValid`. Waits while
 * a writer is inside: workers spin then sleep, the main thread spins; both throw ERR_BUSY at the
 * bound (wait-policy.ts).
 */
export function seqReadBegin(words: Int32Array, index: number): number {
  const word = Atomics.load(words, index);
  if ((word & SEQ_LOCKED) === 0) return word;
  return seqReadBeginContended(words, index);
}

/**
 * True iff no write began since `seqReadBegin` returned `begin`, so everything read in between
 * was a consistent snapshot. The waiter bit is ignored: a sleeping reader does not change data.
 */
export function seqReadValid(words: Int32Array, index: number, begin: number): boolean {
  return ((Atomics.load(words, index) ^ begin) & ~SEQ_WAITERS) === 0;
}

/**
 * Makes the word odd: readers from now on wait, and readers already inside will fail validation.
 * Requires: no other writer is inside (the caller serialises writers); checked.
 */
export function seqWriteBegin(words: Int32Array, index: number): void {
  const previous = Atomics.or(words, index, SEQ_LOCKED);
  if ((previous & SEQ_LOCKED) !== 0) {
    throw new AssertionFailure(`seqlock at word ${index}: a second writer entered`);
  }
}

/**
 * Advances the version, makes the word even and wakes sleeping readers if any.
 * Requires: the calling thread is the writer inside (after `seqWriteBegin`).
 */
export function seqWriteEnd(words: Int32Array, index: number): void {
  seqRelease(words, index, 'seqlock');
}

/**
 * Shared by `seqWriteEnd` and `seqMutexUnlock`: one `Atomics.add` of 3 when nobody sleeps. Only
 * the writer inside changes the version and L, so the word is `version | L` or `version | L | W`:
 *
 *   version | L      + 3  =  (version + 4)            released, nothing else to do
 *   version | L | W  + 3  =  (version + 4) | W        released; then clear W and notify everyone
 *
 * In the second case a new writer may lock between the add and the clear and a new sleeper may
 * already rely on W; the notify comes after the clear, so that sleeper wakes and sets W again.
 */
export function seqRelease(words: Int32Array, index: number, kind: string): void {
  const previous = Atomics.add(words, index, SEQ_RELEASE_ADD);
  if ((previous & SEQ_FLAGS_MASK) === SEQ_LOCKED) return;
  seqReleaseWakingSleepers(words, index, kind, previous);
}

/** True while a writer is inside. */
export function seqIsWriting(words: Int32Array, index: number): boolean {
  return (Atomics.load(words, index) & SEQ_LOCKED) !== 0;
}

/**
 * One sequence-lock word as an object.
 *
 * Thread model: any thread may read; writers must be serialised by the caller (one writer at a
 * time, on any thread). Worker readers sleep while a write is in flight; main-thread readers spin
 * boundedly. Use `SeqMutex` instead when writers need the word itself to exclude each other.
 */
export class SeqLock {
  readonly words: Int32Array;
  readonly index: number;

  constructor(words: Int32Array, index: number) {
    assertLockWord(words, index);
    this.words = words;
    this.index = index;
  }

  readBegin(): number {
    return seqReadBegin(this.words, this.index);
  }

  readValid(begin: number): boolean {
    return seqReadValid(this.words, this.index, begin);
  }

  /** Requires: no other writer is inside. */
  writeBegin(): void {
    seqWriteBegin(this.words, this.index);
  }

  /** Requires: the calling thread is the writer inside. */
  writeEnd(): void {
    seqWriteEnd(this.words, this.index);
  }

  isWriting(): boolean {
    return seqIsWriting(this.words, this.index);
  }
}

/**
 * The waiting half of `seqReadBegin`. A worker that has spun long enough sets W with a CAS on the
 * exact locked word it saw, then sleeps on that value; if the writer left in between, the CAS or
 * the wait sees a different word and the loop re-reads.
 */
function seqReadBeginContended(words: Int32Array, index: number): number {
  const limitMs = syncWaitLimitMs();
  const deadline = performance.now() + limitMs;
  for (let round = 0; ; round++) {
    const word = Atomics.load(words, index);
    if ((word & SEQ_LOCKED) === 0) return word;
    const remainingMs = deadline - performance.now();
    if (remainingMs <= 0) throw busyError('seqlock', index, limitMs);
    if (!canSleep || round < SPIN_ROUNDS_BEFORE_SLEEP) {
      spinPause(round);
      continue;
    }
    const sleepWord = word | SEQ_WAITERS;
    if (word === sleepWord || Atomics.compareExchange(words, index, word, sleepWord) === word) {
      Atomics.wait(words, index, sleepWord, remainingMs);
    }
  }
}

/** The word after a release is exactly one version step on from the word before the lock. */
const SEQ_RELEASE_ADD = SEQ_VERSION_ONE - SEQ_LOCKED;

function seqReleaseWakingSleepers(
  words: Int32Array,
  index: number,
  kind: string,
  previous: number,
): void {
  if ((previous & SEQ_LOCKED) === 0) {
    Atomics.sub(words, index, SEQ_RELEASE_ADD); // undo, so the crash report shows the real word
    throw releaseFailure(kind, index);
  }
  Atomics.and(words, index, ~SEQ_WAITERS);
  Atomics.notify(words, index);
}

function releaseFailure(kind: string, index: number): AssertionFailure {
  return new AssertionFailure(`${kind} at word ${index} released while no writer was inside`);
}
