/**
 * Worker entry for the concurrency tests: attaches to a table and runs one role over a key range.
 * Roles: `writer` inserts its own keys, updates them, removes every third, and also races the
 * other writers on a shared range (exactly one insert per shared key may win); `reader` searches
 * keys that were present before it started and never removed, and counts any miss.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PmEHash, type PmEHashHandle } from '../pm-ehash.js';

export interface HammerTask {
  readonly handle: PmEHashHandle;
  readonly role: 'writer' | 'reader';
  readonly first: number;
  readonly count: number;
  readonly sharedFirst: number;
  readonly sharedCount: number;
  /** Writer: remove every own key at the end (not just every third), so buckets empty out. */
  readonly removeAll?: boolean;
  /** Reader: keep searching until this shared word (index 0) becomes non-zero. */
  readonly stop?: SharedArrayBuffer;
}

export interface HammerResult {
  readonly sharedWins: number[];
  readonly misses: number;
  readonly wrongValues: number;
  readonly searches: number;
}

const task = workerData as HammerTask;
const table = PmEHash.attach(task.handle);
const result = task.role === 'writer' ? runWriter(task) : runReader(task);
table.close();
parentPort!.postMessage(result);

function runWriter(work: HammerTask): HammerResult {
  const sharedWins: number[] = [];
  for (let index = 0; index < work.count; index++) {
    const key = work.first + index;
    if (!table.insertWords(0, key, 0, key * 2)) throw new Error(`own key ${key} already present`);
    if (index % 7 === 0) {
      const sharedKey = work.sharedFirst + ((index / 7) % work.sharedCount);
      if (table.insertWords(0, sharedKey, 1, sharedKey)) sharedWins.push(sharedKey);
    }
  }
  for (let index = 0; index < work.count; index++) {
    const key = work.first + index;
    if (!table.updateWords(0, key, 0, key * 3)) throw new Error(`own key ${key} missing on update`);
  }
  for (let index = 0; index < work.count; index += work.removeAll === true ? 1 : 3) {
    if (!table.removeWords(0, work.first + index))
      throw new Error(`own key ${work.first + index} missing on remove`);
  }
  return { sharedWins, misses: 0, wrongValues: 0, searches: 0 };
}

function runReader(work: HammerTask): HammerResult {
  const stop = new Int32Array(work.stop!);
  const out = new Uint32Array(2);
  let misses = 0;
  let wrongValues = 0;
  let searches = 0;
  while (Atomics.load(stop, 0) === 0) {
    for (let index = 0; index < work.count; index++) {
      const key = work.first + index;
      searches++;
      if (!table.searchWords(0, key, out)) misses++;
      else if (out[0] !== key || out[1] !== 7) wrongValues++;
    }
  }
  return { sharedWins: [], misses, wrongValues, searches };
}
