/**
 * Worker threads attached to one image allocate and free concurrently. The workers run the
 * compiled dist/nvm/testing/alloc-worker.js; see that file for how collisions are detected.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { NvmImage } from './image.js';
import type { AllocWorkerInput, AllocWorkerResult } from './testing/alloc-worker.js';
import { compiledTestingScript } from './testing/compiled-script.js';
import { makeTempFolder, type TempFolder } from './testing/temp-folder.js';
import { type NvmBackendKind, PageKind } from './types.js';

const WORKER_COUNT = 2;
const RUNS_PER_WORKER = 1500;

let folder: TempFolder;
beforeEach(() => {
  folder = makeTempFolder('nvm-threads');
});
afterEach(() => folder.remove());

describe.each<NvmBackendKind>(['mapped', 'emulated'])('%s backend', (backend) => {
  test('workers allocating at once never get the same page', async () => {
    const path = folder.file('threads.nvm');
    const image = NvmImage.open(path, { backend, sizeMaxBytes: 64 << 20 });
    image.setRoot(0, 4242n);
    const start = new SharedArrayBuffer(4);
    const script = compiledTestingScript('alloc-worker');
    const results = Promise.all(
      Array.from({ length: WORKER_COUNT }, (_, workerId) => {
        const input: AllocWorkerInput = {
          handle: image.handle(),
          start,
          workerId: workerId + 1,
          runCount: RUNS_PER_WORKER,
          seed: 17 + workerId,
        };
        return runWorker(script, input);
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 50)); // let both workers reach the flag
    Atomics.store(new Int32Array(start), 0, 1);
    Atomics.notify(new Int32Array(start), 0);
    const outputs = await results;

    const owners = new Map<number, number>();
    let pagesLive = 0;
    for (const [index, output] of outputs.entries()) {
      const workerId = index + 1;
      expect(output.collisions).toBe(0);
      expect(output.rootSeen).toBe('4242');
      for (const [first, count] of output.runs) {
        expect(image.pageOwner(first)).toBe(workerId);
        expect(image.pageRunLength(first)).toBe(count);
        for (let page = first; page < first + count; page++) {
          expect(owners.get(page), `page ${page}`).toBeUndefined();
          owners.set(page, workerId);
          expect(image.words[page * 1024]).toBe(0x1000 + workerId);
        }
        pagesLive += count;
      }
    }
    expect(image.stats().pagesAllocated).toBe(pagesLive);
    image.close();

    const again = NvmImage.open(path, { backend });
    let reopenedPages = 0;
    again.forEachPage(PageKind.ehashBuckets, undefined, (first) => {
      reopenedPages += again.pageRunLength(first);
      expect(owners.get(first)).toBe(again.pageOwner(first));
    });
    expect(reopenedPages).toBe(pagesLive);
    again.close();
  });
});

function runWorker(script: string, input: AllocWorkerInput): Promise<AllocWorkerResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: input });
    worker.once('message', (result: AllocWorkerResult) => resolve(result));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`alloc worker exited with ${code}`));
    });
  });
}
