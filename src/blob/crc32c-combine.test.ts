/**
 * crc32cCombine against crc32c of the concatenation (the native or JS path and the bytewise
 * reference), for random parts including empty ones and lengths up to ~100 KB; and, for lengths
 * no test can materialize, against the associativity every true combine has.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { crc32c, crc32cBytewise } from '../../nvm/crc32c.js';
import { crc32cCombine } from './crc32c-combine.js';
import { concatBytes, patternBytes } from './testing/blob-fixtures.js';

const lengthArbitrary = fc.oneof(
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 16 }) },
  { weight: 3, arbitrary: fc.integer({ min: 17, max: 4096 }) },
  { weight: 2, arbitrary: fc.integer({ min: 4097, max: 100_000 }) },
);

describe('crc32cCombine', () => {
  test('equals the crc of the concatenation', () => {
    fc.assert(
      fc.property(lengthArbitrary, lengthArbitrary, fc.integer(), (lengthA, lengthB, seed) => {
        const a = patternBytes(lengthA, seed);
        const b = patternBytes(lengthB, seed + 1);
        const whole = concatBytes([a, b]);
        const combined = crc32cCombine(crc32c(a), crc32c(b), b.length);
        expect(combined).toBe(crc32c(whole));
        expect(combined).toBe(crc32cBytewise(whole));
      }),
      { numRuns: 200 },
    );
  });

  test('small random byte arrays, both parts possibly empty', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        expect(crc32cCombine(crc32c(a), crc32c(b), b.length)).toBe(crc32c(concatBytes([a, b])));
      }),
    );
  });

  test('known values: empty parts and the check string', () => {
    const check = new TextEncoder().encode('123456789');
    expect(crc32c(check)).toBe(0xe3069283);
    expect(crc32cCombine(0, crc32c(check), 9)).toBe(0xe3069283);
    expect(crc32cCombine(crc32c(check), 0, 0)).toBe(0xe3069283);
    expect(crc32cCombine(crc32c(check.subarray(0, 4)), crc32c(check.subarray(4)), 5)).toBe(
      0xe3069283,
    );
    expect(crc32cCombine(0, 0, 0)).toBe(0);
  });

  test('a chain of appends equals one crc (as writeInPlace uses it)', () => {
    const whole = patternBytes(50_000, 7);
    let crc = 0;
    for (let start = 0; start < whole.length; start += 1_237) {
      const part = whole.subarray(start, Math.min(whole.length, start + 1_237));
      crc = crc32cCombine(crc, crc32c(part), part.length);
    }
    expect(crc).toBe(crc32c(whole));
  });

  test('associative for lengths up to 2^53 - 1 (combining is O(log length))', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    const huge = fc.integer({ min: 0, max: Math.floor(Number.MAX_SAFE_INTEGER / 2) });
    fc.assert(
      fc.property(u32, u32, u32, huge, huge, (a, b, c, lengthB, lengthC) => {
        const left = crc32cCombine(crc32cCombine(a, b, lengthB), c, lengthC);
        const right = crc32cCombine(a, crc32cCombine(b, c, lengthC), lengthB + lengthC);
        expect(left).toBe(right);
        expect(left >>> 0).toBe(left);
      }),
    );
  });
});
