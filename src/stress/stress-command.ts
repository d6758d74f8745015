/**
 * `strata stress`: the command-line face of the stress harness (src/cli/main.ts adds it). It
 * parses the flags, runs one stress run (stress-run.ts) or the crash loop (crash-loop.ts), prints
 * the report, and sets exit code 1 when any check failed or anything was lost.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { type CrashLoopReport, KILL_AFTER_MS_DEFAULT, runCrashLoop } from './crash-loop.js';
import {
  KEYS_PER_THREAD_DEFAULT,
  KEYS_PER_THREAD_MAX,
  KNOWN_ENGINE_ISSUES,
  type StressConfig,
  THREADS_MAX,
} from './stress-config.js';
import {
  formatCounts,
  formatFailures,
  formatNumber,
  type StoreCounters,
  type StressCounters,
  sum,
} from './stress-report.js';
import { runStress, type StressReport } from './stress-run.js';

interface StressFlags {
  readonly dir: string;
  readonly threads: number;
  readonly seconds: number;
  readonly seed: number;
  readonly opsPerThread?: number;
  readonly keys: number;
  readonly crashLoop?: number;
  readonly killAfter: { readonly min: number; readonly max: number };
  readonly tolerateKnownIssues?: boolean;
  readonly json?: boolean;
  readonly progressLines?: boolean;
}

export function stressCommand(): Command {
  return new Command('stress')
    .description(
      'threads on attached handles run a seeded mix of every operation on one store and check ' +
        'every read; --crash-loop R kills a child run with kill -9 R times, verifying after each',
    )
    .requiredOption(
      '--dir <dir>',
      'folder of the store and its logs (kept; a later run goes on from it)',
    )
    .option('--threads <n>', `worker threads, at most ${THREADS_MAX}`, integerIn(1, THREADS_MAX), 4)
    .option('--seconds <s>', 'run time; with --crash-loop, of the whole loop', positiveNumber, 10)
    .option('--seed <n>', 'seed of every choice the run makes', integerIn(0, 2 ** 32 - 1), 1)
    .option('--ops-per-thread <k>', 'each thread stops after k operations', integerIn(1, 2 ** 31))
    .option(
      '--keys <m>',
      `keys each thread writes (half raw values, half field records), at most ${KEYS_PER_THREAD_MAX}`,
      integerIn(2, KEYS_PER_THREAD_MAX),
      KEYS_PER_THREAD_DEFAULT,
    )
    .option(
      '--crash-loop <r>',
      'kill -9 the run R times at random moments, verifying after each',
      integerIn(1, 1_000_000),
    )
    .option(
      '--kill-after <min-max>',
      'with --crash-loop: kill each run this many ms after its threads start (random in the range)',
      msRange,
      KILL_AFTER_MS_DEFAULT,
    )
    .option(
      '--tolerate-known-issues',
      'count errors of engine bugs found and not fixed yet (src/stress/README.md) instead of failing',
    )
    .option('--json', 'print the report as JSON')
    .addOption(new Option('--progress-lines', 'progress lines for a crash-loop parent').hideHelp())
    .action(async (flags: StressFlags) => {
      const config: StressConfig = {
        dir: flags.dir,
        threads: flags.threads,
        seconds: flags.seconds,
        seed: flags.seed,
        opsPerThread: flags.opsPerThread ?? Number.POSITIVE_INFINITY,
        keysPerThread: flags.keys,
        tolerateKnownIssues: flags.tolerateKnownIssues === true,
      };
      if (flags.crashLoop !== undefined) {
        const log =
          flags.json === true ? undefined : (line: string) => process.stdout.write(`${line}\n`);
        const loop = { ...config, crashLoop: flags.crashLoop, killAfterMs: flags.killAfter };
        const report = await runCrashLoop(loop, log);
        print(flags, report, formatCrashLoopReport);
        if (report.counters.failures > 0 || report.lost > 0) process.exitCode = 1;
        return;
      }
      const report = await runStress(config, { progressLines: flags.progressLines === true });
      print(flags, report, formatStressReport);
      if (report.counters.failures > 0 || (report.final?.lost ?? 0) > 0) process.exitCode = 1;
    });
}

function print<T>(flags: StressFlags, report: T, format: (report: T) => string): void {
  if (flags.progressLines === true) return; // the parent reads progress lines, not the report
  process.stdout.write(
    flags.json === true ? `${JSON.stringify(report, replacer, 2)}\n` : `${format(report)}\n`,
  );
}

/** Infinity (no --ops-per-thread) as null in JSON. */
function replacer(_key: string, value: unknown): unknown {
  return value === Number.POSITIVE_INFINITY ? null : value;
}

export function formatStressReport(report: StressReport): string {
  const { config, counters } = report;
  const seconds = report.elapsedMs / 1000;
  const ops = sum(counters.ops);
  const lines = [
    `strata stress: ${plural(config.threads, 'thread')}, ${config.seconds} s, seed ${config.seed}, ` +
      `${config.keysPerThread} keys per thread, ${config.dir}`,
    `start: ${describeVerify(report.startup)}`,
    ...describeCounters(counters, report.store, { ops, seconds }),
    report.final === undefined
      ? 'end: not run (the store failed its check at open)'
      : `end: ${describeVerify(report.final)}`,
    `failures: ${formatNumber(counters.failures)}`,
    ...formatFailures(report.failures, counters.failures),
    `lost: ${formatNumber(report.final?.lost ?? report.startup.lost)}`,
    counters.failures === 0
      ? 'result: ok'
      : `result: FAILED (reproduce with --seed ${config.seed})`,
  ];
  return lines.join('\n');
}

export function formatCrashLoopReport(report: CrashLoopReport): string {
  const { config, counters } = report;
  const seconds = report.elapsedMs / 1000;
  const lines = [
    `strata stress --crash-loop ${config.crashLoop}: ${plural(config.threads, 'thread')}, seed ${config.seed}, ` +
      `${config.keysPerThread} keys per thread, ${config.dir}, ${seconds.toFixed(1)} s`,
    ...describeCounters(counters, report.store, { ops: sum(counters.ops), seconds }),
    `crashes survived: ${formatNumber(report.crashes)} of ${report.rounds.length} runs ` +
      `(${report.rounds.filter((round) => round.early).length} killed while opening)`,
    `writes verified: ${formatNumber(report.writesVerified)} acknowledged writes, every one after every kill`,
    `lost: ${formatNumber(report.lost)}`,
    `failures: ${formatNumber(counters.failures)}`,
    ...formatFailures(report.failures, counters.failures),
    counters.failures === 0 && report.lost === 0
      ? 'result: ok'
      : `result: FAILED (reproduce with --seed ${config.seed}; the store is kept in ${config.dir})`,
  ];
  return lines.join('\n');
}

function describeCounters(
  counters: StressCounters,
  store: StoreCounters,
  run: { readonly ops: number; readonly seconds: number },
): string[] {
  return [
    `operations: ${formatNumber(run.ops)} (${formatNumber(Math.round(run.ops / Math.max(run.seconds, 0.001)))}/s)`,
    formatCounts(counters.ops, '  '),
    `checks: ${formatNumber(sum(counters.checks))} (${formatNumber(counters.acceptedErrors)} allowed errors)`,
    ...(counters.knownIssues === 0
      ? []
      : [
          `known engine issues tolerated: ${formatNumber(counters.knownIssues)} (${KNOWN_ENGINE_ISSUES.map((issue) => issue.id).join(', ')})`,
        ]),
    formatCounts(counters.checks, '  '),
    'store:',
    formatCounts(store, '  '),
  ];
}

function describeVerify(verify: StressReport['startup']): string {
  return (
    `${formatNumber(verify.ackedWrites)} acknowledged writes verified over ${formatNumber(verify.keys)} ` +
    `keys of ${plural(verify.threads, 'thread')}, in flight ${verify.inFlight} (landed ${verify.landed}), ` +
    `${verify.indexes} indexes (${formatNumber(verify.indexEntries)} entries) checked, lost ${verify.lost}`
  );
}

function plural(count: number, noun: string): string {
  return `${formatNumber(count)} ${noun}${count === 1 ? '' : 's'}`;
}

function integerIn(min: number, max: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected an integer in [${min}, ${max}]`);
    }
    return value;
  };
}

function msRange(text: string): { min: number; max: number } {
  const match = /^(\d+)-(\d+)$/.exec(text);
  const min = Number(match?.[1]);
  const max = Number(match?.[2]);
  if (match === null || min > max)
    throw new InvalidArgumentError('expected <min>-<max> in ms, e.g. 300-2000');
  return { min, max };
}

function positiveNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new InvalidArgumentError('expected a number > 0');
  return value;
}
