/**
 * Uncontended lock costs on one thread: the floor under every extendible-hash operation, which
 * takes a bucket seq-mutex or does an optimistic seqlock read each time. Locks are spread over a
 * large word array the way bucket locks are, so the numbers include ordinary cache traffic.
 *
 *   node dist/bench/locks.js        (after `npm run build`)
 */
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import {
  mutexLock,
  mutexUnlock,
  rwReadLock,
  rwReadUnlock,
  seqMutexLock,
  seqMutexUnlock,
  seqReadBegin,
  seqReadValid,
} from '../src/sync/index.js';

export interface LockBenchResult {
  name: string;
  opsPerSecond: number;
}

/** Lock words per array; a power of two so the index walk is a mask. */
const LOCK_COUNT = 1 << 16;
/** Operations per timed task call, so that tinybench's per-call overhead is amortised. */
const OPS_PER_CALL = 1_000;

export async function runLocksBench(): Promise<LockBenchResult[]> {
  // One array per lock kind: a seq-mutex word keeps its version, which a mutex would read as held.
  const mutexWords = newWords();
  const seqWords = newWords();
  const rwWords = newWords();
  const data = newWords();
  let cursor = 0;
  let sink = 0;
  const bench = new Bench({ time: 500, warmup: true, warmupTime: 200 });
  bench
    .add('mutexLock + mutexUnlock', () => {
      for (let op = 0; op < OPS_PER_CALL; op++) {
        const index = (cursor = (cursor + 1) & (LOCK_COUNT - 1));
        mutexLock(mutexWords, index);
        mutexUnlock(mutexWords, index);
      }
    })
    .add('seqMutexLock + seqMutexUnlock', () => {
      for (let op = 0; op < OPS_PER_CALL; op++) {
        const index = (cursor = (cursor + 1) & (LOCK_COUNT - 1));
        seqMutexLock(seqWords, index);
        seqMutexUnlock(seqWords, index);
      }
    })
    .add('seqReadBegin + read + seqReadValid', () => {
      for (let op = 0; op < OPS_PER_CALL; op++) {
        const index = (cursor = (cursor + 1) & (LOCK_COUNT - 1));
        const begin = seqReadBegin(seqWords, index);
        const value = Atomics.load(data, index);
        if (seqReadValid(seqWords, index, begin)) sink += value;
      }
    })
    .add('rwReadLock + rwReadUnlock', () => {
      for (let op = 0; op < OPS_PER_CALL; op++) {
        const index = (cursor = (cursor + 1) & (LOCK_COUNT - 1));
        rwReadLock(rwWords, index);
        rwReadUnlock(rwWords, index);
      }
    });
  await bench.run();
  if (sink === -1) console.log('unreachable'); // keeps the reads observable
  return bench.tasks.map((task) => {
    const result = task.result;
    if (result.state === 'errored') throw result.error;
    if (result.state !== 'completed') throw new Error(`bench task ${task.name}: ${result.state}`);
    // period is the mean milliseconds per task call; each call runs OPS_PER_CALL operations.
    return { name: task.name, opsPerSecond: (OPS_PER_CALL * 1_000) / result.period };
  });
}

function newWords(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(LOCK_COUNT * Int32Array.BYTES_PER_ELEMENT));
}

async function main(): Promise<void> {
  const results = await runLocksBench();
  console.log(`locks, one thread, uncontended, Node ${process.version}`);
  console.table(
    results.map((result) => ({
      operation: result.name,
      'ops/s': Math.round(result.opsPerSecond).toLocaleString('en-US'),
      'ns/op': (1e9 / result.opsPerSecond).toFixed(1),
    })),
  );
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) await main();
