/**
 * One workload pair, one process, every engine: ehash (mapped), ehash (emulated), Map, lmdb
 * (synchronous commits), lmdb-nosync and classic-level; then ehash on 1 vs 2 threads. Prints
 * load/run throughput, the ratio of ehash (mapped) to each peer, and ehash's table shape.
 *
 *   node dist/bench/ycsb-compare.js [--preset 10w|100w|220w]   (after `npm run build`)
 *
 * Presets: 10w = the course's 10w-rw-50-50 pair (default); 100w = one million 8-byte records
 * then 100 k zipfian 50/50 READ/UPDATE ops (generated into bench/out/); 220w = the course's
 * missing 2.2 M pair (generated into workload/ if missing); 1w = the course's 1w pair.
 * STRATA_BENCH_QUICK=1 runs the 1w pair whatever the preset, in seconds.
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../src/package-root.js';
import { type PhaseResult, runYcsb, type YcsbResult } from '../src/ycsb/driver.js';
import type { EngineName, EngineOptions, EngineStats } from '../src/ycsb/engines.js';
import { WORKLOAD_PRESETS, writeWorkloadPair } from '../src/ycsb/generator.js';
import { formatCount, renderMarkdownTable, renderTable } from '../src/ycsb/text-table.js';
import { readWorkloadFile, type Workload } from '../src/ycsb/workload.js';

export type ComparePreset = '1w' | '10w' | '100w' | '220w';
export const COMPARE_PRESETS: readonly ComparePreset[] = ['1w', '10w', '100w', '220w'];

export interface CompareOptions {
  readonly preset: ComparePreset;
  readonly quick: boolean;
  /** Repository root (workload/ and bench/out/ live there). */
  readonly root: string;
  readonly log?: (line: string) => void;
}

export interface CompareReport {
  readonly title: string;
  /** Plain-text tables for the terminal. */
  readonly text: string;
  /** The same tables in markdown, for RESULTS.md. */
  readonly markdown: string;
}

interface Contender {
  readonly label: string;
  readonly engine: EngineName;
  readonly engineOptions: EngineOptions;
}

const CONTENDERS: readonly Contender[] = [
  { label: 'ehash (mapped)', engine: 'ehash', engineOptions: { backend: 'mapped' } },
  { label: 'ehash (emulated)', engine: 'ehash', engineOptions: { backend: 'emulated' } },
  { label: 'Map', engine: 'map', engineOptions: {} },
  { label: 'lmdb (sync)', engine: 'lmdb', engineOptions: {} },
  { label: 'lmdb-nosync', engine: 'lmdb-nosync', engineOptions: {} },
  { label: 'classic-level', engine: 'classic-level', engineOptions: {} },
];

/** lmdb with a commit per write costs ~0.4 ms per write here; above this many it is skipped. */
const LMDB_SYNC_WRITES_MAX = 150_000;

export async function runYcsbCompare(options: CompareOptions): Promise<CompareReport> {
  const log = options.log ?? (() => {});
  const preset = options.quick ? '1w' : options.preset;
  const { load, run } = workloadPair(preset, options.root, log);
  // Threads first: the peers leave background work behind (LevelDB compactions, a large Map for
  // the collector) that would take CPU from two worker threads on a 2-core machine.
  const threads = await compareThreads(load, run, log);
  const rows: { contender: Contender; result: YcsbResult | undefined; note: string }[] = [];
  for (const contender of CONTENDERS) {
    const writes = load.opCounts.insert + run.opCounts.insert + run.opCounts.update;
    if (contender.engine === 'lmdb' && writes > LMDB_SYNC_WRITES_MAX) {
      rows.push({
        contender,
        result: undefined,
        note: `skipped: ${formatCount(writes)} synchronous commits`,
      });
      continue;
    }
    log(`ycsb-compare ${preset}: ${contender.label}`);
    const result = await runYcsb({ ...contender, load, run, progress: false });
    rows.push({ contender, result, note: '' });
  }
  const title = `YCSB ${preset}: ${relative(options.root, load.source)} + ${relative(options.root, run.source)}`;
  const baseline = rows[0]?.result;
  const engineTable = engineRows(rows, baseline);
  const threadTable = threadRows(threads);
  const shapeTable = shapeRows(rows);
  const agreement = verificationAgreement(rows);
  const text = [
    title,
    renderTable(ENGINE_HEADERS, engineTable),
    '',
    `ehash (mapped), load and run on worker threads (${THREAD_NOTE}):`,
    renderTable(THREAD_HEADERS, threadTable),
    '',
    'ehash table shape after the run:',
    renderTable(SHAPE_HEADERS, shapeTable),
    '',
    agreement,
  ].join('\n');
  const markdown = [
    `### ${title}`,
    '',
    renderMarkdownTable(ENGINE_HEADERS, engineTable),
    '',
    `ehash (mapped), load and run on worker threads (${THREAD_NOTE}):`,
    '',
    renderMarkdownTable(THREAD_HEADERS, threadTable),
    '',
    'ehash table shape after the run:',
    '',
    renderMarkdownTable(SHAPE_HEADERS, shapeTable),
    '',
    agreement,
  ].join('\n');
  return { title, text, markdown };
}

/** Loads (generating first if needed) the pair a preset names. */
export function workloadPair(
  preset: ComparePreset,
  root: string,
  log: (line: string) => void,
): { load: Workload; run: Workload } {
  let directory = join(root, 'workload');
  let name = `${preset}-rw-50-50`;
  if (preset === '100w' || preset === '220w') {
    const generated = WORKLOAD_PRESETS[preset];
    name = generated.name;
    if (preset === '100w') directory = join(root, 'bench', 'out');
    if (
      !existsSync(join(directory, `${name}-load.txt`)) ||
      !existsSync(join(directory, `${name}-run.txt`))
    ) {
      log(`generating ${name} into ${directory}`);
      writeWorkloadPair(generated.options, { directory, name });
    }
  }
  return {
    load: readWorkloadFile(join(directory, `${name}-load.txt`)),
    run: readWorkloadFile(join(directory, `${name}-run.txt`)),
  };
}

interface ThreadRun {
  readonly threads: number;
  readonly load: PhaseResult;
  readonly run: PhaseResult;
}

async function compareThreads(
  load: Workload,
  run: Workload,
  log: (line: string) => void,
): Promise<ThreadRun[]> {
  const results: ThreadRun[] = [];
  for (const threads of [1, 2]) {
    log(`ycsb-compare: ehash (mapped) on ${threads} thread(s)`);
    const result = await runYcsb({ engine: 'ehash', load, run, threads, progress: false });
    results.push({ threads, load: result.phases[0]!, run: result.phases[1]! });
  }
  return results;
}

const ENGINE_HEADERS = [
  'engine',
  'load ops/s',
  'run ops/s',
  'load p99 ns',
  'run p99 ns',
  'ehash÷engine load',
  'ehash÷engine run',
  'failed inserts',
  'read misses',
  'note',
];

function engineRows(
  rows: readonly { contender: Contender; result: YcsbResult | undefined; note: string }[],
  baseline: YcsbResult | undefined,
): string[][] {
  return rows.map(({ contender, result, note }) => {
    if (result === undefined)
      return [contender.label, '-', '-', '-', '-', '-', '-', '-', '-', note];
    const [load, run] = result.phases as [PhaseResult, PhaseResult];
    const [baseLoad, baseRun] = (baseline?.phases ?? []) as PhaseResult[];
    return [
      contender.label,
      formatCount(load.opsPerSecond),
      formatCount(run.opsPerSecond),
      formatCount(load.latency.p99Ns),
      formatCount(run.latency.p99Ns),
      ratio(baseLoad?.opsPerSecond, load.opsPerSecond),
      ratio(baseRun?.opsPerSecond, run.opsPerSecond),
      String(load.verification.failedInserts + run.verification.failedInserts),
      String(run.verification.readMisses),
      note,
    ];
  });
}

const THREAD_NOTE =
  'each phase starts with an untimed read warm-up on every thread; phases under ~100 ms still pay for compiling the rest';

const THREAD_HEADERS = [
  'threads',
  'load ops/s',
  'load speed-up',
  'run ops/s',
  'run speed-up',
  'run per thread ops/s',
  'run p50 ns',
  'run p99 ns',
];

function threadRows(runs: readonly ThreadRun[]): string[][] {
  const singleLoad = runs[0]?.load.opsPerSecond;
  const single = runs[0]?.run.opsPerSecond;
  return runs.map(({ threads, load, run }) => [
    String(threads),
    formatCount(load.opsPerSecond),
    ratio(load.opsPerSecond, singleLoad),
    formatCount(run.opsPerSecond),
    ratio(run.opsPerSecond, single),
    run.perThread.length === 0
      ? '(main thread)'
      : run.perThread.map((thread) => formatCount(thread.opsPerSecond)).join(' + '),
    formatCount(run.latency.p50Ns),
    formatCount(run.latency.p99Ns),
  ]);
}

const SHAPE_HEADERS = [
  'backend',
  'keys',
  'load factor',
  'global depth',
  'buckets',
  'image bytes',
  'image MiB per million keys',
];

function shapeRows(rows: readonly { result: YcsbResult | undefined }[]): string[][] {
  return rows
    .map(({ result }) => result?.stats)
    .filter((stats): stats is EngineStats => stats !== undefined)
    .map((stats) => [
      stats.backend,
      formatCount(stats.keys),
      stats.loadFactor.toFixed(3),
      String(stats.globalDepth),
      formatCount(stats.buckets),
      formatCount(stats.imageBytes),
      ((stats.imageBytes / 2 ** 20) * (1_000_000 / Math.max(1, stats.keys))).toFixed(1),
    ]);
}

function verificationAgreement(
  rows: readonly { contender: Contender; result: YcsbResult | undefined }[],
): string {
  const measured = rows.filter((row) => row.result !== undefined);
  const reference = JSON.stringify(measured[0]?.result?.verification);
  const disagreeing = measured.filter(
    (row) => JSON.stringify(row.result?.verification) !== reference,
  );
  const verification = measured[0]?.result?.verification;
  if (disagreeing.length > 0) {
    return `VERIFICATION MISMATCH: ${disagreeing.map((row) => row.contender.label).join(', ')} differ from ${measured[0]?.contender.label}`;
  }
  return `All engines agree: failed inserts ${verification?.failedInserts}, read misses ${verification?.readMisses}, checksum ${verification?.checksum}.`;
}

function ratio(numerator: number | undefined, denominator: number | undefined): string {
  if (numerator === undefined || denominator === undefined || denominator === 0) return '-';
  return `${(numerator / denominator).toFixed(2)}x`;
}

async function main(): Promise<void> {
  const presetIndex = process.argv.indexOf('--preset');
  const preset = (presetIndex >= 0 ? process.argv[presetIndex + 1] : '10w') as ComparePreset;
  if (!COMPARE_PRESETS.includes(preset)) {
    throw new Error(`--preset must be one of ${COMPARE_PRESETS.join(', ')}`);
  }
  const report = await runYcsbCompare({
    preset,
    quick: process.env['STRATA_BENCH_QUICK'] === '1',
    root: packageRoot(),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${report.text}\n`);
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) await main();
