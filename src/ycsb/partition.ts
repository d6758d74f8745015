import { assert } from '../assert.js';
import type { CoreLoadOps, CoreRunOps } from './core-loop.js';
import type { CoreRun } from './core-workload.js';
import type { PartitionOps } from './parallel-layout.js';
import type { Workload } from './workload.js';

/**
 * Splits a workload into per-thread operation lists in SharedArrayBuffers, keeping each key on
 * one thread (a multiplicative hash of the key picks the thread) and the file order per thread.
 * `ordered` also records each op's index in the workload (for op-order.ts).
 */
export function partitionByKey(
  workload: Workload,
  threads: number,
  options: { readonly ordered?: boolean } = {},
): PartitionOps[] {
  const owner = new Uint8Array(workload.count);
  const counts = new Array<number>(threads).fill(0);
  for (let index = 0; index < workload.count; index++) {
    const thread = threadOfKey(workload.keyHi[index]!, workload.keyLo[index]!, threads);
    owner[index] = thread;
    counts[thread]!++;
  }
  const withScans = workload.scanLengths !== undefined;
  const ordered = options.ordered === true;
  const partitions = counts.map((count) => sharedOps(count, { withScans, ordered }));
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
    if (partition.scanLengths !== undefined)
      partition.scanLengths[at] = workload.scanLengths![index]!;
    if (partition.opIndices !== undefined) partition.opIndices[at] = index;
  }
  return partitions;
}

export function threadOfKey(keyHi: number, keyLo: number, threads: number): number {
  let hash = Math.imul(keyLo ^ Math.imul(keyHi, 0x85ebca6b), 0x9e3779b1);
  hash ^= hash >>> 16;
  return Math.floor(((hash >>> 0) * threads) / 4294967296);
}

/**
 * The core load's key numbers 0 … recordCount - 1, dealt round-robin (each is inserted once, so
 * this is the even split; the run phases choose their own split).
 */
export function partitionCoreLoad(recordCount: number, threads: number): CoreLoadOps[] {
  const lists = Array.from(
    { length: threads },
    (_, thread) =>
      new Uint32Array(
        new SharedArrayBuffer(Math.max(0, Math.ceil((recordCount - thread) / threads)) * 4),
      ),
  );
  for (let keynum = 0; keynum < recordCount; keynum++) {
    lists[keynum % threads]![Math.floor(keynum / threads)] = keynum;
  }
  return lists.map((keynums) => ({ count: keynums.length, keynums }));
}

/**
 * A core transaction phase split by the key number of each op (the record read or written, the
 * scan's start), keeping the phase order per thread and each op's phase index. The keys are
 * dealt by how many ops each has, heaviest first, each to the thread with the fewest ops so
 * far: with zipfian choice a handful of keys carry a few percent of the ops each, and a hash
 * split would leave one thread ~10 % more to do (the phase lasts as long as the slowest).
 */
export function partitionCoreRun(run: CoreRun, threads: number): CoreRunOps[] {
  assert(run.count <= 0xffffffff);
  const owner = balancedOwners(run.keynums, run.count, threads);
  const lists = splitByOwner(run.count, threads, (index) => owner[run.keynums[index]!]!);
  return lists.map((opIndices) => {
    const count = opIndices.length;
    const kinds = new Uint8Array(new SharedArrayBuffer(count));
    const keynums = new Uint32Array(new SharedArrayBuffer(count * 4));
    const args = new Uint8Array(new SharedArrayBuffer(count));
    for (let at = 0; at < count; at++) {
      const index = opIndices[at]!;
      kinds[at] = run.kinds[index]!;
      keynums[at] = run.keynums[index]!;
      args[at] = run.arguments[index]!;
    }
    return {
      workload: run.workload,
      salt: run.salt,
      count,
      kinds,
      keynums,
      arguments: args,
      opIndices,
    };
  });
}

/** Thread of each key number (indexed by key number), dealt heaviest key first (LPT). */
function balancedOwners(keynums: Uint32Array, count: number, threads: number): Uint8Array {
  assert(threads >= 1 && threads <= 256);
  let keynumMax = 0;
  for (let index = 0; index < count; index++) keynumMax = Math.max(keynumMax, keynums[index]!);
  const opsPerKey = new Uint32Array(keynumMax + 1);
  for (let index = 0; index < count; index++) opsPerKey[keynums[index]!]!++;
  const used: number[] = [];
  for (let keynum = 0; keynum <= keynumMax; keynum++) if (opsPerKey[keynum]! > 0) used.push(keynum);
  // Ties by key number, so the split is a function of the run alone.
  used.sort((left, right) => opsPerKey[right]! - opsPerKey[left]! || left - right);
  const owner = new Uint8Array(keynumMax + 1);
  const load = new Array<number>(threads).fill(0);
  for (const keynum of used) {
    let lightest = 0;
    for (let thread = 1; thread < threads; thread++) {
      if (load[thread]! < load[lightest]!) lightest = thread;
    }
    owner[keynum] = lightest;
    load[lightest]! += opsPerKey[keynum]!;
  }
  return owner;
}

/** Per thread, the ascending indices i < count that `ownerOf(i)` gives it. */
function splitByOwner(
  count: number,
  threads: number,
  ownerOf: (index: number) => number,
): Uint32Array[] {
  const owner = new Uint8Array(count);
  const counts = new Array<number>(threads).fill(0);
  for (let index = 0; index < count; index++) {
    const thread = ownerOf(index);
    owner[index] = thread;
    counts[thread]!++;
  }
  const lists = counts.map((each) => new Uint32Array(new SharedArrayBuffer(each * 4)));
  const filled = new Array<number>(threads).fill(0);
  for (let index = 0; index < count; index++) {
    const thread = owner[index]!;
    lists[thread]![filled[thread]!++] = index;
  }
  return lists;
}

function sharedOps(
  count: number,
  options: { readonly withScans: boolean; readonly ordered: boolean },
): PartitionOps {
  const words = () => new Uint32Array(new SharedArrayBuffer(count * 4));
  return {
    count,
    ops: new Uint8Array(new SharedArrayBuffer(count)),
    keyHi: words(),
    keyLo: words(),
    valueHi: words(),
    valueLo: words(),
    scanLengths: options.withScans ? words() : undefined,
    opIndices: options.ordered ? words() : undefined,
  };
}
