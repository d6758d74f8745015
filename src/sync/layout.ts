/**
 * Bit layouts of every lock word in src/sync. A lock is one Int32 word at `index` of an
 * Int32Array over a SharedArrayBuffer; all of them start in their reset state when the word is
 * zero, so a freshly zeroed buffer needs no initialisation call. Lock words are volatile: they
 * describe threads of this process and mean nothing after a restart, so they are never persisted
 * and have no FORMAT.md. Each lock file repeats its own diagram beside the code that uses it.
 *
 * Mutex word (mutex.ts), a futex-style three-state word [Drepper, "Futexes Are Tricky", mutex 3]:
 *
 *   0 = free   1 = locked, nobody sleeps   2 = locked, a thread may sleep on the word
 *
 * Sequence word (seqlock.ts and seq-mutex.ts share it, so one reader path serves both):
 *
 *    31                                              2   1   0
 *   ┌─────────────────────────────────────────────────┬───┬───┐
 *   │ version (30 bits, wraps)                        │ W │ L │
 *   └─────────────────────────────────────────────────┴───┴───┘
 *   L = a writer is inside (the word is odd)   W = a thread sleeps until L clears
 *
 * Reader-writer word (rwlock.ts):
 *
 *    31  30                  12 11               2   1   0
 *   ┌───┬──────────────────────┬──────────────────┬───┬───┐
 *   │ 0 │ readers (19 bits)    │ waiting writers  │ S │ X │
 *   └───┴──────────────────────┴──────────────────┴───┴───┘
 *   X = a writer holds the lock   S = a thread sleeps on the word   bit 31 stays zero
 */
import { assert } from '../assert.js';

/** Every lock in src/sync occupies exactly this many Int32 words. */
export const LOCK_WORDS = 1;

export const MUTEX_FREE = 0;
export const MUTEX_LOCKED = 1;
export const MUTEX_CONTENDED = 2;

/** Set while a writer is inside; makes the word odd. */
export const SEQ_LOCKED = 1;
/** Set by a thread about to sleep on the word, so that the writer leaving knows to notify. */
export const SEQ_WAITERS = 2;
export const SEQ_FLAGS_MASK = SEQ_LOCKED | SEQ_WAITERS;
/** One step of the version counter; a write section advances the version by exactly one step. */
export const SEQ_VERSION_ONE = 4;

export const RW_WRITER = 1;
/** Set by a thread about to sleep on the word; whoever makes progress possible clears it. */
export const RW_SLEEPERS = 2;
export const RW_WAITING_WRITER_ONE = 1 << 2;
export const RW_WAITING_WRITERS_MAX = (1 << 10) - 1;
export const RW_WAITING_WRITERS_MASK = RW_WAITING_WRITERS_MAX * RW_WAITING_WRITER_ONE;
export const RW_READER_ONE = 1 << 12;
export const RW_READERS_MAX = (1 << 19) - 1;
export const RW_READERS_MASK = RW_READERS_MAX * RW_READER_ONE;
/** A reader may enter only while none of these bits is set: writers go first. */
export const RW_READERS_BLOCKED_MASK = RW_WRITER | RW_WAITING_WRITERS_MASK;

// The layouts must tile their words exactly once each and keep bit 31 clear on the rwlock word,
// so that reader-count arithmetic can never carry into the sign bit.
assert(MUTEX_FREE === 0, 'a zeroed word must be a free mutex');
assert((SEQ_FLAGS_MASK & -SEQ_VERSION_ONE) === 0, 'seq flags and version overlap');
assert((SEQ_FLAGS_MASK | -SEQ_VERSION_ONE) === -1, 'seq flags and version leave a gap');
assert((RW_WRITER & RW_SLEEPERS) === 0, 'rw writer and sleepers bits overlap');
assert(((RW_WRITER | RW_SLEEPERS) & RW_WAITING_WRITERS_MASK) === 0, 'rw flags overlap waiting');
assert((RW_WAITING_WRITERS_MASK & RW_READERS_MASK) === 0, 'rw waiting overlaps readers');
assert((RW_WRITER | RW_SLEEPERS | RW_WAITING_WRITERS_MASK | RW_READERS_MASK) === 0x7fffffff);

/** Reader count held in a reader-writer word. */
export function rwReaderCount(word: number): number {
  return (word & RW_READERS_MASK) >>> 12;
}

/** Waiting-writer count held in a reader-writer word. */
export function rwWaitingWriterCount(word: number): number {
  return (word & RW_WAITING_WRITERS_MASK) >>> 2;
}

/** Version counter of a sequence word, ignoring the flag bits. */
export function seqVersion(word: number): number {
  return word >>> 2;
}

/**
 * Checks that `index` names a lock word inside `words`. The plain lock functions skip this on
 * their hot paths (Atomics already throws a RangeError out of bounds); the classes call it once.
 */
export function assertLockWord(words: Int32Array, index: number): void {
  assert(words.buffer instanceof SharedArrayBuffer, 'lock words must live in a SharedArrayBuffer');
  assert(Number.isInteger(index), `lock index ${index} is not an integer`);
  assert(index >= 0, `lock index ${index} is negative`);
  assert(index + LOCK_WORDS <= words.length, `lock index ${index} is past ${words.length} words`);
}
