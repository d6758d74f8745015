/**
 * The Strata engine (src/db/) against classic-level (LevelDB) and lmdb-js, all in this process,
 * one store at a time: (a) 1 KB puts, one awaited at a time and 64 in flight; (b) point gets of
 * random preloaded keys; (c) 100-record scans from a random preloaded key; then (d) group commit
 * under power-loss durability (Strata `sync: true`): one writer awaiting each put against 64
 * concurrent writers, beside lmdb and LevelDB in their sync modes and raw write + fdatasync.
 * Stores and their calls: engine-stores.ts; loops: timed-loop.ts.
 *
 *   node dist/bench/engine.js                   (after `npm run build`; prints the tables)
 *   node dist/bench/engine.js --write-results   (also replaces its section of bench/RESULTS.md)
 *   STRATA_BENCH_QUICK=1 node dist/bench/engine.js
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../src/package-root.js';
import { Prng } from '../src/ycsb/prng.js';
import { formatCount, renderMarkdownTable, renderTable } from '../src/ycsb/text-table.js';
import { type BenchStore, openStore, type StoreName } from './engine-stores.js';
import { measureSyncWrites, type RawFigures, type SyncFigures } from './engine-sync.js';
import { gitCommit } from './git-commit.js';
import { spliceSection } from './results-section.js';
import { type TimedResult, timeConcurrent, timeSerial, timeSync } from './timed-loop.js';

export interface EngineBenchReport {
  readonly text: string;
  readonly markdown: string;
}

export interface EngineBenchSizes {
  readonly preloadRecords: number;
  readonly readMs: number;
  readonly putMs: number;
  readonly syncMs: number;
  readonly warmUpMs: number;
  /** Each phase runs this many times per store, interleaved; the median counts. */
  readonly rounds: number;
}

export const KEY_BYTES = 16;
export const VALUE_BYTES = 1024;
export const WRITERS_IN_FLIGHT = 64;
const SCAN_RECORDS = 100;
/** Bounds the disk one put phase fills (300 MB of 1 KB values). */
const PUT_OPS_MAX = 300_000;
const UNBOUNDED = Number.MAX_SAFE_INTEGER;
/** Put phases write fresh keys from here on, above every preloaded index. */
const PUT_INDEX_BASE = 100_000_000;
const STORES: readonly StoreName[] = ['strata', 'lmdb', 'classic-level'];

/** Markers around this bench's section of bench/RESULTS.md, so it can be replaced alone. */
export const SECTION_BEGIN = '<!-- bench/engine.ts: begin -->';
export const SECTION_END = '<!-- bench/engine.ts: end -->';

export function engineBenchSizes(quick: boolean): EngineBenchSizes {
  return quick
    ? { preloadRecords: 2_000, rounds: 1, readMs: 100, putMs: 100, syncMs: 100, warmUpMs: 20 }
    : {
        preloadRecords: 100_000,
        rounds: 3,
        readMs: 2_100,
        putMs: 3_000,
        syncMs: 3_000,
        warmUpMs: 300,
      };
}

export interface PointFigures {
  readonly label: string;
  readonly putSerial: TimedResult;
  readonly putConcurrent: TimedResult;
  readonly get: TimedResult;
  readonly scan: TimedResult;
}

type PointPhase = 'get' | 'scan' | 'putSerial' | 'putConcurrent';
const POINT_PHASES: readonly PointPhase[] = ['get', 'scan', 'putSerial', 'putConcurrent'];

/** One open, preloaded store and the state its phases carry from round to round. */
interface Contender {
  readonly store: BenchStore;
  readonly keys: readonly Uint8Array[];
  readonly getPrng: Prng;
  readonly scanPrng: Prng;
  putIndex: number;
  readonly samples: Map<PointPhase, TimedResult[]>;
}

export async function runEngineBench(options: {
  readonly quick: boolean;
  readonly log?: (line: string) => void;
}): Promise<EngineBenchReport> {
  const log = options.log ?? (() => {});
  const sizes = engineBenchSizes(options.quick);
  const loadAtStart = loadavg();
  const point = await inTempDirs(STORES, (dirs) => measurePoint(dirs, sizes, log));
  log('engine: sync writes');
  const { sync, raw } = await inTempDirs([...STORES, 'raw'], (dirs) =>
    measureSyncWrites(STORES, dirs, sizes),
  );
  return renderReport({ quick: options.quick, sizes, point, sync, raw, loadAtStart });
}

/**
 * Opens and preloads every store, then runs each phase in `rounds` rounds, every store once per
 * round in a rotating order, and keeps the median round. The machine is shared: interleaving
 * spreads a burst of outside load over all stores instead of landing on one.
 */
async function measurePoint(
  dirs: readonly string[],
  sizes: EngineBenchSizes,
  log: (line: string) => void,
): Promise<Map<StoreName, PointFigures>> {
  const contenders: Contender[] = [];
  try {
    const keys = Array.from({ length: sizes.preloadRecords }, (_, index) => keyOf(index));
    for (const [index, name] of STORES.entries()) {
      log(`engine: ${name}, preloading ${formatCount(sizes.preloadRecords)} records`);
      const store = await openStore(name, dirs[index]!, { sync: false });
      contenders.push(contenderOf(store, keys));
      await store.preload(keys, VALUE);
      await store.settle();
    }
    for (const phase of POINT_PHASES) {
      for (let round = 0; round < sizes.rounds; round++) {
        log(`engine: ${phase}, round ${round + 1} of ${sizes.rounds}`);
        for (let turn = 0; turn < contenders.length; turn++) {
          const contender = contenders[(turn + round) % contenders.length]!;
          await contender.store.settle();
          const sample = await runPointPhase(contender, phase, sizes, round === 0);
          contender.samples.get(phase)!.push(sample);
        }
      }
    }
    const figures = new Map<StoreName, PointFigures>();
    for (const { store, samples } of contenders) {
      const pick = (phase: PointPhase) => median(samples.get(phase)!);
      figures.set(store.name, {
        label: store.label,
        get: pick('get'),
        scan: pick('scan'),
        putSerial: pick('putSerial'),
        putConcurrent: pick('putConcurrent'),
      });
    }
    return figures;
  } finally {
    for (const { store } of contenders) await store.close();
  }
}

function contenderOf(store: BenchStore, keys: readonly Uint8Array[]): Contender {
  return {
    store,
    keys,
    getPrng: new Prng(1),
    scanPrng: new Prng(2),
    putIndex: PUT_INDEX_BASE,
    samples: new Map(POINT_PHASES.map((phase) => [phase, []])),
  };
}

async function runPointPhase(
  contender: Contender,
  phase: PointPhase,
  sizes: EngineBenchSizes,
  warmUp: boolean,
): Promise<TimedResult> {
  const warmBudget = { durationMs: warmUp ? sizes.warmUpMs : 0, opsMax: UNBOUNDED };
  const readBudget = { durationMs: sizes.readMs / sizes.rounds, opsMax: UNBOUNDED };
  const putBudget = { durationMs: sizes.putMs / sizes.rounds, opsMax: PUT_OPS_MAX };
  if (phase === 'get') {
    const get = pointGet(contender);
    timeSync(warmBudget, get);
    const timed = timeSync(readBudget, get);
    return timed;
  }
  if (phase === 'scan') {
    const scan = pointScan(contender);
    await timeSerial(warmBudget, scan);
    return timeSerial(readBudget, scan);
  }
  const put = () => contender.store.put(keyOf(contender.putIndex++), VALUE);
  if (phase === 'putSerial') {
    await timeSerial(warmBudget, put);
    return timeSerial(putBudget, put);
  }
  await timeConcurrent(warmBudget, WRITERS_IN_FLIGHT, put);
  return timeConcurrent(putBudget, WRITERS_IN_FLIGHT, put);
}

/** A get of a random preloaded key; a miss is a bug and throws. */
function pointGet(contender: Contender): () => void {
  const { store, keys, getPrng } = contender;
  return () => {
    if (store.get(keys[getPrng.nextBelow(keys.length)]!) === undefined) {
      throw new Error(`${store.label}: a get missed a preloaded key`);
    }
  };
}

/**
 * A scan from a random preloaded key, so it returns at least that record (fewer than
 * SCAN_RECORDS only near the top of the key space); an empty scan is a bug and throws.
 */
function pointScan(contender: Contender): () => Promise<unknown> | number {
  const { store, keys, scanPrng } = contender;
  const check = (bytes: number): number => {
    if (bytes === 0) throw new Error(`${store.label}: a scan found nothing`);
    return bytes;
  };
  return () => {
    const outcome = store.scan(keys[scanPrng.nextBelow(keys.length)]!, SCAN_RECORDS);
    return typeof outcome === 'number' ? check(outcome) : outcome.then(check);
  };
}

/** The middle sample by ops/s (the lower middle for an even count). */
export function median(samples: readonly TimedResult[]): TimedResult {
  const sorted = [...samples].sort((a, b) => a.opsPerSecond - b.opsPerSecond);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/**
 * 16-byte keys: two mixed 32-bit words spread consecutive indexes over the whole key space (so
 * no engine gets sequential appends), then the index itself, which keeps every key distinct.
 */
export function keyOf(index: number): Uint8Array {
  const key = new Uint8Array(KEY_BYTES);
  const view = new DataView(key.buffer);
  view.setUint32(0, mix32(index));
  view.setUint32(4, mix32(index ^ 0x5bd1e995));
  view.setUint32(8, Math.floor(index / 4294967296));
  view.setUint32(12, index >>> 0);
  return key;
}

function mix32(value: number): number {
  let z = (value + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/** Incompressible bytes: LevelDB compresses blocks with Snappy, which a constant value would flatter. */
const VALUE = ((): Uint8Array => {
  const prng = new Prng(3);
  const bytes = new Uint8Array(VALUE_BYTES);
  for (let index = 0; index < bytes.length; index++) bytes[index] = prng.nextU32() & 0xff;
  return bytes;
})();

async function inTempDirs<T>(
  names: readonly string[],
  body: (dirs: readonly string[]) => Promise<T>,
): Promise<T> {
  const dirs = names.map((name) => mkdtempSync(join(tmpdir(), `strata-bench-engine-${name}-`)));
  try {
    return await body(dirs);
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

function renderReport(figures: {
  readonly quick: boolean;
  readonly sizes: EngineBenchSizes;
  readonly point: ReadonlyMap<StoreName, PointFigures>;
  readonly sync: readonly SyncFigures[];
  readonly raw: readonly RawFigures[];
  readonly loadAtStart: readonly number[];
}): EngineBenchReport {
  const strata = figures.point.get('strata')!;
  const level = figures.point.get('classic-level')!;
  const lmdb = figures.point.get('lmdb')!;
  const rows: { name: string; pick: (f: PointFigures) => TimedResult; target: string }[] = [
    { name: '(a) put 1 KB, one awaited at a time', pick: (f) => f.putSerial, target: '≥ 2x' },
    {
      name: `(a) put 1 KB, ${WRITERS_IN_FLIGHT} in flight`,
      pick: (f) => f.putConcurrent,
      target: '≥ 2x',
    },
    { name: '(b) point get, random preloaded key', pick: (f) => f.get, target: '≥ 2x' },
    { name: `(c) scan ${SCAN_RECORDS} from a random key`, pick: (f) => f.scan, target: '' },
  ];
  const pointRows = rows.map((row) => {
    const [s, c, l] = [row.pick(strata), row.pick(level), row.pick(lmdb)];
    return [
      row.name,
      formatCount(s.opsPerSecond),
      formatCount(c.opsPerSecond),
      formatCount(l.opsPerSecond),
      ratio(s, c),
      ratio(s, l),
      row.target === ''
        ? '-'
        : `${row.target} ${s.opsPerSecond >= 2 * c.opsPerSecond ? 'met' : 'missed'}`,
    ];
  });
  const pointHeaders = [
    'operation',
    'strata ops/s',
    'classic-level ops/s',
    'lmdb (noSync) ops/s',
    'strata÷classic-level',
    'strata÷lmdb',
    'target vs classic-level',
  ];
  const syncHeaders = [
    'writer',
    'one writer ops/s',
    `${WRITERS_IN_FLIGHT} writers ops/s`,
    `${WRITERS_IN_FLIGHT} writers ÷ one`,
    'writes per group',
  ];
  const syncRows = figures.sync.map((entry) => [
    entry.label,
    formatCount(entry.serial.opsPerSecond),
    formatCount(entry.concurrent.opsPerSecond),
    ratio(entry.concurrent, entry.serial),
    entry.writesPerGroup === undefined ? '-' : entry.writesPerGroup.toFixed(1),
  ]);
  for (const raw of figures.raw) {
    syncRows.push([raw.name, formatCount(raw.result.opsPerSecond), '-', '-', '1.0']);
  }
  const strataSync = figures.sync.find((entry) => entry.name === 'strata')!;
  const groupRatio = strataSync.concurrent.opsPerSecond / strataSync.serial.opsPerSecond;
  const verdict = `Group commit target (strata, ${WRITERS_IN_FLIGHT} writers ≥ 10x one writer): ${groupRatio.toFixed(2)}x, ${groupRatio >= 10 ? 'met' : 'missed'}.`;
  const notes = notesOf(figures.sizes, figures.quick, figures.loadAtStart);
  const title = `### Strata engine vs classic-level and lmdb-js (bench/engine.ts)${figures.quick ? ' — quick smoke run' : ''}`;
  const markdown = [
    SECTION_BEGIN,
    title,
    '',
    ...notes,
    '',
    renderMarkdownTable(pointHeaders, pointRows),
    '',
    `(d) Power-loss durability, ${SYNC_VALUE_NOTE}:`,
    '',
    renderMarkdownTable(syncHeaders, syncRows),
    '',
    verdict,
    SECTION_END,
  ].join('\n');
  const text = [
    title.replace(/^### /, ''),
    renderTable(pointHeaders, pointRows),
    '',
    renderTable(syncHeaders, syncRows),
    verdict,
  ].join('\n');
  return { text, markdown };
}

const SYNC_VALUE_NOTE = '16-byte keys, 100-byte values; raw rows write one 116-byte record';

function notesOf(
  sizes: EngineBenchSizes,
  quick: boolean,
  loadAtStart: readonly number[],
): string[] {
  const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' / ');
  return [
    `- date: ${new Date().toISOString()}, node ${process.version}, commit ${gitCommit(packageRoot())}; load average (1/5/15 min) ${load(loadAtStart)} at the start, ${load(loadavg())} at the end (2 cores shared with other work: numbers move ±2x between runs)`,
    `- ${formatCount(sizes.preloadRecords)} records of ${KEY_BYTES}-byte keys (spread over the key space) and ${VALUE_BYTES}-byte incompressible values, preloaded in batches into each store. Every phase runs ${sizes.rounds} round(s) per store, the stores interleaved in rotating order, and the median round is shown: gets and scans ${formatCount(sizes.readMs / sizes.rounds)} ms per round, put phases ${formatCount(sizes.putMs / sizes.rounds)} ms per round (fresh keys, at most ${formatCount(PUT_OPS_MAX)} puts), after a ${sizes.warmUpMs} ms warm-up in the first round.${quick ? ' Quick run: too small to mean anything.' : ''}`,
    "- Durability in (a)–(c): Strata's default (a write survives kill -9, not power loss), lmdb-js `noSync: true` (the same class) and classic-level's default (no fsync per write, the same class). Otherwise every store runs its defaults (Strata: 64 MiB memtable and 32 MiB block cache, so the preload flushes one ~64 MB L0 table that the reads then hit about half the time).",
    '- Calls: puts are awaited promises in all three; gets are synchronous in all three (Strata `get`, classic-level `getSync`, lmdb `getBinaryFast`); scans: Strata and lmdb iterate synchronously, classic-level awaits `iterator().nextv(100)`.',
  ];
}

function ratio(numerator: TimedResult, denominator: TimedResult): string {
  if (denominator.opsPerSecond === 0) return '-';
  return `${(numerator.opsPerSecond / denominator.opsPerSecond).toFixed(2)}x`;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const quick = process.env['STRATA_BENCH_QUICK'] === '1';
  const report = await runEngineBench({ quick, log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${report.text}\n`);
  if (process.argv.includes('--write-results')) {
    if (quick) throw new Error('--write-results refuses a quick run');
    const path = join(packageRoot(), 'bench', 'RESULTS.md');
    spliceSection(path, { begin: SECTION_BEGIN, end: SECTION_END }, report.markdown);
    process.stderr.write(`replaced the bench/engine.ts section of ${path}\n`);
  }
}
