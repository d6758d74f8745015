/**
 * Compaction outputs never straddle a keyspace partition (below the index keyspace, one index's
 * range, above it), whatever targetFileBytes is, while cuts by size, the versions kept and
 * everything else are as before: hand-made inputs, then random keys mixed across partitions.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { encodeIndexKey, keyspacePartition } from '../fields/index-key.js';
import {
  compareInternalKeys,
  compareUserKeys,
  encodeInternalKey,
  type InternalKeyKind,
  internalKeySeq,
  KIND_DELETION,
  KIND_VALUE,
  userKeyOf,
} from '../sst/internal-key.js';
import { TableReader } from '../sst/table-reader.js';
import { buildTable, type Entry, formatEntry } from '../sst/testing/table-fixtures.js';
import { type CompactionResult, type CompactionTask, compactTables } from './compaction-job.js';

const folder = makeTempFolder('compaction-partition');
afterAll(() => folder.remove());
let jobCount = 0;

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const BELOW = [
  Uint8Array.of(0x00, 0x01),
  utf8('apple'),
  utf8('pear'),
  Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x69, 0x77, 0xff, 0xff),
];
const INDEX_1 = [
  encodeIndexKey(1, utf8('blue'), utf8('k1')),
  encodeIndexKey(1, utf8('red'), utf8('k2')),
];
const INDEX_2 = [encodeIndexKey(2, Uint8Array.of(0), utf8('k3'))];
const ABOVE = [
  Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x69, 0x79),
  Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff),
  Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
];

function version(userKey: Uint8Array, seq: number, kind: InternalKeyKind = KIND_VALUE): Entry {
  return {
    key: encodeInternalKey(userKey, seq, kind),
    value: kind === KIND_VALUE ? utf8(`v${seq}`) : new Uint8Array(0),
  };
}

/** Writes each list of entries (sorted here) as one input table and compacts them. */
function compact(
  tables: readonly (readonly Entry[])[],
  settings: Partial<CompactionTask> = {},
): { result: CompactionResult; written: Entry[][] } {
  const job = ++jobCount;
  const inputs = tables
    .filter((entries) => entries.length > 0)
    .map((entries, index) => {
      const path = folder.file(`job${job}-input${index}.sst`);
      buildTable(
        path,
        [...entries].sort((a, b) => compareInternalKeys(a.key, b.key)),
      );
      return { path, fileNumber: index + 1 };
    });
  const result = compactTables({
    inputs,
    tempPathPrefix: folder.file(`job${job}-out`),
    targetFileBytes: 1 << 30,
    snapshotSeqs: [],
    bottommost: false,
    options: { createdAtMs: 1 },
    ...settings,
  });
  return { result, written: result.outputs.map((output) => readAll(output.tempPath)) };
}

function readAll(path: string): Entry[] {
  const reader = TableReader.open(path, { fileNumber: 99 });
  try {
    const entries: Entry[] = [];
    const iterator = reader.iterator();
    for (iterator.seekFirst(); iterator.valid(); iterator.next()) {
      entries.push({ key: iterator.key(), value: iterator.value().slice() });
    }
    return entries;
  } finally {
    reader.close();
  }
}

function partitionOf(internalKey: Uint8Array): number {
  return keyspacePartition(userKeyOf(internalKey));
}

/** Each output within one partition, outputs in key order without overlap, as reported. */
function checkOutputs(result: CompactionResult, written: readonly Entry[][]): void {
  for (const [index, output] of result.outputs.entries()) {
    const entries = written[index]!;
    expect(output.table.entryCount).toBe(entries.length);
    expect(output.table.smallest).toEqual(entries[0]!.key);
    expect(output.table.largest).toEqual(entries[entries.length - 1]!.key);
    expect(partitionOf(output.table.smallest)).toBe(partitionOf(output.table.largest));
    for (const entry of entries)
      expect(partitionOf(entry.key)).toBe(partitionOf(output.table.smallest));
    if (index === 0) continue;
    const previous = result.outputs[index - 1]!.table.largest;
    expect(compareUserKeys(userKeyOf(previous), userKeyOf(output.table.smallest))).toBeLessThan(0);
  }
}

describe('compaction outputs and keyspace partitions', () => {
  test('keys below, in index 1, in index 2 and above: 4 outputs, however large the target', () => {
    const first = [...BELOW, ...INDEX_1, ...INDEX_2, ...ABOVE].map((key, index) =>
      version(key, 10 + index),
    );
    const second = [
      version(BELOW[0]!, 50),
      version(INDEX_1[1]!, 51, KIND_DELETION),
      version(ABOVE[2]!, 52),
    ];
    const { result, written } = compact([first, second]);
    expect(result.outputs.map((output) => partitionOf(output.table.smallest))).toEqual([
      -1,
      1,
      2,
      2 ** 32,
    ]);
    checkOutputs(result, written);
    // Nothing else changed: the newest version of each key, the tombstone kept (not bottommost).
    expect(written.map((entries) => entries.length)).toEqual([4, 2, 1, 3]);
    expect(result.entriesWritten).toBe(10);
    expect(result.versionsDropped).toBe(3);
    expect(written.flat().map((entry) => internalKeySeq(entry.key))).toEqual([
      50, 11, 12, 13, 14, 51, 16, 17, 18, 52,
    ]);
    expect(result.outputs.map((output) => output.tempPath)).toEqual(
      [1, 2, 3, 4].map((n) => folder.file(`job${jobCount}-out-${n}.tmp`)),
    );
  });

  test('keys of one partition only: one output, as before', () => {
    const { result } = compact([ABOVE.map((key, index) => version(key, index + 1))]);
    expect(result.outputs.length).toBe(1);
    const index = compact([INDEX_1.map((key, index) => version(key, index + 1))]).result;
    expect(index.outputs.length).toBe(1);
  });

  test('random keys across partitions, random targets: size cuts at user keys, partition cuts always', () => {
    const userKeyArb = fc.oneof(
      fc
        .uint8Array({ minLength: 1, maxLength: 4 })
        .map((tail) => Uint8Array.of(0x00, 0x01, ...tail)),
      fc
        .tuple(fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 3 }))
        .map(([id, value]) => encodeIndexKey(id, value, utf8('pk'))),
      fc.uint8Array({ minLength: 1, maxLength: 6 }).map((tail) => Uint8Array.of(0x61, ...tail)),
    );
    const versionArb = fc.record({
      userKey: userKeyArb,
      seq: fc.integer({ min: 1, max: 1000 }),
      deleted: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(versionArb, { minLength: 1, maxLength: 60 }),
        fc.constantFrom(1, 200, 1000, 1 << 30),
        (versions, targetFileBytes) => {
          const unique = new Map<string, Entry>();
          for (const { userKey, seq, deleted } of versions) {
            const entry = version(userKey, seq, deleted ? KIND_DELETION : KIND_VALUE);
            unique.set(Buffer.from(entry.key).toString('hex'), entry);
          }
          const entries = [...unique.values()];
          const { result, written } = compact(
            [entries.filter((_, i) => i % 2 === 0), entries.filter((_, i) => i % 2 === 1)],
            {
              targetFileBytes,
            },
          );
          checkOutputs(result, written);
          // The newest version of every key survives, once, in key order.
          const newest = new Map<string, Entry>();
          for (const entry of [...entries].sort((a, b) => compareInternalKeys(a.key, b.key))) {
            const key = Buffer.from(userKeyOf(entry.key)).toString('hex');
            if (!newest.has(key)) newest.set(key, entry);
          }
          const expected = [...newest.values()].map((entry) => formatEntry(entry.key, entry.value));
          expect(written.flat().map((entry) => formatEntry(entry.key, entry.value))).toEqual(
            expected,
          );
          // A huge target cuts only between partitions.
          const partitions = new Set([...newest.values()].map((entry) => partitionOf(entry.key)));
          if (targetFileBytes === 1 << 30) expect(result.outputs.length).toBe(partitions.size);
          else expect(result.outputs.length).toBeGreaterThanOrEqual(partitions.size);
          if (targetFileBytes === 1) expect(result.outputs.length).toBe(newest.size);
        },
      ),
      { numRuns: 60 },
    );
  });
});
