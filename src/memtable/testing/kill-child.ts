/**
 * Child process for the kill -9 test (runs from dist/): opens or creates a memtable in a mapped
 * image, then applies batches forever, printing `acked <batch>` after each one returns. The
 * parent SIGKILLs it at an arbitrary instant and checks what reopening finds.
 */
import { NvmImage } from '../../../nvm/image.js';
import { Memtable } from '../memtable.js';
import { batchRecords } from './reader-worker.js';

export const KILL_ROOT = 2;
export const KILL_KEY_COUNT = 16;

function main(path: string): void {
  const image = NvmImage.open(path, { backend: 'mapped', sizeMaxBytes: 1 << 30 });
  let header = Number(image.root(KILL_ROOT));
  if (header === 0) {
    header = Memtable.create(image, { runSizeBytes: 64 << 10 });
    image.setRoot(KILL_ROOT, BigInt(header));
  }
  const memtable = Memtable.open(image, header);
  const first = memtable.visibleSeq / KILL_KEY_COUNT; // batches that survived earlier kills
  for (let batch = first; batch < first + 10_000_000; batch++) {
    memtable.applyBatch(batchRecords(batch, KILL_KEY_COUNT));
    process.stdout.write(`acked ${batch}\n`);
  }
}

// Only as the child's entry script: tests import the constants above.
const path = process.argv[2];
if (process.argv[1]?.endsWith('kill-child.js') === true && path !== undefined) main(path);
