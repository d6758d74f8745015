import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isStrataError } from '../errors.js';
import { BlockBuilder } from './block-builder.js';
import { BlockReader } from './block-reader.js';
import {
  compareInternalKeys,
  encodeInternalKey,
  type InternalKeyKind,
  lookupKey,
} from './internal-key.js';
import { type Entry, formatEntry, lowerBound, sortedUnique } from './testing/table-fixtures.js';

const location = { path: 'memory.sst', offsetBytes: 4096 };

const entryArbitrary = fc
  .record({
    userKey: fc.oneof(
      fc.uint8Array({ maxLength: 6 }),
      fc.array(fc.constantFrom(0, 0xff, 0x61), { maxLength: 4 }).map((a) => Uint8Array.from(a)),
      fc.uint8Array({ minLength: 100, maxLength: 200 }),
    ),
    seq: fc.nat(50),
    kind: fc.constantFrom<InternalKeyKind>(0, 1),
    value: fc.oneof(fc.uint8Array({ maxLength: 10 }), fc.uint8Array({ maxLength: 300 })),
  })
  .map(({ userKey, seq, kind, value }) => ({ key: encodeInternalKey(userKey, seq, kind), value }));

function buildBlock(entries: readonly Entry[], restartInterval: number): BlockReader {
  const builder = new BlockBuilder(restartInterval);
  for (const entry of entries) builder.add(entry.key, entry.value);
  return BlockReader.parse(builder.finish().slice(), location);
}

function render(iterator: { valid(): boolean; key(): Uint8Array; value(): Uint8Array }): string {
  return iterator.valid() ? formatEntry(iterator.key(), iterator.value()) : '.';
}

describe('block', () => {
  test('iterates, seeks and steps back like a sorted array', () => {
    fc.assert(
      fc.property(
        fc.array(entryArbitrary, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(entryArbitrary, { maxLength: 10 }),
        (raw, restartInterval, probes) => {
          const entries = sortedUnique(raw);
          const block = buildBlock(entries, restartInterval);
          const expected = entries.map((entry) => formatEntry(entry.key, entry.value));
          const iterator = block.iterator();
          const forward: string[] = [];
          for (iterator.seekFirst(); iterator.valid(); iterator.next())
            forward.push(render(iterator));
          expect(forward).toEqual(expected);
          const backward: string[] = [];
          for (iterator.seekLast(); iterator.valid(); iterator.prev())
            backward.push(render(iterator));
          expect(backward).toEqual([...expected].reverse());
          for (const target of [...entries, ...probes].map((entry) => entry.key)) {
            const index = lowerBound(entries, target);
            iterator.seek(target);
            expect(render(iterator)).toBe(expected[index] ?? '.');
            if (index > 0 && iterator.valid()) {
              iterator.prev();
              expect(render(iterator)).toBe(expected[index - 1]);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('shares key prefixes between restart points', () => {
    const entries = ['apple', 'applesauce', 'applet', 'banana'].map((key) => ({
      key: encodeInternalKey(new TextEncoder().encode(key), 1, 1),
      value: new Uint8Array(0),
    }));
    const builder = new BlockBuilder(16);
    for (const entry of entries) builder.add(entry.key, entry.value);
    // Whole keys, 3 one-byte varints each, one restart and the count; minus 5 + 5 shared bytes.
    const unshared = entries.reduce((sum, entry) => sum + entry.key.length + 3, 0) + 8;
    expect(builder.finish().length).toBe(unshared - 10);
  });

  test('the builder refuses keys out of order', () => {
    const builder = new BlockBuilder(4);
    builder.add(encodeInternalKey(Uint8Array.of(2), 1, 1), new Uint8Array(0));
    expect(() => builder.add(encodeInternalKey(Uint8Array.of(1), 1, 1), new Uint8Array(0))).toThrow(
      /strictly increasing/,
    );
    expect(() => builder.add(encodeInternalKey(Uint8Array.of(2), 1, 1), new Uint8Array(0))).toThrow(
      /strictly increasing/,
    );
  });

  test('a damaged block reports ERR_CORRUPT or still parses, never crashes', () => {
    const entries = sortedUnique(
      Array.from({ length: 40 }, (_, index) => ({
        key: encodeInternalKey(new TextEncoder().encode(`key-${index % 13}`), index, 1),
        value: new TextEncoder().encode(`value-${index}`),
      })),
    );
    const good = buildBlock(entries, 4).bytes;
    let corruptCount = 0;
    for (let offset = 0; offset < good.length; offset++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const damaged = good.slice();
        damaged[offset]! ^= mask;
        try {
          const iterator = BlockReader.parse(damaged, location).iterator();
          for (iterator.seekFirst(); iterator.valid(); iterator.next()) iterator.key();
          for (iterator.seekLast(); iterator.valid(); iterator.prev()) iterator.value();
          for (const entry of entries) iterator.seek(lookupKey(entry.key.subarray(0, 5), 7));
        } catch (error) {
          if (!isStrataError(error, 'ERR_CORRUPT')) throw error;
          expect((error as Error).message).toContain('memory.sst at byte 4096');
          corruptCount++;
        }
      }
    }
    expect(corruptCount).toBeGreaterThan(0);
  });

  test('restart arrays that cannot be right are refused', () => {
    const cases = [
      new Uint8Array(3),
      Uint8Array.from([0, 0, 0, 0]), // zero restarts
      Uint8Array.from([...new Uint8Array(12), 0xff, 0xff, 0, 0]), // too many restarts
    ];
    for (const bytes of cases) {
      expect(() => BlockReader.parse(bytes, location)).toThrow(
        /corrupt table memory.sst at byte 4096/,
      );
    }
  });

  test('keys handed out are copies; values are views of the block', () => {
    const entries = sortedUnique(
      ['a', 'ab', 'abc'].map((key) => ({
        key: encodeInternalKey(new TextEncoder().encode(key), 1, 1),
        value: new TextEncoder().encode(key),
      })),
    );
    const block = buildBlock(entries, 16);
    const iterator = block.iterator();
    iterator.seekFirst();
    const first = iterator.key();
    iterator.next();
    iterator.next();
    expect(compareInternalKeys(first, entries[0]!.key)).toBe(0);
    expect(iterator.value().buffer).toBe(block.bytes.buffer);
  });
});
