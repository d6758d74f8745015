/**
 * Runs every benchmark and writes bench/RESULTS.md with the date, machine, Node version and git
 * commit. STRATA_BENCH_QUICK=1 runs everything small (seconds) as a smoke test of the bench code
 * and writes bench/out/RESULTS.quick.md instead, so CI never overwrites measured results.
 *
 *   npm run bench                                   (builds, then runs with the 10w and 100w pairs)
 *   node dist/bench/run-all.js --presets 10w,220w   (any of 1w, 10w, 100w, 220w)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, type as osType, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../src/package-root.js';
import { formatCount, renderMarkdownTable } from '../src/ycsb/text-table.js';
import { runAppendPasses } from './append.js';
import { runEhashMicro } from './ehash-micro.js';
import { runRecoveryBench } from './ehash-recovery.js';
import { runEngineBench } from './engine.js';
import { gitCommit } from './git-commit.js';
import { runIndexBench } from './index.js';
import { runLocksBench } from './locks.js';
import { runSstBench } from './sst.js';
import { runYcsbBlobBench } from './ycsb-blob.js';
import { COMPARE_PRESETS, type ComparePreset, runYcsbCompare } from './ycsb-compare.js';
import { runYcsbCoreBench } from './ycsb-core.js';
import { runYcsbThreadsBench } from './ycsb-threads.js';

export async function runAll(options: {
  quick: boolean;
  presets: readonly ComparePreset[];
}): Promise<string> {
  const root = packageRoot();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const sections: string[] = [machineSection(root, options.quick)];
  for (const preset of options.quick ? (['1w'] as const) : options.presets) {
    const report = await runYcsbCompare({ preset, quick: options.quick, root, log });
    process.stdout.write(`${report.text}\n\n`);
    sections.push(report.markdown);
  }
  const micro = await runEhashMicro({ quick: options.quick, log });
  process.stdout.write(`${micro.text}\n\n`);
  sections.push(micro.markdown);
  log('recovery after kill -9');
  const recovery = await runRecoveryBench({ keys: options.quick ? 50_000 : 2_200_000 });
  process.stdout.write(`${recovery.markdown}\n\n`);
  sections.push(recovery.markdown);
  sections.push(await runLocks(log));
  sections.push(await runSst(options.quick, log));
  const engine = await runEngineBench({ quick: options.quick, log });
  process.stdout.write(`${engine.text}\n\n`);
  sections.push(engine.markdown);
  const svgName = options.quick ? 'ycsb-core.quick.svg' : 'ycsb-core.svg';
  const core = await runYcsbCoreBench({ quick: options.quick, log, svgName });
  process.stdout.write(`${core.text}\n\n`);
  sections.push(core.markdown);
  const threads = await runYcsbThreadsBench({ quick: options.quick, log });
  process.stdout.write(`${threads.text}\n\n`);
  sections.push(threads.markdown);
  const append = await runAppendPasses({ quick: options.quick, log });
  process.stdout.write(`${append.text}\n\n`);
  sections.push(append.markdown);
  const blobYcsb = await runYcsbBlobBench({ quick: options.quick, log });
  process.stdout.write(`${blobYcsb.text}\n\n`);
  sections.push(blobYcsb.markdown);
  const indexes = await runIndexBench({ quick: options.quick, log });
  process.stdout.write(`${indexes.text}\n\n`);
  sections.push(indexes.markdown);
  const markdown = `${sections.join('\n\n')}\n`;
  const path = options.quick
    ? join(root, 'bench', 'out', 'RESULTS.quick.md')
    : join(root, 'bench', 'RESULTS.md');
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, markdown);
  writeFileSync(join(path, '..', svgName), core.svg); // linked from the YCSB core section
  log(`wrote ${path}`);
  return path;
}

function machineSection(root: string, quick: boolean): string {
  const cpuList = cpus();
  const lines = [
    `# Strata benchmark results${quick ? ' (quick smoke run: sizes too small to mean anything)' : ''}`,
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpuList[0]?.model ?? 'unknown cpu'}, ${cpuList.length} cores, ${formatCount(totalmem() / 2 ** 30)} GiB, ${osType()} ${release()}`,
    `- load average at start (1/5/15 min): ${loadavg()
      .map((load) => load.toFixed(2))
      .join(' / ')}`,
    `- node: ${process.version}`,
    `- commit: ${gitCommit(root)}`,
    '',
    'Throughput is operations per second over a whole phase on one thread unless the table says',
    'threads; latencies are sampled (every 16th op, classic-level every op) and include the clock',
    'read (~50–100 ns). `ehash÷engine` is how many times faster ehash (mapped) is than that engine.',
    'All engines run in one process, in the order listed.',
  ];
  return lines.join('\n');
}

async function runLocks(log: (line: string) => void): Promise<string> {
  log('locks');
  const results = await runLocksBench();
  const rows = results.map((result) => [
    result.name,
    formatCount(result.opsPerSecond),
    (1e9 / result.opsPerSecond).toFixed(1),
  ]);
  const table = renderMarkdownTable(['operation', 'ops/s', 'ns/op'], rows);
  process.stdout.write(`locks\n${rows.map((row) => row.join('  ')).join('\n')}\n`);
  return `### Locks, one thread, uncontended (bench/locks.ts)\n\n${table}`;
}

async function runSst(quick: boolean, log: (line: string) => void): Promise<string> {
  log('sst');
  const results = await runSstBench({ quick });
  const rows = results.map((result) => [
    result.name,
    formatCount(result.opsPerSecond),
    (1e6 / result.opsPerSecond).toFixed(2),
    result.megabytesPerSecond === undefined ? '' : result.megabytesPerSecond.toFixed(0),
  ]);
  const table = renderMarkdownTable(['operation', 'ops/s', 'µs/op', 'MB/s'], rows);
  process.stdout.write(`sst\n${rows.map((row) => row.join('  ')).join('\n')}\n`);
  return `### Sorted tables, one thread (bench/sst.ts)\n\n${table}`;
}

function parsePresets(argv: readonly string[]): ComparePreset[] {
  const index = argv.indexOf('--presets');
  const text = index >= 0 ? (argv[index + 1] ?? '') : '10w,100w';
  const presets = text.split(',').filter((preset) => preset.length > 0);
  for (const preset of presets) {
    if (!(COMPARE_PRESETS as readonly string[]).includes(preset)) {
      throw new Error(`unknown preset ${preset}; use ${COMPARE_PRESETS.join(', ')}`);
    }
  }
  return presets as ComparePreset[];
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  await runAll({
    quick: process.env['STRATA_BENCH_QUICK'] === '1',
    presets: parsePresets(process.argv),
  });
}
