/**
 * YCSB core workloads A–F (src/ycsb/core-driver.ts) on Strata, classic-level, lmdb-js (noSync)
 * and better-sqlite3, all in this process, one engine at a time: load the records, then run A, B,
 * C, F, D, E on that database (YCSB's recommended order; D's inserts stay for E). Every engine
 * runs the same generated operations, so the read checksums must agree.
 *
 *   node dist/bench/ycsb-core.js                   (after `npm run build`; prints the tables)
 *   node dist/bench/ycsb-core.js --write-results   (also replaces its section of bench/RESULTS.md
 *                                                   and writes bench/ycsb-core.svg)
 *   STRATA_BENCH_QUICK=1 node dist/bench/ycsb-core.js
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../src/package-root.js';
import {
  type CoreEngineResult,
  type CorePhaseResult,
  type CoreResult,
  runCoreWorkloads,
} from '../src/ycsb/core-driver.js';
import { checkEngines, formatCoreReport, formatKindCounts } from '../src/ycsb/core-report.js';
import { CORE_WORKLOADS, type CoreWorkloadName } from '../src/ycsb/core-workload.js';
import type { KvEngineName } from '../src/ycsb/kv-engines.js';
import { formatCount, renderMarkdownTable } from '../src/ycsb/text-table.js';
import { gitCommit } from './git-commit.js';
import { spliceSection } from './results-section.js';
import { renderRatioChart } from './ycsb-core-chart.js';

export const SECTION_BEGIN = '<!-- bench/ycsb-core.ts: begin -->';
export const SECTION_END = '<!-- bench/ycsb-core.ts: end -->';

const ENGINES: readonly KvEngineName[] = ['strata', 'classic-level', 'lmdb-nosync', 'sqlite'];
const PEERS: readonly KvEngineName[] = ['classic-level', 'lmdb-nosync', 'sqlite'];
const PEER_COLORS = ['#4e79a7', '#f28e2b', '#59a14f'] as const;
/** YCSB's recommended order on one loaded database: A, B, C, F, then D (inserts), then E. */
const RUN_ORDER: readonly CoreWorkloadName[] = ['a', 'b', 'c', 'f', 'd', 'e'];
const TABLE_ORDER: readonly CoreWorkloadName[] = ['a', 'b', 'c', 'd', 'e', 'f'];
const SEED = 42;

/** The issue's figures (200,000 records × 1 KB, ops/s) for the peers, and Strata's targets. */
const ISSUE_FIGURES: Readonly<Record<CoreWorkloadName, { level: number; lmdb: number }>> = {
  a: { level: 50_000, lmdb: 145_000 },
  b: { level: 116_000, lmdb: 417_000 },
  c: { level: 199_000, lmdb: 572_000 },
  d: { level: 121_000, lmdb: 431_000 },
  e: { level: 3_800, lmdb: 7_000 },
  f: { level: 42_000, lmdb: 148_000 },
};
const BEAT_LMDB: readonly CoreWorkloadName[] = ['a', 'd', 'e', 'f'];

export interface YcsbCoreSizes {
  readonly recordCount: number;
  readonly operationCounts: Readonly<Record<CoreWorkloadName, number>>;
}

/**
 * Full: 200,000 records, as in the issue. Scans (E) run at a few thousand per second, so E gets
 * a tenth of the operations the point workloads get; the whole bench then takes ~5–8 minutes here.
 */
export function ycsbCoreSizes(quick: boolean): YcsbCoreSizes {
  const point = quick ? 1_000 : 100_000;
  const scans = quick ? 200 : 10_000;
  return {
    recordCount: quick ? 2_000 : 200_000,
    operationCounts: { a: point, b: point, c: point, d: point, e: scans, f: point },
  };
}

export interface YcsbCoreReport {
  readonly text: string;
  readonly markdown: string;
  readonly svg: string;
  readonly result: CoreResult;
}

export async function runYcsbCoreBench(options: {
  readonly quick: boolean;
  readonly log?: (line: string) => void;
  /** File name of the chart, relative to the results markdown. */
  readonly svgName?: string;
}): Promise<YcsbCoreReport> {
  const sizes = ycsbCoreSizes(options.quick);
  const loadAtStart = loadavg();
  const startedMs = performance.now();
  const result = await runCoreWorkloads({
    engines: ENGINES,
    workloads: RUN_ORDER,
    recordCount: sizes.recordCount,
    operationCount: sizes.operationCounts.a,
    operationCounts: sizes.operationCounts,
    seed: SEED,
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  const elapsedSeconds = (performance.now() - startedMs) / 1000;
  const context = { quick: options.quick, sizes, loadAtStart, elapsedSeconds };
  return {
    text: formatCoreReport(result),
    markdown: renderMarkdown(result, context, options.svgName ?? 'ycsb-core.svg'),
    svg: renderChart(result, options.quick),
    result,
  };
}

interface ReportContext {
  readonly quick: boolean;
  readonly sizes: YcsbCoreSizes;
  readonly loadAtStart: readonly number[];
  readonly elapsedSeconds: number;
}

function renderMarkdown(result: CoreResult, context: ReportContext, svgName: string): string {
  const [strata, ...peers] = ENGINES.map((name) => engineOf(result, name));
  const throughput = renderMarkdownTable(
    [
      'workload',
      'mix (strata run)',
      ...ENGINES.map((name) => `${engineOf(result, name).label} ops/s`),
      ...PEERS.map((name) => `strata÷${shortName(name)}`),
      'issue: classic-level',
      'issue: lmdb noSync',
      'target',
    ],
    ['load' as const, ...TABLE_ORDER].map((phase) => {
      const own = phaseOf(strata!, phase);
      const issue = phase === 'load' ? undefined : ISSUE_FIGURES[phase];
      return [
        phase === 'load' ? 'load' : `${phase.toUpperCase()} (${CORE_WORKLOADS[phase].title})`,
        formatKindCounts(own.kindCounts),
        ...ENGINES.map((name) => formatCount(phaseOf(engineOf(result, name), phase).opsPerSecond)),
        ...peers.map((peer) => formatRatio(ratioOf(strata!, peer!, phase))),
        issue === undefined ? '' : formatCount(issue.level),
        issue === undefined ? '' : formatCount(issue.lmdb),
        phase === 'load' ? '' : targetOf(result, phase),
      ];
    }),
  );
  const latency = renderMarkdownTable(
    ['workload', ...ENGINES.map((name) => `${shortName(name)} p50 / p99 / p99.9 µs`)],
    ['load' as const, ...TABLE_ORDER].map((phase) => [
      phase === 'load' ? 'load' : phase.toUpperCase(),
      ...ENGINES.map((name) => {
        const { latency: figures } = phaseOf(engineOf(result, name), phase);
        return [figures.p50Ns, figures.p99Ns, figures.p999Ns]
          .map((ns) => (ns / 1000).toFixed(ns < 10_000 ? 1 : 0))
          .join(' / ');
      }),
    ]),
  );
  const checks = checkEngines(result.engines);
  const verification = checks
    .map(
      (check) =>
        `${check.phase.toUpperCase()} ${check.agree ? check.checksum : 'DIFFER'} (${formatCount(check.recordsRead)} records, ${check.misses} misses)`,
    )
    .join('; ');
  const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' / ');
  const { sizes } = context;
  return [
    SECTION_BEGIN,
    '### YCSB core workloads A–F (bench/ycsb-core.ts)',
    '',
    `- date: ${new Date().toISOString()}, node ${process.version}, commit ${gitCommit(packageRoot())}; load average (1/5/15 min) ${load(context.loadAtStart)} at the start, ${load(loadavg())} at the end; the whole bench took ${context.elapsedSeconds.toFixed(0)} s (2 cores shared with other work: numbers move ±2x between runs)${context.quick ? '. Quick run: sizes too small to mean anything.' : ''}`,
    `- ${formatCount(sizes.recordCount)} records (keys \`user<fnvhash64>\`, 10 fields × 100 bytes as one 1,000-byte value), loaded by one insert each, then A, B, C, F, D, E on the same database, ${formatCount(sizes.operationCounts.a)} operations each (E: ${formatCount(sizes.operationCounts.e)}), seed ${result.seed}; one client, each operation awaited before the next; YCSB's scrambled zipfian (D: latest) request distribution. Latency: every ${phaseOf(strata!, 'load').latency.sampleEvery}th op timed, clock read (~${result.clockOverheadNs} ns) included.`,
    "- Operations: read = get of the record; update = get, replace one field, put the record (writeallfields=false, as YCSB's RocksDB binding does); read-modify-write = get + the same put; insert = put; scan = 1–100 records from the start key. Engines: Strata defaults; classic-level `getSync` / awaited `put` / `values().all()`; lmdb-js `getBinaryFast` / `putSync` / `getRange`; better-sqlite3 prepared statements on a rowid table with a BLOB primary key, 4 KiB pages, WAL, synchronous=NORMAL.",
    `- Durability, all one class (a write survives a process crash, not power loss): ${result.engines.map((engine) => `${engine.label}: ${engine.durability}`).join('; ')}.`,
    '',
    throughput,
    '',
    'Latency per operation:',
    '',
    latency,
    '',
    `Verification (records read agree on every engine, no misses): ${verification}.`,
    '',
    `![Strata throughput ÷ each peer, per workload](${svgName})`,
    SECTION_END,
  ].join('\n');
}

function renderChart(result: CoreResult, quick: boolean): string {
  const strata = engineOf(result, 'strata');
  return renderRatioChart({
    title: 'YCSB core workloads: Strata throughput ÷ peer throughput',
    subtitle: `${formatCount(result.recordCount)} records × 1 KB, one client${quick ? ' (quick run: meaningless sizes)' : ''}; above 1× Strata is faster`,
    series: PEERS.map((name, index) => ({
      name: `÷ ${engineOf(result, name).label}`,
      color: PEER_COLORS[index]!,
    })),
    groups: TABLE_ORDER.map((phase) => ({
      label: phase.toUpperCase(),
      caption: CORE_WORKLOADS[phase].title,
      ratios: PEERS.map((name) => ratioOf(strata, engineOf(result, name), phase)),
    })),
  });
}

function targetOf(result: CoreResult, phase: CoreWorkloadName): string {
  const strata = engineOf(result, 'strata');
  const level = ratioOf(strata, engineOf(result, 'classic-level'), phase) ?? 0;
  const parts = [`level ${level > 1 ? 'met' : 'missed'}`];
  if (BEAT_LMDB.includes(phase)) {
    const lmdb = ratioOf(strata, engineOf(result, 'lmdb-nosync'), phase) ?? 0;
    parts.push(`lmdb ${lmdb > 1 ? 'met' : 'missed'}`);
  }
  return parts.join(', ');
}

function ratioOf(
  numerator: CoreEngineResult,
  denominator: CoreEngineResult,
  phase: 'load' | CoreWorkloadName,
): number | undefined {
  const bottom = phaseOf(denominator, phase).opsPerSecond;
  return bottom === 0 ? undefined : phaseOf(numerator, phase).opsPerSecond / bottom;
}

function formatRatio(ratio: number | undefined): string {
  return ratio === undefined ? '-' : `${ratio.toFixed(2)}x`;
}

function shortName(name: KvEngineName): string {
  return name === 'lmdb-nosync' ? 'lmdb' : name;
}

function engineOf(result: CoreResult, name: KvEngineName): CoreEngineResult {
  const engine = result.engines.find((each) => each.engine === name);
  if (engine === undefined) throw new Error(`no result for ${name}`);
  return engine;
}

function phaseOf(engine: CoreEngineResult, phase: 'load' | CoreWorkloadName): CorePhaseResult {
  const found = engine.phases.find((each) => each.phase === phase);
  if (found === undefined) throw new Error(`no ${phase} phase for ${engine.label}`);
  return found;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const quick = process.env['STRATA_BENCH_QUICK'] === '1';
  const root = packageRoot();
  const report = await runYcsbCoreBench({
    quick,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${report.text}\n`);
  const out = join(root, 'bench', 'out');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'ycsb-core.json'), `${JSON.stringify(report.result, null, 2)}\n`);
  if (process.argv.includes('--write-results')) {
    if (quick) throw new Error('--write-results refuses a quick run');
    spliceSection(
      join(root, 'bench', 'RESULTS.md'),
      { begin: SECTION_BEGIN, end: SECTION_END },
      report.markdown,
    );
    writeFileSync(join(root, 'bench', 'ycsb-core.svg'), report.svg);
    process.stderr.write(
      'replaced the bench/ycsb-core.ts section of bench/RESULTS.md and wrote bench/ycsb-core.svg\n',
    );
  } else {
    writeFileSync(join(out, quick ? 'ycsb-core.quick.svg' : 'ycsb-core.svg'), report.svg);
  }
}
