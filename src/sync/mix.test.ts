import { afterEach, expect, test } from 'vitest';
import { mutexLockAsync, mutexTryLock, mutexUnlock } from './mutex.js';
import { rwReadLockAsync, rwReadUnlock, rwWriteLockAsync, rwWriteUnlock } from './rwlock.js';
import { seqMutexLockAsync, seqMutexUnlock } from './seq-mutex.js';
import { seqReadBegin, seqReadValid } from './seqlock.js';
import {
  newControl,
  newWords,
  openGateWhenReady,
  startWorker,
  terminateAll,
} from './testing/harness.js';
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
  MIX_WORDS,
  type MixWorkerInput,
  type MixWorkerResult,
} from './testing/protocol.js';
import { Prng } from './testing/worker-runtime.js';

const WORKERS = 4;
const OPERATIONS_PER_WORKER = 15_000;
const SEED = Number(process.env['KV_SEED'] ?? 0x5eed) | 0;

afterEach(terminateAll);

test(`random mix on 4 workers and the main thread: no deadlock, no lost write (KV_SEED=${SEED})`, async () => {
  const control = newControl();
  const words = newWords(MIX_WORDS);
  const workers = Array.from({ length: WORKERS }, (_, worker) => {
    const input: MixWorkerInput = {
      control,
      words,
      seed: SEED + worker,
      operations: OPERATIONS_PER_WORKER,
      waitLimitMs: 10_000, // a deadlock fails the test with ERR_BUSY within this bound
    };
    return startWorker('mix-worker', input);
  });
  await openGateWhenReady(control, workers);
  let workersDone = false;
  const results = Promise.all(workers.map((worker) => worker.result)).finally(() => {
    workersDone = true;
  });
  const main = await runMainThreadMix(words, new Prng(SEED - 1), () => workersDone);
  const totals = [...(await results), main].reduce(addResults);
  expect(totals.violations).toBe(0);
  expect(totals.tornAccepted).toBe(0);
  for (let mutex = 0; mutex < MIX_MUTEXES; mutex++) {
    expect(words[MIX_MUTEX_COUNTER_BASE + mutex]).toBe(totals.mutexWrites[mutex]);
    expect(words[MIX_MUTEX_BASE + mutex]).toBe(0);
  }
  for (let rw = 0; rw < MIX_RWLOCKS; rw++) {
    expect(words[MIX_RW_COUNTER_BASE + rw]).toBe(totals.rwWrites[rw]);
    expect(words[MIX_RW_BASE + rw]).toBe(0);
  }
  for (let seq = 0; seq < MIX_SEQ_MUTEXES; seq++) {
    expect(words[MIX_SEQ_RECORD_BASE + 2 * seq]).toBe(totals.seqWrites[seq]);
    expect(words[MIX_SEQ_RECORD_BASE + 2 * seq + 1]).toBe(totals.seqWrites[seq]);
    expect(words[MIX_SEQ_BASE + seq]).toBe((totals.seqWrites[seq] ?? 0) * 4); // version, no flags
  }
  console.log(
    `mix: ${totals.mutexWrites} mutex, ${totals.rwWrites} rw, ${totals.seqWrites} seq writes`,
  );
});

/** The main thread's share: async acquisitions only (it must never block), until workers end. */
async function runMainThreadMix(
  words: Int32Array,
  prng: Prng,
  workersDone: () => boolean,
): Promise<MixWorkerResult> {
  const result: MixWorkerResult = {
    mutexWrites: new Array<number>(MIX_MUTEXES).fill(0),
    rwWrites: new Array<number>(MIX_RWLOCKS).fill(0),
    seqWrites: new Array<number>(MIX_SEQ_MUTEXES).fill(0),
    tornAccepted: 0,
    violations: 0,
  };
  for (let turn = 0; !workersDone() && turn < 1_000_000; turn++) {
    const mutex = prng.below(MIX_MUTEXES);
    const rw = prng.below(MIX_RWLOCKS);
    const seq = prng.below(MIX_SEQ_MUTEXES);
    switch (prng.below(5)) {
      case 0:
        await mutexLockAsync(words, MIX_MUTEX_BASE + mutex);
        words[MIX_MUTEX_COUNTER_BASE + mutex] = (words[MIX_MUTEX_COUNTER_BASE + mutex] ?? 0) + 1;
        result.mutexWrites[mutex] = (result.mutexWrites[mutex] ?? 0) + 1;
        mutexUnlock(words, MIX_MUTEX_BASE + mutex);
        break;
      case 1: {
        await seqMutexLockAsync(words, MIX_SEQ_BASE + seq);
        const value = Atomics.load(words, MIX_SEQ_RECORD_BASE + 2 * seq) + 1;
        Atomics.store(words, MIX_SEQ_RECORD_BASE + 2 * seq, value);
        Atomics.store(words, MIX_SEQ_RECORD_BASE + 2 * seq + 1, value);
        result.seqWrites[seq] = (result.seqWrites[seq] ?? 0) + 1;
        seqMutexUnlock(words, MIX_SEQ_BASE + seq);
        break;
      }
      case 2: {
        await rwWriteLockAsync(words, MIX_RW_BASE + rw);
        const count = Atomics.load(words, MIX_RW_COUNTER_BASE + rw);
        Atomics.store(words, MIX_RW_COUNTER_BASE + rw, count + 1);
        result.rwWrites[rw] = (result.rwWrites[rw] ?? 0) + 1;
        rwWriteUnlock(words, MIX_RW_BASE + rw);
        break;
      }
      case 3: {
        await rwReadLockAsync(words, MIX_RW_BASE + rw);
        const before = Atomics.load(words, MIX_RW_COUNTER_BASE + rw);
        await new Promise((resolve) => setImmediate(resolve)); // hold across a turn of the loop
        if (Atomics.load(words, MIX_RW_COUNTER_BASE + rw) !== before) result.violations++;
        rwReadUnlock(words, MIX_RW_BASE + rw);
        break;
      }
      default: {
        // Blocking-style calls that are safe on the main thread: a try, and a bounded spin read.
        if (mutexTryLock(words, MIX_MUTEX_BASE + mutex)) mutexUnlock(words, MIX_MUTEX_BASE + mutex);
        const begin = seqReadBegin(words, MIX_SEQ_BASE + seq);
        const first = Atomics.load(words, MIX_SEQ_RECORD_BASE + 2 * seq);
        const second = Atomics.load(words, MIX_SEQ_RECORD_BASE + 2 * seq + 1);
        if (seqReadValid(words, MIX_SEQ_BASE + seq, begin) && first !== second)
          result.tornAccepted++;
      }
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return result;
}

function addResults(sum: MixWorkerResult, next: MixWorkerResult): MixWorkerResult {
  const add = (a: number[], b: number[]) => a.map((value, index) => value + (b[index] ?? 0));
  return {
    mutexWrites: add(sum.mutexWrites, next.mutexWrites),
    rwWrites: add(sum.rwWrites, next.rwWrites),
    seqWrites: add(sum.seqWrites, next.seqWrites),
    tornAccepted: sum.tornAccepted + next.tornAccepted,
    violations: sum.violations + next.violations,
  };
}
