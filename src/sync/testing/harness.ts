/**
 * The main-thread side of the sync tests: starts real worker threads from the compiled files in
 * dist/src/sync/testing/ and refuses to run them if dist/ is older than the sources.
 * Test support only; the main thread never blocks here.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  CONTROL_GO,
  CONTROL_WORDS,
  type ExclusionResult,
  type HoldWorkerInput,
  type HoldWorkerResult,
  type MixWorkerInput,
  type MixWorkerResult,
  type MutexWorkerInput,
  type RwWorkerInput,
  type RwWorkerResult,
  type SeqReaderResult,
  type SeqWorkerInput,
} from './protocol.js';

/** Each worker entry file in testing/, with what it takes and what it reports. */
export interface TestWorkers {
  'mutex-worker': { input: MutexWorkerInput; result: ExclusionResult };
  'seq-worker': { input: SeqWorkerInput; result: ExclusionResult | SeqReaderResult };
  'rwlock-worker': { input: RwWorkerInput; result: RwWorkerResult };
  'hold-worker': { input: HoldWorkerInput; result: HoldWorkerResult };
  'mix-worker': { input: MixWorkerInput; result: MixWorkerResult };
}

const SOURCE_DIRECTORY = new URL('../', import.meta.url);
const DIST_DIRECTORY = new URL('../../../dist/src/sync/', import.meta.url);
const live = new Set<Worker>();

export interface RunningWorker<R> {
  readonly ready: Promise<void>;
  readonly result: Promise<R>;
  readonly worker: Worker;
}

export function newControl(): Int32Array {
  return newWords(CONTROL_WORDS);
}

export function newWords(count: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(count * Int32Array.BYTES_PER_ELEMENT));
}

/** Starts `dist/src/sync/testing/<name>.js` with `data` as its workerData. */
export function startWorker<N extends keyof TestWorkers>(
  name: N,
  data: TestWorkers[N]['input'],
): RunningWorker<TestWorkers[N]['result']> {
  type R = TestWorkers[N]['result'];
  assertDistFresh();
  const worker = new Worker(new URL(`testing/${name}.js`, DIST_DIRECTORY), { workerData: data });
  live.add(worker);
  let resolveReady: () => void = () => {};
  let rejectReady: (error: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  const result = new Promise<R>((resolve, reject) => {
    worker.on('message', (message: { type: string; result?: R }) => {
      if (message.type === 'ready') resolveReady();
      else if (message.type === 'result') resolve(message.result as R);
    });
    worker.on('error', (error) => {
      rejectReady(error);
      reject(error);
    });
    worker.on('exit', (code) => {
      live.delete(worker);
      const error = new Error(`worker ${name} exited with code ${code} before reporting`);
      rejectReady(error);
      reject(error);
    });
  });
  result.catch(() => {}); // the test awaits it later; a failure before then is not unhandled
  ready.catch(() => {});
  return { ready, result, worker };
}

/** Waits until every worker is at the start gate, then opens it. */
export async function openGateWhenReady(
  control: Int32Array,
  workers: readonly RunningWorker<unknown>[],
): Promise<void> {
  await Promise.all(workers.map((worker) => worker.ready));
  Atomics.store(control, CONTROL_GO, 1);
  Atomics.notify(control, CONTROL_GO);
}

/** Polls (never blocks) until `predicate(words[index])` holds; rejects after `limitMs`. */
export async function waitForWord(
  words: Int32Array,
  index: number,
  predicate: (word: number) => boolean,
  limitMs = 5_000,
): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!predicate(Atomics.load(words, index))) {
    if (performance.now() > deadline) {
      throw new Error(`word ${index} is ${Atomics.load(words, index)} after ${limitMs} ms`);
    }
    await delay(1);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** For afterEach: stops workers a failed test left behind. */
export async function terminateAll(): Promise<void> {
  await Promise.all([...live].map((worker) => worker.terminate()));
  live.clear();
}

let freshChecked = false;

/** Tests must not silently run yesterday's compiled workers or locks. */
function assertDistFresh(): void {
  if (freshChecked) return;
  const stale: string[] = [];
  for (const directory of ['', 'testing/']) {
    const sourceDirectory = fileURLToPath(new URL(directory, SOURCE_DIRECTORY));
    for (const file of readdirSync(sourceDirectory)) {
      if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
      const compiled = fileURLToPath(
        new URL(directory + file.replace(/\.ts$/, '.js'), DIST_DIRECTORY),
      );
      const source = `${sourceDirectory}${file}`;
      if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(source).mtimeMs) {
        stale.push(directory + file);
      }
    }
  }
  if (stale.length > 0) {
    throw new Error(
      `dist/ is missing or older than src/sync (${stale.join(', ')}): run npx tsc -p tsconfig.build.json`,
    );
  }
  freshChecked = true;
}
