/**
 * Per-operation micro-benchmarks (tinybench): insert, search hit, search miss, update and remove
 * on ehash (mapped and emulated backends) and on the Map baseline, through the same u64 engine
 * adapter the YCSB driver uses. Each table holds a fixed set of keys; every timed call runs
 * 1,000 operations, and the insert and remove tasks undo their work outside the timed call
 * (tinybench's afterEach / beforeEach), so the table size stays put.
 *
 *   node dist/bench/ehash-micro.js        (after `npm run build`; STRATA_BENCH_QUICK=1: seconds)
 */
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import { assert } from '../src/assert.js';
import {
  type EngineName,
  type EngineOptions,
  openEngine,
  type SyncU64Engine,
} from '../src/ycsb/engines.js';
import { formatCount, renderMarkdownTable, renderTable } from '../src/ycsb/text-table.js';

export interface MicroOptions {
  readonly quick: boolean;
  readonly log?: (line: string) => void;
}

export interface MicroResult {
  readonly engine: string;
  readonly operation: string;
  readonly nsPerOp: number;
}

export interface MicroReport {
  readonly results: readonly MicroResult[];
  readonly text: string;
  readonly markdown: string;
}

const OPS_PER_CALL = 1_000;
/** Measured separately: a 200 k-entry Map under this churn costs ~1.4 µs per set, fresh ~0.3 µs. */
const MAP_CHURN_NOTE =
  "Map's insert includes V8 rehashing the deleted entries that each insert/remove cycle leaves " +
  'behind (a periodic pause of tens of ms); a Map that only grows inserts in ~0.3 µs.';
const OPERATIONS = ['insert', 'search hit', 'search miss', 'update', 'remove'] as const;
/** Key index ranges: present keys [0, N), fresh inserts from 2^30, misses from 2^31. */
const FRESH_BASE = 2 ** 30;
const MISS_BASE = 2 ** 31;

const SUBJECTS: readonly { label: string; engine: EngineName; options: EngineOptions }[] = [
  { label: 'ehash (mapped)', engine: 'ehash', options: { backend: 'mapped' } },
  { label: 'ehash (emulated)', engine: 'ehash', options: { backend: 'emulated' } },
  { label: 'Map', engine: 'map', options: {} },
];

export async function runEhashMicro(options: MicroOptions): Promise<MicroReport> {
  const log = options.log ?? (() => {});
  const keyCount = options.quick ? 5_000 : 200_000;
  const results: MicroResult[] = [];
  for (const subject of SUBJECTS) {
    log(`ehash-micro: ${subject.label}`);
    const engine = await openEngine(subject.engine, subject.options);
    try {
      assert(engine.mode === 'sync');
      for (const [operation, nsPerOp] of benchEngine(engine, keyCount, options.quick)) {
        results.push({ engine: subject.label, operation, nsPerOp });
      }
    } finally {
      await engine.close();
    }
  }
  const headers = [
    'operation',
    ...SUBJECTS.map((subject) => `${subject.label} ns/op`),
    'Map÷ehash (mapped)',
  ];
  const rows = OPERATIONS.map((operation) => {
    const cost = (label: string) =>
      results.find((result) => result.engine === label && result.operation === operation)
        ?.nsPerOp ?? Number.NaN;
    return [
      operation,
      ...SUBJECTS.map((subject) => cost(subject.label).toFixed(1)),
      `${(cost('Map') / cost('ehash (mapped)')).toFixed(2)}x`,
    ];
  });
  const title = `Micro-benchmarks, ${formatCount(keyCount)} keys in the table, ${OPS_PER_CALL} ops per timed call`;
  return {
    results,
    text: `${title}\n${renderTable(headers, rows)}\n${MAP_CHURN_NOTE}`,
    markdown: `### ${title}\n\n${renderMarkdownTable(headers, rows)}\n\n${MAP_CHURN_NOTE}`,
  };
}

/** Key i as (hi, lo): a bijective scramble of i, so keys spread like hashed input. */
function keyHi(index: number): number {
  return Math.floor(index / 2 ** 32) + 1;
}
function keyLo(index: number): number {
  return Math.imul(index >>> 0, 0x9e3779b1) >>> 0;
}

function benchEngine(engine: SyncU64Engine, keyCount: number, quick: boolean): Map<string, number> {
  for (let index = 0; index < keyCount; index++) {
    assert(engine.insert(keyHi(index), keyLo(index), 0, index));
  }
  const out = new Uint32Array(2);
  let cursor = 0;
  let version = 0;
  let sink = 0;
  const nextPresent = () => (cursor = cursor + 1 === keyCount ? 0 : cursor + 1);
  const insertFresh = () => {
    for (let op = 0; op < OPS_PER_CALL; op++) {
      const index = FRESH_BASE + op;
      if (!engine.insert(keyHi(index), keyLo(index), 1, op)) throw new Error('fresh insert failed');
    }
  };
  const removeFresh = () => {
    for (let op = 0; op < OPS_PER_CALL; op++) {
      const index = FRESH_BASE + op;
      if (!engine.remove(keyHi(index), keyLo(index))) throw new Error('fresh remove failed');
    }
  };
  const bench = new Bench({
    time: quick ? 30 : 700,
    warmupTime: quick ? 10 : 200,
    iterations: quick ? 4 : 32,
  });
  bench
    .add('insert', insertFresh, { afterEach: removeFresh })
    .add('search hit', () => {
      for (let op = 0; op < OPS_PER_CALL; op++) {
        const index = nextPresent();
        if (engine.read(keyHi(index), keyLo(index), out)) sink += out[0]!;
      }
    })
    .add('search miss', () => {
      for (let op = 0; op < OPS_PER_CALL; op++) {
        const index = MISS_BASE + nextPresent();
        if (engine.read(keyHi(index), keyLo(index), out)) sink += 1;
      }
    })
    .add('update', () => {
      version++;
      for (let op = 0; op < OPS_PER_CALL; op++) {
        const index = nextPresent();
        engine.update(keyHi(index), keyLo(index), version, index);
      }
    })
    .add('remove', removeFresh, { beforeEach: insertFresh });
  bench.runSync();
  if (sink === -1) process.stdout.write(''); // keeps the reads observable
  const costs = new Map<string, number>();
  for (const task of bench.tasks) {
    const result = task.result;
    if (result.state === 'errored') throw result.error;
    assert(result.state === 'completed', `bench task ${task.name}: ${result.state}`);
    // period: mean milliseconds per task call of OPS_PER_CALL operations.
    costs.set(task.name, (result.period * 1e6) / OPS_PER_CALL);
  }
  return costs;
}

async function main(): Promise<void> {
  const report = await runEhashMicro({
    quick: process.env['STRATA_BENCH_QUICK'] === '1',
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${report.text}\n`);
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) await main();
