/**
 * MergingIterator and DbIterator against a sorted-record oracle. fast-check spreads records
 * (empty keys, zero and 0xff bytes, many versions, tombstones) over 1-4 array sources, then checks
 * full scans at random snapshots and bounds in both directions, limits, seeks, and random
 * next/prev walks that switch direction. One test merges a real table, a real memtable and an
 * array.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { NvmImage } from '../../nvm/image.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { Memtable } from '../memtable/memtable.js';
import {
  compareUserKeys,
  encodeInternalKey,
  type InternalKeyKind,
  KIND_DELETION,
  KIND_VALUE,
} from '../sst/internal-key.js';
import { TableReader } from '../sst/table-reader.js';
import { buildTable } from '../sst/testing/table-fixtures.js';
import { DbIterator, type DbIteratorOptions } from './db-iterator.js';
import {
  arraySource,
  compareEntries,
  type InternalEntry,
  type InternalIterator,
  memtableSource,
  tableSource,
} from './internal-iterator.js';
import { MergingIterator } from './merging-iterator.js';

const FIXED_KEYS = [[], [0], [0, 0], [0, 1], [1], [0xff], [0xff, 0], [0xff, 0xff]].map((bytes) =>
  Uint8Array.from(bytes),
);
const keyArbitrary = fc.oneof(
  fc.constantFrom(...FIXED_KEYS),
  fc
    .array(fc.constantFrom(0, 1, 0x7f, 0xff), { maxLength: 3 })
    .map((bytes) => Uint8Array.from(bytes)),
);
const recordArbitrary = fc.record({
  userKey: keyArbitrary,
  deleted: fc.boolean(),
  value: fc.uint8Array({ maxLength: 4 }),
  source: fc.nat(3),
});
const boundArbitrary = fc.option(fc.record({ key: keyArbitrary, inclusive: fc.boolean() }), {
  nil: undefined,
});
const historyArbitrary = fc.record({
  records: fc.array(recordArbitrary, { maxLength: 60 }),
  sourceCount: fc.integer({ min: 1, max: 4 }),
  snapshotFraction: fc.double({ min: 0, max: 1.1, noNaN: true }),
  lower: boundArbitrary,
  upper: boundArbitrary,
});
type History = typeof historyArbitrary extends fc.Arbitrary<infer T> ? T : never;

interface Built {
  readonly entries: InternalEntry[];
  readonly sources: InternalEntry[][];
  readonly snapshotSeq: number;
  readonly options: DbIteratorOptions;
}

/** Seqs are 1..n in record order; each record goes to source `source % sourceCount`. */
function build(history: History): Built {
  const sources: InternalEntry[][] = Array.from({ length: history.sourceCount }, () => []);
  const entries = history.records.map((record, index) => {
    const kind = record.deleted ? KIND_DELETION : KIND_VALUE;
    const entry = { userKey: record.userKey, seq: index + 1, kind, value: record.value };
    sources[record.source % history.sourceCount]!.push(entry);
    return entry;
  });
  entries.sort(compareEntries);
  for (const source of sources) source.sort(compareEntries);
  const snapshotSeq = Math.floor(history.snapshotFraction * history.records.length);
  return { entries, sources, snapshotSeq, options: boundOptions(history) };
}

function boundOptions(history: History): DbIteratorOptions {
  const options: { gt?: Uint8Array; gte?: Uint8Array; lt?: Uint8Array; lte?: Uint8Array } = {};
  if (history.lower !== undefined) {
    options[history.lower.inclusive ? 'gte' : 'gt'] = history.lower.key;
  }
  if (history.upper !== undefined) {
    options[history.upper.inclusive ? 'lte' : 'lt'] = history.upper.key;
  }
  return options;
}

/** The oracle: newest version per key at the snapshot, tombstoned keys dropped, within bounds. */
function visibleView(
  entries: readonly InternalEntry[],
  snapshotSeq: number,
  options: DbIteratorOptions,
) {
  const newest: InternalEntry[] = [];
  for (const entry of entries) {
    if (entry.seq > snapshotSeq) continue;
    const last = newest[newest.length - 1];
    if (last !== undefined && compareUserKeys(last.userKey, entry.userKey) === 0) continue;
    newest.push(entry);
  }
  return newest.filter(
    (entry) => entry.kind === KIND_VALUE && withinBounds(entry.userKey, options),
  );
}

function withinBounds(key: Uint8Array, options: DbIteratorOptions): boolean {
  if (options.gt !== undefined && compareUserKeys(key, options.gt) <= 0) return false;
  if (options.gte !== undefined && compareUserKeys(key, options.gte) < 0) return false;
  if (options.lt !== undefined && compareUserKeys(key, options.lt) >= 0) return false;
  if (options.lte !== undefined && compareUserKeys(key, options.lte) > 0) return false;
  return true;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const renderPair = ([key, value]: readonly [Uint8Array, Uint8Array]): string =>
  `${hex(key)}=${hex(value)}`;
const renderEntry = (entry: InternalEntry): string =>
  `${hex(entry.userKey)}.${entry.seq}.${entry.kind}=${hex(entry.value)}`;

function merged(sources: readonly InternalEntry[][]): MergingIterator {
  return new MergingIterator(sources.map((source) => arraySource(source)));
}

function renderInternal(iterator: InternalIterator): string {
  return renderEntry({
    userKey: iterator.userKey(),
    seq: iterator.seq(),
    kind: iterator.kind(),
    value: iterator.value(),
  });
}

/** Index of the first entry whose user key is >= target (entries sorted by user key). */
function firstAtOrAfter(keys: readonly { userKey: Uint8Array }[], target: Uint8Array): number {
  const index = keys.findIndex((entry) => compareUserKeys(entry.userKey, target) >= 0);
  return index < 0 ? keys.length : index;
}

type WalkStep =
  | { readonly op: 'next' | 'prev' | 'seekFirst' | 'seekLast' }
  | { readonly op: 'seek'; readonly key: Uint8Array };

interface Walkable {
  next(): void;
  prev(): void;
  seekFirst(): void;
  seekLast(): void;
  seek(userKey: Uint8Array): void;
}

/**
 * Applies one step of a random walk to the iterator and returns where the model says it now
 * stands in `expected` (-1 or expected.length: not valid). next/prev on an invalid iterator are
 * skipped, as the walk only moves a valid one.
 */
function walkStep(
  iterator: Walkable,
  step: WalkStep,
  position: number,
  expected: readonly { userKey: Uint8Array }[],
): number {
  const valid = position >= 0 && position < expected.length;
  if (step.op === 'next' && valid) {
    iterator.next();
    return position + 1;
  }
  if (step.op === 'prev' && valid) {
    iterator.prev();
    return position - 1;
  }
  if (step.op === 'seekFirst') {
    iterator.seekFirst();
    return 0;
  }
  if (step.op === 'seekLast') {
    iterator.seekLast();
    return expected.length - 1;
  }
  if (step.op === 'seek') {
    iterator.seek(step.key);
    return firstAtOrAfter(expected, step.key);
  }
  return position;
}

const walkOpArbitrary = fc.oneof(
  fc.constant({ op: 'next' as const }),
  fc.constant({ op: 'prev' as const }),
  fc.constant({ op: 'seekFirst' as const }),
  fc.constant({ op: 'seekLast' as const }),
  keyArbitrary.map((key) => ({ op: 'seek' as const, key })),
);
const walkArbitrary = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom({ op: 'next' as const }, { op: 'prev' as const }) },
    {
      weight: 1,
      arbitrary: walkOpArbitrary,
    },
  ),
  { maxLength: 40 },
);

describe('MergingIterator', () => {
  test('forward and backward scans show every entry in internal-key order', () => {
    fc.assert(
      fc.property(historyArbitrary, (history) => {
        const { entries, sources } = build(history);
        const iterator = merged(sources);
        const forward: string[] = [];
        for (iterator.seekFirst(); iterator.valid(); iterator.next())
          forward.push(renderInternal(iterator));
        const backward: string[] = [];
        for (iterator.seekLast(); iterator.valid(); iterator.prev())
          backward.push(renderInternal(iterator));
        expect(forward).toEqual(entries.map(renderEntry));
        expect(backward.reverse()).toEqual(entries.map(renderEntry));
      }),
      { numRuns: 300 },
    );
  });

  test('random walks of next, prev and seeks match the sorted entries', () => {
    fc.assert(
      fc.property(historyArbitrary, walkArbitrary, (history, walk) => {
        const { entries, sources } = build(history);
        const iterator = merged(sources);
        let position = -1; // -1 or entries.length: invalid
        for (const step of walk) {
          position = walkStep(iterator, step, position, entries);
          const expected = entries[position];
          expect(iterator.valid()).toBe(expected !== undefined);
          if (expected !== undefined) expect(renderInternal(iterator)).toBe(renderEntry(expected));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('DbIterator', () => {
  test('forward and reverse scans equal the visible view at random snapshots and bounds', () => {
    fc.assert(
      fc.property(historyArbitrary, fc.option(fc.nat(8), { nil: undefined }), (history, limit) => {
        const { entries, sources, snapshotSeq, options } = build(history);
        const view = visibleView(entries, snapshotSeq, options).map((entry) =>
          renderPair([entry.userKey, entry.value]),
        );
        const limited = limit === undefined ? {} : { limit };
        const forward = [
          ...new DbIterator(merged(sources), snapshotSeq, { ...options, ...limited }),
        ];
        const reverseOptions = { ...options, ...limited, reverse: true };
        const reverse = [...new DbIterator(merged(sources), snapshotSeq, reverseOptions)];
        const count = limit ?? view.length;
        expect(forward.map(renderPair)).toEqual(view.slice(0, count));
        expect(reverse.map(renderPair)).toEqual([...view].reverse().slice(0, count));
      }),
      { numRuns: 500 },
    );
  });

  test('seek then iterate continues from the sought key in both directions', () => {
    fc.assert(
      fc.property(historyArbitrary, keyArbitrary, fc.boolean(), (history, target, reverse) => {
        const { entries, sources, snapshotSeq, options } = build(history);
        const view = visibleView(entries, snapshotSeq, options);
        const iterator = new DbIterator(merged(sources), snapshotSeq, { ...options, reverse });
        iterator.seek(target);
        const start = firstAtOrAfter(view, target);
        const expected = reverse
          ? view
              .slice(
                0,
                start +
                  (view[start] !== undefined && compareUserKeys(view[start].userKey, target) === 0
                    ? 1
                    : 0),
              )
              .reverse()
          : view.slice(start);
        const rendered = expected.map((entry) => renderPair([entry.userKey, entry.value]));
        expect([...iterator].map(renderPair)).toEqual(rendered);
      }),
      { numRuns: 500 },
    );
  });

  test('random walks of next, prev and seeks match the visible view', () => {
    fc.assert(
      fc.property(historyArbitrary, walkArbitrary, (history, walk) => {
        const { entries, sources, snapshotSeq, options } = build(history);
        const view = visibleView(entries, snapshotSeq, options);
        const iterator = new DbIterator(merged(sources), snapshotSeq, options);
        let position = -1;
        for (const step of walk) {
          position = walkStep(iterator, step, position, view);
          const expected = view[position];
          expect(iterator.valid()).toBe(expected !== undefined);
          if (expected === undefined) continue;
          expect(renderPair([iterator.key(), iterator.value()])).toBe(
            renderPair([expected.userKey, expected.value]),
          );
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('real sources', () => {
  test('a table, a memtable and an array merge into the visible view', () => {
    const temp = makeTempFolder('lsm');
    const image = NvmImage.open(`${temp.path}/image.nvm`, {
      backend: 'emulated',
      sizeMaxBytes: 16 << 20,
    });
    let reader: TableReader | undefined;
    let memtable: Memtable | undefined;
    try {
      // Deterministic spread of 300 records over three sources, in seq order (the memtable needs it).
      const tableEntries: InternalEntry[] = [];
      const memtableEntries: InternalEntry[] = [];
      const arrayEntries: InternalEntry[] = [];
      const all: InternalEntry[] = [];
      let state = 12345;
      const random = (bound: number): number => {
        state = (state * 1103515245 + 12345) % 2 ** 31;
        return state % bound;
      };
      for (let seq = 1; seq <= 300; seq++) {
        const keyBytes = FIXED_KEYS[random(FIXED_KEYS.length)]!;
        const userKey = Uint8Array.of(...keyBytes, random(4) * 0x55);
        const kind = random(4) === 0 ? KIND_DELETION : KIND_VALUE;
        const value =
          kind === KIND_DELETION ? new Uint8Array(0) : Uint8Array.of(seq & 0xff, seq >> 8);
        const entry = { userKey, seq, kind, value };
        all.push(entry);
        [tableEntries, memtableEntries, arrayEntries][random(3)]!.push(entry);
      }
      tableEntries.sort(compareEntries);
      const tablePath = `${temp.path}/000001.sst`;
      buildTable(
        tablePath,
        tableEntries.map((entry) => ({
          key: encodeInternalKey(entry.userKey, entry.seq, entry.kind as InternalKeyKind),
          value: entry.value,
        })),
        { blockSizeBytes: 128 },
      );
      reader = TableReader.open(tablePath, { fileNumber: 1 });
      memtable = Memtable.open(image, Memtable.create(image));
      for (let start = 0; start < memtableEntries.length; start += 7) {
        memtable.applyBatch(memtableEntries.slice(start, start + 7));
      }
      arrayEntries.sort(compareEntries);
      all.sort(compareEntries);
      for (const snapshotSeq of [0, 1, 50, 150, 299, 300]) {
        const sources = (): InternalIterator[] => [
          tableSource(reader!),
          memtableSource(memtable!, snapshotSeq),
          arraySource(arrayEntries),
        ];
        const inner = new MergingIterator(sources());
        const versions: string[] = [];
        for (inner.seekLast(); inner.valid(); inner.prev()) versions.push(renderInternal(inner));
        // The memtable source hides its versions above the snapshot; the others show all.
        const expectedVersions = all.filter(
          (entry) => entry.seq <= snapshotSeq || !memtableEntries.includes(entry),
        );
        expect(versions.reverse()).toEqual(expectedVersions.map(renderEntry));
        const view = visibleView(all, snapshotSeq, {}).map((entry) =>
          renderPair([entry.userKey, entry.value]),
        );
        const forward = [...new DbIterator(new MergingIterator(sources()), snapshotSeq)];
        const options = { reverse: true };
        const reverse = [...new DbIterator(new MergingIterator(sources()), snapshotSeq, options)];
        expect(forward.map(renderPair)).toEqual(view);
        expect(reverse.map(renderPair)).toEqual([...view].reverse());
      }
    } finally {
      reader?.close();
      memtable?.close();
      image.close();
      temp.remove();
    }
  });
});
