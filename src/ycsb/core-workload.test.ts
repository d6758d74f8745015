import { describe, expect, test } from 'vitest';
import { buildRecord, patchRecord, RECORD_BYTES, ReadChecksum, userKeyOf } from './core-record.js';
import {
  CORE_WORKLOAD_NAMES,
  CORE_WORKLOADS,
  CoreOperationStream,
  generateCoreRun,
  OP_INSERT,
  OP_READ,
  OP_READ_MODIFY_WRITE,
  OP_SCAN,
  OP_UPDATE,
} from './core-workload.js';
import { createKeyChooser, SkewedLatest } from './key-choosers.js';
import { Prng } from './prng.js';
import { fnvHash64Mod } from './zipfian.js';

/** YCSB's Utils.fnvhash64 in BigInt: FNV-1a over 8 little-endian octets, then Math.abs. */
function referenceFnvHash64(value: number): bigint {
  let hash = 0xcbf29ce484222325n;
  let rest = BigInt(value);
  for (let octet = 0; octet < 8; octet++) {
    hash ^= rest & 0xffn;
    rest >>= 8n;
    hash = BigInt.asUintN(64, hash * 0x100000001b3n);
  }
  const signed = BigInt.asIntN(64, hash);
  return signed < 0n ? -signed : signed;
}

function zeta(count: number): number {
  let sum = 0;
  for (let index = 0; index < count; index++) sum += 1 / (index + 1) ** 0.99;
  return sum;
}

describe('key format', () => {
  test('keys are "user" + the decimal fnvhash64 of the key number (YCSB insertorder=hashed)', () => {
    // YCSB's first key, familiar from every YCSB run with default settings.
    expect(userKeyOf(0)).toBe('user6284781860667377211');
    for (const keynum of [1, 2, 99, 12_345, 199_999, 4_294_967_295]) {
      expect(userKeyOf(keynum)).toBe(`user${referenceFnvHash64(keynum)}`);
    }
  });
});

describe('key choosers', () => {
  test('scrambled zipfian: the hottest key is fnvhash64(0) mod n, drawn about 1/zeta(10^10) of the time', () => {
    const itemCount = 10_000;
    const chooser = createKeyChooser('zipfian', new Prng(3), {
      recordCount: itemCount,
      expectedNewKeys: 0,
    });
    const counts = new Uint32Array(itemCount);
    const draws = 200_000;
    for (let draw = 0; draw < draws; draw++) counts[chooser.next(itemCount - 1)]!++;
    const hottest = counts.indexOf(Math.max(...counts));
    expect(hottest).toBe(fnvHash64Mod(0, itemCount + 1));
    // YCSB's precomputed zeta(10^10, 0.99); other ranks hashing onto the same key only add.
    const theory = 1 / 26.46902820178302;
    expect(counts[hottest]! / draws).toBeGreaterThan(theory - 0.003);
    expect(counts[hottest]! / draws).toBeLessThan(theory + 0.006);
    // Skewed: the 1 % hottest keys take far more than 1 % of the draws.
    const sorted = [...counts].sort((left, right) => right - left);
    const top = sorted.slice(0, itemCount / 100).reduce((sum, count) => sum + count, 0);
    expect(top / draws).toBeGreaterThan(0.18);
  });

  test('latest: the newest key is the hottest, near 1/zeta(n), and popularity follows inserts', () => {
    const latest = new SkewedLatest(new Prng(5), 999);
    const draws = 100_000;
    let newest = 0;
    for (let draw = 0; draw < draws; draw++) if (latest.next(999) === 999) newest++;
    expect(newest / draws).toBeCloseTo(1 / zeta(999), 2);
    // In workload D, reads chase the inserts: most reads hit the 10 newest keys of the moment.
    const stream = new CoreOperationStream({
      workload: 'd',
      recordCount: 1_000,
      operationCount: 20_000,
      seed: 7,
    });
    let last = 999;
    let reads = 0;
    let recentReads = 0;
    let readsOfInserted = 0;
    let outOfOrder = 0;
    for (let index = 0; index < 20_000; index++) {
      const kind = stream.next();
      if (kind === OP_INSERT) {
        if (stream.keynum !== last + 1) outOfOrder++;
        last = stream.keynum;
        continue;
      }
      if (stream.keynum > last) outOfOrder++;
      reads++;
      if (stream.keynum > last - 10) recentReads++;
      if (stream.keynum >= 1_000) readsOfInserted++;
    }
    expect(outOfOrder).toBe(0);
    expect(recentReads / reads).toBeGreaterThan(0.3);
    expect(readsOfInserted / reads).toBeGreaterThan(0.8);
  });

  test('uniform: every tenth of the records gets a tenth of the draws', () => {
    const chooser = createKeyChooser('uniform', new Prng(9), {
      recordCount: 1_000,
      expectedNewKeys: 0,
    });
    const buckets = new Uint32Array(10);
    const draws = 100_000;
    for (let draw = 0; draw < draws; draw++) buckets[Math.floor(chooser.next(999) / 100)]!++;
    for (const count of buckets) expect(Math.abs(count / draws - 0.1)).toBeLessThan(0.006);
  });
});

describe('core workloads', () => {
  test.each(CORE_WORKLOAD_NAMES)('workload %s: the mix matches YCSB within 1.5 percent', (name) => {
    const run = generateCoreRun({
      workload: name,
      recordCount: 5_000,
      operationCount: 20_000,
      seed: 1,
    });
    const spec = CORE_WORKLOADS[name];
    const expected = [spec.read, spec.update, spec.insert, spec.scan, spec.readModifyWrite];
    for (const [kind, proportion] of expected.entries()) {
      expect(Math.abs(run.kindCounts[kind]! / run.count - proportion)).toBeLessThan(0.015);
    }
    // One expect per property, not per operation (vitest's expect costs microseconds).
    let inserted = 5_000;
    let scanLengthSum = 0;
    const broken = { insertOrder: 0, keyAboveInserts: 0, scanLength: 0, field: 0, readArgument: 0 };
    for (let index = 0; index < run.count; index++) {
      const kind = run.kinds[index]!;
      const argument = run.arguments[index]!;
      if (kind === OP_INSERT) {
        if (run.keynums[index] !== inserted++) broken.insertOrder++;
      } else if (run.keynums[index]! >= inserted) broken.keyAboveInserts++;
      if (kind === OP_SCAN) {
        if (argument < 1 || argument > 100) broken.scanLength++;
        scanLengthSum += argument;
      }
      if ((kind === OP_UPDATE || kind === OP_READ_MODIFY_WRITE) && argument >= 10) broken.field++;
      if (kind === OP_READ && argument !== 0) broken.readArgument++;
    }
    expect(broken).toEqual({
      insertOrder: 0,
      keyAboveInserts: 0,
      scanLength: 0,
      field: 0,
      readArgument: 0,
    });
    if (name === 'e') expect(scanLengthSum / run.kindCounts[OP_SCAN]!).toBeCloseTo(50.5, 0);
  });

  test('the same seed gives the same operations; another seed or workload does not', () => {
    const options = { workload: 'a' as const, recordCount: 2_000, operationCount: 5_000, seed: 11 };
    const first = generateCoreRun(options);
    const again = generateCoreRun(options);
    const same = (left: ArrayBufferView, right: ArrayBufferView) =>
      Buffer.from(left.buffer).equals(Buffer.from(right.buffer));
    expect(same(again.kinds, first.kinds)).toBe(true);
    expect(same(again.keynums, first.keynums)).toBe(true);
    expect(same(again.arguments, first.arguments)).toBe(true);
    expect(again.salt).toBe(first.salt);
    expect(same(generateCoreRun({ ...options, seed: 12 }).keynums, first.keynums)).toBe(false);
    expect(same(generateCoreRun({ ...options, workload: 'b' }).keynums, first.keynums)).toBe(false);
  });

  test('bad options are ERR_INVALID_ARGUMENT', () => {
    const base = { workload: 'a' as const, recordCount: 10, operationCount: 10, seed: 1 };
    for (const bad of [{ recordCount: 1 }, { operationCount: -1 }, { seed: 1.5 }]) {
      expect(() => generateCoreRun({ ...base, ...bad })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
      );
    }
  });
});

describe('records', () => {
  test('a record is 10 fields of 100 bytes; a patch rewrites one field and changes the checksum', () => {
    const record = buildRecord(17, 0);
    expect(record.length).toBe(RECORD_BYTES);
    expect(buildRecord(17, 0)).toEqual(record);
    const patched = patchRecord(record, { keynum: 17, field: 3, version: 5 });
    for (let field = 0; field < 10; field++) {
      const same = patched
        .subarray(field * 100, field * 100 + 100)
        .equals(record.subarray(field * 100, field * 100 + 100));
      expect(same).toBe(field !== 3);
    }
    const before = new ReadChecksum();
    before.add(record);
    const after = new ReadChecksum();
    after.add(patched);
    expect(after.value).not.toBe(before.value);
    after.add(new Uint8Array(10));
    expect(after.badRecords).toBe(1);
  });
});
