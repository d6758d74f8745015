/**
 * The stress harness end to end: a short run in this process (its threads are workers running
 * dist/workers/stress-worker.js on attached handles) and a short crash loop through the compiled
 * CLI (`node dist/src/cli/main.js stress --crash-loop …`), which kills its children with
 * SIGKILL and verifies the store after each kill. Both must end with no failure and nothing
 * lost, having run every operation kind and (the loop) survived its kills. STRATA_SLOW=1: a
 * longer run with more threads and a longer loop. Build first: `npx tsc -p tsconfig.build.json`.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { refuseStaleBuild } from '../db/testing/kill-harness.js';
import type { CrashLoopReport } from './crash-loop.js';
import { OP_KINDS } from './stress-config.js';
import { runStress } from './stress-run.js';

const SLOW = process.env['STRATA_SLOW'] === '1';
const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
/** The workers and the CLI run from dist: pairs of a source and what it compiles to. */
const COMPILED = [
  ['../../workers/stress-worker.ts', '../../dist/workers/stress-worker.js'],
  ['./stress-thread.ts', '../../dist/src/stress/stress-thread.js'],
  ['./stress-index-ops.ts', '../../dist/src/stress/stress-index-ops.js'],
  ['./read-checks.ts', '../../dist/src/stress/read-checks.js'],
  ['./crash-loop.ts', '../../dist/src/stress/crash-loop.js'],
  ['./stress-run.ts', '../../dist/src/stress/stress-run.js'],
  ['./store-verify.ts', '../../dist/src/stress/store-verify.js'],
  ['../cli/main.ts', '../../dist/src/cli/main.js'],
  ['../db/attached.ts', '../../dist/src/db/attached.js'],
] as const;

describe('strata stress', () => {
  test(`in process: ${SLOW ? 4 : 2} threads for ${SLOW ? 30 : 3} s, every kind of op, no failure`, async () => {
    refuseStaleBuild(import.meta.url, COMPILED);
    const temp = makeTempFolder('stress-run');
    try {
      const config = {
        dir: temp.path,
        threads: SLOW ? 4 : 2,
        seconds: SLOW ? 30 : 3,
        seed: 7,
        opsPerThread: Number.POSITIVE_INFINITY,
        keysPerThread: 120,
      };
      const report = await runStress(config);
      console.log(
        JSON.stringify({
          ops: report.counters.ops,
          checks: report.counters.checks,
          store: report.store,
        }),
      );
      expect(report.failures).toEqual([]);
      expect(report.counters.failures).toBe(0);
      for (const kind of OP_KINDS) expect(report.counters.ops[kind], kind).toBeGreaterThan(0);
      expect(report.final?.lost).toBe(0);
      expect(report.final?.ackedWrites).toBeGreaterThan(100);
      expect(report.counters.checks.indexQuery).toBeGreaterThan(0);
      expect(report.counters.checks.indexFull).toBeGreaterThan(0);
      // The store was busy: flushes, compactions, blobs, appends, GC and index builds all ran.
      for (const name of [
        'flushes',
        'compactions',
        'blobsWritten',
        'appendsInPlace',
        'indexBuilds',
      ] as const) {
        expect(report.store[name], name).toBeGreaterThan(0);
      }
      // A second run on the same folder goes on from the first one's state.
      const again = await runStress({ ...config, seconds: 1, seed: 8 });
      expect(again.failures).toEqual([]);
      expect(again.startup.ackedWrites).toBe(report.final?.ackedWrites);
    } finally {
      temp.remove();
    }
  });

  test(`crash loop through the CLI: ${SLOW ? 12 : 3} kills, every acknowledged write and index verified`, async () => {
    refuseStaleBuild(import.meta.url, COMPILED);
    const temp = makeTempFolder('stress-crash');
    try {
      const kills = SLOW ? 12 : 3;
      // Seed 3 plans its first kills after the threads start; 1.5–3 s in, every kind has run.
      const args = ['stress', '--threads', '2', '--keys', '120', '--seed', '3', '--dir', temp.path];
      const loop = [
        '--crash-loop',
        String(kills),
        '--seconds',
        '600',
        '--kill-after',
        SLOW ? '300-2000' : '1500-3000',
      ];
      const { code, stdout, stderr } = await run([...args, ...loop, '--json']);
      expect(stderr).toBe('');
      const report = JSON.parse(stdout) as CrashLoopReport;
      console.log(report.rounds.map((round) => JSON.stringify(round)).join('\n'));
      expect(report.failures).toEqual([]);
      expect(code).toBe(0);
      expect(report.crashes).toBe(kills);
      expect(report.lost).toBe(0);
      expect(report.writesVerified).toBeGreaterThan(100);
      for (const kind of OP_KINDS) expect(report.counters.ops[kind], kind).toBeGreaterThan(0);
      expect(report.rounds.some((round) => round.verify.indexes > 0)).toBe(true);
    } finally {
      temp.remove();
    }
  });
});

function run(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
