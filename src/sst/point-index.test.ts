import fc from 'fast-check';
import { expect, test } from 'vitest';
import {
  compareInternalKeys,
  encodeInternalKey,
  type InternalKeyKind,
  lookupKey,
} from './internal-key.js';
import { PointIndex } from './point-index.js';
import { shortestSeparator, shortSuccessor } from './separator.js';

const utf8 = new TextEncoder();

/** User keys that share long prefixes (as real tables' keys do), over a small alphabet. */
const userKeyArbitrary = fc
  .tuple(
    fc.constantFrom('', 'user', 'user000', 'k\u00ff'),
    fc.array(fc.constantFrom(0, 0x30, 0x31, 0x39, 0x61, 0xfe, 0xff), { maxLength: 10 }),
  )
  .map(([prefix, tail]) => {
    const head = utf8.encode(prefix);
    const key = new Uint8Array(head.length + tail.length);
    key.set(head);
    key.set(tail, head.length);
    return key;
  });

const entryKeyArbitrary = fc
  .record({
    userKey: userKeyArbitrary,
    seq: fc.nat(50),
    kind: fc.constantFrom<InternalKeyKind>(0, 1, 2),
  })
  .map(({ userKey, seq, kind }) => encodeInternalKey(userKey, seq, kind));

function sortedDistinct(keys: Uint8Array[]): Uint8Array[] {
  const sorted = [...keys].sort(compareInternalKeys);
  return sorted.filter((key, i) => i === 0 || compareInternalKeys(sorted[i - 1]!, key) !== 0);
}

/** The separators a table builder writes for `entries` cut into blocks of `perBlock`. */
function builderSeparators(entries: readonly Uint8Array[], perBlock: number): Uint8Array[] {
  const separators: Uint8Array[] = [];
  for (let start = 0; start < entries.length; start += perBlock) {
    const last = entries[Math.min(start + perBlock, entries.length) - 1]!;
    const next = entries[start + perBlock];
    separators.push(next === undefined ? shortSuccessor(last) : shortestSeparator(last, next));
  }
  return separators;
}

function oracle(separators: readonly Uint8Array[], target: Uint8Array): number {
  const position = separators.findIndex((key) => compareInternalKeys(key, target) >= 0);
  return position === -1 ? separators.length : position;
}

function indexOf(separators: readonly Uint8Array[]): PointIndex {
  return PointIndex.of(
    separators,
    separators.map((_, i) => ({ offsetBytes: i * 100, sizeBytes: 90 })),
  );
}

test('search finds the first separator >= the target, as a linear scan does', () => {
  fc.assert(
    fc.property(
      fc.array(entryKeyArbitrary, { minLength: 1, maxLength: 80 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.tuple(userKeyArbitrary, fc.nat(60)), { maxLength: 30 }),
      (rawEntries, perBlock, probes) => {
        const entries = sortedDistinct(rawEntries);
        const separators = builderSeparators(entries, perBlock);
        const index = indexOf(separators);
        const targets = [
          ...probes.map(([userKey, seq]) => lookupKey(userKey, seq)),
          ...entries.map((key) => lookupKey(key.subarray(0, key.length - 8), 60)),
          ...separators,
        ];
        for (const target of targets) expect(index.search(target)).toBe(oracle(separators, target));
      },
    ),
    { numRuns: 1500 },
  );
});

test('search is right for any sorted separators, whatever the last one is', () => {
  fc.assert(
    fc.property(
      fc.array(entryKeyArbitrary, { minLength: 1, maxLength: 40 }),
      fc.array(fc.tuple(userKeyArbitrary, fc.nat(60)), { maxLength: 40 }),
      (rawSeparators, probes) => {
        const separators = sortedDistinct(rawSeparators);
        const index = indexOf(separators);
        for (const [userKey, seq] of probes) {
          const target = lookupKey(userKey, seq);
          expect(index.search(target)).toBe(oracle(separators, target));
        }
      },
    ),
    { numRuns: 1500 },
  );
});

test('a last separator that leaves the shared prefix still bounds the keys before it', () => {
  const keys = ['user0001', 'user0005', 'user0009'].map((k) =>
    encodeInternalKey(utf8.encode(k), 1, 1),
  );
  const separators = [keys[0]!, keys[1]!, shortSuccessor(keys[2]!)]; // the last is 'v'
  const index = indexOf(separators);
  expect(index.search(lookupKey(utf8.encode('user0007'), 5))).toBe(2);
  expect(index.search(lookupKey(utf8.encode('user1'), 5))).toBe(2);
  expect(index.search(lookupKey(utf8.encode('uset'), 5))).toBe(2);
  expect(index.search(lookupKey(utf8.encode('w'), 5))).toBe(3);
  expect(index.search(lookupKey(utf8.encode('use'), 5))).toBe(0);
  expect(index.offsetBytes(2)).toBe(200);
  expect(index.sizeBytes(2)).toBe(90);
});
