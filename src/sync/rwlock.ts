/**
 * A reader-writer lock in one shared Int32 word. Many readers or one writer; a writer that has
 * started waiting stops new readers from entering, so a stream of readers cannot starve writers.
 *
 *    31  30                  12 11               2   1   0
 *   ┌───┬──────────────────────┬──────────────────┬───┬───┐
 *   │ 0 │ readers (19 bits)    │ waiting writers  │ S │ X │   a zeroed word: free
 *   └───┴──────────────────────┴──────────────────┴───┴───┘
 *   X (bit 0)      = a writer holds the lock
 *   S (bit 1)      = some thread sleeps on the word; whoever makes progress possible clears it
 *                    with the same atomic operation and notifies everyone
 *   bits 2..11     = writers waiting (announced by an add when their fast path failed)
 *   bits 12..30    = readers holding the lock
 *
 *   read lock      load, then CAS readers + 1 if X and waiting writers are zero
 *   read unlock    Atomics.sub readers - 1; the last reader out wakes sleepers if S was set
 *   write lock     CAS 0 → X; else announce as waiting, then CAS (waiting - 1, X) once free
 *   write unlock   Atomics.and clears X and S; notifies all only if S was set
 *
 * Writers are preferred, so readers may wait behind a stream of writers. The lock is not
 * reentrant: a thread that holds a read lock and asks for it again while a writer waits deadlocks
 * until the wait bound throws ERR_BUSY.
 */
import { AssertionFailure } from '../assert.js';
import {
  assertLockWord,
  RW_READER_ONE,
  RW_READERS_BLOCKED_MASK,
  RW_READERS_MASK,
  RW_SLEEPERS,
  RW_WAITING_WRITER_ONE,
  RW_WAITING_WRITERS_MASK,
  RW_WRITER,
  rwReaderCount,
} from './layout.js';
import {
  ARM_ACQUIRED,
  ARM_RETRY,
  acquireContended,
  acquireContendedAsync,
  type LockWaitOps,
} from './wait-policy.js';

/** Takes a read lock if no writer holds or waits for the lock; never sleeps. */
export function rwTryReadLock(words: Int32Array, index: number): boolean {
  for (let attempt = 0; attempt < TRY_READ_ATTEMPTS_MAX; attempt++) {
    const word = Atomics.load(words, index);
    if ((word & RW_READERS_BLOCKED_MASK) !== 0) return false;
    assertReaderRoom(word, index);
    if (Atomics.compareExchange(words, index, word, word + RW_READER_ONE) === word) return true;
  }
  return false; // other readers kept moving the count; report it as taken rather than spin
}

/** Takes a read lock, waiting as the calling thread may (wait-policy.ts). */
export function rwReadLock(words: Int32Array, index: number): void {
  const word = Atomics.load(words, index);
  if ((word & RW_READERS_BLOCKED_MASK) === 0 && word < READERS_FULL_WORD) {
    if (Atomics.compareExchange(words, index, word, word + RW_READER_ONE) === word) return;
  }
  acquireContended(RW_READ_WAIT_OPS, words, index);
}

/** Takes a read lock without blocking the event loop. */
export function rwReadLockAsync(words: Int32Array, index: number): Promise<void> {
  const word = Atomics.load(words, index);
  if ((word & RW_READERS_BLOCKED_MASK) === 0 && word < READERS_FULL_WORD) {
    if (Atomics.compareExchange(words, index, word, word + RW_READER_ONE) === word) return RESOLVED;
  }
  return acquireContendedAsync(RW_READ_WAIT_OPS, words, index);
}

/** Requires: the calling thread holds a read lock. */
export function rwReadUnlock(words: Int32Array, index: number): void {
  const previous = Atomics.sub(words, index, RW_READER_ONE);
  const readers = previous & RW_READERS_MASK;
  if (readers === RW_READER_ONE) {
    if ((previous & RW_SLEEPERS) !== 0) rwWakeSleepers(words, index);
  } else if (readers === 0) {
    throw new AssertionFailure(`rwlock at word ${index} read-unlocked with no reader inside`);
  }
}

/** Takes the write lock if nobody holds the lock; never sleeps. */
export function rwTryWriteLock(words: Int32Array, index: number): boolean {
  const word = Atomics.load(words, index);
  if ((word & (RW_WRITER | RW_READERS_MASK)) !== 0) return false;
  return Atomics.compareExchange(words, index, word, word | RW_WRITER) === word;
}

/** Takes the write lock, waiting as the calling thread may (wait-policy.ts). */
export function rwWriteLock(words: Int32Array, index: number): void {
  if (Atomics.compareExchange(words, index, 0, RW_WRITER) === 0) return;
  acquireContended(RW_WRITE_WAIT_OPS, words, index);
}

/** Takes the write lock without blocking the event loop. */
export function rwWriteLockAsync(words: Int32Array, index: number): Promise<void> {
  if (Atomics.compareExchange(words, index, 0, RW_WRITER) === 0) return RESOLVED;
  return acquireContendedAsync(RW_WRITE_WAIT_OPS, words, index);
}

/** Requires: the calling thread holds the write lock. */
export function rwWriteUnlock(words: Int32Array, index: number): void {
  const previous = Atomics.and(words, index, ~(RW_WRITER | RW_SLEEPERS));
  if ((previous & RW_SLEEPERS) !== 0) Atomics.notify(words, index);
  if ((previous & RW_WRITER) === 0) {
    throw new AssertionFailure(`rwlock at word ${index} write-unlocked while not write-locked`);
  }
}

/** For assertions in `...Locked` functions. */
export function rwIsWriteLocked(words: Int32Array, index: number): boolean {
  return (Atomics.load(words, index) & RW_WRITER) !== 0;
}

/** For assertions in `...Locked` functions: how many read locks are held right now. */
export function rwReadLockCount(words: Int32Array, index: number): number {
  return rwReaderCount(Atomics.load(words, index));
}

/**
 * One reader-writer word as an object.
 *
 * Thread model: any thread may take either side. Worker threads sleep while they wait; the main
 * thread spins boundedly in the blocking methods and should use the async ones when a holder may
 * be slow. Not reentrant; a read lock cannot be upgraded.
 */
export class RwLock {
  readonly words: Int32Array;
  readonly index: number;

  constructor(words: Int32Array, index: number) {
    assertLockWord(words, index);
    this.words = words;
    this.index = index;
  }

  tryReadLock(): boolean {
    return rwTryReadLock(this.words, this.index);
  }

  readLock(): void {
    rwReadLock(this.words, this.index);
  }

  readLockAsync(): Promise<void> {
    return rwReadLockAsync(this.words, this.index);
  }

  readUnlock(): void {
    rwReadUnlock(this.words, this.index);
  }

  tryWriteLock(): boolean {
    return rwTryWriteLock(this.words, this.index);
  }

  writeLock(): void {
    rwWriteLock(this.words, this.index);
  }

  writeLockAsync(): Promise<void> {
    return rwWriteLockAsync(this.words, this.index);
  }

  writeUnlock(): void {
    rwWriteUnlock(this.words, this.index);
  }

  isWriteLocked(): boolean {
    return rwIsWriteLocked(this.words, this.index);
  }

  readLockCount(): number {
    return rwReadLockCount(this.words, this.index);
  }

  /** Runs `fn` under a read lock and releases it however `fn` ends. */
  runRead<T>(fn: () => T): T {
    rwReadLock(this.words, this.index);
    try {
      return fn();
    } finally {
      rwReadUnlock(this.words, this.index);
    }
  }

  /** Runs `fn` under the write lock and releases it however `fn` ends. */
  runWrite<T>(fn: () => T): T {
    rwWriteLock(this.words, this.index);
    try {
      return fn();
    } finally {
      rwWriteUnlock(this.words, this.index);
    }
  }
}

const TRY_READ_ATTEMPTS_MAX = 64;
/** The smallest word whose reader count is full; one more reader would reach bit 31. */
const READERS_FULL_WORD = RW_READERS_MASK;
const RESOLVED: Promise<void> = Promise.resolve();

const RW_READ_WAIT_OPS: LockWaitOps = {
  kind: 'rwlock (read)',
  enter: doNothing,
  tryAcquire: rwReadTryOnce,
  armSleep: rwReadArmSleep,
  abandon: doNothing,
};

const RW_WRITE_WAIT_OPS: LockWaitOps = {
  kind: 'rwlock (write)',
  enter: rwWriterAnnounce,
  tryAcquire: rwWriterTakeAnnounced,
  armSleep: rwWriterArmSleep,
  abandon: rwWriterWithdraw,
};

function rwReadTryOnce(words: Int32Array, index: number): boolean {
  const word = Atomics.load(words, index);
  if ((word & RW_READERS_BLOCKED_MASK) !== 0) return false;
  assertReaderRoom(word, index);
  return Atomics.compareExchange(words, index, word, word + RW_READER_ONE) === word;
}

function rwReadArmSleep(words: Int32Array, index: number): number {
  const word = Atomics.load(words, index);
  if ((word & RW_READERS_BLOCKED_MASK) === 0) {
    assertReaderRoom(word, index);
    const seen = Atomics.compareExchange(words, index, word, word + RW_READER_ONE);
    return seen === word ? ARM_ACQUIRED : ARM_RETRY;
  }
  return setSleepers(words, index, word);
}

/** Counts this writer as waiting, which closes the door to new readers. */
function rwWriterAnnounce(words: Int32Array, index: number): void {
  const previous = Atomics.add(words, index, RW_WAITING_WRITER_ONE);
  if ((previous & RW_WAITING_WRITERS_MASK) === RW_WAITING_WRITERS_MASK) {
    throw new AssertionFailure(`rwlock at word ${index}: waiting-writer count overflowed`);
  }
}

/** Turns this writer's waiting announcement into the write lock, in one CAS, once it is free. */
function rwWriterTakeAnnounced(words: Int32Array, index: number): boolean {
  const word = Atomics.load(words, index);
  if ((word & (RW_WRITER | RW_READERS_MASK)) !== 0) return false;
  const locked = word - RW_WAITING_WRITER_ONE + RW_WRITER;
  return Atomics.compareExchange(words, index, word, locked) === word;
}

function rwWriterArmSleep(words: Int32Array, index: number): number {
  const word = Atomics.load(words, index);
  if ((word & (RW_WRITER | RW_READERS_MASK)) === 0) {
    const locked = word - RW_WAITING_WRITER_ONE + RW_WRITER;
    return Atomics.compareExchange(words, index, word, locked) === word ? ARM_ACQUIRED : ARM_RETRY;
  }
  return setSleepers(words, index, word);
}

/** A writer giving up stops counting as waiting; readers it held back may now enter. */
function rwWriterWithdraw(words: Int32Array, index: number): void {
  Atomics.sub(words, index, RW_WAITING_WRITER_ONE);
  rwWakeSleepers(words, index);
}

/** Sets S on the exact word seen, so a change in between makes the caller re-read. */
function setSleepers(words: Int32Array, index: number, word: number): number {
  const sleepWord = word | RW_SLEEPERS;
  if (word === sleepWord) return sleepWord;
  return Atomics.compareExchange(words, index, word, sleepWord) === word ? sleepWord : ARM_RETRY;
}

function rwWakeSleepers(words: Int32Array, index: number): void {
  const previous = Atomics.and(words, index, ~RW_SLEEPERS);
  if ((previous & RW_SLEEPERS) !== 0) Atomics.notify(words, index);
}

function assertReaderRoom(word: number, index: number): void {
  if ((word & RW_READERS_MASK) === RW_READERS_MASK) {
    throw new AssertionFailure(`rwlock at word ${index}: reader count overflowed`);
  }
}

function doNothing(): void {}
