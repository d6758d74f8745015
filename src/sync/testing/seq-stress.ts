/**
 * The shared body of the seq-mutex and seqlock stress tests: writer and reader workers from
 * seq-worker.ts, plus the main thread reading optimistically between event-loop turns.
 * Test support only.
 */
import { newControl, newWords, openGateWhenReady, startWorker } from './harness.js';
import type { ExclusionResult, SeqReaderResult, SeqWorkerInput } from './protocol.js';
import { SeqReaderTally } from './seq-reader.js';

export interface SeqStressOptions {
  flavor: SeqWorkerInput['flavor'];
  writers: number;
  readers: number;
  iterations: number;
}

export interface SeqStressResult {
  writerViolations: number;
  /** One entry per reader worker, then the main thread's. */
  readers: SeqReaderResult[];
  counter: number;
  record: number[];
  lockWord: number;
}

const LOCK = 0;
const MUTEX = 1;
const COUNTER = 2;
const RECORD = 8;
const RECORD_WORDS = 8;
const MAIN_READS_PER_TURN = 200;

export async function runSeqStress(options: SeqStressOptions): Promise<SeqStressResult> {
  const control = newControl();
  const words = newWords(RECORD + RECORD_WORDS);
  const base: Omit<SeqWorkerInput, 'role'> = {
    control,
    flavor: options.flavor,
    words,
    lockIndex: LOCK,
    mutexIndex: MUTEX,
    counterIndex: COUNTER,
    recordIndex: RECORD,
    recordWords: RECORD_WORDS,
    iterations: options.iterations,
    writerCount: options.writers,
    slowEvery: 256,
    waitLimitMs: 10_000,
  };
  const writerInput: SeqWorkerInput = { ...base, role: 'writer' };
  const readerInput: SeqWorkerInput = { ...base, role: 'reader' };
  const writers = Array.from({ length: options.writers }, () =>
    startWorker('seq-worker', writerInput),
  );
  const readers = Array.from({ length: options.readers }, () =>
    startWorker('seq-worker', readerInput),
  );
  await openGateWhenReady(control, [...writers, ...readers]);
  let writersDone = false;
  const writerResults = Promise.all(writers.map((writer) => writer.result)).finally(() => {
    writersDone = true;
  });
  const main = new SeqReaderTally();
  while (!writersDone) {
    for (let read = 0; read < MAIN_READS_PER_TURN; read++) {
      main.readOnce(words, LOCK, RECORD, RECORD_WORDS);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  // Writers report ExclusionResult and readers SeqReaderResult (seq-worker.ts, by role).
  const exclusion = (await writerResults) as ExclusionResult[];
  const writerViolations = exclusion.reduce((sum, result) => sum + result.violations, 0);
  const readerResults = (await Promise.all(readers.map((r) => r.result))) as SeqReaderResult[];
  return {
    writerViolations,
    readers: [...readerResults, main.toResult()],
    counter: words[COUNTER] ?? 0,
    record: Array.from(words.subarray(RECORD, RECORD + RECORD_WORDS)),
    lockWord: Atomics.load(words, LOCK),
  };
}
