/**
 * YCSB core workloads C and A on Strata with 1 and 2 client threads (issue 7's targets on a
 * 2-core machine: two threads at least 1.6x one thread on C and 1.3x on A). Each repetition
 * opens a fresh store per configuration, loads the records and runs C then A; configurations
 * alternate within a repetition (so drifting machine load hits them alike) and the table shows
 * the median ops/s over the repetitions. Configurations: the main thread (what `--threads 1`
 * runs), one worker thread with an attached handle (the cost of attaching, apart from scaling)
 * and two worker threads. Every run of a configuration must read the same records (checksums)
 * as every other.
 *
 *   node dist/bench/ycsb-threads.js [--repetitions N]   (after `npm run build`)
 *   node dist/bench/ycsb-threads.js --write-results     (also replaces its section of RESULTS.md)
 *   node dist/bench/ycsb-threads.js --quick             (seconds; STRATA_BENCH_QUICK=1 too)
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../src/package-root.js';
import {
  type CorePhaseResult,
  type CoreResult,
  runCoreWorkloads,
} from '../src/ycsb/core-driver.js';
import { checkEngines } from '../src/ycsb/core-report.js';
import type { CoreWorkloadName } from '../src/ycsb/core-workload.js';
import { formatCount, renderMarkdownTable, renderTable } from '../src/ycsb/text-table.js';
import { gitCommit } from './git-commit.js';
import { spliceSection } from './results-section.js';

export const SECTION_BEGIN = '<!-- bench/ycsb-threads.ts: begin -->';
export const SECTION_END = '<!-- bench/ycsb-threads.ts: end -->';

const SEED = 42;
const WORKLOADS: readonly CoreWorkloadName[] = ['c', 'a'];
/** The targets: two threads ÷ one thread. */
const TARGETS: Readonly<Partial<Record<CoreWorkloadName, number>>> = { c: 1.6, a: 1.3 };

interface Configuration {
  readonly name: string;
  readonly threads: number;
  readonly onWorkers: boolean;
}

const CONFIGURATIONS: readonly Configuration[] = [
  { name: '1 thread (main)', threads: 1, onWorkers: false },
  { name: '1 worker', threads: 1, onWorkers: true },
  { name: '2 workers', threads: 2, onWorkers: true },
];
const BASELINE = CONFIGURATIONS[0]!;
const TWO = CONFIGURATIONS[2]!;

export interface YcsbThreadsSizes {
  readonly recordCount: number;
  readonly operationCounts: Readonly<Record<'a' | 'c', number>>;
  readonly repetitions: number;
}

/**
 * Full: 200,000 records × 1 KB as in bench/ycsb-core.ts, and as many operations as one thread
 * runs in ~20–30 s on this machine (C ~80 k ops/s, A ~35 k ops/s).
 */
export function ycsbThreadsSizes(quick: boolean, repetitions?: number): YcsbThreadsSizes {
  return {
    recordCount: quick ? 2_000 : 200_000,
    operationCounts: quick ? { c: 2_000, a: 2_000 } : { c: 2_000_000, a: 800_000 },
    repetitions: repetitions ?? (quick ? 1 : 3),
  };
}

export interface YcsbThreadsReport {
  readonly text: string;
  readonly markdown: string;
  /** Two workers ÷ the main thread, per workload (medians). */
  readonly ratios: Readonly<Record<string, number>>;
}

export async function runYcsbThreadsBench(options: {
  readonly quick: boolean;
  readonly repetitions?: number;
  readonly log?: (line: string) => void;
}): Promise<YcsbThreadsReport> {
  const sizes = ycsbThreadsSizes(options.quick, options.repetitions);
  const log = options.log ?? (() => {});
  const loadAtStart = loadavg();
  const startedMs = performance.now();
  const runs = new Map<Configuration, CoreResult[]>(CONFIGURATIONS.map((each) => [each, []]));
  for (let repetition = 0; repetition < sizes.repetitions; repetition++) {
    // Rotate the order so no configuration always runs first (or right after another's flushes).
    for (let step = 0; step < CONFIGURATIONS.length; step++) {
      const configuration = CONFIGURATIONS[(repetition + step) % CONFIGURATIONS.length]!;
      log(`ycsb-threads: repetition ${repetition + 1}/${sizes.repetitions}, ${configuration.name}`);
      const result = await runCoreWorkloads({
        engines: ['strata'],
        workloads: WORKLOADS,
        recordCount: sizes.recordCount,
        operationCount: sizes.operationCounts.c,
        operationCounts: sizes.operationCounts,
        seed: SEED,
        threads: configuration.threads,
        onWorkers: configuration.onWorkers,
      });
      runs.get(configuration)!.push(result);
    }
  }
  const elapsedSeconds = (performance.now() - startedMs) / 1000;
  return render(runs, { quick: options.quick, sizes, loadAtStart, elapsedSeconds });
}

interface RenderContext {
  readonly quick: boolean;
  readonly sizes: YcsbThreadsSizes;
  readonly loadAtStart: readonly number[];
  readonly elapsedSeconds: number;
}

const PHASES = ['load', ...WORKLOADS] as const;

function render(runs: Map<Configuration, CoreResult[]>, context: RenderContext): YcsbThreadsReport {
  const medians = (configuration: Configuration, phase: string) =>
    median(runs.get(configuration)!.map((result) => phaseOf(result, phase).opsPerSecond));
  const ratios: Record<string, number> = {};
  for (const phase of PHASES) ratios[phase] = medians(TWO, phase) / medians(BASELINE, phase);
  const headers = [
    'configuration',
    ...PHASES.map((phase) => `${label(phase)} ops/s`),
    ...PHASES.map((phase) => `${label(phase)} ÷ main`),
    'per thread ops/s (median run)',
    'p50 / p99 µs (median run)',
  ];
  const rows = CONFIGURATIONS.map((configuration) => {
    const results = runs.get(configuration)!;
    return [
      configuration.name,
      ...PHASES.map((phase) => formatCount(medians(configuration, phase))),
      ...PHASES.map(
        (phase) => `${(medians(configuration, phase) / medians(BASELINE, phase)).toFixed(2)}x`,
      ),
      WORKLOADS.map(
        (phase) => `${label(phase)} ${perThread(phaseOf(medianRun(results, phase), phase))}`,
      ).join('; '),
      WORKLOADS.map(
        (phase) => `${label(phase)} ${latency(phaseOf(medianRun(results, phase), phase))}`,
      ).join('; '),
    ];
  });
  const cpuHeaders = [
    'configuration',
    'phase',
    'client threads: s on a CPU',
    'client threads: s waiting for a CPU',
    'rest of the process: s on a CPU',
    'ops per client CPU-second',
    '÷ main',
  ];
  const perCpuSecond = (configuration: Configuration, phase: string) =>
    median(
      runs.get(configuration)!.map((result) => {
        const figures = cpuFigures(phaseOf(result, phase));
        return figures === undefined ? 0 : (phaseOf(result, phase).ops * 1000) / figures.clientMs;
      }),
    );
  const cpuRows = CONFIGURATIONS.flatMap((configuration) =>
    PHASES.map((phase) => {
      const figures = runs
        .get(configuration)!
        .map((result) => cpuFigures(phaseOf(result, phase)))
        .filter((each) => each !== undefined);
      const seconds = (pick: (each: CpuFigures) => number) =>
        figures.length === 0 ? '-' : (median(figures.map(pick)) / 1000).toFixed(1);
      const rate = perCpuSecond(configuration, phase);
      const baseRate = perCpuSecond(BASELINE, phase);
      return [
        configuration.name,
        label(phase),
        seconds((each) => each.clientMs),
        seconds((each) => each.runQueueMs),
        seconds((each) => each.restMs),
        figures.length === 0 ? '-' : formatCount(rate),
        figures.length === 0 || baseRate === 0 ? '-' : `${(rate / baseRate).toFixed(2)}x`,
      ];
    }),
  );
  const best = (configuration: Configuration, phase: string) =>
    Math.max(...runs.get(configuration)!.map((result) => phaseOf(result, phase).opsPerSecond));
  const targets = WORKLOADS.filter((phase) => TARGETS[phase] !== undefined)
    .map((phase) => {
      const target = TARGETS[phase]!;
      const ratio = ratios[phase]!;
      const bestRatio = best(TWO, phase) / best(BASELINE, phase);
      return `${label(phase)}: 2 workers ÷ main thread ${ratio.toFixed(2)}x by medians (target ${target.toFixed(1)}x, ${ratio >= target ? 'met' : 'missed'}), ${bestRatio.toFixed(2)}x best run ÷ best run`;
    })
    .join('; ');
  const spread = CONFIGURATIONS.map((configuration) =>
    PHASES.map(
      (phase) =>
        `${label(phase)} ${runs
          .get(configuration)!
          .map((result) => formatCount(phaseOf(result, phase).opsPerSecond))
          .join(', ')}`,
    ).join('; '),
  ).map((line, index) => `${CONFIGURATIONS[index]!.name}: ${line}`);
  const verified = verification(runs);
  const { sizes } = context;
  const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' / ');
  const notes = [
    `- date: ${new Date().toISOString()}, node ${process.version}, commit ${gitCommit(packageRoot())}; ${cpus().length} cores; load average (1/5/15 min) ${load(context.loadAtStart)} at the start, ${load(loadavg())} at the end; the bench took ${context.elapsedSeconds.toFixed(0)} s${context.quick ? '. Quick run: sizes too small to mean anything.' : ''}`,
    `- ${formatCount(sizes.recordCount)} records × 1 KB (bench/ycsb-core.ts's records), loaded, then C (${formatCount(sizes.operationCounts.c)} reads) and A (${formatCount(sizes.operationCounts.a)} ops, 50/50 read/update) on the same store, seed ${SEED}, scrambled zipfian; a fresh store per configuration and repetition; median of ${sizes.repetitions} repetition(s), configurations interleaved. Workers: one \`db.handle()\` each, ops split by key (heaviest keys dealt first), every op awaited before the next; the main thread only coordinates.`,
    `- Per-run ops/s, ${spread.join(' | ')}.`,
    `- ${targets}.`,
    `- Verification: ${verified}.`,
  ];
  const title = `### Strata YCSB C and A on 1 and 2 client threads (bench/ycsb-threads.ts)${context.quick ? ' — quick smoke run' : ''}`;
  const cpuNote =
    'Where the time went (medians over the repetitions; Linux /proc/thread-self/schedstat of each client thread, process.cpuUsage for the whole process; the rest is the coordinator, flushes, compactions and the collector):';
  const text = [
    title,
    ...notes,
    '',
    renderTable(headers, rows),
    '',
    cpuNote,
    renderTable(cpuHeaders, cpuRows),
  ].join('\n');
  const markdown = [
    SECTION_BEGIN,
    title,
    '',
    ...notes,
    '',
    renderMarkdownTable(headers, rows),
    '',
    cpuNote,
    '',
    renderMarkdownTable(cpuHeaders, cpuRows),
    SECTION_END,
  ].join('\n');
  return { text, markdown, ratios };
}

/** Every run of every configuration read the same records, with no misses. */
function verification(runs: Map<Configuration, CoreResult[]>): string {
  const all = [...runs.values()].flat();
  const checks = all.map((result) => checkEngines(result.engines));
  const reference = JSON.stringify(checks[0]);
  const same = checks.every((each) => JSON.stringify(each) === reference);
  const clean = checks.every((each) =>
    each.every((check) => check.misses === 0 && check.badRecords === 0),
  );
  const figures = (checks[0] ?? [])
    .map(
      (check) =>
        `${label(check.phase)} ${check.checksum} (${formatCount(check.recordsRead)} records)`,
    )
    .join(', ');
  if (!same || !clean) return `MISMATCH or misses across ${all.length} runs`;
  return `all ${all.length} runs read the same records with no misses: ${figures}`;
}

function perThread(phase: CorePhaseResult): string {
  if (phase.perThread.length === 0) return formatCount(phase.opsPerSecond);
  return phase.perThread.map((thread) => formatCount(thread.opsPerSecond)).join(' + ');
}

interface CpuFigures {
  readonly clientMs: number;
  readonly runQueueMs: number;
  readonly restMs: number;
}

/** Client threads' CPU and run-queue time, and the rest of the process's CPU (Linux only). */
function cpuFigures(phase: CorePhaseResult): CpuFigures | undefined {
  const clients =
    phase.perThread.length === 0
      ? [phase.mainThread]
      : phase.perThread.map((thread) =>
          thread.cpuMs === undefined || thread.runQueueMs === undefined
            ? undefined
            : { cpuMs: thread.cpuMs, runQueueMs: thread.runQueueMs },
        );
  let clientMs = 0;
  let runQueueMs = 0;
  for (const client of clients) {
    if (client === undefined) return undefined;
    clientMs += client.cpuMs;
    runQueueMs += client.runQueueMs;
  }
  return { clientMs, runQueueMs, restMs: Math.max(0, phase.processCpuMs - clientMs) };
}

function latency(phase: CorePhaseResult): string {
  const micros = (ns: number) => (ns / 1000).toFixed(ns < 10_000 ? 1 : 0);
  return `${micros(phase.latency.p50Ns)} / ${micros(phase.latency.p99Ns)}`;
}

function label(phase: string): string {
  return phase === 'load' ? 'load' : phase.toUpperCase();
}

function phaseOf(result: CoreResult, phase: string): CorePhaseResult {
  const found = result.engines[0]?.phases.find((each) => each.phase === phase);
  if (found === undefined) throw new Error(`no ${phase} phase`);
  return found;
}

/** The run whose `phase` throughput is the median (for its per-thread and latency figures). */
function medianRun(results: readonly CoreResult[], phase: string): CoreResult {
  const sorted = [...results].sort(
    (left, right) => phaseOf(left, phase).opsPerSecond - phaseOf(right, phase).opsPerSecond,
  );
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]!
    : Math.round((sorted[middle - 1]! + sorted[middle]!) / 2);
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const quick = process.argv.includes('--quick') || process.env['STRATA_BENCH_QUICK'] === '1';
  const at = process.argv.indexOf('--repetitions');
  const repetitions = at >= 0 ? Number(process.argv[at + 1]) : undefined;
  if (repetitions !== undefined && !(Number.isInteger(repetitions) && repetitions >= 1)) {
    throw new Error('--repetitions must be a positive integer');
  }
  const report = await runYcsbThreadsBench({
    quick,
    ...(repetitions === undefined ? {} : { repetitions }),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${report.text}\n`);
  if (process.argv.includes('--write-results')) {
    if (quick) throw new Error('--write-results refuses a quick run');
    spliceSection(
      join(packageRoot(), 'bench', 'RESULTS.md'),
      { begin: SECTION_BEGIN, end: SECTION_END },
      report.markdown,
    );
    process.stderr.write('replaced the bench/ycsb-threads.ts section of bench/RESULTS.md\n');
  }
}
