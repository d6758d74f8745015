/**
 * Real worker threads hammer one table through attached handles while it splits and merges:
 * writers race on a shared key range, a reader searches keys that were present before it began
 * and must never miss one. The final state must equal what the writers' own results imply.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { PmEHash } from './pm-ehash.js';
import type { HammerResult, HammerTask } from './testing/hammer-worker.js';

const WORKER = fileURLToPath(
  new URL('../../dist/src/ehash/testing/hammer-worker.js', import.meta.url),
);
const STABLE_FIRST = 5_000_000;
const STABLE_COUNT = 3_000;
const SHARED_FIRST = 9_000_000;
const SHARED_COUNT = 700;

function runWorker(task: HammerTask): Promise<HammerResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: task });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}`));
    });
  });
}

describe.each([
  { backend: 'mapped' as const, writers: 2, ownCount: 40_000, removeAll: false },
  { backend: 'mapped' as const, writers: 3, ownCount: 25_000, removeAll: false },
  { backend: 'mapped' as const, writers: 3, ownCount: 25_000, removeAll: true },
  { backend: 'emulated' as const, writers: 2, ownCount: 15_000, removeAll: true },
])(
  '$writers writers (remove all: $removeAll) and a reader on the $backend backend',
  ({ backend, writers, ownCount, removeAll }) => {
    test('no lost keys, no torn reads, exactly one winner per shared key', async () => {
      const temp = makeTempFolder('ehash-threads');
      const table = PmEHash.open(temp.path, { backend, sizeMaxBytes: 128 << 20 });
      try {
        for (let index = 0; index < STABLE_COUNT; index++)
          table.insertWords(0, STABLE_FIRST + index, 7, STABLE_FIRST + index);
        const stop = new SharedArrayBuffer(4);
        const handle = table.handle();
        const reader = runWorker({
          handle,
          role: 'reader',
          first: STABLE_FIRST,
          count: STABLE_COUNT,
          sharedFirst: 0,
          sharedCount: 1,
          stop,
        });
        const writerResults = await Promise.all(
          Array.from({ length: writers }, (_, index) =>
            runWorker({
              handle,
              role: 'writer',
              first: (index + 1) * 1_000_000,
              count: ownCount,
              sharedFirst: SHARED_FIRST,
              sharedCount: SHARED_COUNT,
              removeAll,
            }),
          ),
        );
        Atomics.store(new Int32Array(stop), 0, 1);
        const readerResult = await reader;
        expect(readerResult.searches).toBeGreaterThan(STABLE_COUNT);
        expect(readerResult.misses).toBe(0);
        expect(readerResult.wrongValues).toBe(0);

        const winners = writerResults.flatMap((result) => result.sharedWins);
        expect(new Set(winners).size).toBe(winners.length);
        const out = new Uint32Array(2);
        let expected = STABLE_COUNT + winners.length;
        for (const key of winners) {
          expect(table.searchWords(0, key, out)).toBe(true);
          expect([out[0], out[1]]).toEqual([key, 1]);
        }
        for (let writer = 0; writer < writers; writer++) {
          const first = (writer + 1) * 1_000_000;
          for (let index = 0; index < ownCount; index++) {
            const present = table.searchWords(0, first + index, out);
            expect(present).toBe(!removeAll && index % 3 !== 0);
            if (present) {
              expect(out[0]).toBe((first + index) * 3);
              expected++;
            }
          }
        }
        for (let index = 0; index < STABLE_COUNT; index++)
          expect(table.searchWords(0, STABLE_FIRST + index, out)).toBe(true);
        expect(table.size).toBe(expected);
        table.close();
        const reopened = PmEHash.open(temp.path, { backend });
        expect(reopened.size).toBe(expected);
        reopened.close();
      } finally {
        temp.remove();
      }
    });
  },
);
