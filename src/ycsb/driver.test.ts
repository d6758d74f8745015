import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { type DriverOptions, runYcsb, type YcsbResult } from './driver.js';
import { type EngineName, type EngineOptions, importPeer } from './engines.js';
import { generateWorkload } from './generator.js';
import { parseWorkload, readWorkloadFile } from './workload.js';

const WORKLOAD_DIR = join(import.meta.dirname, '..', '..', 'workload');
const pair = (name: string) => ({
  load: readWorkloadFile(join(WORKLOAD_DIR, `${name}-load.txt`)),
  run: readWorkloadFile(join(WORKLOAD_DIR, `${name}-run.txt`)),
});

/** An independent model: BigInt values in a Map, from the raw text. */
function referenceModel(name: string): {
  failedInserts: number[];
  readMisses: number[];
  checksum: bigint;
} {
  const store = new Map<string, bigint>();
  const failedInserts: number[] = [];
  const readMisses: number[] = [];
  let checksum = 0n;
  for (const phase of ['load', 'run']) {
    let failed = 0;
    let misses = 0;
    const text = readFileSync(join(WORKLOAD_DIR, `${name}-${phase}.txt`), 'latin1');
    for (const line of text.trimEnd().split('\n')) {
      const [op, digits] = line.split(' ') as [string, string];
      const key = digits.slice(0, 8).replace(/^0+(?=.)/, '');
      if (op === 'INSERT') {
        if (store.has(key)) failed++;
        else store.set(key, BigInt(digits));
      } else if (op === 'UPDATE') {
        if (store.has(key)) store.set(key, BigInt(digits));
      } else if (op === 'READ') {
        const value = store.get(key);
        if (value === undefined) misses++;
        else checksum = (checksum + value) % 2n ** 64n;
      }
    }
    failedInserts.push(failed);
    readMisses.push(misses);
  }
  return { failedInserts, readMisses, checksum };
}

async function run(
  engine: EngineName,
  name: string,
  extra: Partial<DriverOptions> & { engineOptions?: EngineOptions } = {},
): Promise<YcsbResult> {
  return runYcsb({ engine, ...pair(name), progress: false, ...extra });
}

function expectCourseFigures(result: YcsbResult, name: string): void {
  const model = referenceModel(name);
  const [load, runPhase] = result.phases;
  expect(load!.verification.failedInserts).toBe(model.failedInserts[0]);
  expect(runPhase!.verification.failedInserts).toBe(model.failedInserts[1]);
  expect(runPhase!.verification.readMisses).toBe(0);
  expect(runPhase!.verification.updateMisses).toBe(0);
  expect(BigInt(result.verification.checksum)).toBe(model.checksum);
  expect(result.verification.checksumHex).toBe(
    `0x${model.checksum.toString(16).padStart(16, '0')}`,
  );
}

describe.each([
  ['map', {}],
  ['ehash', { backend: 'mapped' }],
  ['ehash', { backend: 'emulated' }],
] as [EngineName, EngineOptions][])('%s %o on the course files', (engine, engineOptions) => {
  test('10w-rw-50-50: 3 failed inserts in the load, 0 read misses in the run', async () => {
    const result = await run(engine, '10w-rw-50-50', { engineOptions });
    expect(result.phases[0]!.verification.failedInserts).toBe(3);
    expect(result.phases[1]!.verification.readMisses).toBe(0);
    expect(result.phases[1]!.verification.failedInserts).toBe(0);
    expectCourseFigures(result, '10w-rw-50-50');
    if (engine === 'ehash') expect(result.stats?.keys).toBe(99_997 + 5_102);
  });

  test('1w-rw-50-50: 0 failed inserts, 0 read and update misses', async () => {
    const result = await run(engine, '1w-rw-50-50', { engineOptions });
    expect(result.phases[0]!.verification.failedInserts).toBe(0);
    expect(result.phases[1]!.verification.readMisses).toBe(0);
    expect(result.phases[1]!.verification.updateMisses).toBe(0);
    expectCourseFigures(result, '1w-rw-50-50');
  });
});

describe.each(['map', 'ehash'] as EngineName[])('every 10w pair on %s', (engine) => {
  test.each(['10w-rw-0-100', '10w-rw-25-75', '10w-rw-75-25', '10w-rw-100-0'])(
    '%s matches the reference model: 0 read misses',
    async (name) => {
      const result = await run(engine, name);
      expectCourseFigures(result, name);
      expect(result.phases[1]!.verification.readMisses).toBe(0);
    },
  );
});

test('phase figures: ops, op mix, throughput and sampled latency percentiles', async () => {
  const result = await run('map', '10w-rw-50-50', { latencySampleEvery: 4 });
  const phase = result.phases[1]!;
  expect(phase.ops).toBe(10_000);
  expect(phase.opCounts).toMatchObject({ read: 4_898, insert: 5_102 });
  expect(phase.opsPerSecond).toBeGreaterThan(0);
  expect(phase.latency.sampleEvery).toBe(4);
  expect(phase.latency.samples).toBe(2_500);
  expect(phase.latency.p50Ns).toBeLessThanOrEqual(phase.latency.p99Ns);
  expect(phase.latency.p99Ns).toBeLessThanOrEqual(phase.latency.p999Ns);
});

describe('strata engine', () => {
  test('10w-rw-50-50 verifies exactly like ehash: 3 failed inserts, 0 read misses', async () => {
    const strata = await run('strata', '10w-rw-50-50');
    const ehash = await run('ehash', '10w-rw-50-50');
    expect(strata.label).toBe('strata');
    expect(strata.phases[0]!.verification.failedInserts).toBe(3);
    expect(strata.phases[1]!.verification.readMisses).toBe(0);
    expect(strata.phases.map((phase) => phase.verification)).toEqual(
      ehash.phases.map((phase) => phase.verification),
    );
    expect(strata.verification).toEqual(ehash.verification);
    expectCourseFigures(strata, '10w-rw-50-50');
  });

  test('update and delete misses match the map engine on a generated pair', async () => {
    const generated = generateWorkload({
      seed: 11,
      recordCount: 500,
      operationCount: 800,
      readPercent: 40,
      deletePercent: 20,
      writeMode: 'update',
      distribution: 'zipfian',
      distinctPrefixes: false,
    });
    const pairOf = () => ({
      load: parseWorkload(generated.load, 'load'),
      run: parseWorkload(generated.run, 'run'),
      progress: false,
    });
    const strata = await runYcsb({ engine: 'strata', ...pairOf() });
    const map = await runYcsb({ engine: 'map', ...pairOf() });
    expect(strata.verification).toEqual(map.verification);
  });

  test('--threads above the 64 attached handles of a store is a clear StrataError', async () => {
    await expect(run('strata', '1w-rw-50-50', { threads: 65 })).rejects.toMatchObject({
      name: 'StrataError',
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringMatching(/at most 64 attached threads/),
    });
  });
});

describe('peer engines', () => {
  test.each(['lmdb-nosync', 'classic-level'] as EngineName[])(
    '%s on 1w-rw-50-50 gives the reference figures',
    async (engine) => {
      expectCourseFigures(await run(engine, '1w-rw-50-50'), '1w-rw-50-50');
    },
  );

  test('lmdb (synchronous commits) on a small generated pair', async () => {
    const generated = generateWorkload({
      seed: 5,
      recordCount: 300,
      operationCount: 300,
      readPercent: 40,
      deletePercent: 20,
      writeMode: 'update',
      distribution: 'zipfian',
    });
    const result = await runYcsb({
      engine: 'lmdb',
      load: parseWorkload(generated.load, 'load'),
      run: parseWorkload(generated.run, 'run'),
      progress: false,
    });
    const mapResult = await runYcsb({
      engine: 'map',
      load: parseWorkload(generated.load, 'load'),
      run: parseWorkload(generated.run, 'run'),
      progress: false,
    });
    expect(result.verification).toEqual(mapResult.verification);
    expect(result.verification.removeMisses).toBe(0);
  });

  test.each(['strata', 'lmdb-nosync', 'classic-level'] as EngineName[])(
    '%s runs SCAN in key order',
    async (engine) => {
      const load = parseWorkload(
        Buffer.from('INSERT 10\nINSERT 30\nINSERT 20\nINSERT 40\n'),
        'load',
      );
      const scans = parseWorkload(Buffer.from('SCAN 15 2\nSCAN 35\nSCAN 50 3\n'), 'run');
      const result = await runYcsb({ engine, load, run: scans, progress: false });
      expect(result.phases[1]!.verification.scanRecords).toBe(2 + 1 + 0);
      expect(result.verification.checksum).toBe(String(20 + 30 + 40));
    },
  );
});

describe('refusals before any operation', () => {
  const scanRun = parseWorkload(Buffer.from('READ 1\nSCAN 1 5\n'), 'scan.txt');
  test.each(['map', 'ehash'] as EngineName[])(
    '%s refuses SCAN with ERR_WORKLOAD',
    async (engine) => {
      await expect(runYcsb({ engine, run: scanRun, progress: false })).rejects.toMatchObject({
        code: 'ERR_WORKLOAD',
        message: expect.stringMatching(
          /scan\.txt has 1 SCAN lines, but the .* engine has no ordered scans/,
        ),
      });
    },
  );

  test('--threads > 1 needs ehash or strata', async () => {
    await expect(run('map', '1w-rw-50-50', { threads: 2 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringMatching(/needs the ehash or strata engine; map runs on one thread/),
    });
  });

  test('--backend is for ehash only', async () => {
    await expect(
      run('map', '1w-rw-50-50', { engineOptions: { backend: 'emulated' } }),
    ).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });
  });
});

describe('engine directories and peers', () => {
  test('an explicit --dir is kept and ehash recovers it; temp dirs are removed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-driver-test-'));
    try {
      const first = await run('ehash', '1w-rw-50-50', { engineOptions: { dir } });
      expect(first.phases[0]!.verification.failedInserts).toBe(0);
      expect(existsSync(join(dir, 'ehash.nvm'))).toBe(true);
      const again = await run('ehash', '1w-rw-50-50', { engineOptions: { dir } });
      expect(again.phases[0]!.verification.failedInserts).toBe(10_000);
      expect(again.phases[1]!.verification.readMisses).toBe(0);
      expect(again.stats?.keys).toBe(10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const leftovers = readdirSync(tmpdir()).filter((name) => name.startsWith('strata-ycsb-map-'));
    await run('map', '1w-rw-50-50');
    const after = readdirSync(tmpdir()).filter((name) => name.startsWith('strata-ycsb-map-'));
    expect(after.length).toBeLessThanOrEqual(leftovers.length);
  });

  test('a missing peer package is a clear StrataError', async () => {
    const missing = Object.assign(new Error("Cannot find package 'lmdb'"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    await expect(importPeer('lmdb', () => Promise.reject(missing), 'lmdb')).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message:
        'the lmdb engine needs the optional package "lmdb"; install it with: npm install lmdb',
    });
  });
});
