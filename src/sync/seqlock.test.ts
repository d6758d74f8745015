import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, test } from 'vitest';
import { AssertionFailure } from '../assert.js';
import { SEQ_LOCKED, SEQ_VERSION_ONE } from './layout.js';
import {
  SeqLock,
  seqIsWriting,
  seqReadBegin,
  seqReadValid,
  seqWriteBegin,
  seqWriteEnd,
} from './seqlock.js';
import { newWords, terminateAll } from './testing/harness.js';
import { runSeqStress } from './testing/seq-stress.js';

afterEach(terminateAll);

describe('seqlock on one thread', () => {
  test('a write makes the word odd, then even one version later', () => {
    const words = newWords(1);
    const begin = seqReadBegin(words, 0);
    seqWriteBegin(words, 0);
    expect((words[0] ?? 0) % 2).toBe(1);
    expect(seqIsWriting(words, 0)).toBe(true);
    expect(seqReadValid(words, 0, begin)).toBe(false);
    seqWriteEnd(words, 0);
    expect(words[0]).toBe(SEQ_VERSION_ONE);
    expect(seqIsWriting(words, 0)).toBe(false);
    expect(seqReadValid(words, 0, begin)).toBe(false);
    expect(seqReadValid(words, 0, seqReadBegin(words, 0))).toBe(true);
  });

  test('a second writer and an end without a begin are assertion failures', () => {
    const lock = new SeqLock(newWords(1), 0);
    lock.writeBegin();
    expect(() => lock.writeBegin()).toThrow(/a second writer entered/);
    expect(lock.words[0]).toBe(SEQ_LOCKED); // the first writer is still inside, unharmed
    lock.writeEnd();
    expect(() => lock.writeEnd()).toThrow(AssertionFailure);
    expect(lock.words[0]).toBe(SEQ_VERSION_ONE);
    expect(lock.readValid(lock.readBegin())).toBe(true);
  });

  test('a read that overlaps a write sees a torn record and validation rejects it', () => {
    const lock = new SeqLock(newWords(3), 0);
    const begin = lock.readBegin();
    const first = Atomics.load(lock.words, 1);
    lock.writeBegin(); // a writer slips in between the reader's two loads
    Atomics.store(lock.words, 1, 7);
    Atomics.store(lock.words, 2, 7);
    lock.writeEnd();
    const second = Atomics.load(lock.words, 2);
    expect(first).not.toBe(second); // torn
    expect(lock.readValid(begin)).toBe(false); // and caught
  });
});

describe('seqlock across threads', () => {
  test('writers serialised by a mutex, 2 reader workers and the main thread: never torn', async () => {
    const iterations = 5_000;
    const result = await runSeqStress({ flavor: 'seqlock', writers: 2, readers: 2, iterations });
    expect(result.writerViolations).toBe(0);
    expect(result.counter).toBe(2 * iterations);
    expect(result.record).toEqual(new Array(8).fill(2 * iterations));
    expect(result.lockWord).toBe(2 * iterations * SEQ_VERSION_ONE);
    for (const reader of result.readers) {
      expect(reader.tornAccepted).toBe(0);
      expect(reader.wentBack).toBe(0);
      expect(reader.accepted).toBeGreaterThan(0);
    }
    const retries = result.readers.reduce((sum, reader) => sum + reader.retries, 0);
    const tornRejected = result.readers.reduce((sum, reader) => sum + reader.tornRejected, 0);
    console.log(`seqlock stress: retries ${retries}, torn records rejected ${tornRejected}`);
    // Readers do meet writers (a torn count of zero would not fail: it depends on scheduling).
    if (availableParallelism() >= 2) expect(retries).toBeGreaterThan(0);
  });
});
