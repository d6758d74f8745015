/**
 * YCSB workload A (50 % read, 50 % update, scrambled zipfian) on 16 KB records: Strata with
 * key-value separation (`minBlobSize` 8 KiB, so every record lives in a blob file) against Strata
 * keeping every value inline (`minBlobSize: Infinity`), with classic-level for reference. All
 * three are open in this process at once and run the same generated operations
 * (src/ycsb/core-workload.ts) in interleaved rounds, load first; the median round counts.
 *
 * Records: YCSB's 10 fields, each 1,600 bytes instead of 100 (the field chooser picks among the
 * generator's fixed 10 fields, so the field count stays and only the field size grows); keys are
 * YCSB's `user<fnvhash64>` (src/ycsb/core-record.ts KeyBuilder), field tags its `fieldTag`.
 *
 *   node dist/bench/ycsb-blob.js                   (after `npm run build`; prints the tables)
 *   node dist/bench/ycsb-blob.js --write-results   (also replaces its section of bench/RESULTS.md)
 *   STRATA_BENCH_QUICK=1 node dist/bench/ycsb-blob.js
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Strata, type StrataStats } from '../src/db/strata.js';
import { packageRoot } from '../src/package-root.js';
import { fieldTag, KeyBuilder } from '../src/ycsb/core-record.js';
import { type CoreRun, FIELD_COUNT, generateCoreRun, OP_READ } from '../src/ycsb/core-workload.js';
import { EngineDirectory } from '../src/ycsb/engines.js';
import { openKvEngine } from '../src/ycsb/kv-engines.js';
import { Prng } from '../src/ycsb/prng.js';
import { formatCount, renderMarkdownTable, renderTable } from '../src/ycsb/text-table.js';
import { readWriteChars, waitUntilWritesSettle } from './append-io.js';
import { gitCommit } from './git-commit.js';
import { spliceSection } from './results-section.js';

export const SECTION_BEGIN = '<!-- bench/ycsb-blob.ts: begin -->';
export const SECTION_END = '<!-- bench/ycsb-blob.ts: end -->';

const FIELD_BYTES = 1_600;
const RECORD_BYTES = FIELD_COUNT * FIELD_BYTES;
const MIN_BLOB_BYTES = 8 * 1024;
const SEED = 42;

export interface YcsbBlobSizes {
  readonly recordCount: number;
  readonly operationCount: number;
  /** Load and run are each cut into this many rounds, the engines in rotating order. */
  readonly rounds: number;
}

/** Full: 20,000 records × 16 KB = 320 MB per database, 100,000 operations (~800 MB of updates). */
export function ycsbBlobSizes(quick: boolean): YcsbBlobSizes {
  return quick
    ? { recordCount: 500, operationCount: 2_000, rounds: 2 }
    : { recordCount: 20_000, operationCount: 100_000, rounds: 5 };
}

type EngineName = 'strata-blob' | 'strata-inline' | 'classic-level';
const ENGINES: readonly EngineName[] = ['strata-blob', 'strata-inline', 'classic-level'];

interface BenchEngine {
  readonly name: EngineName;
  readonly label: string;
  get(key: Buffer): Uint8Array | undefined;
  put(key: Buffer, value: Buffer): Promise<void> | undefined;
  stats(): StrataStats | undefined;
  settle(): Promise<void>;
  close(): Promise<void>;
}

interface RoundSample {
  readonly ops: number;
  readonly elapsedMs: number;
  readonly userBytes: number;
  readonly writeChars: number;
  /** Untimed wait after the slice for the engine's background work (flushes, compactions). */
  readonly settleMs: number;
  /** Strata: stats before and after the round (after its background work settled). */
  readonly before: StrataStats | undefined;
  readonly after: StrataStats | undefined;
}

interface EngineFigures {
  readonly engine: BenchEngine;
  readonly load: RoundSample[];
  readonly run: RoundSample[];
  readonly checksum: ReadChecksum;
  misses: number;
  finalStats: StrataStats | undefined;
}

export async function runYcsbBlobBench(options: {
  readonly quick: boolean;
  readonly log?: (line: string) => void;
}): Promise<{ text: string; markdown: string }> {
  const log = options.log ?? (() => {});
  const sizes = ycsbBlobSizes(options.quick);
  const loadAtStart = loadavg();
  const startedMs = performance.now();
  const run = generateCoreRun({
    workload: 'a',
    recordCount: sizes.recordCount,
    operationCount: sizes.operationCount,
    seed: SEED,
  });
  const keys = new KeyBuilder();
  for (let index = 0; index < run.count; index++) keys.keyOf(run.keynums[index]!);
  const figures: EngineFigures[] = [];
  try {
    for (const name of ENGINES) {
      const engine = await openEngine(name);
      const checksum = new ReadChecksum();
      figures.push({ engine, load: [], run: [], checksum, misses: 0, finalStats: undefined });
    }
    for (const phase of ['load', 'run'] as const) {
      const total = phase === 'load' ? sizes.recordCount : run.count;
      for (let round = 0; round < sizes.rounds; round++) {
        log(`ycsb-blob: ${phase}, round ${round + 1} of ${sizes.rounds}`);
        const first = Math.floor((total * round) / sizes.rounds);
        const end = Math.floor((total * (round + 1)) / sizes.rounds);
        for (let turn = 0; turn < figures.length; turn++) {
          const entry = figures[(turn + round) % figures.length]!;
          const body = () =>
            phase === 'load'
              ? loadSlice(entry.engine, keys, first, end)
              : runSlice(entry, { keys, run, first, end });
          entry[phase].push(await measureRound(entry.engine, end - first, body));
        }
      }
    }
    for (const entry of figures) entry.finalStats = entry.engine.stats();
  } finally {
    for (const entry of figures) await entry.engine.close();
  }
  const elapsedSeconds = (performance.now() - startedMs) / 1000;
  return renderReport({ quick: options.quick, sizes, figures, loadAtStart, elapsedSeconds });
}

async function openEngine(name: EngineName): Promise<BenchEngine> {
  if (name === 'classic-level') {
    const kv = await openKvEngine('classic-level');
    return {
      name,
      label: 'classic-level',
      get: (key) => kv.get(key),
      put: (key, value) => kv.put(key, value),
      stats: () => undefined,
      settle: () => kv.settle(),
      close: () => kv.close(),
    };
  }
  const directory = EngineDirectory.create(`kv-${name}`, undefined);
  const minBlobSize = name === 'strata-blob' ? MIN_BLOB_BYTES : Number.POSITIVE_INFINITY;
  const db = await Strata.open(directory.path, { minBlobSize });
  return {
    name,
    label:
      name === 'strata-blob' ? 'strata, blobs (minBlobSize 8 KiB)' : 'strata, inline (no blobs)',
    get: (key) => db.get(key),
    put: (key, value) => db.put(key, value),
    stats: () => db.stats(),
    settle: () =>
      waitUntilWritesSettle(() => {
        const stats = db.stats();
        return stats.memtables > 1 || stats.compactionsRunning > 0;
      }).then(() => undefined),
    close: async () => {
      await db.close();
      directory.release();
    },
  };
}

/**
 * Times `body` (which returns the user bytes it wrote), then waits for the engine's background
 * work, so flushes and compactions the round started count in its bytes, not the next engine's.
 */
async function measureRound(
  engine: BenchEngine,
  ops: number,
  body: () => Promise<number>,
): Promise<RoundSample> {
  await engine.settle();
  await waitUntilWritesSettle();
  const before = engine.stats();
  const charsBefore = readWriteChars() ?? 0;
  const startedMs = performance.now();
  const userBytes = await body();
  const elapsedMs = performance.now() - startedMs;
  await engine.settle();
  await waitUntilWritesSettle();
  const settleMs = performance.now() - startedMs - elapsedMs;
  const after = engine.stats();
  return {
    ops,
    elapsedMs,
    settleMs,
    userBytes,
    writeChars: (readWriteChars() ?? 0) - charsBefore,
    before,
    after,
  };
}

async function loadSlice(engine: BenchEngine, keys: KeyBuilder, first: number, end: number) {
  let userBytes = 0;
  for (let keynum = first; keynum < end; keynum++) {
    const key = keys.keyOf(keynum);
    const pending = engine.put(key, buildRecord(keynum, 0));
    if (pending !== undefined) await pending;
    userBytes += key.length + RECORD_BYTES;
  }
  return userBytes;
}

/** YCSB A as src/ycsb/core-driver.ts runs it: read = get; update = get, patch one field, put. */
async function runSlice(
  entry: EngineFigures,
  slice: { keys: KeyBuilder; run: CoreRun; first: number; end: number },
): Promise<number> {
  const { keys, run, first, end } = slice;
  const { engine, checksum } = entry;
  let userBytes = 0;
  for (let index = first; index < end; index++) {
    const keynum = run.keynums[index]!;
    const key = keys.keyOf(keynum);
    const record = engine.get(key);
    if (record === undefined) {
      entry.misses++;
      continue;
    }
    if (run.kinds[index] === OP_READ) {
      checksum.add(record);
      continue;
    }
    const version = run.salt * 4294967296 + index + 1;
    const next = patchRecord(record, { keynum, field: run.arguments[index]!, version });
    const pending = engine.put(key, next);
    if (pending !== undefined) await pending;
    userBytes += key.length + RECORD_BYTES;
  }
  return userBytes;
}

/** Printable random text the fields are cut from, as in core-record.ts (values do not compress). */
const TEXT_POOL = ((): Uint8Array => {
  const prng = new Prng(0x7ec5);
  const pool = new Uint8Array(1 << 18);
  for (let index = 0; index < pool.length; index++) pool[index] = 0x20 + prng.nextBelow(95);
  return pool;
})();

function buildRecord(keynum: number, version: number): Buffer {
  const record = Buffer.allocUnsafeSlow(RECORD_BYTES);
  for (let field = 0; field < FIELD_COUNT; field++) {
    writeField(record, field, fieldTag(keynum, field, version));
  }
  return record;
}

function patchRecord(
  record: Uint8Array,
  request: { readonly keynum: number; readonly field: number; readonly version: number },
): Buffer {
  const next = Buffer.allocUnsafeSlow(RECORD_BYTES);
  next.set(record.subarray(0, RECORD_BYTES));
  writeField(next, request.field, fieldTag(request.keynum, request.field, request.version));
  return next;
}

/** Field i at byte i × FIELD_BYTES: [ tag u32 LE | FIELD_BYTES - 4 bytes of text chosen by the tag ]. */
function writeField(record: Buffer, field: number, tag: number): void {
  const offset = field * FIELD_BYTES;
  record.writeUInt32LE(tag, offset);
  const textOffset = tag % (TEXT_POOL.length - FIELD_BYTES);
  record.set(TEXT_POOL.subarray(textOffset, textOffset + FIELD_BYTES - 4), offset + 4);
}

/** Fold of the field tags of every record read, in order; a record of the wrong size is counted. */
class ReadChecksum {
  value = 0x811c9dc5;
  records = 0;
  badRecords = 0;

  add(record: Uint8Array): void {
    if (record.length !== RECORD_BYTES) {
      this.badRecords++;
      return;
    }
    const view = new DataView(record.buffer, record.byteOffset, RECORD_BYTES);
    for (let offset = 0; offset < RECORD_BYTES; offset += FIELD_BYTES) {
      this.value = Math.imul(this.value ^ view.getUint32(offset, true), 0x01000193) >>> 0;
    }
    this.records++;
  }

  hex(): string {
    return this.value.toString(16).padStart(8, '0');
  }
}

interface ReportInput {
  readonly quick: boolean;
  readonly sizes: YcsbBlobSizes;
  readonly figures: readonly EngineFigures[];
  readonly loadAtStart: readonly number[];
  readonly elapsedSeconds: number;
}

function renderReport(input: ReportInput): { text: string; markdown: string } {
  const [blob, inline] = input.figures;
  const rate = (samples: readonly RoundSample[]) => medianRate(samples);
  const headers = [
    'engine',
    'load ops/s',
    'A ops/s (median round)',
    'A ops/s (whole phase)',
    'blobs ÷ this (load / A)',
    'A: bytes written ÷ user bytes (stats)',
    'A: stats writeAmplification',
    'A: wchar ÷ user bytes',
    'untimed settle s (load / A)',
    'A ops/s per round',
  ];
  const rows = input.figures.map((entry) => {
    const written = strataWritten(entry.run);
    return [
      entry.engine.label,
      formatCount(rate(entry.load)),
      formatCount(rate(entry.run)),
      formatCount(wholeRate(entry.run)),
      `${(rate(blob!.load) / rate(entry.load)).toFixed(2)}x / ${(rate(blob!.run) / rate(entry.run)).toFixed(2)}x`,
      written === undefined ? '-' : (written.total / written.user).toFixed(2),
      written === undefined ? '-' : (written.flushAndCompaction / written.user).toFixed(2),
      (sum(entry.run, (sample) => sample.writeChars) / sum(entry.run, (s) => s.userBytes)).toFixed(
        2,
      ),
      `${(sum(entry.load, (s) => s.settleMs) / 1000).toFixed(1)} / ${(sum(entry.run, (s) => s.settleMs) / 1000).toFixed(1)}`,
      entry.run.map((sample) => formatCount((sample.ops * 1000) / sample.elapsedMs)).join(' / '),
    ];
  });
  const ratio = rate(blob!.run) / rate(inline!.run);
  const lines = [
    `Workload A with blobs ÷ without: ${ratio.toFixed(2)}x (median rounds; whole phase ${(wholeRate(blob!.run) / wholeRate(inline!.run)).toFixed(2)}x); load ${(rate(blob!.load) / rate(inline!.load)).toFixed(2)}x.`,
    ...input.figures.flatMap((entry) => breakdownOf(entry)),
    verificationOf(input.figures),
  ];
  const notes = notesOf(input);
  const title = `### YCSB A on 16 KB records: Strata with and without blob files (bench/ycsb-blob.ts)${input.quick ? ' — quick smoke run' : ''}`;
  const markdown = [
    SECTION_BEGIN,
    title,
    '',
    ...notes.map((note) => `- ${note}`),
    '',
    renderMarkdownTable(headers, rows),
    '',
    ...lines.map((line) => `- ${line}`),
    SECTION_END,
  ].join('\n');
  const text = [title.replace(/^### /, ''), renderTable(headers, rows), '', ...lines].join('\n');
  return { text, markdown };
}

function breakdownOf(entry: EngineFigures): string[] {
  const stats = entry.finalStats;
  if (stats === undefined) return [];
  const parts = (phase: readonly RoundSample[], name: string) => {
    const written = strataWritten(phase)!;
    return `${name}: ${mib(written.user)} user bytes → blob files ${mib(written.blob)}, NVM memtable ${mib(written.memtable)}, flushes ${mib(written.flush)} (${written.flushes}), compactions ${mib(written.compaction)} (${written.compactions})`;
  };
  return [
    `${entry.engine.label}: ${parts(entry.load, 'load')}; ${parts(entry.run, 'A')}. At the end: ${stats.blobFiles} blob file(s) of ${mib(stats.blobBytes)}, ${mib(stats.blobLiveBytes)} live; tables ${mib(stats.tableBytes)}.`,
  ];
}

function verificationOf(figures: readonly EngineFigures[]): string {
  const first = figures[0]!.checksum;
  const agree = figures.every(
    (entry) =>
      entry.checksum.hex() === first.hex() &&
      entry.checksum.records === first.records &&
      entry.checksum.badRecords === 0 &&
      entry.misses === 0,
  );
  const detail = figures
    .map(
      (entry) =>
        `${entry.engine.label} ${entry.checksum.hex()} (${formatCount(entry.checksum.records)} reads, ${entry.misses} misses)`,
    )
    .join('; ');
  return `Verification (every engine read the same records, no misses): ${agree ? 'agree' : 'DIFFER'}: ${detail}.`;
}

function notesOf(input: ReportInput): string[] {
  const { sizes } = input;
  const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' / ');
  return [
    `date: ${new Date().toISOString()}, node ${process.version}, commit ${gitCommit(packageRoot())}; ${cpus().length} cores, load average (1/5/15 min) ${load(input.loadAtStart)} at the start, ${load(loadavg())} at the end; the whole bench took ${input.elapsedSeconds.toFixed(0)} s (cores shared with other work: numbers move ±2x between runs)${input.quick ? '. Quick run: sizes too small to mean anything.' : ''}`,
    `${formatCount(sizes.recordCount)} records of ${FIELD_COUNT} fields × ${formatCount(FIELD_BYTES)} bytes (one ${formatCount(RECORD_BYTES)}-byte value, ${mib(sizes.recordCount * RECORD_BYTES)} per database), loaded by one put each, then ${formatCount(sizes.operationCount)} operations of YCSB workload A (seed ${SEED}): read = get; update = get, replace one field, put the whole record. One client, each operation awaited. Load and run are each cut into ${sizes.rounds} rounds; in every round each engine runs the same slice, in rotating order, and the median round counts. Timing stops at the slice's last operation; the bytes are read after the engine's flushes and compactions settled. That wait is untimed (its total is a column), which flattens engines whose writes leave background work behind (Strata inline, classic-level); the quiet detection alone waits ~0.3 s per round.`,
    'Engines: Strata defaults (64 MiB memtable, durability: process crash, not power loss) with `minBlobSize: 8192` (every record in a blob file, the tree holds references) and with `minBlobSize: Infinity` (every record inline in memtables and tables); classic-level defaults through src/ycsb/kv-engine-level.ts (no fsync per write: the same durability class).',
    "Bytes: Strata's stats (blob files + NVM memtable records + flushes + compactions) ÷ user bytes (key + value of every put); `writeAmplification` is Strata's own figure, (flush + compaction) ÷ user bytes, which leaves out blob and memtable writes. wchar is /proc/self/io (bytes passed to write system calls by the whole process); it misses Strata's NVM memtable, stores into a mapped file.",
  ];
}

interface WrittenBytes {
  readonly user: number;
  readonly blob: number;
  readonly memtable: number;
  readonly flush: number;
  readonly compaction: number;
  readonly total: number;
  readonly flushAndCompaction: number;
  readonly flushes: number;
  readonly compactions: number;
}

function strataWritten(samples: readonly RoundSample[]): WrittenBytes | undefined {
  if (samples.some((sample) => sample.before === undefined || sample.after === undefined)) {
    return undefined;
  }
  const delta = (pick: (stats: StrataStats) => number) =>
    sum(samples, (sample) => pick(sample.after!) - pick(sample.before!));
  const blob = delta((stats) => stats.blobBytesWritten);
  const memtable = delta((stats) => stats.memtableBytesWritten);
  const flush = delta((stats) => stats.flushBytesWritten);
  const compaction = delta((stats) => stats.compactionBytesWritten);
  return {
    user: delta((stats) => stats.userBytesWritten),
    blob,
    memtable,
    flush,
    compaction,
    total: blob + memtable + flush + compaction,
    flushAndCompaction: flush + compaction,
    flushes: delta((stats) => stats.flushes),
    compactions: delta((stats) => stats.compactions),
  };
}

function sum<T>(items: readonly T[], pick: (item: T) => number): number {
  return items.reduce((total, item) => total + pick(item), 0);
}

function medianRate(samples: readonly RoundSample[]): number {
  const rates = samples
    .map((sample) => (sample.ops * 1000) / sample.elapsedMs)
    .sort((a, b) => a - b);
  return rates[Math.floor((rates.length - 1) / 2)]!;
}

function wholeRate(samples: readonly RoundSample[]): number {
  return (sum(samples, (sample) => sample.ops) * 1000) / sum(samples, (sample) => sample.elapsedMs);
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const quick = process.env['STRATA_BENCH_QUICK'] === '1';
  const report = await runYcsbBlobBench({
    quick,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${report.text}\n`);
  if (process.argv.includes('--write-results')) {
    if (quick) throw new Error('--write-results refuses a quick run');
    const path = join(packageRoot(), 'bench', 'RESULTS.md');
    spliceSection(path, { begin: SECTION_BEGIN, end: SECTION_END }, report.markdown);
    process.stderr.write(`replaced the bench/ycsb-blob.ts section of ${path}\n`);
  }
}
