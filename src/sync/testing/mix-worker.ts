/**
 * Worker entry for the random-mix test: a seeded random sequence of every lock operation over a
 * few shared locks, including nested acquisitions in one global order (mutexes, then rwlocks,
 * then seq-mutexes). It counts its own writes so the test can check every shared counter; a
 * deadlock would surface as ERR_BUSY from the worker's bounded waits rather than as a hang.
 */
import { mutexLock, mutexTryLock, mutexUnlock } from '../mutex.js';
import {
  rwReadLock,
  rwReadUnlock,
  rwTryReadLock,
  rwTryWriteLock,
  rwWriteLock,
  rwWriteUnlock,
} from '../rwlock.js';
import { seqMutexLock, seqMutexTryLock, seqMutexUnlock } from '../seq-mutex.js';
import { seqReadBegin, seqReadValid } from '../seqlock.js';
import {
  MIX_MUTEX_BASE,
  MIX_MUTEX_COUNTER_BASE,
  MIX_MUTEXES,
  MIX_RW_BASE,
  MIX_RW_COUNTER_BASE,
  MIX_RWLOCKS,
  MIX_SEQ_BASE,
  MIX_SEQ_MUTEXES,
  MIX_SEQ_RECORD_BASE,
  type MixWorkerInput,
  type MixWorkerResult,
} from './protocol.js';
import { busyWork, Prng, runWorker } from './worker-runtime.js';

const SECTION_SPIN = 20;

runWorker((data: MixWorkerInput): MixWorkerResult => {
  const { words, operations } = data;
  const prng = new Prng(data.seed);
  const result: MixWorkerResult = {
    mutexWrites: new Array<number>(MIX_MUTEXES).fill(0),
    rwWrites: new Array<number>(MIX_RWLOCKS).fill(0),
    seqWrites: new Array<number>(MIX_SEQ_MUTEXES).fill(0),
    tornAccepted: 0,
    violations: 0,
  };
  for (let operation = 0; operation < operations; operation++) {
    const mutex = prng.below(MIX_MUTEXES);
    const rw = prng.below(MIX_RWLOCKS);
    const seq = prng.below(MIX_SEQ_MUTEXES);
    switch (prng.below(7)) {
      case 0:
        mutexLock(words, MIX_MUTEX_BASE + mutex);
        bumpMutexCounter(words, mutex, result);
        mutexUnlock(words, MIX_MUTEX_BASE + mutex);
        break;
      case 1:
        seqMutexLock(words, MIX_SEQ_BASE + seq);
        bumpSeqRecord(words, seq, result);
        seqMutexUnlock(words, MIX_SEQ_BASE + seq);
        break;
      case 2:
        readSeqRecord(words, seq, result);
        break;
      case 3:
        rwReadLock(words, MIX_RW_BASE + rw);
        checkRwCounterStable(words, rw, result);
        rwReadUnlock(words, MIX_RW_BASE + rw);
        break;
      case 4:
        rwWriteLock(words, MIX_RW_BASE + rw);
        bumpRwCounter(words, rw, result);
        rwWriteUnlock(words, MIX_RW_BASE + rw);
        break;
      case 5:
        nested(words, { mutex, rw, seq }, result);
        break;
      default:
        tryEach(words, { mutex, rw, seq }, result);
    }
  }
  return result;
});

interface Choice {
  mutex: number;
  rw: number;
  seq: number;
}

/** Takes one lock of each kind in the global order, writes under all three, releases. */
function nested(words: Int32Array, choice: Choice, result: MixWorkerResult): void {
  mutexLock(words, MIX_MUTEX_BASE + choice.mutex);
  rwWriteLock(words, MIX_RW_BASE + choice.rw);
  seqMutexLock(words, MIX_SEQ_BASE + choice.seq);
  bumpMutexCounter(words, choice.mutex, result);
  bumpRwCounter(words, choice.rw, result);
  bumpSeqRecord(words, choice.seq, result);
  seqMutexUnlock(words, MIX_SEQ_BASE + choice.seq);
  rwWriteUnlock(words, MIX_RW_BASE + choice.rw);
  mutexUnlock(words, MIX_MUTEX_BASE + choice.mutex);
}

function tryEach(words: Int32Array, choice: Choice, result: MixWorkerResult): void {
  if (mutexTryLock(words, MIX_MUTEX_BASE + choice.mutex)) {
    bumpMutexCounter(words, choice.mutex, result);
    mutexUnlock(words, MIX_MUTEX_BASE + choice.mutex);
  }
  if (rwTryWriteLock(words, MIX_RW_BASE + choice.rw)) {
    bumpRwCounter(words, choice.rw, result);
    rwWriteUnlock(words, MIX_RW_BASE + choice.rw);
  } else if (rwTryReadLock(words, MIX_RW_BASE + choice.rw)) {
    checkRwCounterStable(words, choice.rw, result);
    rwReadUnlock(words, MIX_RW_BASE + choice.rw);
  }
  if (seqMutexTryLock(words, MIX_SEQ_BASE + choice.seq)) {
    bumpSeqRecord(words, choice.seq, result);
    seqMutexUnlock(words, MIX_SEQ_BASE + choice.seq);
  }
}

function bumpMutexCounter(words: Int32Array, mutex: number, result: MixWorkerResult): void {
  const index = MIX_MUTEX_COUNTER_BASE + mutex;
  const count = words[index] ?? 0;
  busyWork(SECTION_SPIN);
  words[index] = count + 1;
  result.mutexWrites[mutex] = (result.mutexWrites[mutex] ?? 0) + 1;
}

function bumpRwCounter(words: Int32Array, rw: number, result: MixWorkerResult): void {
  const index = MIX_RW_COUNTER_BASE + rw;
  const count = Atomics.load(words, index);
  busyWork(SECTION_SPIN);
  Atomics.store(words, index, count + 1);
  result.rwWrites[rw] = (result.rwWrites[rw] ?? 0) + 1;
}

/** Under a read lock no writer may move the counter. */
function checkRwCounterStable(words: Int32Array, rw: number, result: MixWorkerResult): void {
  const before = Atomics.load(words, MIX_RW_COUNTER_BASE + rw);
  busyWork(SECTION_SPIN);
  if (Atomics.load(words, MIX_RW_COUNTER_BASE + rw) !== before) result.violations++;
}

function bumpSeqRecord(words: Int32Array, seq: number, result: MixWorkerResult): void {
  const index = MIX_SEQ_RECORD_BASE + 2 * seq;
  const value = Atomics.load(words, index) + 1;
  Atomics.store(words, index, value);
  busyWork(SECTION_SPIN);
  Atomics.store(words, index + 1, value);
  result.seqWrites[seq] = (result.seqWrites[seq] ?? 0) + 1;
}

function readSeqRecord(words: Int32Array, seq: number, result: MixWorkerResult): void {
  const begin = seqReadBegin(words, MIX_SEQ_BASE + seq);
  const first = Atomics.load(words, MIX_SEQ_RECORD_BASE + 2 * seq);
  busyWork(SECTION_SPIN);
  const second = Atomics.load(words, MIX_SEQ_RECORD_BASE + 2 * seq + 1);
  if (seqReadValid(words, MIX_SEQ_BASE + seq, begin) && first !== second) result.tornAccepted++;
}
