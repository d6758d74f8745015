import { describe, expect, test } from 'vitest';
import { runCoreWorkloads } from './core-driver.js';
import { checkEngines, coreRunVerified, formatCoreReport } from './core-report.js';
import { CORE_WORKLOAD_NAMES, OP_INSERT } from './core-workload.js';

describe('core workloads end to end', () => {
  test('A–F on map, strata and sqlite read identical records, with no misses', async () => {
    const result = await runCoreWorkloads({
      engines: ['map', 'strata', 'sqlite'],
      workloads: ['a', 'b', 'c', 'f', 'd', 'e'],
      recordCount: 600,
      operationCount: 500,
      operationCounts: { e: 150 },
      seed: 3,
      latencySampleEvery: 1,
    });
    expect(result.engines.map((engine) => engine.engine)).toEqual(['map', 'strata', 'sqlite']);
    const checks = checkEngines(result.engines);
    expect(checks.map((check) => check.phase).sort()).toEqual([...CORE_WORKLOAD_NAMES]);
    for (const check of checks) {
      expect(check, `workload ${check.phase}`).toMatchObject({
        agree: true,
        misses: 0,
        badRecords: 0,
      });
      expect(check.recordsRead).toBeGreaterThan(0);
    }
    expect(coreRunVerified(result)).toBe(true);
    for (const engine of result.engines) {
      const [load, ...runs] = engine.phases;
      expect(load).toMatchObject({ phase: 'load', ops: 600 });
      for (const run of runs) {
        expect(run.ops).toBe(run.phase === 'e' ? 150 : 500);
        expect(run.latency.samples).toBe(run.ops);
      }
    }
    // D's inserts stay: E starts from the records D left and scans across them.
    const strata = result.engines[1]!;
    expect(
      strata.phases.find((phase) => phase.phase === 'd')!.kindCounts[OP_INSERT],
    ).toBeGreaterThan(0);
    const report = formatCoreReport(result);
    expect(report).toMatch(/^YCSB core workloads, 600 records/);
    expect(report).toMatch(/strata\s+a\s+500\s+READ \d+ \/ UPDATE \d+/);
    expect(report).toMatch(
      /verify e: read\/update misses 0, bad records 0, .*\(all 3 engines agree\)/,
    );
  });

  test('a different seed reads different records', async () => {
    const run = (seed: number) =>
      runCoreWorkloads({
        engines: ['map'],
        workloads: ['c'],
        recordCount: 300,
        operationCount: 300,
        seed,
      });
    const [first, second] = [await run(1), await run(2)];
    expect(checkEngines(first.engines)[0]!.checksum).not.toBe(
      checkEngines(second.engines)[0]!.checksum,
    );
  });
});
