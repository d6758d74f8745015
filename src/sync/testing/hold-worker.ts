/**
 * Worker entry that either holds one lock until the main thread says release ('hold'), or waits
 * for a lock as an ordinary worker would, sleeping if it must ('acquire'). The main-thread and
 * sleeper tests pair them.
 */
import { mutexLock, mutexUnlock } from '../mutex.js';
import { rwReadLock, rwReadUnlock, rwWriteLock, rwWriteUnlock } from '../rwlock.js';
import { seqMutexLock, seqMutexUnlock } from '../seq-mutex.js';
import { seqReadBegin, seqWriteBegin, seqWriteEnd } from '../seqlock.js';
import type { HoldKind, HoldWorkerInput, HoldWorkerResult } from './protocol.js';
import { CONTROL_HELD, CONTROL_RELEASE } from './protocol.js';
import { runWorker, waitForWordBlocking } from './worker-runtime.js';

runWorker((data: HoldWorkerInput): HoldWorkerResult => {
  const { control, kind, words, index, waitLimitMs } = data;
  if (data.action === 'acquire' && kind === 'seqlock') return { word: seqReadBegin(words, index) };
  acquire(kind, words, index);
  const word = Atomics.load(words, index);
  if (data.action === 'hold') {
    Atomics.store(control, CONTROL_HELD, 1);
    waitForWordBlocking(control, CONTROL_RELEASE, 1, waitLimitMs);
    Atomics.store(control, CONTROL_HELD, 0);
  }
  release(kind, words, index);
  return { word };
});

function acquire(kind: HoldKind, words: Int32Array, index: number): void {
  if (kind === 'mutex') mutexLock(words, index);
  else if (kind === 'seq-mutex') seqMutexLock(words, index);
  else if (kind === 'seqlock') seqWriteBegin(words, index);
  else if (kind === 'rw-read') rwReadLock(words, index);
  else rwWriteLock(words, index);
}

function release(kind: HoldKind, words: Int32Array, index: number): void {
  if (kind === 'mutex') mutexUnlock(words, index);
  else if (kind === 'seq-mutex') seqMutexUnlock(words, index);
  else if (kind === 'seqlock') seqWriteEnd(words, index);
  else if (kind === 'rw-read') rwReadUnlock(words, index);
  else rwWriteUnlock(words, index);
}
