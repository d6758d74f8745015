/**
 * The core workloads on worker threads attached to one Strata store (compiled worker in
 * dist/workers; run `npx tsc -p tsconfig.build.json` first): 2 threads must give exactly a
 * one-thread run's verification figures, including E, whose scans read other threads' keys.
 */
import { describe, expect, test } from 'vitest';
import { type CoreDriverOptions, runCoreWorkloads } from './core-driver.js';
import { coreRunVerified, formatCoreReport } from './core-report.js';
import type { CoreWorkloadName } from './core-workload.js';
import { generateCoreRun } from './core-workload.js';
import { partitionCoreRun } from './partition.js';

const BASE: Omit<CoreDriverOptions, 'workloads'> = {
  engines: ['strata'],
  recordCount: 2_000,
  operationCount: 2_000,
  operationCounts: { e: 400 },
  seed: 11,
};

async function oneAndTwo(workloads: readonly CoreWorkloadName[]) {
  const single = await runCoreWorkloads({ ...BASE, workloads, threads: 1 });
  const parallel = await runCoreWorkloads({ ...BASE, workloads, threads: 2 });
  return { single: single.engines[0]!, parallel: parallel.engines[0]!, result: parallel };
}

describe('core workloads on 2 strata threads', () => {
  test('A and C read the same records, with the same checksums, as one thread', async () => {
    const { single, parallel, result } = await oneAndTwo(['a', 'c']);
    expect(parallel.phases.map((phase) => phase.phase)).toEqual(['load', 'a', 'c']);
    for (const [index, phase] of parallel.phases.entries()) {
      const reference = single.phases[index]!;
      expect(phase.verification, `workload ${phase.phase}`).toEqual(reference.verification);
      expect(phase.ops).toBe(reference.ops);
      expect(phase.perThread).toHaveLength(2);
      expect(phase.perThread.reduce((sum, thread) => sum + thread.ops, 0)).toBe(phase.ops);
      expect(phase.latency.samples).toBeGreaterThan(0);
      expect(reference.perThread).toEqual([]);
    }
    const a = parallel.phases[1]!.verification;
    expect(a).toMatchObject({ readMisses: 0, updateMisses: 0, badRecords: 0 });
    expect(a.recordsRead).toBeGreaterThan(500);
    expect(coreRunVerified(result)).toBe(true);
    const report = formatCoreReport(result);
    expect(report).toMatch(/seed 11, 2 threads;/);
    expect(report).toMatch(/ {2}strata a per thread: #0 [\d,]+ ops [\d,]+ ops\/s, #1 /);
  });

  test('E: scans over both threads’ keys see exactly the inserts before them', async () => {
    const { single, parallel } = await oneAndTwo(['e']);
    const e = parallel.phases[1]!;
    expect(e.kindCounts[2]).toBeGreaterThan(0); // inserts
    expect(e.verification).toEqual(single.phases[1]!.verification);
    expect(e.verification.recordsRead).toBeGreaterThan(e.ops * 10);
    expect(e.verification).toMatchObject({ readMisses: 0, badRecords: 0 });
  });

  test('the split keeps each key on one thread, in phase order, with phase indices, and balanced', () => {
    const run = generateCoreRun({
      workload: 'a',
      recordCount: 500,
      operationCount: 3_000,
      seed: 2,
    });
    const parts = partitionCoreRun(run, 2);
    expect(parts.reduce((sum, part) => sum + part.count, 0)).toBe(run.count);
    // Zipfian: a few keys carry most ops, yet the threads get (nearly) equal shares.
    expect(Math.abs(parts[0]!.count - parts[1]!.count)).toBeLessThanOrEqual(run.count / 100);
    const owner = new Map<number, number>();
    for (const [thread, part] of parts.entries()) {
      for (let at = 0; at < part.count; at++) {
        const index = part.opIndices![at]!;
        if (at > 0) expect(index).toBeGreaterThan(part.opIndices![at - 1]!);
        expect(part.keynums[at]).toBe(run.keynums[index]);
        expect(part.kinds[at]).toBe(run.kinds[index]);
        expect(owner.get(part.keynums[at]!) ?? thread).toBe(thread);
        owner.set(part.keynums[at]!, thread);
      }
    }
  });

  test('--threads with an engine other than strata is refused before any work', async () => {
    await expect(
      runCoreWorkloads({ ...BASE, engines: ['strata', 'map'], workloads: ['c'], threads: 2 }),
    ).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringMatching(/needs the strata engine; map runs on one thread/),
    });
  });
});
