/**
 * Worker threads read a memtable through attached handles while another thread writes batches
 * whose records must be visible together: no reader may ever see part of a batch, by get or by
 * scan. A worker may also write through its handle. Workers run the compiled JS in dist/.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { NvmImage } from '../../nvm/image.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import type { NvmBackendKind } from '../../nvm/types.js';
import { Memtable } from './memtable.js';
import {
  batchKey,
  batchRecords,
  type ThreadResult,
  type ThreadTask,
} from './testing/reader-worker.js';

const WORKER = fileURLToPath(
  new URL('../../dist/src/memtable/testing/reader-worker.js', import.meta.url),
);
const KEY_COUNT = 24;

function runWorker(task: ThreadTask): Promise<ThreadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: task });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}`));
    });
  });
}

describe.each(['mapped', 'emulated'] as NvmBackendKind[])('%s backend', (backend) => {
  test('readers never see part of a batch while the main thread writes', async () => {
    const temp = makeTempFolder('memtable-threads');
    const image = NvmImage.open(`${temp.path}/image.nvm`, { backend, sizeMaxBytes: 256 << 20 });
    const memtable = Memtable.open(image, Memtable.create(image, { runSizeBytes: 64 << 10 }));
    try {
      const stop = new SharedArrayBuffer(12); // word 0: stop flag; words 1, 2: readers' checks
      const handle = memtable.handle();
      const base = { handle, keyCount: KEY_COUNT, firstBatch: 0, batchCount: 0, stop };
      const readers = [
        runWorker({ ...base, role: 'reader', readerIndex: 0 }),
        runWorker({ ...base, role: 'reader', readerIndex: 1 }),
      ];
      await new Promise((resolve) => setTimeout(resolve, 50)); // let the readers start
      const batchCount = backend === 'mapped' ? 1_500 : 400;
      // At least batchCount batches, and on until the readers made enough checks while batches
      // kept landing (on a loaded machine workers start late): bounded by 20 × batchCount.
      const progress = new Int32Array(stop);
      const readersDone = (): boolean =>
        Atomics.load(progress, 1) > 30 && Atomics.load(progress, 2) > 30;
      let written = 0;
      for (; written < 20 * batchCount; written++) {
        if (written >= batchCount && readersDone()) break;
        memtable.applyBatch(batchRecords(written, KEY_COUNT));
        if (written % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      Atomics.store(new Int32Array(stop), 0, 1);
      for (const result of await Promise.all(readers)) {
        expect(result.failures).toEqual([]);
        expect(result.checks).toBeGreaterThan(10);
        expect(result.batchesSeen).toBeGreaterThan(2);
      }
      // A worker writes through its attached handle; the opener sees the result.
      const writer = await runWorker({
        ...base,
        role: 'writer',
        firstBatch: written,
        batchCount: 50,
      });
      expect(writer.failures).toEqual([]);
      expect(memtable.get(batchKey(3))?.value).toEqual(
        batchRecords(written + 49, KEY_COUNT)[3]!.value,
      );
      expect(memtable.entryCount).toBe((written + 50) * KEY_COUNT);
    } finally {
      memtable.close();
      image.close();
      temp.remove();
    }
  });
});
