/**
 * The compaction picker on hand-made levels: scores and which level wins, level 0 takes all its
 * tables plus the level-1 overlap, round-robin pointers, trivial moves, bottommost detection,
 * and busy tables, which let a second pick run in parallel on disjoint tables only.
 */
import { describe, expect, test } from 'vitest';
import type { FileMeta } from '../catalog/catalog-state.js';
import { encodeInternalKey, KIND_VALUE } from '../sst/internal-key.js';
import { type LevelShape, levelScores, pickCompaction, pickRange } from './compaction-picker.js';

const utf8 = new TextEncoder();
let nextNumber = 1;

function table(level: number, smallest: string, largest: string, sizeBytes = 1000): FileMeta {
  return {
    fileNumber: nextNumber++,
    level,
    sizeBytes,
    entryCount: 10,
    smallest: encodeInternalKey(utf8.encode(smallest), 9, KIND_VALUE),
    largest: encodeInternalKey(utf8.encode(largest), 1, KIND_VALUE),
    seqMin: 1,
    seqMax: 9,
  };
}

const SHAPE: LevelShape = {
  l0CompactionTrigger: 2,
  maxBytesForLevelBase: 2000,
  levelSizeMultiplier: 10,
  levelCount: 4,
};

function levels(...byLevel: FileMeta[][]): FileMeta[][] {
  return Array.from({ length: SHAPE.levelCount }, (_, level) => byLevel[level] ?? []);
}

const numbers = (files: readonly FileMeta[]): number[] => files.map((file) => file.fileNumber);

describe('compaction picker', () => {
  test('scores: L0 by file count, deeper levels by bytes over their target', () => {
    const shape = levels(
      [table(0, 'a', 'c'), table(0, 'b', 'd'), table(0, 'x', 'z')],
      [table(1, 'a', 'b', 3000)],
      [table(2, 'a', 'b', 10_000)],
    );
    expect(levelScores(shape, SHAPE)).toEqual([1.5, 1.5, 0.5]);
  });

  test('level 0: every L0 table plus the L1 tables their range overlaps', () => {
    const l0 = [table(0, 'c', 'e'), table(0, 'd', 'f')];
    const l1 = [
      table(1, 'a', 'b', 100),
      table(1, 'c', 'd', 100),
      table(1, 'f', 'g', 100),
      table(1, 'h', 'i', 100),
    ];
    const pick = pickCompaction(levels(l0, l1), new Set(), SHAPE, new Map());
    expect(pick?.level).toBe(0);
    expect(pick?.outputLevel).toBe(1);
    expect(numbers(pick!.inputs)).toEqual([...numbers(l0), l1[1]!.fileNumber, l1[2]!.fileNumber]);
    expect(pick?.trivialMove).toBe(false);
    expect(pick?.bottommost).toBe(true);
  });

  test('a busy level-0 table blocks another L0 pick; a deeper level can still go in parallel', () => {
    const l0 = [table(0, 'a', 'c'), table(0, 'b', 'd'), table(0, 'a', 'b'), table(0, 'c', 'd')];
    const l1 = [table(1, 'm', 'n', 1500), table(1, 'p', 'q', 1500)];
    const l2 = [table(2, 'p', 'p')];
    const all = levels(l0, l1, l2);
    const first = pickCompaction(all, new Set(), SHAPE, new Map());
    expect(first?.level).toBe(0);
    const busy = new Set(numbers(first!.inputs));
    const second = pickCompaction(all, busy, SHAPE, new Map());
    expect(second?.level).toBe(1);
    for (const file of second!.inputs) expect(busy.has(file.fileNumber)).toBe(false);
    // [m, n] overlaps nothing in L2: it is moved, not rewritten.
    expect(second?.trivialMove).toBe(true);
    const third = pickCompaction(
      all,
      new Set([...busy, ...numbers(second!.inputs)]),
      SHAPE,
      new Map(),
    );
    expect(third?.level).toBe(1);
    expect(numbers(third!.inputs)).toEqual([l1[1]!.fileNumber, l2[0]!.fileNumber]);
    expect(third?.trivialMove).toBe(false);
  });

  test('round robin: the pointer moves the next pick past the last compacted table', () => {
    const l1 = [table(1, 'a', 'b', 1500), table(1, 'c', 'd', 1500), table(1, 'e', 'f', 1500)];
    const all = levels([], l1);
    const pointers = new Map<number, Uint8Array>([[1, utf8.encode('b')]]);
    expect(numbers(pickCompaction(all, new Set(), SHAPE, pointers)!.inputs)).toEqual([
      l1[1]!.fileNumber,
    ]);
    pointers.set(1, utf8.encode('f'));
    expect(numbers(pickCompaction(all, new Set(), SHAPE, pointers)!.inputs)).toEqual([
      l1[0]!.fileNumber,
    ]);
  });

  test('bottommost only when no deeper level overlaps the inputs', () => {
    const l1 = [table(1, 'a', 'd', 3000)];
    const deeper = levels([], l1, [], [table(3, 'c', 'c')]);
    expect(pickCompaction(deeper, new Set(), SHAPE, new Map())?.bottommost).toBe(false);
    const elsewhere = levels([], l1, [], [table(3, 'x', 'z')]);
    expect(pickCompaction(elsewhere, new Set(), SHAPE, new Map())?.bottommost).toBe(true);
  });

  test('nothing over its target: no pick', () => {
    expect(pickCompaction(levels([table(0, 'a', 'b')]), new Set(), SHAPE, new Map())).toBe(
      undefined,
    );
  });

  test('manual ranges: overlapping tables of one level, or a rewrite in place', () => {
    const l1 = [table(1, 'a', 'b'), table(1, 'c', 'd'), table(1, 'e', 'f')];
    const l2 = [table(2, 'c', 'c')];
    const all = levels([], l1, l2);
    const range = { level: 1, start: utf8.encode('c'), end: utf8.encode('z') };
    const pick = pickRange(all, new Set(), SHAPE, range);
    expect(numbers(pick!.inputs)).toEqual([
      l1[1]!.fileNumber,
      l1[2]!.fileNumber,
      l2[0]!.fileNumber,
    ]);
    const inPlace = pickRange(all, new Set(), SHAPE, {
      level: 2,
      start: undefined,
      end: undefined,
      inPlace: true,
    });
    expect(inPlace?.outputLevel).toBe(2);
    expect(inPlace?.bottommost).toBe(true);
    expect(
      pickRange(all, new Set([l2[0]!.fileNumber]), SHAPE, { ...range, level: 2, inPlace: true }),
    ).toBe(undefined);
  });
});
