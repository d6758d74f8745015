import type { PhaseOps } from './phase-loop.js';
import type { Workload } from './workload.js';

/**
 * Splits a workload into per-thread operation lists in SharedArrayBuffers, keeping each key on
 * one thread (a multiplicative hash of the key picks the thread) and the file order per thread.
 */
export function partitionByKey(workload: Workload, threads: number): PhaseOps[] {
  const owner = new Uint8Array(workload.count);
  const counts = new Array<number>(threads).fill(0);
  for (let index = 0; index < workload.count; index++) {
    const thread = threadOfKey(workload.keyHi[index]!, workload.keyLo[index]!, threads);
    owner[index] = thread;
    counts[thread]!++;
  }
  const partitions = counts.map((count) => sharedOps(count));
  const filled = new Array<number>(threads).fill(0);
  for (let index = 0; index < workload.count; index++) {
    const thread = owner[index]!;
    const partition = partitions[thread]!;
    const at = filled[thread]!++;
    partition.ops[at] = workload.ops[index]!;
    partition.keyHi[at] = workload.keyHi[index]!;
    partition.keyLo[at] = workload.keyLo[index]!;
    partition.valueHi[at] = workload.valueHi[index]!;
    partition.valueLo[at] = workload.valueLo[index]!;
  }
  return partitions;
}

export function threadOfKey(keyHi: number, keyLo: number, threads: number): number {
  let hash = Math.imul(keyLo ^ Math.imul(keyHi, 0x85ebca6b), 0x9e3779b1);
  hash ^= hash >>> 16;
  return Math.floor(((hash >>> 0) * threads) / 4294967296);
}

function sharedOps(count: number): PhaseOps {
  const words = () => new Uint32Array(new SharedArrayBuffer(count * 4));
  return {
    count,
    ops: new Uint8Array(new SharedArrayBuffer(count)),
    keyHi: words(),
    keyLo: words(),
    valueHi: words(),
    valueLo: words(),
    scanLengths: undefined,
  };
}
