import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  BLOB_REF_BYTES,
  BLOB_REF_VERSION,
  type BlobRef,
  decodeBlobRef,
  encodeBlobRef,
  sameBlobLocation,
} from './blob-ref.js';
import { expectStrataError } from './testing/blob-fixtures.js';

const safe = fc.integer({ min: 0, max: 2 ** 40 });
const refArbitrary: fc.Arbitrary<BlobRef> = fc
  .record({
    fileNumber: fc.oneof(safe, fc.constant(Number.MAX_SAFE_INTEGER)),
    valueOffset: safe,
    used: safe,
    extra: safe,
    version: fc.integer({ min: 0, max: 0xffffffff }),
    crc: fc.integer({ min: 0, max: 0xffffffff }),
  })
  .map(({ extra, ...ref }) => ({ ...ref, capacity: ref.used + extra }));

describe('blob ref', () => {
  test('encode/decode round trip, fixed size, version first', () => {
    fc.assert(
      fc.property(refArbitrary, (ref) => {
        const bytes = encodeBlobRef(ref);
        expect(bytes.length).toBe(BLOB_REF_BYTES);
        expect(bytes[0]).toBe(BLOB_REF_VERSION);
        expect(decodeBlobRef(bytes, 'test')).toEqual(ref);
      }),
    );
  });

  test('golden bytes (little-endian fields)', () => {
    const ref = {
      fileNumber: 0x0102030405,
      valueOffset: 52,
      used: 3,
      capacity: 0x100000001,
      version: 2,
      crc: 0xdeadbeef,
    };
    const hex = Buffer.from(encodeBlobRef(ref)).toString('hex');
    expect(hex).toBe(
      '01' +
        '0504030201000000' +
        '3400000000000000' +
        '0300000000000000' +
        '0100000001000000' +
        '02000000' +
        'efbeadde',
    );
  });

  test('decode refuses a wrong length, version, oversized u64 or used > capacity', () => {
    const good = encodeBlobRef({
      fileNumber: 1,
      valueOffset: 52,
      used: 5,
      capacity: 9,
      version: 1,
      crc: 0,
    });
    expectStrataError(() => decodeBlobRef(good.subarray(1), 'table 7 entry k'), 'ERR_CORRUPT', [
      'table 7 entry k',
      'bytes',
    ]);
    const version = good.slice();
    version[0] = 2;
    expectStrataError(() => decodeBlobRef(version, 'here'), 'ERR_CORRUPT', ['here', 'version']);
    const usedAbove = good.slice();
    usedAbove[17] = 10; // used 10 > capacity 9
    expectStrataError(() => decodeBlobRef(usedAbove, 'here'), 'ERR_CORRUPT', ['capacity']);
    const huge = good.slice();
    huge[8] = 0xff; // fileNumber's top byte: above 2^53 - 1
    expectStrataError(() => decodeBlobRef(huge, 'here'), 'ERR_CORRUPT', ['2^53']);
    expect(decodeBlobRef(good, 'here').used).toBe(5);
  });

  test('encode asserts its ranges', () => {
    const ref = { fileNumber: 1, valueOffset: 52, used: 5, capacity: 9, version: 1, crc: 0 };
    expect(() => encodeBlobRef({ ...ref, used: 10 })).toThrow(/invariant/);
    expect(() => encodeBlobRef({ ...ref, fileNumber: -1 })).toThrow(/invariant/);
    expect(() => encodeBlobRef({ ...ref, version: 2 ** 32 })).toThrow(/invariant/);
    expect(() => encodeBlobRef({ ...ref, crc: 1.5 })).toThrow(/invariant/);
  });

  test('sameBlobLocation compares file and offset only', () => {
    const ref = { fileNumber: 1, valueOffset: 52, used: 5, capacity: 9, version: 1, crc: 0 };
    expect(sameBlobLocation(ref, { ...ref, used: 9, version: 2, crc: 7 })).toBe(true);
    expect(sameBlobLocation(ref, { ...ref, fileNumber: 2 })).toBe(false);
    expect(sameBlobLocation(ref, { ...ref, valueOffset: 53 })).toBe(false);
  });
});
