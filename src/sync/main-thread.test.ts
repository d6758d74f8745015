import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { isStrataError, StrataError } from '../errors.js';
import { MUTEX_CONTENDED } from './layout.js';
import { mutexLock, mutexLockAsync, mutexUnlock } from './mutex.js';
import {
  rwReadLock,
  rwReadLockAsync,
  rwReadUnlock,
  rwWriteLock,
  rwWriteLockAsync,
  rwWriteUnlock,
} from './rwlock.js';
import { seqMutexLock, seqMutexLockAsync, seqMutexUnlock } from './seq-mutex.js';
import { seqReadBegin } from './seqlock.js';
import {
  delay,
  newControl,
  newWords,
  openGateWhenReady,
  type RunningWorker,
  startWorker,
  terminateAll,
  waitForWord,
} from './testing/harness.js';
import {
  CONTROL_HELD,
  CONTROL_RELEASE,
  type HoldKind,
  type HoldWorkerResult,
} from './testing/protocol.js';
import { setMainThreadSpinLimitMs, setWaitLimitMs } from './wait-policy.js';

const SPIN_LIMIT_MS = 50;
const INDEX = 3;
const HOLD_AFTER_ASYNC_START_MS = 150;

type Operation = (words: Int32Array, index: number) => void;
type AsyncOperation = (words: Int32Array, index: number) => Promise<void>;

interface BusyCase {
  held: HoldKind;
  /** Main-thread calls that must spin and then throw ERR_BUSY naming `kind`. */
  blocked: ReadonlyArray<{ kind: string; call: Operation }>;
  /** Async acquisitions that must wait for the worker, and how to release them afterwards. */
  waitsAsync: ReadonlyArray<{ acquire: AsyncOperation; release: Operation }>;
}

const CASES: readonly BusyCase[] = [
  {
    held: 'mutex',
    blocked: [{ kind: 'mutex', call: mutexLock }],
    waitsAsync: [{ acquire: mutexLockAsync, release: mutexUnlock }],
  },
  {
    held: 'seq-mutex',
    blocked: [
      { kind: 'seq-mutex', call: seqMutexLock },
      { kind: 'seqlock', call: seqReadBegin },
    ],
    waitsAsync: [{ acquire: seqMutexLockAsync, release: seqMutexUnlock }],
  },
  {
    held: 'seqlock',
    blocked: [{ kind: 'seqlock', call: seqReadBegin }],
    waitsAsync: [],
  },
  {
    held: 'rw-write',
    blocked: [
      { kind: 'rwlock (read)', call: rwReadLock },
      { kind: 'rwlock (write)', call: rwWriteLock },
    ],
    waitsAsync: [
      { acquire: rwReadLockAsync, release: rwReadUnlock },
      { acquire: rwWriteLockAsync, release: rwWriteUnlock },
    ],
  },
  {
    held: 'rw-read',
    blocked: [{ kind: 'rwlock (write)', call: rwWriteLock }],
    waitsAsync: [{ acquire: rwWriteLockAsync, release: rwWriteUnlock }],
  },
];

let previousSpinLimitMs = 0;
let previousWaitLimitMs = 0;

beforeEach(() => {
  previousSpinLimitMs = setMainThreadSpinLimitMs(SPIN_LIMIT_MS);
  previousWaitLimitMs = setWaitLimitMs(10_000);
});

afterEach(async () => {
  setMainThreadSpinLimitMs(previousSpinLimitMs);
  setWaitLimitMs(previousWaitLimitMs);
  await terminateAll();
});

describe.each(CASES)('main thread against a worker holding a $held lock', (busyCase) => {
  test('blocking calls spin for the limit, throw ERR_BUSY and leave the word as it was', async () => {
    const { words, holder, control } = await holdInWorker(busyCase.held);
    const heldWord = Atomics.load(words, INDEX);
    for (const { kind, call } of busyCase.blocked) {
      const startMs = performance.now();
      const error = catchError(() => call(words, INDEX));
      const elapsedMs = performance.now() - startMs;
      expect(error).toBeInstanceOf(StrataError);
      expect(isStrataError(error, 'ERR_BUSY')).toBe(true);
      expect((error as StrataError).message).toContain(`${kind} at word ${INDEX}`);
      expect(elapsedMs).toBeGreaterThanOrEqual(SPIN_LIMIT_MS);
      expect(elapsedMs).toBeLessThan(SPIN_LIMIT_MS + 1_000);
      expect(Atomics.load(words, INDEX)).toBe(heldWord);
    }
    await release(control, holder);
  });

  test('async calls wait without blocking the event loop and acquire after release', async () => {
    for (const { acquire, release: releaseOnMain } of busyCase.waitsAsync) {
      const { words, holder, control } = await holdInWorker(busyCase.held);
      let timerFired = false;
      let acquiredWhileTimerPending = false;
      setTimeout(() => {
        timerFired = true;
      }, 5);
      const startMs = performance.now();
      const acquired = acquire(words, INDEX).then(() => {
        acquiredWhileTimerPending = !timerFired;
      });
      setTimeout(() => void release(control, holder), HOLD_AFTER_ASYNC_START_MS);
      await acquired;
      expect(timerFired).toBe(true);
      expect(acquiredWhileTimerPending).toBe(false);
      expect(performance.now() - startMs).toBeGreaterThanOrEqual(HOLD_AFTER_ASYNC_START_MS - 1);
      expect(Atomics.load(control, CONTROL_HELD)).toBe(0);
      releaseOnMain(words, INDEX);
      await holder.result;
    }
  });
});

describe('async waits are bounded too', () => {
  test.each([
    { held: 'mutex' as const, acquire: mutexLockAsync, kind: 'mutex' },
    { held: 'seq-mutex' as const, acquire: seqMutexLockAsync, kind: 'seq-mutex' },
    { held: 'rw-read' as const, acquire: rwWriteLockAsync, kind: 'rwlock (write)' },
  ])('$kind: rejects with ERR_BUSY after setWaitLimitMs and undoes its waiting', async (busy) => {
    const { words, holder, control } = await holdInWorker(busy.held);
    const heldWord = Atomics.load(words, INDEX);
    setWaitLimitMs(40);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    const error = await busy.acquire(words, INDEX).then(
      () => undefined,
      (rejection: unknown) => rejection,
    );
    clearInterval(ticker);
    expect(isStrataError(error, 'ERR_BUSY')).toBe(true);
    expect((error as StrataError).message).toContain(`${busy.kind} at word ${INDEX}`);
    expect(ticks).toBeGreaterThan(2); // the event loop kept turning while we waited
    // The waiter may leave its sleeper mark behind (bit 1; for the mutex, state 2 instead of 1)
    // and nothing else.
    const marked = busy.kind === 'mutex' ? MUTEX_CONTENDED : heldWord | 2;
    expect([heldWord, marked]).toContain(Atomics.load(words, INDEX));
    await release(control, holder);
  });
});

async function holdInWorker(held: HoldKind): Promise<{
  words: Int32Array;
  control: Int32Array;
  holder: RunningWorker<HoldWorkerResult>;
}> {
  const control = newControl();
  const words = newWords(8);
  const holder = startWorker('hold-worker', {
    control,
    words,
    index: INDEX,
    kind: held,
    action: 'hold',
    waitLimitMs: 10_000,
  });
  await openGateWhenReady(control, [holder]);
  await waitForWord(control, CONTROL_HELD, (word) => word === 1);
  return { words, control, holder };
}

async function release(
  control: Int32Array,
  holder: RunningWorker<HoldWorkerResult>,
): Promise<void> {
  Atomics.store(control, CONTROL_RELEASE, 1);
  Atomics.notify(control, CONTROL_RELEASE);
  await holder.result;
  await delay(0);
}

function catchError(call: () => void): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  return undefined;
}
