/**
 * Worker entry for the mutex exclusion test: a non-atomic read-modify-write of a shared counter,
 * `iterations` times, under the mutex (or, for the sanity check, without it).
 */
import { mutexLock, mutexUnlock } from '../mutex.js';
import type { ExclusionResult, MutexWorkerInput } from './protocol.js';
import { CONTROL_INSIDE } from './protocol.js';
import { busyWork, runWorker } from './worker-runtime.js';

/** Work between the read and the write of the counter, so unprotected updates collide. */
const CRITICAL_SECTION_SPIN = 40;

runWorker((data: MutexWorkerInput): ExclusionResult => {
  const { control, words, lockIndex, counterIndex, iterations, useLock } = data;
  let violations = 0;
  for (let iteration = 0; iteration < iterations; iteration++) {
    if (useLock) mutexLock(words, lockIndex);
    if (Atomics.add(control, CONTROL_INSIDE, 1) !== 0) violations++;
    const count = words[counterIndex] ?? 0; // a plain read: only the mutex orders it
    busyWork(CRITICAL_SECTION_SPIN);
    words[counterIndex] = count + 1;
    Atomics.sub(control, CONTROL_INSIDE, 1);
    if (useLock) mutexUnlock(words, lockIndex);
  }
  return { violations };
});
