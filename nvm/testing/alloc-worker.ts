/**
 * Worker for the concurrent-allocation test (threads.test.ts). It attaches to the image, waits on
 * a shared start flag, then allocates and frees runs. It stamps each page it owns with its id and
 * checks that a fresh page is zero and that its stamps are still there before freeing, so two
 * threads handed the same page would see each other's stamps.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { NvmImage } from '../image.js';
import { type NvmHandle, PageKind } from '../types.js';

export interface AllocWorkerInput {
  readonly handle: NvmHandle;
  readonly start: SharedArrayBuffer;
  readonly workerId: number;
  readonly runCount: number;
  readonly seed: number;
}

export interface AllocWorkerResult {
  readonly runs: readonly (readonly [number, number])[];
  readonly collisions: number;
  readonly rootSeen: string;
}

const input = workerData as AllocWorkerInput;
const image = NvmImage.attach(input.handle);
const flag = new Int32Array(input.start);
while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0, 100);

let state = input.seed >>> 0 || 1;
const random = (limit: number): number => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) % limit;
};
const pageWords = image.pageSizeBytes / 4;
const stamp = 0x1000 + input.workerId;
const live: [number, number][] = [];
let collisions = 0;
for (let index = 0; index < input.runCount; index++) {
  const count = 1 + random(3);
  const first = image.allocPages(count, PageKind.ehashBuckets, input.workerId);
  for (let page = first; page < first + count; page++) {
    for (let word = 0; word < pageWords; word += 97) {
      if (Atomics.load(image.words, page * pageWords + word) !== 0) collisions++;
    }
    Atomics.store(image.words, page * pageWords, stamp);
    image.persist(page * image.pageSizeBytes, 4);
  }
  live.push([first, count]);
  if (random(3) === 0) {
    const [victim, victimCount] = live.splice(random(live.length), 1)[0]!;
    for (let page = victim; page < victim + victimCount; page++) {
      if (Atomics.load(image.words, page * pageWords) !== stamp) collisions++;
    }
    image.freePages(victim, victimCount);
  }
}
const result: AllocWorkerResult = { runs: live, collisions, rootSeen: image.root(0).toString() };
image.close();
parentPort!.postMessage(result);
