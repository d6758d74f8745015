#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { isStrataError, StrataError } from '../errors.js';
import { runYcsb } from '../ycsb/driver.js';
import { ENGINE_NAMES, type EngineName, type EngineOptions } from '../ycsb/engines.js';
import {
  type GeneratorOptions,
  type KeyDistribution,
  WORKLOAD_PRESETS,
  type WorkloadPresetName,
  type WriteMode,
  writeWorkloadPair,
} from '../ycsb/generator.js';
import { formatYcsbReport } from '../ycsb/report.js';
import { readWorkloadFile } from '../ycsb/workload.js';

/**
 * The `strata` command line: `strata ycsb` runs a load/run workload pair against an engine,
 * `strata gen-workload` writes a seeded pair. User errors print `strata: <message> (<code>)`
 * and exit 1, without a stack trace.
 */
export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('strata')
    .description('Strata KV tools: YCSB workloads and benchmarks')
    .showHelpAfterError('(run with --help for usage)');
  program.addCommand(ycsbCommand());
  program.addCommand(generateCommand());
  await program.parseAsync([...argv]);
}

interface YcsbFlags {
  readonly engine: EngineName;
  readonly load?: string;
  readonly run?: string;
  readonly threads: number;
  readonly backend?: 'mapped' | 'emulated';
  readonly dir?: string;
  readonly json?: boolean;
  readonly latencySample?: number;
  readonly progress: boolean;
}

function ycsbCommand(): Command {
  return new Command('ycsb')
    .description('run a YCSB load phase then a run phase and verify the results')
    .addOption(
      new Option('--engine <name>', 'engine under test').choices(ENGINE_NAMES).default('ehash'),
    )
    .option('--load <file>', 'load workload (run first)')
    .option('--run <file>', 'run workload (measured mix, after the load)')
    .option('--threads <n>', 'worker threads (ehash only)', parsePositiveInteger, 1)
    .addOption(
      new Option(
        '--backend <kind>',
        'NVM backend of ehash (default mapped) or strata (default auto)',
      ).choices(['mapped', 'emulated']),
    )
    .option('--dir <dir>', 'engine directory, kept afterwards (default: a temp dir, removed)')
    .option('--json', 'print the results as JSON')
    .option(
      '--latency-sample <n>',
      'time every n-th op (power of two; default 16, 1 for classic-level and strata)',
      parsePositiveInteger,
    )
    .option('--no-progress', 'never show a progress bar')
    .action(async (flags: YcsbFlags) => {
      if (flags.load === undefined && flags.run === undefined) {
        throw new StrataError('ERR_INVALID_ARGUMENT', 'give --load FILE, --run FILE or both');
      }
      const load = flags.load === undefined ? undefined : readWorkloadFile(flags.load);
      const run = flags.run === undefined ? undefined : readWorkloadFile(flags.run);
      const engineOptions: EngineOptions = {
        ...(flags.dir === undefined ? {} : { dir: flags.dir }),
        ...(flags.backend === undefined ? {} : { backend: flags.backend }),
      };
      const result = await runYcsb({
        engine: flags.engine,
        engineOptions,
        threads: flags.threads,
        progress: flags.progress && process.stderr.isTTY === true,
        ...optional('load', load),
        ...optional('run', run),
        ...optional('latencySampleEvery', flags.latencySample),
      });
      process.stdout.write(
        flags.json === true
          ? `${JSON.stringify(result, null, 2)}\n`
          : `${formatYcsbReport(result)}\n`,
      );
    });
}

interface GenerateFlags {
  readonly preset?: WorkloadPresetName;
  readonly out: string;
  readonly name?: string;
  readonly seed: number;
  readonly records: number;
  readonly operations: number;
  readonly readPercent: number;
  readonly deletePercent: number;
  readonly write: WriteMode;
  readonly distribution: KeyDistribution;
  readonly duplicatePrefixes?: boolean;
}

function generateCommand(): Command {
  return new Command('gen-workload')
    .description('write a seeded load/run workload pair in the course format')
    .addOption(
      new Option('--preset <name>', "a named pair (220w: the course's missing 2.2 M pair)").choices(
        Object.keys(WORKLOAD_PRESETS),
      ),
    )
    .option('--out <dir>', 'output directory', 'workload')
    .option('--name <name>', 'file name stem (default from the sizes, e.g. 10w-rw-50-50)')
    .option('--seed <n>', 'generator seed', parseNonNegativeInteger, 1)
    .option('--records <n>', 'records in the load file', parsePositiveInteger, 100_000)
    .option('--operations <n>', 'operations in the run file', parseNonNegativeInteger, 10_000)
    .option('--read-percent <p>', 'percent of run ops that READ', parsePercent, 50)
    .option('--delete-percent <p>', 'percent of run ops that DELETE', parsePercent, 0)
    .addOption(
      new Option('--write <mode>', 'the remaining run ops')
        .choices(['insert', 'update'])
        .default('insert'),
    )
    .addOption(
      new Option('--distribution <kind>', 'key choice for READ/UPDATE/DELETE')
        .choices(['uniform', 'zipfian'])
        .default('uniform'),
    )
    .option('--duplicate-prefixes', 'let 8-character prefixes repeat (some INSERTs then fail)')
    .action((flags: GenerateFlags, command: Command) => {
      const { options, name } = generatorRequest(flags, command);
      const startedMs = performance.now();
      const paths = writeWorkloadPair(options, { directory: flags.out, name });
      const seconds = ((performance.now() - startedMs) / 1000).toFixed(2);
      process.stdout.write(`wrote ${paths.loadPath} and ${paths.runPath} in ${seconds} s\n`);
    });
}

/** A preset's options, overridden only by flags the user typed. */
function generatorRequest(
  flags: GenerateFlags,
  command: Command,
): { options: GeneratorOptions; name: string } {
  const typed = (option: string) => command.getOptionValueSource(option) === 'cli';
  const preset = flags.preset === undefined ? undefined : WORKLOAD_PRESETS[flags.preset];
  const base: GeneratorOptions = preset?.options ?? {
    seed: flags.seed,
    recordCount: flags.records,
    operationCount: flags.operations,
    readPercent: flags.readPercent,
    writeMode: flags.write,
    distribution: flags.distribution,
  };
  const options: GeneratorOptions = {
    seed: typed('seed') ? flags.seed : base.seed,
    recordCount: typed('records') ? flags.records : base.recordCount,
    operationCount: typed('operations') ? flags.operations : base.operationCount,
    readPercent: typed('readPercent') ? flags.readPercent : base.readPercent,
    deletePercent: flags.deletePercent,
    writeMode: typed('write') ? flags.write : base.writeMode,
    distribution: typed('distribution') ? flags.distribution : base.distribution,
    distinctPrefixes: flags.duplicatePrefixes !== true,
  };
  const anyOverride = [
    'seed',
    'records',
    'operations',
    'readPercent',
    'write',
    'distribution',
  ].some(typed);
  const name =
    flags.name ?? (preset !== undefined && !anyOverride ? preset.name : defaultName(options));
  return { options, name };
}

function defaultName(options: GeneratorOptions): string {
  const size =
    options.recordCount % 10_000 === 0
      ? `${options.recordCount / 10_000}w`
      : `${options.recordCount}`;
  const readPercent = Math.round(options.readPercent);
  return `${size}-rw-${readPercent}-${100 - readPercent}`;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function parsePositiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new InvalidArgumentError('expected a positive integer');
  return value;
}

function parseNonNegativeInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0)
    throw new InvalidArgumentError('expected an integer >= 0');
  return value;
}

function parsePercent(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 100)
    throw new InvalidArgumentError('expected a percent in [0, 100]');
  return value;
}

/** Exit code 1 and one line for expected errors; a stack trace only for bugs. */
function reportFailure(error: unknown): void {
  if (isStrataError(error)) {
    process.stderr.write(`strata: ${error.message} (${error.code})\n`);
  } else {
    process.stderr.write(
      `strata: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
  process.exitCode = 1;
}

main(process.argv).catch(reportFailure);
