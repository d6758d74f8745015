/**
 * Deciding what to compact (leveled, as LevelDB and RocksDB do). Each level gets a score: level
 * 0 its file count over `l0CompactionTrigger` (its tables overlap, so their number is what reads
 * pay for), level n ≥ 1 its bytes over its target, `maxBytesForLevelBase × levelSizeMultiplier^(n-1)`.
 * The highest score ≥ 1 whose inputs are all free wins:
 *
 * - level 0: every level-0 table (they overlap one another, so a newer one may never sink below
 *   an older one) plus the level-1 tables their user-key range overlaps;
 * - level n ≥ 1: one table, taken round-robin after the last one compacted at that level (a
 *   compaction pointer, so the whole key space gets rewritten in turn), plus the level n+1
 *   tables it overlaps. With no overlap it is moved down without rewriting (a trivial move).
 *
 * A table already in a running compaction is busy; a pick never touches one, so independent
 * compactions (different levels, or disjoint key ranges) run in parallel. The output is
 * bottommost when no level below the output level overlaps the inputs' range: tombstones may
 * then go. Pure functions over catalog file metadata; no I/O.
 */
import type { FileMeta } from '../catalog/catalog-state.js';
import { compareUserKeys, userKeyOf } from '../sst/internal-key.js';

export interface LevelShape {
  /** Level-0 table count that triggers an L0 → L1 compaction. */
  readonly l0CompactionTrigger: number;
  /** Target bytes of level 1; each deeper level is `levelSizeMultiplier` times larger. */
  readonly maxBytesForLevelBase: number;
  readonly levelSizeMultiplier: number;
  /** Levels 0 .. levelCount-1; the last one has no size target. */
  readonly levelCount: number;
}

export interface CompactionPick {
  readonly level: number;
  readonly outputLevel: number;
  /** Input tables of `level`, then of `outputLevel`. */
  readonly inputs: readonly FileMeta[];
  /** One table of level ≥ 1 with nothing to merge with below: re-file it, do not rewrite it. */
  readonly trivialMove: boolean;
  readonly bottommost: boolean;
  readonly score: number;
}

/** User-key range of a table. */
export function userRange(file: FileMeta): { smallest: Uint8Array; largest: Uint8Array } {
  return { smallest: userKeyOf(file.smallest), largest: userKeyOf(file.largest) };
}

export function maxBytesForLevel(shape: LevelShape, level: number): number {
  if (level >= shape.levelCount - 1) return Number.POSITIVE_INFINITY;
  return shape.maxBytesForLevelBase * shape.levelSizeMultiplier ** Math.max(0, level - 1);
}

/** Scores of levels 0 .. levelCount-2 (the last level is never a compaction's source). */
export function levelScores(levels: readonly (readonly FileMeta[])[], shape: LevelShape): number[] {
  const scores: number[] = [];
  for (let level = 0; level < shape.levelCount - 1; level++) {
    const files = levels[level] ?? [];
    if (level === 0) {
      scores.push(files.length / shape.l0CompactionTrigger);
    } else {
      let bytes = 0;
      for (const file of files) bytes += file.sizeBytes;
      scores.push(bytes / maxBytesForLevel(shape, level));
    }
  }
  return scores;
}

/**
 * The compaction to run next, or undefined. `pointers[level]` is the largest user key of the
 * last table compacted at that level (the round-robin position), updated by the caller.
 */
export function pickCompaction(
  levels: readonly (readonly FileMeta[])[],
  busy: ReadonlySet<number>,
  shape: LevelShape,
  pointers: ReadonlyMap<number, Uint8Array>,
): CompactionPick | undefined {
  const scores = levelScores(levels, shape);
  const order = scores
    .map((score, level) => ({ score, level }))
    .filter((entry) => entry.score >= 1)
    .sort((a, b) => b.score - a.score);
  for (const { score, level } of order) {
    const pick =
      level === 0
        ? pickLevel0(levels, busy, shape, score)
        : pickSorted(levels, busy, shape, { level, score, pointer: pointers.get(level) });
    if (pick !== undefined) return pick;
  }
  return undefined;
}

/**
 * A manual compaction of `level` into the next: every table of `level` overlapping the user-key
 * range (all of level 0 when it has any there), plus what they overlap below. Undefined when
 * nothing in the range, or when a table it needs is busy.
 */
export function pickRange(
  levels: readonly (readonly FileMeta[])[],
  busy: ReadonlySet<number>,
  shape: LevelShape,
  range: {
    level: number;
    start: Uint8Array | undefined;
    end: Uint8Array | undefined;
    /** Rewrite the level's tables in place (the last step of a manual compaction). */
    inPlace?: boolean;
  },
): CompactionPick | undefined {
  const { level } = range;
  const files = (levels[level] ?? []).filter((file) => overlapsRange(file, range));
  if (files.length === 0) return undefined;
  const chosen = level === 0 ? [...(levels[0] ?? [])] : files;
  if (range.inPlace === true) {
    if (level === 0 || chosen.some((file) => busy.has(file.fileNumber))) return undefined;
    const whole = unionRange(chosen);
    let bottommost = true;
    for (let below = level + 1; below < levels.length; below++) {
      if ((levels[below] ?? []).some((file) => overlapsRange(file, whole))) bottommost = false;
    }
    return { level, outputLevel: level, inputs: chosen, trivialMove: false, bottommost, score: 0 };
  }
  return withOverlap(levels, busy, shape, { level, score: 0, chosen, allowMove: level > 0 });
}

function pickLevel0(
  levels: readonly (readonly FileMeta[])[],
  busy: ReadonlySet<number>,
  shape: LevelShape,
  score: number,
): CompactionPick | undefined {
  const level0 = levels[0] ?? [];
  if (level0.length === 0 || level0.some((file) => busy.has(file.fileNumber))) return undefined;
  return withOverlap(levels, busy, shape, {
    level: 0,
    score,
    chosen: [...level0],
    allowMove: false,
  });
}

function pickSorted(
  levels: readonly (readonly FileMeta[])[],
  busy: ReadonlySet<number>,
  shape: LevelShape,
  at: { level: number; score: number; pointer: Uint8Array | undefined },
): CompactionPick | undefined {
  const files = levels[at.level] ?? [];
  if (files.length === 0) return undefined;
  // Start after the pointer, wrap around; the first table whose inputs are all free wins.
  let start = 0;
  if (at.pointer !== undefined) {
    const pointer = at.pointer;
    start = files.findIndex((file) => compareUserKeys(userRange(file).smallest, pointer) > 0);
    if (start < 0) start = 0;
  }
  for (let step = 0; step < files.length; step++) {
    const file = files[(start + step) % files.length]!;
    if (busy.has(file.fileNumber)) continue;
    const pick = withOverlap(levels, busy, shape, {
      level: at.level,
      score: at.score,
      chosen: [file],
      allowMove: true,
    });
    if (pick !== undefined) return pick;
  }
  return undefined;
}

function withOverlap(
  levels: readonly (readonly FileMeta[])[],
  busy: ReadonlySet<number>,
  shape: LevelShape,
  pick: { level: number; score: number; chosen: FileMeta[]; allowMove: boolean },
): CompactionPick | undefined {
  if (pick.chosen.some((file) => busy.has(file.fileNumber))) return undefined;
  const outputLevel = Math.min(pick.level + 1, shape.levelCount - 1);
  const range = unionRange(pick.chosen);
  const below = (levels[outputLevel] ?? []).filter((file) => overlapsRange(file, range));
  if (below.some((file) => busy.has(file.fileNumber))) return undefined;
  const inputs = [...pick.chosen, ...below];
  const whole = unionRange(inputs);
  let bottommost = true;
  for (let level = outputLevel + 1; level < levels.length && bottommost; level++) {
    if ((levels[level] ?? []).some((file) => overlapsRange(file, whole))) bottommost = false;
  }
  return {
    level: pick.level,
    outputLevel,
    inputs,
    trivialMove: pick.allowMove && below.length === 0 && pick.chosen.length === 1,
    bottommost,
    score: pick.score,
  };
}

function unionRange(files: readonly FileMeta[]): { start: Uint8Array; end: Uint8Array } {
  let start = userRange(files[0]!).smallest;
  let end = userRange(files[0]!).largest;
  for (const file of files) {
    const { smallest, largest } = userRange(file);
    if (compareUserKeys(smallest, start) < 0) start = smallest;
    if (compareUserKeys(largest, end) > 0) end = largest;
  }
  return { start, end };
}

/** Whether the table's user keys meet [start, end] (either bound may be open). */
export function overlapsRange(
  file: FileMeta,
  range: { start: Uint8Array | undefined; end: Uint8Array | undefined },
): boolean {
  const { smallest, largest } = userRange(file);
  if (range.end !== undefined && compareUserKeys(smallest, range.end) > 0) return false;
  if (range.start !== undefined && compareUserKeys(largest, range.start) < 0) return false;
  return true;
}
