import { afterEach, describe, expect, test } from 'vitest';
import { AssertionFailure } from '../assert.js';
import {
  RW_READER_ONE,
  RW_SLEEPERS,
  RW_WAITING_WRITER_ONE,
  RW_WRITER,
  rwReaderCount,
  rwWaitingWriterCount,
} from './layout.js';
import {
  RwLock,
  rwReadLock,
  rwReadLockAsync,
  rwReadUnlock,
  rwTryReadLock,
  rwTryWriteLock,
  rwWriteLock,
  rwWriteLockAsync,
  rwWriteUnlock,
} from './rwlock.js';
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
  CONTROL_READERS_INSIDE,
  CONTROL_RELEASE,
  CONTROL_WRITERS_DONE,
  type HoldWorkerInput,
  type RwWorkerInput,
} from './testing/protocol.js';

afterEach(terminateAll);

describe('rwlock on one thread', () => {
  test('readers share, a writer excludes everyone, and a zeroed word is free', () => {
    const words = newWords(1);
    rwReadLock(words, 0);
    expect(rwTryReadLock(words, 0)).toBe(true);
    expect(rwReaderCount(Atomics.load(words, 0))).toBe(2);
    expect(rwTryWriteLock(words, 0)).toBe(false);
    rwReadUnlock(words, 0);
    rwReadUnlock(words, 0);
    expect(words[0]).toBe(0);
    rwWriteLock(words, 0);
    expect(words[0]).toBe(RW_WRITER);
    expect(rwTryReadLock(words, 0)).toBe(false);
    expect(rwTryWriteLock(words, 0)).toBe(false);
    rwWriteUnlock(words, 0);
    expect(words[0]).toBe(0);
  });

  test('a waiting writer closes the door to new readers', () => {
    const words = newWords(1);
    words[0] = RW_READER_ONE + RW_WAITING_WRITER_ONE; // one reader inside, one writer waiting
    expect(rwTryReadLock(words, 0)).toBe(false);
    expect(rwTryWriteLock(words, 0)).toBe(false);
  });

  test('unlocking what is not held is an assertion failure', () => {
    const words = newWords(1);
    expect(() => rwWriteUnlock(words, 0)).toThrow(AssertionFailure);
    expect(() => rwReadUnlock(new Int32Array(new SharedArrayBuffer(4)), 0)).toThrow(
      /read-unlocked with no reader inside/,
    );
  });

  test('the class runs a function under each side and releases on throw', () => {
    const lock = new RwLock(newWords(2), 1);
    expect(lock.runRead(() => lock.readLockCount())).toBe(1);
    expect(lock.runWrite(() => lock.isWriteLocked())).toBe(true);
    expect(() =>
      lock.runWrite(() => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(lock.words[1]).toBe(0);
  });
});

describe('rwlock across threads', () => {
  test('2 writers, 2 readers and the main thread (async): no overlap, writers finish', async () => {
    const control = newControl();
    const words = newWords(4);
    const input: Omit<RwWorkerInput, 'role'> = {
      control,
      words,
      lockIndex: 0,
      counterIndex: 1,
      writersInsideIndex: 2,
      iterations: 3_000,
      writerCount: 2,
      waitLimitMs: 10_000,
    };
    const writerInput: RwWorkerInput = { ...input, role: 'writer' };
    const readerInput: RwWorkerInput = { ...input, role: 'reader' };
    const workers = [
      startWorker('rwlock-worker', writerInput),
      startWorker('rwlock-worker', writerInput),
      startWorker('rwlock-worker', readerInput),
      startWorker('rwlock-worker', readerInput),
    ];
    await openGateWhenReady(control, workers);
    let mainWrites = 0;
    let mainViolations = 0;
    for (let turn = 0; Atomics.load(control, CONTROL_WRITERS_DONE) < 2 && turn < 100_000; turn++) {
      if (turn % 4 === 0) {
        await rwWriteLockAsync(words, 0);
        if (Atomics.add(words, 2, 1) !== 0) mainViolations++;
        if (Atomics.load(control, CONTROL_READERS_INSIDE) !== 0) mainViolations++;
        words[1] = (words[1] ?? 0) + 1;
        mainWrites++;
        Atomics.sub(words, 2, 1);
        rwWriteUnlock(words, 0);
      } else {
        await rwReadLockAsync(words, 0);
        if (Atomics.load(words, 2) !== 0) mainViolations++;
        rwReadUnlock(words, 0);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const results = await Promise.all(workers.map((worker) => worker.result));
    expect(mainViolations).toBe(0);
    for (const result of results) expect(result.violations).toBe(0);
    expect(words[1]).toBe(2 * 3_000 + mainWrites);
    expect(words[0]).toBe(0);
    const readersInsideMax = Math.max(...results.map((result) => result.readersInsideMax));
    const reads = results[2]!.operations + results[3]!.operations;
    console.log(`rwlock stress: ${reads} worker reads, up to ${readersInsideMax} readers at once`);
    expect(reads).toBeGreaterThan(0);
  });

  test('a sleeping writer is announced, blocks new readers, and gets the lock on release', async () => {
    const control = newControl();
    const words = newWords(1);
    const base = { control, words, index: 0, waitLimitMs: 10_000 };
    const holderInput: HoldWorkerInput = { ...base, kind: 'rw-read', action: 'hold' };
    const holder = startWorker('hold-worker', holderInput);
    await openGateWhenReady(control, [holder]);
    await waitForWord(control, CONTROL_HELD, (held) => held === 1);
    const writerInput: HoldWorkerInput = { ...base, kind: 'rw-write', action: 'acquire' };
    const writer = startWorker('hold-worker', writerInput);
    await waitForWord(words, 0, (word) => (word & RW_SLEEPERS) !== 0); // it went to sleep
    const waitingWord = Atomics.load(words, 0);
    expect(rwWaitingWriterCount(waitingWord)).toBe(1);
    expect(rwReaderCount(waitingWord)).toBe(1);
    expect(rwTryReadLock(words, 0)).toBe(false); // writers go first
    Atomics.store(control, CONTROL_RELEASE, 1);
    Atomics.notify(control, CONTROL_RELEASE);
    await holder.result;
    const heldByWriter = (await writer.result).word;
    expect(heldByWriter & RW_WRITER).toBe(RW_WRITER);
    expect(rwWaitingWriterCount(heldByWriter)).toBe(0);
    expect(words[0]).toBe(0);
  });
});
