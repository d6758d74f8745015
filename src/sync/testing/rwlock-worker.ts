/**
 * Worker entry for the reader-writer test. Writers increment a counter under the write lock and
 * check that nobody else is inside; readers check that no writer is inside while they read, and
 * keep reading until every writer finished (so writers must get through a stream of readers).
 */
import { rwReadLock, rwReadUnlock, rwWriteLock, rwWriteUnlock } from '../rwlock.js';
import type { RwWorkerInput, RwWorkerResult } from './protocol.js';
import { CONTROL_READERS_INSIDE, CONTROL_WRITERS_DONE } from './protocol.js';
import { busyWork, runWorker } from './worker-runtime.js';

const SECTION_SPIN = 30;
/** Bounds a reader's loop; writers finish long before this many reads. */
const READS_MAX = 20_000_000;

runWorker(
  (data: RwWorkerInput): RwWorkerResult => (data.role === 'writer' ? write(data) : read(data)),
);

function write(data: RwWorkerInput): RwWorkerResult {
  const { control, words, lockIndex, counterIndex, writersInsideIndex, iterations } = data;
  const result = { violations: 0, operations: 0, readersInsideMax: 0 };
  for (let iteration = 0; iteration < iterations; iteration++) {
    rwWriteLock(words, lockIndex);
    if (Atomics.add(words, writersInsideIndex, 1) !== 0) result.violations++;
    if (Atomics.load(control, CONTROL_READERS_INSIDE) !== 0) result.violations++;
    const count = words[counterIndex] ?? 0;
    busyWork(SECTION_SPIN);
    words[counterIndex] = count + 1;
    Atomics.sub(words, writersInsideIndex, 1);
    rwWriteUnlock(words, lockIndex);
    result.operations++;
  }
  Atomics.add(control, CONTROL_WRITERS_DONE, 1);
  return result;
}

function read(data: RwWorkerInput): RwWorkerResult {
  const { control, words, lockIndex, writersInsideIndex, writerCount } = data;
  const result = { violations: 0, operations: 0, readersInsideMax: 0 };
  for (let reads = 0; reads < READS_MAX; reads++) {
    if (Atomics.load(control, CONTROL_WRITERS_DONE) === writerCount) break;
    rwReadLock(words, lockIndex);
    const inside = Atomics.add(control, CONTROL_READERS_INSIDE, 1) + 1;
    if (inside > result.readersInsideMax) result.readersInsideMax = inside;
    if (Atomics.load(words, writersInsideIndex) !== 0) result.violations++;
    busyWork(SECTION_SPIN);
    if (Atomics.load(words, writersInsideIndex) !== 0) result.violations++;
    Atomics.sub(control, CONTROL_READERS_INSIDE, 1);
    rwReadUnlock(words, lockIndex);
    result.operations++;
  }
  return result;
}
