import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, test } from 'vitest';
import { AssertionFailure } from '../assert.js';
import { MUTEX_CONTENDED, MUTEX_FREE, MUTEX_LOCKED } from './layout.js';
import {
  Mutex,
  mutexIsLocked,
  mutexLock,
  mutexLockAsync,
  mutexTryLock,
  mutexUnlock,
} from './mutex.js';
import {
  newControl,
  newWords,
  openGateWhenReady,
  startWorker,
  terminateAll,
  waitForWord,
} from './testing/harness.js';
import {
  CONTROL_HELD,
  CONTROL_INSIDE,
  CONTROL_RELEASE,
  type MutexWorkerInput,
} from './testing/protocol.js';

const WAIT_LIMIT_MS = 10_000;
const LOCK = 0;
const COUNTER = 1;

afterEach(terminateAll);

describe('mutex on one thread', () => {
  test('a zeroed word is free; lock, tryLock and unlock move through 0 and 1', () => {
    const words = newWords(4);
    expect(mutexIsLocked(words, 2)).toBe(false);
    mutexLock(words, 2);
    expect(words[2]).toBe(MUTEX_LOCKED);
    expect(mutexTryLock(words, 2)).toBe(false);
    mutexUnlock(words, 2);
    expect(words[2]).toBe(MUTEX_FREE);
    expect(mutexTryLock(words, 2)).toBe(true);
    mutexUnlock(words, 2);
    expect(words).toEqual(newWords(4)); // neighbours untouched
  });

  test('unlocking a free mutex is an assertion failure', () => {
    const words = newWords(1);
    expect(() => mutexUnlock(words, 0)).toThrow(AssertionFailure);
    mutexLock(words, 0);
    mutexUnlock(words, 0);
    expect(() => mutexUnlock(words, 0)).toThrow(/mutex at word 0 unlocked while free/);
  });

  test('unlocking a contended mutex leaves it free', () => {
    const words = newWords(1);
    words[0] = MUTEX_CONTENDED; // as if a sleeper had marked it
    mutexUnlock(words, 0);
    expect(words[0]).toBe(MUTEX_FREE);
  });

  test('runExclusive releases when fn throws; runExclusiveAsync when it rejects', async () => {
    const mutex = new Mutex(newWords(2), 1);
    expect(mutex.runExclusive(() => mutex.isLocked())).toBe(true);
    expect(() =>
      mutex.runExclusive(() => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(mutex.isLocked()).toBe(false);
    await expect(
      mutex.runExclusiveAsync(async () => Promise.reject(new Error('async'))),
    ).rejects.toThrow('async');
    expect(mutex.isLocked()).toBe(false);
    expect(await mutex.runExclusiveAsync(() => 7)).toBe(7);
  });

  test('lockAsync on the thread that holds the mutex resolves after that thread unlocks', async () => {
    const mutex = new Mutex(newWords(1), 0);
    mutex.lock();
    let acquired = false;
    const waiting = mutex.lockAsync().then(() => {
      acquired = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(acquired).toBe(false);
    expect(mutex.words[0]).toBe(MUTEX_CONTENDED); // the async waiter marked it
    mutex.unlock();
    await waiting;
    expect(acquired).toBe(true);
    mutex.unlock();
    expect(mutex.words[0]).toBe(MUTEX_FREE);
  });

  test('the class refuses words it cannot use', () => {
    expect(() => new Mutex(newWords(2), 2)).toThrow(AssertionFailure);
    expect(() => new Mutex(newWords(2), -1)).toThrow(AssertionFailure);
    expect(() => new Mutex(newWords(2), 0.5)).toThrow(AssertionFailure);
    expect(() => new Mutex(new Int32Array(2), 0)).toThrow(/SharedArrayBuffer/);
  });
});

describe('mutex across threads', () => {
  test('3 workers and the main thread (async) never overlap; no increment is lost', async () => {
    const result = await countUnderMutex({ workers: 3, iterations: 20_000, mainIterations: 2_000 });
    expect(result.violations).toBe(0);
    expect(result.count).toBe(3 * 20_000 + 2_000);
  });

  test.skipIf(availableParallelism() < 2)(
    'sanity: the same test without the lock loses updates',
    async () => {
      const result = await countUnderMutex({ workers: 3, iterations: 20_000, useLock: false });
      expect(result.violations).toBeGreaterThan(0);
      expect(result.count).toBeLessThan(3 * 20_000);
    },
  );

  test('a waiting worker marks the word contended, sleeps, and is woken by unlock', async () => {
    const control = newControl();
    const words = newWords(1);
    const base = { control, words, index: 0, kind: 'mutex', waitLimitMs: WAIT_LIMIT_MS } as const;
    const holder = startWorker('hold-worker', { ...base, action: 'hold' });
    await openGateWhenReady(control, [holder]);
    await waitForWord(control, CONTROL_HELD, (held) => held === 1);
    const waiter = startWorker('hold-worker', { ...base, action: 'acquire' });
    // Only a thread about to sleep writes 2, and it stays 2 while the holder holds.
    await waitForWord(words, 0, (word) => word === MUTEX_CONTENDED);
    Atomics.store(control, CONTROL_RELEASE, 1);
    Atomics.notify(control, CONTROL_RELEASE);
    expect((await holder.result).word).toBe(MUTEX_LOCKED);
    expect((await waiter.result).word).toBe(MUTEX_CONTENDED); // took it by exchanging 2 in
    expect(words[0]).toBe(MUTEX_FREE);
  });
});

interface CountOptions {
  workers: number;
  iterations: number;
  mainIterations?: number;
  useLock?: boolean;
}

/** Runs mutex-worker on `workers` threads while the main thread takes the lock asynchronously. */
async function countUnderMutex(
  options: CountOptions,
): Promise<{ count: number; violations: number }> {
  const control = newControl();
  const words = newWords(2);
  const input: MutexWorkerInput = {
    control,
    words,
    lockIndex: LOCK,
    counterIndex: COUNTER,
    iterations: options.iterations,
    useLock: options.useLock ?? true,
    waitLimitMs: WAIT_LIMIT_MS,
  };
  const workers = Array.from({ length: options.workers }, () => startWorker('mutex-worker', input));
  await openGateWhenReady(control, workers);
  let violations = 0;
  for (let iteration = 0; iteration < (options.mainIterations ?? 0); iteration++) {
    await mutexLockAsync(words, LOCK);
    if (Atomics.add(control, CONTROL_INSIDE, 1) !== 0) violations++;
    words[COUNTER] = (words[COUNTER] ?? 0) + 1;
    Atomics.sub(control, CONTROL_INSIDE, 1);
    mutexUnlock(words, LOCK);
    if (iteration % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  for (const worker of workers) violations += (await worker.result).violations;
  return { count: words[COUNTER] ?? 0, violations };
}
