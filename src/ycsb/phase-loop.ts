import { performance } from 'node:perf_hooks';
import { assert } from '../assert.js';
import type { AsyncU64Engine, SyncU64Engine } from './engines.js';
import type { OpOrder } from './op-order.js';
import { U64Sum } from './u64-sum.js';
import { Op } from './workload.js';

/** The operations of one phase (a whole workload, or one thread's partition of it). */
export interface PhaseOps {
  readonly count: number;
  readonly ops: Uint8Array;
  readonly keyHi: Uint32Array;
  readonly keyLo: Uint32Array;
  readonly valueHi: Uint32Array;
  readonly valueLo: Uint32Array;
  readonly scanLengths: Uint32Array | undefined;
}

/** What a phase observed; summed over threads by the parallel driver. */
export interface PhaseCounters {
  ops: number;
  failedInserts: number;
  readMisses: number;
  updateMisses: number;
  removeMisses: number;
  scanRecords: number;
  /** Sum of every value read (READ hits and scanned records) modulo 2^64. */
  checksumHi: number;
  checksumLo: number;
}

export interface LoopOptions {
  /**
   * Time op i when i % sampleEvery === 0 (a power of two). Timing every op of a ~300 ns
   * operation would add two clock reads (~90 ns) to each, so sync engines sample. Samples are
   * kept in a Float64Array and recorded into the histogram after the loop.
   */
  readonly sampleEvery: number;
  /** Receives sample k (op k * sampleEvery) in ns; from `createSampleBuffer`. */
  readonly samplesNs: Float64Array;
  /** Called after each chunk of operations with the number done so far. */
  readonly onProgress?: (done: number) => void;
}

/** Operations between progress callbacks. */
export const PROGRESS_CHUNK_OPS = 16_384;

export function emptyCounters(): PhaseCounters {
  return {
    ops: 0,
    failedInserts: 0,
    readMisses: 0,
    updateMisses: 0,
    removeMisses: 0,
    scanRecords: 0,
    checksumHi: 0,
    checksumLo: 0,
  };
}

export function addCounters(total: PhaseCounters, part: PhaseCounters): void {
  total.ops += part.ops;
  total.failedInserts += part.failedInserts;
  total.readMisses += part.readMisses;
  total.updateMisses += part.updateMisses;
  total.removeMisses += part.removeMisses;
  total.scanRecords += part.scanRecords;
  const sum = new U64Sum();
  sum.add(total.checksumHi, total.checksumLo);
  sum.add(part.checksumHi, part.checksumLo);
  total.checksumHi = sum.hi;
  total.checksumLo = sum.lo;
}

/** Runs every operation against a synchronous engine on this thread. */
export function runSyncOps(
  engine: SyncU64Engine,
  input: PhaseOps,
  options: LoopOptions,
): PhaseCounters {
  assert(isPowerOfTwo(options.sampleEvery));
  assert(options.samplesNs.length === sampleCount(input.count, options.sampleEvery));
  const state: ChunkState = {
    counters: emptyCounters(),
    sumHi: 0,
    sumLo: 0,
    out: new Uint32Array(2),
    scanned: new U64Sum(),
  };
  for (let chunkStart = 0; chunkStart < input.count; chunkStart += PROGRESS_CHUNK_OPS) {
    const chunkEnd = Math.min(input.count, chunkStart + PROGRESS_CHUNK_OPS);
    runSyncChunk(engine, input, options, state, chunkStart, chunkEnd);
    options.onProgress?.(chunkEnd);
  }
  return finishCounters(state.counters, input.count, state.sumHi, state.sumLo, state.scanned);
}

interface ChunkState {
  counters: PhaseCounters;
  sumHi: number;
  sumLo: number;
  readonly out: Uint32Array;
  readonly scanned: U64Sum;
}

/**
 * Operations [start, end) of a phase. A function of its own, called once per chunk, so that V8
 * optimises it as a whole function: the timed phase then enters optimised code at its first
 * call (after the warm-up) instead of waiting for on-stack replacement, which on a 2-core
 * machine with both cores busy can take tens of milliseconds.
 */
function runSyncChunk(
  engine: SyncU64Engine,
  input: PhaseOps,
  options: LoopOptions,
  state: ChunkState,
  start: number,
  end: number,
): void {
  const { ops, keyHi, keyLo, valueHi, valueLo } = input;
  const mask = options.sampleEvery - 1;
  const shift = 31 - Math.clz32(options.sampleEvery);
  const samplesNs = options.samplesNs;
  const counters = state.counters;
  const out = state.out;
  let sumHi = state.sumHi;
  let sumLo = state.sumLo;
  for (let index = start; index < end; index++) {
    const timed = (index & mask) === 0;
    const startedMs = timed ? performance.now() : 0;
    const op = ops[index];
    const hi = keyHi[index]!;
    const lo = keyLo[index]!;
    if (op === Op.read) {
      if (engine.read(hi, lo, out)) {
        sumLo += out[0]!;
        if (sumLo >= 4294967296) {
          sumLo -= 4294967296;
          sumHi = (sumHi + 1) >>> 0;
        }
        sumHi = (sumHi + out[1]!) >>> 0;
      } else {
        counters.readMisses++;
      }
    } else if (op === Op.insert) {
      if (!engine.insert(hi, lo, valueHi[index]!, valueLo[index]!)) counters.failedInserts++;
    } else if (op === Op.update) {
      if (!engine.update(hi, lo, valueHi[index]!, valueLo[index]!)) counters.updateMisses++;
    } else if (op === Op.remove) {
      if (!engine.remove(hi, lo)) counters.removeMisses++;
    } else {
      assert(op === Op.scan && engine.scan !== undefined, 'scan support checked before the run');
      counters.scanRecords += engine.scan(hi, lo, input.scanLengths?.[index] ?? 0, state.scanned);
    }
    if (timed) samplesNs[index >>> shift] = (performance.now() - startedMs) * 1e6;
  }
  state.sumHi = sumHi;
  state.sumLo = sumLo;
}

/**
 * Runs every operation against an asynchronous engine, awaiting each in order. `order` (a
 * partition of a phase with scans and writes on a worker thread, op-order.ts) holds each scan
 * and write until the other threads are past its index; the wait is outside the timed span.
 */
export async function runAsyncOps(
  engine: AsyncU64Engine,
  input: PhaseOps & { readonly opIndices?: Uint32Array | undefined },
  options: LoopOptions,
  order?: OpOrder,
): Promise<PhaseCounters> {
  assert(isPowerOfTwo(options.sampleEvery));
  const { ops, keyHi, keyLo, valueHi, valueLo, count } = input;
  const mask = options.sampleEvery - 1;
  const shift = Math.log2(options.sampleEvery);
  const samplesNs = options.samplesNs;
  assert(samplesNs.length === sampleCount(count, options.sampleEvery));
  const out = new Uint32Array(2);
  const values = new U64Sum();
  const counters = emptyCounters();
  const opIndices = input.opIndices;
  for (let index = 0; index < count; index++) {
    const op = ops[index];
    if (order !== undefined && op !== Op.read) {
      assert(opIndices !== undefined, 'an ordered partition keeps its ops’ indices');
      if (op === Op.scan) order.beforeScan(opIndices[index]!);
      else order.beforeWrite(opIndices[index]!);
    }
    const timed = (index & mask) === 0;
    const startedMs = timed ? performance.now() : 0;
    const hi = keyHi[index]!;
    const lo = keyLo[index]!;
    if (op === Op.read) {
      if (await engine.read(hi, lo, out)) values.add(out[1]!, out[0]!);
      else counters.readMisses++;
    } else if (op === Op.insert) {
      if (!(await engine.insert(hi, lo, valueHi[index]!, valueLo[index]!)))
        counters.failedInserts++;
    } else if (op === Op.update) {
      if (!(await engine.update(hi, lo, valueHi[index]!, valueLo[index]!))) counters.updateMisses++;
    } else if (op === Op.remove) {
      if (!(await engine.remove(hi, lo))) counters.removeMisses++;
    } else {
      assert(op === Op.scan && engine.scan !== undefined, 'scan support checked before the run');
      counters.scanRecords += await engine.scan(hi, lo, input.scanLengths?.[index] ?? 0, values);
    }
    if (timed) samplesNs[index >>> shift] = (performance.now() - startedMs) * 1e6;
    if (order !== undefined && op !== Op.read) {
      if (op === Op.scan) order.afterScan();
      else order.afterWrite();
    }
    if ((index + 1) % PROGRESS_CHUNK_OPS === 0) options.onProgress?.(index + 1);
  }
  options.onProgress?.(count);
  return finishCounters(counters, count, 0, 0, values);
}

/** Reads per thread run untimed before each phase of a sync engine (see `warmUpReads`). */
export const WARM_UP_READS = 32_768;

/**
 * Runs up to WARM_UP_READS READs of the phase's own keys through the same loop, untimed, and
 * throws the results away. Reads change nothing, so the phase's results are unaffected; what it
 * warms is the JIT: a run phase is often the first time a thread reads (the load only inserts),
 * and on a 2-core machine with both cores busy, V8's background compiler gets no CPU, so a short
 * phase would otherwise measure mostly unoptimised code. Every engine and thread count gets the
 * same warm-up.
 */
export function warmUpReads(engine: SyncU64Engine, input: PhaseOps): void {
  const count = Math.min(WARM_UP_READS, input.count);
  if (count === 0) return;
  // Spread first so the object has the same shape (hidden class) as the real input: a different
  // one would make the loop polymorphic and deoptimise it at the start of the timed phase.
  const reads: PhaseOps = {
    ...input,
    count,
    ops: new Uint8Array(count).fill(Op.read),
    keyHi: input.keyHi.slice(0, count),
    keyLo: input.keyLo.slice(0, count),
    valueHi: new Uint32Array(count),
    valueLo: new Uint32Array(count),
  };
  const sampleEvery = 1024;
  // The same option shape as the drivers pass, for the same reason.
  runSyncOps(engine, reads, {
    sampleEvery,
    samplesNs: createSampleBuffer(count, sampleEvery),
    onProgress: ignoreProgress,
  });
}

function ignoreProgress(_done: number): void {}

/** The buffer the loops fill: one slot per timed op. */
export function createSampleBuffer(count: number, sampleEvery: number): Float64Array {
  return new Float64Array(sampleCount(count, sampleEvery));
}

function sampleCount(count: number, sampleEvery: number): number {
  return Math.ceil(count / sampleEvery);
}

function finishCounters(
  counters: PhaseCounters,
  count: number,
  sumHi: number,
  sumLo: number,
  more: U64Sum,
): PhaseCounters {
  const sum = new U64Sum();
  sum.add(sumHi, sumLo);
  sum.addSum(more);
  counters.ops = count;
  counters.checksumHi = sum.hi;
  counters.checksumLo = sum.lo;
  return counters;
}

export function isPowerOfTwo(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && (value & (value - 1)) === 0;
}
