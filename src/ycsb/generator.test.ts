import { describe, expect, test } from 'vitest';
import { runYcsb } from './driver.js';
import { type GeneratorOptions, generateWorkload, WORKLOAD_PRESETS } from './generator.js';
import { Prng } from './prng.js';
import { Op, parseWorkload } from './workload.js';
import { fnvHash64Mod, ScrambledZipfian } from './zipfian.js';

const SMALL: GeneratorOptions = {
  seed: 7,
  recordCount: 5_000,
  operationCount: 5_000,
  readPercent: 50,
  writeMode: 'insert',
  distribution: 'uniform',
};

function sameBytes(left: Uint8Array, right: Uint8Array): boolean {
  return Buffer.from(left).equals(Buffer.from(right));
}

describe('generateWorkload', () => {
  test('the same seed gives the same bytes; another seed does not', () => {
    const first = generateWorkload(SMALL);
    const second = generateWorkload(SMALL);
    expect(sameBytes(first.load, second.load)).toBe(true);
    expect(sameBytes(first.run, second.run)).toBe(true);
    const other = generateWorkload({ ...SMALL, seed: 8 });
    expect(sameBytes(first.load, other.load)).toBe(false);
  });

  test('19-digit numbers with distinct 8-character prefixes, and the requested mix', () => {
    const generated = generateWorkload({ ...SMALL, operationCount: 20_000 });
    const text = Buffer.from(generated.load).toString('latin1');
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(5_000);
    for (const line of lines) expect(line).toMatch(/^INSERT [1-9]\d{18}$/);
    const load = parseWorkload(generated.load, 'load');
    const run = parseWorkload(generated.run, 'run');
    const prefixes = new Set<number>();
    for (let index = 0; index < load.count; index++) prefixes.add(load.keyLo[index]!);
    for (let index = 0; index < run.count; index++) {
      if (run.ops[index] === Op.insert) prefixes.add(run.keyLo[index]!);
    }
    expect(prefixes.size).toBe(load.count + run.opCounts.insert);
    expect(run.opCounts.read + run.opCounts.insert).toBe(20_000);
    expect(Math.abs(run.opCounts.read - 10_000)).toBeLessThan(400);
  });

  const variants: [string, Partial<GeneratorOptions>][] = [
    ['uniform inserts', {}],
    ['zipfian updates', { writeMode: 'update', distribution: 'zipfian' }],
    ['uniform updates with deletes', { writeMode: 'update', deletePercent: 20 }],
    [
      'zipfian inserts with deletes',
      { distribution: 'zipfian', deletePercent: 30, readPercent: 40 },
    ],
    ['deletes that empty the table', { recordCount: 50, readPercent: 10, deletePercent: 80 }],
  ];
  test.each(variants)('%s: a correct engine (map) has no misses', async (_name, overrides) => {
    const options = { ...SMALL, ...overrides };
    const generated = generateWorkload(options);
    const result = await runYcsb({
      engine: 'map',
      load: parseWorkload(generated.load, 'load'),
      run: parseWorkload(generated.run, 'run'),
      progress: false,
    });
    for (const phase of result.phases) {
      expect(phase.verification.failedInserts).toBe(0);
      expect(phase.verification.readMisses).toBe(0);
      expect(phase.verification.updateMisses).toBe(0);
      expect(phase.verification.removeMisses).toBe(0);
    }
    const run = result.phases[1]!;
    if ((options.deletePercent ?? 0) > 0) expect(run.opCounts.remove).toBeGreaterThan(0);
  });

  test('duplicate prefixes on request: the repeats fail, reads still hit', async () => {
    const generated = generateWorkload({ ...SMALL, recordCount: 40_000, distinctPrefixes: false });
    const load = parseWorkload(generated.load, 'load');
    const distinct = new Set(load.keyLo).size;
    expect(distinct).toBeLessThan(40_000);
    const result = await runYcsb({
      engine: 'map',
      load,
      run: parseWorkload(generated.run, 'run'),
      progress: false,
    });
    expect(result.phases[0]!.verification.failedInserts).toBe(40_000 - distinct);
    expect(result.phases[1]!.verification.readMisses).toBe(0);
  });

  test('the 220w preset: 2,200,000 INSERTs, then 220,000 ops half READ half INSERT', () => {
    const generated = generateWorkload(WORKLOAD_PRESETS['220w'].options);
    const load = parseWorkload(generated.load, '220w-load');
    const run = parseWorkload(generated.run, '220w-run');
    expect(load.count).toBe(2_200_000);
    expect(load.opCounts.insert).toBe(2_200_000);
    expect(run.count).toBe(220_000);
    expect(run.opCounts.read + run.opCounts.insert).toBe(220_000);
    expect(Math.abs(run.opCounts.read - 110_000)).toBeLessThan(1_500);
    expect(generated.load.length).toBe(2_200_000 * 27);
  });

  test('options out of range are ERR_INVALID_ARGUMENT', () => {
    expect(() => generateWorkload({ ...SMALL, readPercent: 101 })).toThrow(/readPercent/);
    expect(() => generateWorkload({ ...SMALL, readPercent: 60, deletePercent: 50 })).toThrow(
      /deletePercent/,
    );
    expect(() => generateWorkload({ ...SMALL, recordCount: 0 })).toThrow(/recordCount/);
    expect(() => generateWorkload({ ...SMALL, recordCount: 60_000_000 })).toThrow(/recordCount/);
  });
});

describe('ScrambledZipfian', () => {
  test('fnvHash64Mod equals YCSB fnvhash64 (BigInt reference) modulo n', () => {
    const prng = new Prng(3);
    for (let trial = 0; trial < 2_000; trial++) {
      const value = prng.nextBelow(2 ** 40);
      const modulus = 1 + prng.nextBelow(2 ** 31);
      expect(fnvHash64Mod(value, modulus)).toBe(referenceFnvMod(value, modulus));
    }
  });

  test('is skewed: the most popular item draws far more than a uniform share', () => {
    const zipfian = new ScrambledZipfian(new Prng(11));
    const counts = new Map<number, number>();
    let outOfRange = 0;
    for (let draw = 0; draw < 100_000; draw++) {
      const item = zipfian.next(10_000);
      if (item < 0 || item >= 10_000 || !Number.isInteger(item)) outOfRange++;
      counts.set(item, (counts.get(item) ?? 0) + 1);
    }
    expect(outOfRange).toBe(0);
    const top = Math.max(...counts.values());
    expect(top).toBeGreaterThan(100 * 10); // a uniform item would get about 10
  });
});

function referenceFnvMod(value: number, modulus: number): number {
  const mask = (1n << 64n) - 1n;
  let hash = 0xcbf29ce484222325n;
  let rest = BigInt(value);
  for (let octet = 0; octet < 8; octet++) {
    hash ^= rest & 0xffn;
    rest >>= 8n;
    hash = (hash * 0x100000001b3n) & mask;
  }
  let signed = BigInt.asIntN(64, hash);
  if (signed < 0n) signed = -signed;
  return Number(signed % BigInt(modulus));
}
