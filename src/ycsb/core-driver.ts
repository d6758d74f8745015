import { performance } from 'node:perf_hooks';
import { StrataError } from '../errors.js';
import { buildRecord, KeyBuilder, patchRecord, ReadChecksum } from './core-record.js';
import {
  type CoreRun,
  type CoreWorkloadName,
  generateCoreRun,
  OP_INSERT,
  OP_READ,
  OP_READ_MODIFY_WRITE,
  OP_SCAN,
  OP_UPDATE,
} from './core-workload.js';
import type { LatencySummary } from './driver.js';
import type { KeyDistribution } from './key-choosers.js';
import { KV_DURABILITY, type KvEngine, type KvEngineName, openKvEngine } from './kv-engines.js';
import { createLatencyHistogram, measureClockOverheadNs, recordSamples } from './latency.js';
import { createSampleBuffer, isPowerOfTwo } from './phase-loop.js';

/**
 * Runs YCSB core workloads on one or more engines, one engine at a time in this process: open,
 * load `recordCount` records (one insert per record, key numbers in order), run each workload's
 * transaction phase in the order given on the same database, close. Every engine runs the same
 * generated operations (they depend only on the seed), so their checksums must agree.
 *
 * How a YCSB operation maps onto the KvEngine calls (YCSB's RocksDB binding does the same):
 * - read: `get` of the whole record (readallfields=true);
 * - update (writeallfields=false): `get`, replace the one chosen field, `put` the whole record;
 * - insert: `put` of a new record with all fields;
 * - scan: `scan` of 1 … 100 records from the start key (all fields);
 * - read-modify-write: `get` (the read, counted in the checksum), then the update of one field
 *   patches the record just read and `put`s it (one get, not two).
 * A workload that inserts (D, E) grows the record count the next workload starts from.
 */
export interface CoreDriverOptions {
  readonly engines: readonly KvEngineName[];
  readonly workloads: readonly CoreWorkloadName[];
  readonly recordCount: number;
  /** Operations per workload; `operationCounts` overrides it per workload. */
  readonly operationCount: number;
  readonly operationCounts?: Partial<Record<CoreWorkloadName, number>>;
  readonly seed: number;
  readonly distribution?: KeyDistribution;
  /** Time every n-th op (a power of two, op index % n == 0). Default 8. */
  readonly latencySampleEvery?: number;
  /** Engine directories are `<dir>/<engine>`, kept; default: temp directories, removed. */
  readonly dir?: string;
  readonly log?: (line: string) => void;
}

export interface CoreVerification {
  readonly readMisses: number;
  readonly updateMisses: number;
  readonly recordsRead: number;
  readonly badRecords: number;
  /** Fold of the field tags of every record read, in order (core-record.ts). */
  readonly checksum: string;
}

export interface CorePhaseResult {
  /** 'load' or the workload letter. */
  readonly phase: 'load' | CoreWorkloadName;
  readonly ops: number;
  /** Operations per kind, indexed by OP_* (the load: all INSERT). */
  readonly kindCounts: readonly number[];
  readonly elapsedMs: number;
  readonly opsPerSecond: number;
  readonly latency: LatencySummary;
  readonly verification: CoreVerification;
}

export interface CoreEngineResult {
  readonly engine: KvEngineName;
  readonly label: string;
  readonly durability: string;
  readonly phases: readonly CorePhaseResult[];
}

export interface CoreResult {
  readonly recordCount: number;
  readonly seed: number;
  readonly clockOverheadNs: number;
  readonly engines: readonly CoreEngineResult[];
}

export async function runCoreWorkloads(options: CoreDriverOptions): Promise<CoreResult> {
  const sampleEvery = options.latencySampleEvery ?? 8;
  if (!isPowerOfTwo(sampleEvery)) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      'the latency sample interval must be a power of two',
    );
  }
  if (options.engines.length === 0 || options.workloads.length === 0) {
    throw new StrataError('ERR_INVALID_ARGUMENT', 'give at least one engine and one workload');
  }
  const log = options.log ?? (() => {});
  const runs = generateRuns(options);
  const clockOverheadNs = measureClockOverheadNs();
  const keys = new KeyBuilder();
  const engines: CoreEngineResult[] = [];
  for (const name of options.engines) {
    const dirOption = options.dir === undefined ? {} : { dir: `${options.dir}/${name}` };
    const engine = await openKvEngine(name, dirOption);
    try {
      const phases: CorePhaseResult[] = [];
      log(`${engine.label}: load ${options.recordCount} records`);
      phases.push(await runLoad(engine, { keys, recordCount: options.recordCount, sampleEvery }));
      for (const run of runs) {
        await engine.settle();
        log(`${engine.label}: workload ${run.workload}, ${run.count} operations`);
        phases.push(await runTransactions(engine, { keys, run, sampleEvery }));
      }
      engines.push({
        engine: name,
        label: engine.label,
        durability: KV_DURABILITY[name],
        phases,
      });
    } finally {
      await engine.close();
    }
  }
  return { recordCount: options.recordCount, seed: options.seed, clockOverheadNs, engines };
}

/** The workloads' operations, generated before any engine runs; inserts grow the next count. */
function generateRuns(options: CoreDriverOptions): CoreRun[] {
  const runs: CoreRun[] = [];
  let recordCount = options.recordCount;
  for (const workload of options.workloads) {
    const run = generateCoreRun({
      workload,
      recordCount,
      operationCount: options.operationCounts?.[workload] ?? options.operationCount,
      seed: options.seed,
      ...(options.distribution === undefined ? {} : { distribution: options.distribution }),
    });
    runs.push(run);
    recordCount += run.kindCounts[OP_INSERT]!;
  }
  return runs;
}

interface PhaseCounters {
  readMisses: number;
  updateMisses: number;
}

async function runLoad(
  engine: KvEngine,
  context: {
    readonly keys: KeyBuilder;
    readonly recordCount: number;
    readonly sampleEvery: number;
  },
): Promise<CorePhaseResult> {
  const { keys, recordCount, sampleEvery } = context;
  const mask = sampleEvery - 1;
  const samplesNs = createSampleBuffer(recordCount, sampleEvery);
  const checksum = new ReadChecksum();
  const startedMs = performance.now();
  for (let keynum = 0; keynum < recordCount; keynum++) {
    const timed = (keynum & mask) === 0;
    const opStartedMs = timed ? performance.now() : 0;
    const pending = engine.put(keys.keyOf(keynum), buildRecord(keynum, 0));
    if (pending !== undefined) await pending;
    if (timed) samplesNs[keynum / sampleEvery] = (performance.now() - opStartedMs) * 1e6;
  }
  const elapsedMs = performance.now() - startedMs;
  return phaseResult('load', {
    ops: recordCount,
    kindCounts: [0, 0, recordCount, 0, 0],
    elapsedMs,
    samplesNs,
    sampleEvery,
    counters: { readMisses: 0, updateMisses: 0 },
    checksum,
  });
}

async function runTransactions(
  engine: KvEngine,
  context: { readonly keys: KeyBuilder; readonly run: CoreRun; readonly sampleEvery: number },
): Promise<CorePhaseResult> {
  const { keys, run, sampleEvery } = context;
  for (let index = 0; index < run.count; index++) {
    if (run.kinds[index] !== OP_INSERT) keys.keyOf(run.keynums[index]!); // keys built untimed
  }
  const mask = sampleEvery - 1;
  const samplesNs = createSampleBuffer(run.count, sampleEvery);
  const checksum = new ReadChecksum();
  const counters: PhaseCounters = { readMisses: 0, updateMisses: 0 };
  const startedMs = performance.now();
  for (let index = 0; index < run.count; index++) {
    const timed = (index & mask) === 0;
    const opStartedMs = timed ? performance.now() : 0;
    const keynum = run.keynums[index]!;
    const key = keys.keyOf(keynum);
    const version = run.salt * 4294967296 + index + 1;
    switch (run.kinds[index]) {
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
        if (run.kinds[index] === OP_READ_MODIFY_WRITE) checksum.add(record);
        const next = patchRecord(record, { keynum, field: run.arguments[index]!, version });
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
        const visited = engine.scan(key, run.arguments[index]!, checksum);
        if (typeof visited !== 'number') await visited;
        break;
      }
    }
    if (timed) samplesNs[index / sampleEvery] = (performance.now() - opStartedMs) * 1e6;
  }
  const elapsedMs = performance.now() - startedMs;
  return phaseResult(run.workload, {
    ops: run.count,
    kindCounts: run.kindCounts,
    elapsedMs,
    samplesNs,
    sampleEvery,
    counters,
    checksum,
  });
}

function phaseResult(
  phase: 'load' | CoreWorkloadName,
  measured: {
    readonly ops: number;
    readonly kindCounts: readonly number[];
    readonly elapsedMs: number;
    readonly samplesNs: Float64Array;
    readonly sampleEvery: number;
    readonly counters: PhaseCounters;
    readonly checksum: ReadChecksum;
  },
): CorePhaseResult {
  const histogram = createLatencyHistogram();
  try {
    recordSamples(histogram, measured.samplesNs);
    const { ops, elapsedMs, checksum } = measured;
    return {
      phase,
      ops,
      kindCounts: [...measured.kindCounts],
      elapsedMs,
      opsPerSecond: elapsedMs > 0 ? Math.round((ops * 1000) / elapsedMs) : 0,
      latency: {
        sampleEvery: measured.sampleEvery,
        samples: histogram.totalCount,
        p50Ns: histogram.getValueAtPercentile(50),
        p99Ns: histogram.getValueAtPercentile(99),
        p999Ns: histogram.getValueAtPercentile(99.9),
        maxNs: histogram.maxValue,
        meanNs: Math.round(histogram.mean),
      },
      verification: {
        readMisses: measured.counters.readMisses,
        updateMisses: measured.counters.updateMisses,
        recordsRead: checksum.records,
        badRecords: checksum.badRecords,
        checksum: checksum.hex(),
      },
    };
  } finally {
    histogram.destroy();
  }
}
