import fc from 'fast-check';
import { expect, test } from 'vitest';
import { compareInternalKeys, encodeInternalKey, type InternalKeyKind } from './internal-key.js';
import { shortestSeparator, shortSuccessor } from './separator.js';
import { formatKey, parseKey } from './testing/table-fixtures.js';

const keyArbitrary = fc
  .record({
    userKey: fc.oneof(
      fc.uint8Array({ maxLength: 6 }),
      fc
        .array(fc.constantFrom(0, 0x61, 0x62, 0x63, 0xfe, 0xff), { maxLength: 6 })
        .map((a) => Uint8Array.from(a)),
    ),
    seq: fc.nat(100),
    kind: fc.constantFrom<InternalKeyKind>(0, 1, 2, 3),
  })
  .map(({ userKey, seq, kind }) => encodeInternalKey(userKey, seq, kind));

test('a separator falls in [last, next) and is never longer than last', () => {
  fc.assert(
    fc.property(keyArbitrary, keyArbitrary, (a, b) => {
      const order = compareInternalKeys(a, b);
      fc.pre(order !== 0);
      const [last, next] = order < 0 ? [a, b] : [b, a];
      const separator = shortestSeparator(last, next);
      expect(compareInternalKeys(last, separator)).toBeLessThanOrEqual(0);
      expect(compareInternalKeys(separator, next)).toBeLessThan(0);
      expect(separator.length).toBeLessThanOrEqual(last.length);
    }),
    { numRuns: 3000 },
  );
});

test('a successor is >= last and never longer', () => {
  fc.assert(
    fc.property(keyArbitrary, (last) => {
      const successor = shortSuccessor(last);
      expect(compareInternalKeys(last, successor)).toBeLessThanOrEqual(0);
      expect(successor.length).toBeLessThanOrEqual(last.length);
    }),
  );
});

test.each([
  ['apple.SET.7', 'cherry.SET.3', 'b.SEEK.MAX'],
  ['apple.SET.7', 'banana.SET.3', 'apple.SET.7'], // 'a' + 1 is not below 'b'
  ['abc.SET.7', 'abcd.SET.3', 'abc.SET.7'], // a prefix
  ['k.SET.7', 'k.SET.3', 'k.SET.7'], // one user key
  ['a\\xff\\xffx.SET.1', 'b.SET.1', 'a\\xff\\xffx.SET.1'],
  ['abcx.SET.1', 'abz.SET.1', 'abd.SEEK.MAX'],
])('separator(%s, %s) = %s', (last, next, expected) => {
  expect(formatKey(shortestSeparator(parseKey(last), parseKey(next)))).toBe(expected);
});

test.each([
  ['apple.SET.7', 'b.SEEK.MAX'],
  ['\\xff\\xffab.SET.7', '\\xff\\xffb.SEEK.MAX'],
  ['\\xff\\xff.SET.7', '\\xff\\xff.SET.7'],
  ['a.SET.7', 'a.SET.7'],
])('successor(%s) = %s', (last, expected) => {
  expect(formatKey(shortSuccessor(parseKey(last)))).toBe(expected);
});
