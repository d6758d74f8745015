import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runYcsb } from './driver.js';
import { generateWorkload } from './generator.js';
import { ycsbWorkerPath } from './parallel-driver.js';
import { partitionByKey, threadOfKey } from './partition.js';
import { parseWorkload, readWorkloadFile, type Workload } from './workload.js';

const WORKLOAD_DIR = join(import.meta.dirname, '..', '..', 'workload');

describe('partitionByKey', () => {
  test('every op lands on exactly one thread, each key on one thread, file order kept', () => {
    const generated = generateWorkload({
      seed: 9,
      recordCount: 2_000,
      operationCount: 4_000,
      readPercent: 40,
      deletePercent: 10,
      writeMode: 'update',
      distribution: 'zipfian',
    });
    const workload = parseWorkload(generated.run, 'run');
    const partitions = partitionByKey(workload, 3);
    expect(partitions.reduce((sum, part) => sum + part.count, 0)).toBe(workload.count);
    for (const [thread, part] of partitions.entries()) {
      expect(part.ops.buffer).toBeInstanceOf(SharedArrayBuffer);
      for (let index = 0; index < part.count; index++) {
        expect(threadOfKey(part.keyHi[index]!, part.keyLo[index]!, 3)).toBe(thread);
      }
    }
    // Order: each thread's list is the file order restricted to its keys.
    const expected = [0, 1, 2].map((thread) =>
      [...workload.valueLo].filter(
        (_, index) => threadOfKey(0, workload.keyLo[index]!, 3) === thread,
      ),
    );
    expect(partitions.map((part) => [...part.valueLo])).toEqual(expected);
  });

  test('the split is roughly even on the course keys', () => {
    const workload = readWorkloadFile(join(WORKLOAD_DIR, '10w-rw-50-50-load.txt'));
    const counts = partitionByKey(workload, 2).map((part) => part.count);
    expect(Math.abs(counts[0]! - counts[1]!)).toBeLessThan(2_000);
  });
});

describe('parallel driver on ehash (compiled worker in dist/workers)', () => {
  test('the worker entry is built', () => {
    expect(existsSync(ycsbWorkerPath()), 'run `npx tsc -p tsconfig.build.json` first').toBe(true);
  });

  const cases: [string, () => { load: Workload; run: Workload }][] = [
    [
      '10w-rw-50-50',
      () => ({
        load: readWorkloadFile(join(WORKLOAD_DIR, '10w-rw-50-50-load.txt')),
        run: readWorkloadFile(join(WORKLOAD_DIR, '10w-rw-50-50-run.txt')),
      }),
    ],
    [
      'generated updates and deletes, zipfian',
      () => {
        const generated = generateWorkload({
          seed: 21,
          recordCount: 30_000,
          operationCount: 30_000,
          readPercent: 50,
          deletePercent: 15,
          writeMode: 'update',
          distribution: 'zipfian',
        });
        return {
          load: parseWorkload(generated.load, 'load'),
          run: parseWorkload(generated.run, 'run'),
        };
      },
    ],
  ];
  test.each(cases)('%s: 2 threads give the same misses and checksum as 1', async (_name, make) => {
    const workloads = make();
    const single = await runYcsb({ engine: 'ehash', ...workloads, threads: 1, progress: false });
    const parallel = await runYcsb({ engine: 'ehash', ...workloads, threads: 2, progress: false });
    expect(parallel.threads).toBe(2);
    expect(parallel.verification).toEqual(single.verification);
    for (const [index, phase] of parallel.phases.entries()) {
      expect(phase.verification).toEqual(single.phases[index]!.verification);
      expect(phase.perThread).toHaveLength(2);
      expect(phase.perThread.reduce((sum, thread) => sum + thread.ops, 0)).toBe(phase.ops);
      expect(phase.latency.samples).toBeGreaterThan(0);
    }
    expect(parallel.stats?.keys).toBe(single.stats?.keys);
  });

  test('the emulated backend works with workers too', async () => {
    const result = await runYcsb({
      engine: 'ehash',
      engineOptions: { backend: 'emulated' },
      load: readWorkloadFile(join(WORKLOAD_DIR, '1w-rw-50-50-load.txt')),
      run: readWorkloadFile(join(WORKLOAD_DIR, '1w-rw-50-50-run.txt')),
      threads: 2,
      progress: false,
    });
    expect(result.phases[1]!.verification.readMisses).toBe(0);
    expect(result.phases[1]!.verification.updateMisses).toBe(0);
  });
});

describe('parallel driver on strata (attached handles, async loop)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'strata-parallel-test-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('1w-rw-50-50 (reads and updates): 2 threads give the same figures as 1', async () => {
    const workloads = {
      load: readWorkloadFile(join(WORKLOAD_DIR, '1w-rw-50-50-load.txt')),
      run: readWorkloadFile(join(WORKLOAD_DIR, '1w-rw-50-50-run.txt')),
    };
    const single = await runYcsb({ engine: 'strata', ...workloads, progress: false });
    const parallel = await runYcsb({ engine: 'strata', ...workloads, threads: 2, progress: false });
    expect(parallel.threads).toBe(2);
    expect(parallel.verification).toEqual(single.verification);
    expect(parallel.phases[1]!.verification).toMatchObject({ readMisses: 0, updateMisses: 0 });
    for (const [index, phase] of parallel.phases.entries()) {
      expect(phase.verification).toEqual(single.phases[index]!.verification);
      expect(phase.perThread.map((thread) => thread.ops).reduce((a, b) => a + b)).toBe(phase.ops);
      expect(phase.perThread.every((thread) => thread.orderWaitMs === 0)).toBe(true);
    }
  });

  test('SCAN lines among writes: scans see exactly the writes before them', async () => {
    // Keys 10000000..10000999 loaded; the run updates, deletes, re-inserts and scans across them.
    const lines: string[] = [];
    for (let key = 0; key < 1_000; key++) lines.push(`INSERT ${10_000_000 + key}${key % 10}`);
    writeFileSync(join(scratch, 'load.txt'), `${lines.join('\n')}\n`);
    const run: string[] = [];
    for (let index = 0; index < 3_000; index++) {
      const key = 10_000_000 + ((index * 7_919) % 1_000);
      const kind = index % 6;
      if (kind === 0) run.push(`SCAN ${key} ${1 + (index % 40)}`);
      else if (kind === 1) run.push(`UPDATE ${key}${index % 97}`);
      else if (kind === 2) run.push(`DELETE ${key}`);
      else if (kind === 3) run.push(`INSERT ${key}${index % 89}`);
      else run.push(`READ ${key}`);
    }
    writeFileSync(join(scratch, 'run.txt'), `${run.join('\n')}\n`);
    const workloads = () => ({
      load: readWorkloadFile(join(scratch, 'load.txt')),
      run: readWorkloadFile(join(scratch, 'run.txt')),
      progress: false,
    });
    const single = await runYcsb({ engine: 'strata', ...workloads() });
    const parallel = await runYcsb({ engine: 'strata', ...workloads(), threads: 2 });
    expect(single.phases[1]!.verification.scanRecords).toBeGreaterThan(5_000);
    expect(parallel.phases[1]!.verification).toEqual(single.phases[1]!.verification);
    expect(parallel.verification).toEqual(single.verification);
  });
});
