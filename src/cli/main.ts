#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { isStrataError, StrataError } from '../errors.js';
import { stressCommand } from '../stress/stress-command.js';
import { runCoreWorkloads } from '../ycsb/core-driver.js';
import { coreRunVerified, formatCoreReport } from '../ycsb/core-report.js';
import { CORE_WORKLOAD_NAMES, type CoreWorkloadName } from '../ycsb/core-workload.js';
import { runYcsb } from '../ycsb/driver.js';
import {
  ENGINE_NAMES,
  type EngineName,
  type EngineOptions,
  isEngineName,
} from '../ycsb/engines.js';
import {
  type GeneratorOptions,
  type KeyDistribution,
  WORKLOAD_PRESETS,
  type WorkloadPresetName,
  type WriteMode,
  writeWorkloadPair,
} from '../ycsb/generator.js';
import {
  type KeyDistribution as CoreDistribution,
  KEY_DISTRIBUTIONS,
} from '../ycsb/key-choosers.js';
import { isKvEngineName, KV_ENGINE_NAMES, type KvEngineName } from '../ycsb/kv-engines.js';
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
  program.addCommand(stressCommand());
  await program.parseAsync([...argv]);
}

interface YcsbFlags {
  readonly engine: readonly string[];
  readonly workload?: readonly CoreWorkloadName[];
  readonly records: number;
  readonly operations: number;
  readonly seed: number;
  readonly distribution?: CoreDistribution;
  readonly load?: string;
  readonly run?: string;
  readonly threads: number;
  readonly backend?: 'mapped' | 'emulated';
  readonly dir?: string;
  readonly json?: boolean;
  readonly latencySample?: number;
  readonly progress: boolean;
}

const ALL_ENGINE_NAMES = [...new Set<string>([...ENGINE_NAMES, ...KV_ENGINE_NAMES])];

function ycsbCommand(): Command {
  return new Command('ycsb')
    .description(
      'run YCSB core workloads A-F (--workload) or a course load/run file pair (--load/--run) and verify the results',
    )
    .option(
      '--engine <names>',
      `engine under test; with --workload a comma list runs each on the same operations (${ALL_ENGINE_NAMES.join(', ')})`,
      parseEngineList,
      ['ehash'],
    )
    .option(
      '--workload <letters>',
      'YCSB core workloads to run in order, e.g. a or a,b,c,f,d,e',
      parseWorkloadList,
    )
    .option('--records <n>', 'core workloads: records loaded first', parsePositiveInteger, 100_000)
    .option(
      '--operations <n>',
      'core workloads: operations per workload',
      parseNonNegativeInteger,
      100_000,
    )
    .option('--seed <n>', 'core workloads: generator seed', parseNonNegativeInteger, 1)
    .addOption(
      new Option(
        '--distribution <kind>',
        "core workloads: override the workloads' request distribution",
      ).choices(KEY_DISTRIBUTIONS),
    )
    .option('--load <file>', 'load workload (run first)')
    .option('--run <file>', 'run workload (measured mix, after the load)')
    .option(
      '--threads <n>',
      'client threads: 1 runs on the main thread, more run worker threads (ehash, strata; core workloads: strata)',
      parsePositiveInteger,
      1,
    )
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
      'time every n-th op (power of two; default 16, 1 for classic-level and strata; 8 for core workloads)',
      parsePositiveInteger,
    )
    .option('--no-progress', 'never show a progress bar')
    .action(async (flags: YcsbFlags, command: Command) => {
      if (flags.workload !== undefined) await runCoreCommand(flags, command);
      else await runFileCommand(flags);
    });
}

/** `--workload`: the byte-keyed core workloads on one or more engines (src/ycsb/core-driver.ts). */
async function runCoreCommand(flags: YcsbFlags, command: Command): Promise<void> {
  if (flags.load !== undefined || flags.run !== undefined) {
    throw new StrataError('ERR_INVALID_ARGUMENT', 'give --workload or --load/--run, not both');
  }
  const typedEngine = command.getOptionValueSource('engine') === 'cli';
  const engines = typedEngine ? flags.engine : ['strata'];
  for (const engine of engines) {
    if (!isKvEngineName(engine)) {
      throw new StrataError(
        'ERR_INVALID_ARGUMENT',
        `--workload runs on ${KV_ENGINE_NAMES.join(', ')}; ${engine} has no byte-keyed adapter`,
      );
    }
  }
  if (flags.backend !== undefined) {
    throw new StrataError('ERR_INVALID_ARGUMENT', '--backend applies to --load/--run only');
  }
  const result = await runCoreWorkloads({
    engines: engines as KvEngineName[],
    workloads: flags.workload ?? [],
    recordCount: flags.records,
    operationCount: flags.operations,
    seed: flags.seed,
    threads: flags.threads,
    ...optional('distribution', flags.distribution),
    ...optional('latencySampleEvery', flags.latencySample),
    ...optional('dir', flags.dir),
    ...(flags.progress && process.stderr.isTTY === true
      ? { log: (line: string) => process.stderr.write(`${line}\n`) }
      : {}),
  });
  process.stdout.write(
    flags.json === true ? `${JSON.stringify(result, null, 2)}\n` : `${formatCoreReport(result)}\n`,
  );
  if (!coreRunVerified(result)) {
    // Not a usage error: the report is printed, and the exit code tells scripts the run is bad.
    process.stderr.write('strata: verification failed: misses, bad records or checksums differ\n');
    process.exitCode = 1;
  }
}

/** `--load/--run`: the course's u64 workload files on one engine (src/ycsb/driver.ts). */
async function runFileCommand(flags: YcsbFlags): Promise<void> {
  if (flags.load === undefined && flags.run === undefined) {
    throw new StrataError('ERR_INVALID_ARGUMENT', 'give --load FILE, --run FILE or both');
  }
  const engine = flags.engine[0]!;
  if (flags.engine.length !== 1 || !isEngineName(engine)) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `--load/--run runs one engine of ${ENGINE_NAMES.join(', ')}, not ${flags.engine.join(',')}`,
    );
  }
  const load = flags.load === undefined ? undefined : readWorkloadFile(flags.load);
  const run = flags.run === undefined ? undefined : readWorkloadFile(flags.run);
  const engineOptions: EngineOptions = {
    ...(flags.dir === undefined ? {} : { dir: flags.dir }),
    ...(flags.backend === undefined ? {} : { backend: flags.backend }),
  };
  const result = await runYcsb({
    engine: engine satisfies EngineName,
    engineOptions,
    threads: flags.threads,
    progress: flags.progress && process.stderr.isTTY === true,
    ...optional('load', load),
    ...optional('run', run),
    ...optional('latencySampleEvery', flags.latencySample),
  });
  process.stdout.write(
    flags.json === true ? `${JSON.stringify(result, null, 2)}\n` : `${formatYcsbReport(result)}\n`,
  );
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

function parseEngineList(text: string): string[] {
  const names = text.split(',').filter((name) => name.length > 0);
  for (const name of names) {
    if (!ALL_ENGINE_NAMES.includes(name)) {
      throw new InvalidArgumentError(`Allowed choices are ${ALL_ENGINE_NAMES.join(', ')}.`);
    }
  }
  if (names.length === 0) throw new InvalidArgumentError('expected an engine name');
  return names;
}

function parseWorkloadList(text: string): CoreWorkloadName[] {
  const names = text
    .toLowerCase()
    .split(',')
    .filter((name) => name.length > 0);
  const workloads: CoreWorkloadName[] = [];
  for (const name of names) {
    const workload = CORE_WORKLOAD_NAMES.find((each) => each === name);
    if (workload === undefined) {
      throw new InvalidArgumentError(`expected workloads among ${CORE_WORKLOAD_NAMES.join(', ')}`);
    }
    workloads.push(workload);
  }
  if (workloads.length === 0) throw new InvalidArgumentError('expected a workload letter');
  return workloads;
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
