/**
 * Worker entry for the seq-mutex and seqlock tests. Writers set every word of a record to the
 * next counter value inside a write section; readers read the record optimistically and check
 * that validation never accepts a torn or older record.
 */
import { mutexLock, mutexUnlock } from '../mutex.js';
import { seqMutexLock, seqMutexUnlock } from '../seq-mutex.js';
import { seqWriteBegin, seqWriteEnd } from '../seqlock.js';
import type { ExclusionResult, SeqReaderResult, SeqWorkerInput } from './protocol.js';
import { CONTROL_INSIDE, CONTROL_WRITERS_DONE } from './protocol.js';
import { SeqReaderTally } from './seq-reader.js';
import { busyWork, runWorker } from './worker-runtime.js';

/** Spin between two record stores, so a racing reader sees a half-written record. */
const STORE_SPIN = 4;
/** Time a writer spends outside the lock, so that readers find it free and start reading. */
const OUTSIDE_SPIN = 300;
/** A slow write section: long enough (tens of µs) that waiting readers go to sleep. */
const SLOW_SECTION_SPIN = 20_000;
/** Bounds a reader's loop; writers finish long before this many reads. */
const READS_MAX = 50_000_000;

runWorker((data: SeqWorkerInput): ExclusionResult | SeqReaderResult =>
  data.role === 'writer' ? write(data) : read(data),
);

function write(data: SeqWorkerInput): ExclusionResult {
  const { control, words, counterIndex, recordIndex, recordWords, iterations, slowEvery } = data;
  let violations = 0;
  for (let iteration = 0; iteration < iterations; iteration++) {
    beginWrite(data);
    if (Atomics.add(control, CONTROL_INSIDE, 1) !== 0) violations++;
    const value = (words[counterIndex] ?? 0) + 1;
    words[counterIndex] = value;
    for (let offset = 0; offset < recordWords; offset++) {
      Atomics.store(words, recordIndex + offset, value);
      busyWork(STORE_SPIN);
    }
    if (iteration % slowEvery === 0) busyWork(SLOW_SECTION_SPIN);
    Atomics.sub(control, CONTROL_INSIDE, 1);
    endWrite(data);
    busyWork(OUTSIDE_SPIN);
  }
  Atomics.add(control, CONTROL_WRITERS_DONE, 1);
  return { violations };
}

function beginWrite(data: SeqWorkerInput): void {
  if (data.flavor === 'seq-mutex') {
    seqMutexLock(data.words, data.lockIndex);
  } else {
    mutexLock(data.words, data.mutexIndex);
    seqWriteBegin(data.words, data.lockIndex);
  }
}

function endWrite(data: SeqWorkerInput): void {
  if (data.flavor === 'seq-mutex') {
    seqMutexUnlock(data.words, data.lockIndex);
  } else {
    seqWriteEnd(data.words, data.lockIndex);
    mutexUnlock(data.words, data.mutexIndex);
  }
}

function read(data: SeqWorkerInput): SeqReaderResult {
  const { control, words, lockIndex, recordIndex, recordWords, writerCount } = data;
  const tally = new SeqReaderTally();
  for (let reads = 0; reads < READS_MAX; reads++) {
    if (Atomics.load(control, CONTROL_WRITERS_DONE) === writerCount) break;
    tally.readOnce(words, lockIndex, recordIndex, recordWords);
  }
  return tally.toResult();
}
