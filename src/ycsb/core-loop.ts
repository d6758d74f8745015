import { performance } from 'node:perf_hooks';
import { buildRecord, type KeyBuilder, patchRecord, ReadChecksum } from './core-record.js';
import {
  type CoreWorkloadName,
  OP_INSERT,
  OP_READ,
  OP_READ_MODIFY_WRITE,
  OP_SCAN,
  OP_UPDATE,
} from './core-workload.js';
import type { KvEngine } from './kv-engines.js';
import type { OpOrder } from './op-order.js';
import { PROGRESS_CHUNK_OPS } from './phase-loop.js';

/**
 * The hot loops of the YCSB core workloads (the mapping of YCSB operations onto KvEngine calls
 * is described in core-driver.ts), shared by the main thread and the worker threads. A loop
 * runs a whole phase or one thread's partition of it; either way each op knows its index in
 * the phase, which names the versions it writes and seeds the checksum of what it reads, so a
 * partitioned phase gives the same figures as one thread.
 */

/** The records of a load phase (or a thread's share): key numbers, each inserted once. */
export interface CoreLoadOps {
  readonly count: number;
  /** Ascending; undefined means 0 … count - 1 (the whole load on one thread). */
  readonly keynums: Uint32Array | undefined;
}

/** A transaction phase (a CoreRun) or a thread's share of one, in phase order. */
export interface CoreRunOps {
  readonly workload: CoreWorkloadName;
  readonly salt: number;
  readonly count: number;
  readonly kinds: Uint8Array;
  readonly keynums: Uint32Array;
  readonly arguments: Uint8Array;
  /** Phase op index of each op; absent means position = op index (the whole phase). */
  readonly opIndices?: Uint32Array;
}

/** What a phase observed; summed over threads by the parallel driver. */
export interface CoreCounters {
  readMisses: number;
  updateMisses: number;
  recordsRead: number;
  badRecords: number;
  /** ReadChecksum's value: a sum mod 2^32, so threads' parts add up. */
  checksum: number;
}

export interface CoreLoopOptions {
  /** Time op i when i % sampleEvery === 0 (i = position in this list; a power of two). */
  readonly sampleEvery: number;
  /** One slot per timed op, from `createSampleBuffer`. */
  readonly samplesNs: Float64Array;
  readonly onProgress?: (done: number) => void;
  /** Cross-thread order of scans and writes (op-order.ts); only for partitioned phases. */
  readonly order?: OpOrder;
}

export function emptyCoreCounters(): CoreCounters {
  return { readMisses: 0, updateMisses: 0, recordsRead: 0, badRecords: 0, checksum: 0 };
}

export function addCoreCounters(total: CoreCounters, part: CoreCounters): void {
  total.readMisses += part.readMisses;
  total.updateMisses += part.updateMisses;
  total.recordsRead += part.recordsRead;
  total.badRecords += part.badRecords;
  total.checksum = (total.checksum + part.checksum) >>> 0;
}

/** Inserts every record of `ops` (version 0), one put each, awaited when the engine is async. */
export async function runCoreLoad(
  engine: KvEngine,
  keys: KeyBuilder,
  ops: CoreLoadOps,
  options: CoreLoopOptions,
): Promise<void> {
  const { sampleEvery, samplesNs } = options;
  const mask = sampleEvery - 1;
  for (let position = 0; position < ops.count; position++) {
    const timed = (position & mask) === 0;
    const startedMs = timed ? performance.now() : 0;
    const keynum = ops.keynums === undefined ? position : ops.keynums[position]!;
    const pending = engine.put(keys.keyOf(keynum), buildRecord(keynum, 0));
    if (pending !== undefined) await pending;
    if (timed) samplesNs[position / sampleEvery] = (performance.now() - startedMs) * 1e6;
    if ((position + 1) % PROGRESS_CHUNK_OPS === 0) options.onProgress?.(position + 1);
  }
  options.onProgress?.(ops.count);
}

/** Builds the keys of every op that is not an insert, so the timed loop finds them cached. */
export function buildRunKeys(keys: KeyBuilder, ops: CoreRunOps): void {
  for (let position = 0; position < ops.count; position++) {
    if (ops.kinds[position] !== OP_INSERT) keys.keyOf(ops.keynums[position]!);
  }
}

/** Runs the ops of a transaction phase in order, each awaited before the next. */
export async function runCoreOps(
  engine: KvEngine,
  keys: KeyBuilder,
  ops: CoreRunOps,
  options: CoreLoopOptions,
): Promise<CoreCounters> {
  const { sampleEvery, samplesNs, order } = options;
  const mask = sampleEvery - 1;
  const checksum = new ReadChecksum();
  const counters = emptyCoreCounters();
  for (let position = 0; position < ops.count; position++) {
    const kind = ops.kinds[position];
    const opIndex = ops.opIndices === undefined ? position : ops.opIndices[position]!;
    if (order !== undefined) {
      if (kind === OP_SCAN) order.beforeScan(opIndex);
      else if (kind !== OP_READ) order.beforeWrite(opIndex);
    }
    const timed = (position & mask) === 0;
    const startedMs = timed ? performance.now() : 0;
    const keynum = ops.keynums[position]!;
    const key = keys.keyOf(keynum);
    const version = ops.salt * 4294967296 + opIndex + 1;
    checksum.startOp(opIndex);
    switch (kind) {
      case OP_READ: {
        const record = engine.get(key);
        if (record === undefined) counters.readMisses++;
        else checksum.add(record);
        break;
      }
      case OP_UPDATE:
      case OP_READ_MODIFY_WRITE: {
        const record = engine.get(key);
        if (record === undefined) {
          counters.updateMisses++;
          break;
        }
        if (kind === OP_READ_MODIFY_WRITE) checksum.add(record);
        const next = patchRecord(record, { keynum, field: ops.arguments[position]!, version });
        const pending = engine.put(key, next);
        if (pending !== undefined) await pending;
        break;
      }
      case OP_INSERT: {
        const pending = engine.put(key, buildRecord(keynum, version));
        if (pending !== undefined) await pending;
        break;
      }
      case OP_SCAN: {
        const visited = engine.scan(key, ops.arguments[position]!, checksum);
        if (typeof visited !== 'number') await visited;
        break;
      }
    }
    if (timed) samplesNs[position / sampleEvery] = (performance.now() - startedMs) * 1e6;
    if (order !== undefined) {
      if (kind === OP_SCAN) order.afterScan();
      else if (kind !== OP_READ) order.afterWrite();
    }
    if ((position + 1) % PROGRESS_CHUNK_OPS === 0) options.onProgress?.(position + 1);
  }
  options.onProgress?.(ops.count);
  counters.recordsRead = checksum.records;
  counters.badRecords = checksum.badRecords;
  counters.checksum = checksum.value;
  return counters;
}

/** How the cross-thread order classifies a core op. */
export function coreOrderKind(kind: number): 'write' | 'scan' | 'other' {
  if (kind === OP_SCAN) return 'scan';
  return kind === OP_READ ? 'other' : 'write';
}
