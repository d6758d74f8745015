/**
 * Round trip: tables built from random sorted entries read back exactly like a sorted-array oracle,
 * under very different writer options and cache sizes. Keys include empty ones, zero and 0xff
 * bytes, long ones and many versions of one user key; kinds include tombstones.
 */
import { existsSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { isStrataError } from '../errors.js';
import { BlockCache } from './block-cache.js';
import {
  encodeInternalKey,
  type InternalKeyKind,
  KIND_VALUE,
  lookupKey,
  SEQ_MAX,
  userKeyOf,
} from './internal-key.js';
import { TableReader } from './table-reader.js';
import { TableWriter } from './table-writer.js';
import {
  buildTable,
  type Entry,
  entry,
  formatEntry,
  lowerBound,
  oracleGet,
  sortedUnique,
} from './testing/table-fixtures.js';

const folder = makeTempFolder('sst-table');
afterAll(() => folder.remove());
let nextFileNumber = 1;

const userKeyArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 8 }) },
  {
    weight: 3,
    arbitrary: fc
      .array(fc.constantFrom(0x00, 0x01, 0x61, 0xfe, 0xff), { maxLength: 5 })
      .map((bytes) => Uint8Array.from(bytes)),
  },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 200, maxLength: 700 }) },
);
const rawEntryArbitrary = fc.record({
  userKey: userKeyArbitrary,
  versions: fc.array(
    fc.record({
      seq: fc.oneof(fc.nat(40), fc.constant(SEQ_MAX)),
      kind: fc.constantFrom<InternalKeyKind>(0, 1, 1, 2, 3),
    }),
    { minLength: 1, maxLength: 6 },
  ),
  value: fc.oneof(
    { weight: 5, arbitrary: fc.uint8Array({ maxLength: 20 }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 6000 }) },
  ),
});
const optionsArbitrary = fc.record({
  blockSizeBytes: fc.constantFrom(1, 64, 256, 4096),
  restartInterval: fc.constantFrom(1, 2, 3, 16),
  bitsPerKey: fc.constantFrom(1, 10),
  cacheBytes: fc.constantFrom(0, 2000, 1 << 20),
});

type RawEntry = typeof rawEntryArbitrary extends fc.Arbitrary<infer T> ? T : never;

function entriesFrom(raw: readonly RawEntry[]): Entry[] {
  const entries: Entry[] = [];
  for (const item of raw) {
    for (const version of item.versions) {
      const value = version.kind === 0 ? new Uint8Array(0) : item.value;
      entries.push({ key: encodeInternalKey(item.userKey, version.seq, version.kind), value });
    }
  }
  return sortedUnique(entries);
}

function render(iterator: { valid(): boolean; key(): Uint8Array; value(): Uint8Array }): string {
  return iterator.valid() ? formatEntry(iterator.key(), iterator.value()) : '.';
}

function checkAgainstOracle(reader: TableReader, entries: readonly Entry[], seeds: number[]): void {
  const expected = entries.map((item) => formatEntry(item.key, item.value));
  const iterator = reader.iterator();
  const forward: string[] = [];
  for (iterator.seekFirst(); iterator.valid(); iterator.next()) forward.push(render(iterator));
  expect(forward).toEqual(expected);
  const backward: string[] = [];
  for (iterator.seekLast(); iterator.valid(); iterator.prev()) backward.push(render(iterator));
  expect(backward).toEqual([...expected].reverse());

  const userKeys = entries.map((item) => userKeyOf(item.key));
  const snapshots = [0, 1, 5, 20, 39, 40, SEQ_MAX - 1, SEQ_MAX];
  for (const userKey of [
    ...userKeys,
    Uint8Array.of(0x62),
    Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
  ]) {
    expect(reader.mayContain(userKey) || oracleGet(entries, userKey, SEQ_MAX) === undefined).toBe(
      true,
    );
    for (const snapshot of snapshots) {
      const actual = reader.get(userKey, snapshot);
      const wanted = oracleGet(entries, userKey, snapshot);
      expect(actual === undefined ? undefined : { ...actual, value: [...actual.value] }).toEqual(
        wanted === undefined ? undefined : { ...wanted, value: [...wanted.value] },
      );
    }
  }

  // Seeks to present and absent targets, then a walk that alternates next and prev.
  for (const seed of seeds) {
    const base = userKeys[seed % userKeys.length]!;
    const variants = [
      base,
      Uint8Array.of(...base, 0),
      base.subarray(0, Math.max(0, base.length - 1)),
    ];
    const exact = seed % 4 === 3; // a stored key itself, or a lookup key near one
    const target = exact
      ? entries[seed % entries.length]!.key
      : lookupKey(variants[seed % 3]!, seed % 45);
    let index = lowerBound(entries, target);
    iterator.seek(target);
    expect(render(iterator)).toBe(expected[index] ?? '.');
    for (let step = 0; step < 6 && iterator.valid(); step++) {
      const forwardStep = ((seed >>> step) & 1) === 1;
      if (forwardStep) {
        iterator.next();
        index++;
      } else {
        iterator.prev();
        index--;
      }
      expect(render(iterator)).toBe(index >= 0 ? (expected[index] ?? '.') : '.');
    }
  }
  iterator.seek(lookupKey(new Uint8Array(0), SEQ_MAX)); // before the first key
  expect(render(iterator)).toBe(expected[0]);
  iterator.seek(lookupKey(new Uint8Array(800).fill(0xff), 0)); // after the last key
  expect(render(iterator)).toBe('.');
}

describe('table round trip', () => {
  test('random tables read back like a sorted array', () => {
    fc.assert(
      fc.property(
        fc.array(rawEntryArbitrary, { minLength: 1, maxLength: 40 }),
        optionsArbitrary,
        fc.array(fc.nat(), { minLength: 10, maxLength: 30 }),
        (raw, options, seeds) => {
          const entries = entriesFrom(raw);
          const fileNumber = nextFileNumber++;
          const path = folder.file(`${fileNumber}.sst`);
          const { cacheBytes, ...writerOptions } = options;
          const properties = buildTable(path, entries, { ...writerOptions, createdAtMs: 1 });
          expect(properties.entryCount).toBe(entries.length);
          const cache = new BlockCache({ capacityBytes: cacheBytes });
          const reader = TableReader.open(path, { fileNumber, cache });
          try {
            expect(reader.properties).toEqual(properties);
            checkAgainstOracle(reader, entries, seeds);
          } finally {
            reader.close();
          }
        },
      ),
      { numRuns: 120 },
    );
  });

  test('properties describe the entries', () => {
    const path = folder.file('properties.sst');
    const entries = [
      entry('a', 3, 1, 'xy'),
      entry('a', 2, 0),
      entry('b', 7, 1, 'z'),
      entry('c', 1, 0),
    ];
    const properties = buildTable(path, entries, { createdAtMs: 1234 });
    expect(properties).toMatchObject({
      formatVersion: 1,
      entryCount: 4,
      tombstoneCount: 2,
      userKeyCount: 3,
      dataBlockCount: 1,
      rawKeyBytes: 4 * 9,
      rawValueBytes: 3,
      seqMin: 1,
      seqMax: 7,
      createdAtMs: 1234,
    });
    expect(properties.smallestKey).toEqual(entries[0]!.key);
    expect(properties.largestKey).toEqual(entries[3]!.key);
    const reader = TableReader.open(path, { fileNumber: nextFileNumber++ });
    expect(reader.properties).toEqual(properties);
    expect(reader.get(new TextEncoder().encode('a'), 2)).toMatchObject({ kind: 0, seq: 2 });
    expect(reader.get(new TextEncoder().encode('a'), 1)).toBeUndefined();
    reader.close();
    expect(() => reader.get(new TextEncoder().encode('a'), 2)).toThrow(/closed/);
    expect(() => reader.iterator()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    reader.close(); // idempotent
  });

  test('values outlive cache eviction and reader close', () => {
    const path = folder.file('views.sst');
    const entries = Array.from({ length: 200 }, (_, index) =>
      entry(`k${String(index).padStart(4, '0')}`, 1, KIND_VALUE, `value-${index}`),
    );
    buildTable(path, entries, { blockSizeBytes: 128 });
    const cache = new BlockCache({ capacityBytes: 600 }); // about two blocks
    const reader = TableReader.open(path, { fileNumber: nextFileNumber++, cache });
    const values = entries.map((item) => reader.get(userKeyOf(item.key), 1)!.value);
    expect(cache.stats().evictionCount).toBeGreaterThan(0);
    reader.close();
    values.forEach((value, index) => {
      expect(new TextDecoder().decode(value)).toBe(`value-${index}`);
    });
  });

  test('two tables with one file number and one layout never read each other through the cache', () => {
    // Two databases both have a file 7; a pool worker (or one application) reads both. Equal key
    // and value lengths give equal block offsets and an equal footer, so only the reader's own
    // cache id tells their blocks apart.
    const build = (name: string, letter: string): string => {
      const path = folder.file(name);
      const entries = Array.from({ length: 50 }, (_, index) =>
        entry(
          `k${String(index).padStart(3, '0')}`,
          1,
          KIND_VALUE,
          `${letter}-${index}`.padEnd(20, letter),
        ),
      );
      buildTable(path, entries, { blockSizeBytes: 256 });
      return path;
    };
    const first = TableReader.open(build('db-a-7.sst', 'a'), { fileNumber: 7 });
    const second = TableReader.open(build('db-b-7.sst', 'b'), { fileNumber: 7 });
    const noCache = TableReader.open(build('db-c-7.sst', 'c'), { fileNumber: 7, fillCache: false });
    try {
      const key = new TextEncoder().encode('k010');
      const read = (reader: TableReader): string =>
        new TextDecoder().decode(reader.get(key, 1)?.value);
      expect(read(first)).toBe('a-10'.padEnd(20, 'a'));
      expect(read(second)).toBe('b-10'.padEnd(20, 'b'));
      expect(read(noCache)).toBe('c-10'.padEnd(20, 'c'));
      expect(read(first)).toBe('a-10'.padEnd(20, 'a'));
      const firstIds = first.cacheId;
      expect(second.cacheId).not.toBe(firstIds);
      expect(noCache.cacheId).not.toBe(firstIds);
    } finally {
      first.close();
      second.close();
      noCache.close();
    }
  });

  test('a reader evicts the blocks it cached when it closes', () => {
    const path = folder.file('evict-on-close.sst');
    const entries = Array.from({ length: 100 }, (_, index) =>
      entry(`k${String(index).padStart(3, '0')}`, 1, KIND_VALUE, `value-${index}`),
    );
    buildTable(path, entries, { blockSizeBytes: 128 });
    const cache = new BlockCache({ capacityBytes: 1 << 20 });
    const reader = TableReader.open(path, { fileNumber: nextFileNumber++, cache });
    for (const item of entries) reader.get(userKeyOf(item.key), 1);
    expect(cache.stats().entryCount).toBeGreaterThan(1);
    reader.close();
    expect(cache.stats().entryCount).toBe(0);
    // A reader given an id shares it: its blocks stay for the others.
    const shared = TableReader.open(path, { fileNumber: 1, cache, cacheId: 12345 });
    shared.get(userKeyOf(entries[0]!.key), 1);
    shared.close();
    expect(cache.stats().entryCount).toBe(1);
  });

  test('writer: refuses to overwrite, abandons, checks options and order', () => {
    const path = folder.file('writer.sst');
    writeFileSync(path, 'occupied');
    expect(() => new TableWriter(path)).toThrow(expect.objectContaining({ code: 'ERR_IO' }));
    const fresh = folder.file('abandoned.sst');
    const writer = new TableWriter(fresh, { sync: false });
    writer.add(entry('a', 1, 1).key, new Uint8Array(0));
    expect(() => writer.add(entry('a', 1, 1).key, new Uint8Array(0))).toThrow(
      /strictly increasing/,
    );
    expect(() => writer.add(entry('a', 2, 1).key, new Uint8Array(0))).toThrow(
      /strictly increasing/,
    );
    writer.abandon();
    expect(existsSync(fresh)).toBe(false);
    for (const options of [{ blockSizeBytes: 0 }, { restartInterval: 1.5 }, { bitsPerKey: 65 }]) {
      const error = catchError(() => new TableWriter(folder.file('never.sst'), options));
      expect(isStrataError(error, 'ERR_INVALID_ARGUMENT')).toBe(true);
    }
    expect(existsSync(folder.file('never.sst'))).toBe(false);
    const empty = new TableWriter(folder.file('empty.sst'), { sync: false });
    expect(() => empty.finish()).toThrow(/at least one entry/);
    empty.abandon();
    const finished = folder.file('finished.sst');
    const synced = new TableWriter(finished); // sync: true, the default
    synced.add(entry('a', 1, 1).key, new Uint8Array(0));
    expect(synced.finish().fileSizeBytes).toBeGreaterThan(64);
    synced.abandon(); // also removes a finished file
    expect(existsSync(finished)).toBe(false);
  });
});

function catchError(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  return undefined;
}
