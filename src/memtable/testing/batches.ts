/**
 * Seeded batch sequences for crash and thread tests: small key space (with zero bytes and an
 * empty key), many versions, deletions, and values large enough to cross 4 KiB arena runs.
 */
import { Prng } from '../../ehash/testing/prng.js';
import { KIND_DELETION, KIND_VALUE } from '../../sst/internal-key.js';
import type { MemtableRecord } from '../memtable.js';

export function keyOf(index: number): Uint8Array {
  if (index === 0) return new Uint8Array(0);
  return Uint8Array.of(index % 3, 0, index);
}

export function makeBatches(
  seed: number,
  options: { batchCount: number; keyCount: number; firstSeq: number },
): MemtableRecord[][] {
  const prng = new Prng(seed);
  const batches: MemtableRecord[][] = [];
  let seq = options.firstSeq;
  for (let batch = 0; batch < options.batchCount; batch++) {
    const records: MemtableRecord[] = [];
    const size = 1 + prng.below(5);
    for (let index = 0; index < size; index++) {
      const deletion = prng.below(5) === 0;
      const length = prng.below(10) === 0 ? 1500 + prng.below(4000) : prng.below(300);
      const value = deletion ? new Uint8Array(0) : new Uint8Array(length).fill(seq & 0xff);
      records.push({
        kind: deletion ? KIND_DELETION : KIND_VALUE,
        userKey: keyOf(prng.below(options.keyCount)),
        value,
        seq: ++seq,
      });
    }
    batches.push(records);
  }
  return batches;
}
