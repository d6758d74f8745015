/**
 * The blob model of blob.test.ts: a seeded op log of puts (inline and blob), appends, deletes,
 * snapshots, compactions, blob GC and reopens, replayed against a Strata and a Map oracle. A GC
 * started while snapshots are open is left running (it must wait for them) and awaited once the
 * last one is released, so snapshots keep reading files the round has already copied.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import { isStrataError } from '../../errors.js';
import { CATALOG_DIR_NAME, Strata, type StrataOptions, type StrataSnapshot } from '../strata.js';
import { text } from './expect-code.js';

export type BlobStep =
  | { kind: 'put'; key: number; size: number }
  | { kind: 'append'; key: number; size: number }
  | { kind: 'del'; key: number }
  | { kind: 'snapshot' }
  | { kind: 'release' }
  | { kind: 'compactRange'; start: number; end: number }
  | { kind: 'collect' }
  | { kind: 'reopen' };

export interface BlobRange {
  readonly key: number;
  readonly offset: number;
  readonly length: number;
}

/** What one run saw, summed over its sessions (stats reset at each open). */
export interface BlobModelTotals {
  blobGcRuns: number;
  blobGcFilesRemoved: number;
  blobGcSkipped: number;
  appendsInPlace: number;
  appendsRewritten: number;
  blobsWritten: number;
  valueTooLarge: number;
}

export const KEY_COUNT = 30;
/** The model's options give values at least this many bytes a blob. */
export const MODEL_MIN_BLOB_SIZE = 512;
/** An append past this total is ERR_VALUE_TOO_LARGE; the model checks that too. */
export const MODEL_MAX_VALUE_BYTES = 4 * 1024;
const GC_SETTLE_MS = 20_000;
const SETTLE_ATTEMPTS = 200;
const FILL = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Constant churn: flushes every ~2 KB, tables of 2 KB, 16 KiB blob files, small reserves. */
export const BLOB_CHURN: StrataOptions = {
  backend: 'emulated',
  sizeMaxBytes: 32 << 20,
  memtableSize: 2048,
  l0CompactionTrigger: 2,
  maxBytesForLevelBase: 4 << 10,
  levelSizeMultiplier: 2,
  targetFileSize: 2048,
  flushThreads: 0,
  compactionThreads: 0,
  minBlobSize: MODEL_MIN_BLOB_SIZE,
  maxValueBytes: MODEL_MAX_VALUE_BYTES,
  blobFileSize: 16 << 10,
  blobReserve: { ratio: 0.25, minBytes: 128, maxBytes: 2048, appendRatio: 1 },
  blobGcGarbageRatio: 0.3,
};

const keyArbitrary = fc.nat(KEY_COUNT - 1);
const putSize = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 400 }) },
  { weight: 1, arbitrary: fc.constantFrom(MODEL_MIN_BLOB_SIZE - 1, MODEL_MIN_BLOB_SIZE) },
  { weight: 4, arbitrary: fc.integer({ min: MODEL_MIN_BLOB_SIZE, max: 3000 }) },
);
const appendSize = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 100 }) },
  { weight: 4, arbitrary: fc.integer({ min: 300, max: 2000 }) },
);

export const blobStepArbitrary: fc.Arbitrary<BlobStep> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyArbitrary, size: putSize }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      key: keyArbitrary,
      size: appendSize,
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('del' as const), key: keyArbitrary }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'snapshot' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'release' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('compactRange' as const),
      start: keyArbitrary,
      end: keyArbitrary,
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'collect' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

export const blobRangesArbitrary: fc.Arbitrary<BlobRange[]> = fc.array(
  fc.record({
    key: keyArbitrary,
    offset: fc.oneof(fc.nat(64), fc.nat(MODEL_MAX_VALUE_BYTES + 100)),
    length: fc.oneof(fc.nat(64), fc.nat(MODEL_MAX_VALUE_BYTES)),
  }),
  { minLength: 30, maxLength: 30 },
);

export const keyOf = (key: number): string => `key-${String(key).padStart(3, '0')}`;

/** ASCII, so a value's byte offsets are its character offsets; the tag makes it unique. */
export function filledValue(tag: string, size: number): string {
  return tag.padEnd(size, FILL).slice(0, size);
}

export function scanText(db: { iterator(): Iterable<[Uint8Array, Uint8Array]> }): string[] {
  return [...db.iterator()].map(([key, value]) => `${text(key)}=${text(value)}`);
}

export function oracleScan(oracle: ReadonlyMap<string, string>): string[] {
  return [...oracle.entries()]
    .sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])))
    .map(([key, value]) => `${key}=${value}`);
}

export function blobFilesOnDisk(dir: string): string[] {
  return readdirSync(join(dir, CATALOG_DIR_NAME)).filter((name) => name.endsWith('.blob'));
}

/**
 * The number of blob files on disk once it stops exceeding what the catalog lists: a file the
 * catalog dropped is deleted by its queue shortly after (bounded wait).
 */
export async function settledBlobFileCount(db: Strata): Promise<number> {
  for (let attempt = 0; attempt < SETTLE_ATTEMPTS; attempt++) {
    if (blobFilesOnDisk(db.dir).length <= db.stats().blobFiles) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return blobFilesOnDisk(db.dir).length;
}

export function gcMarkersOnDisk(dir: string): string[] {
  return readdirSync(join(dir, CATALOG_DIR_NAME)).filter((name) => name.startsWith('BLOBGC-'));
}

/** Rejects with a clear message if `promise` has not settled after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface HeldSnapshot {
  readonly snapshot: StrataSnapshot;
  readonly state: ReadonlyMap<string, string>;
}

/** Replays `steps` in `dir`; throws (an expect failure) at the first divergence. */
export async function runBlobModel(
  dir: string,
  options: StrataOptions,
  steps: readonly BlobStep[],
  ranges: readonly BlobRange[],
  totals: BlobModelTotals,
): Promise<void> {
  let db = await Strata.open(dir, options);
  const oracle = new Map<string, string>();
  const snapshots: HeldSnapshot[] = [];
  let gc: Promise<unknown> | undefined;
  let version = 0;

  const settleGc = async (): Promise<void> => {
    if (gc === undefined) return;
    const running = gc;
    gc = undefined;
    await within(running, GC_SETTLE_MS, 'collectBlobGarbage after the last snapshot went');
  };
  const endSession = async (): Promise<void> => {
    for (const { snapshot } of snapshots.splice(0)) snapshot.release();
    await settleGc();
    const stats = db.stats();
    expect(stats.blobGcErrors).toBe(0);
    expect(stats.compactionErrors).toBe(0);
    expect(stats.flushErrors).toBe(0);
    totals.blobGcRuns += stats.blobGcRuns;
    totals.blobGcFilesRemoved += stats.blobGcFilesRemoved;
    totals.blobGcSkipped += stats.blobGcSkipped;
    totals.appendsInPlace += stats.appendsInPlace;
    totals.appendsRewritten += stats.appendsRewritten;
    totals.blobsWritten += stats.blobsWritten;
  };

  try {
    for (const [index, step] of steps.entries()) {
      const where = `step ${index} ${JSON.stringify(step)}`;
      let touched: string | undefined;
      if (step.kind === 'put') {
        touched = keyOf(step.key);
        const value = filledValue(`<p${version++}>`, step.size);
        await db.put(touched, value);
        oracle.set(touched, value);
      } else if (step.kind === 'append') {
        touched = keyOf(step.key);
        const chunk = filledValue(`<a${version++}>`, step.size);
        const joined = (oracle.get(touched) ?? '') + chunk;
        if (joined.length > MODEL_MAX_VALUE_BYTES) {
          const error = await db.append(touched, chunk).then(
            () => undefined,
            (caught: unknown) => caught,
          );
          expect(isStrataError(error, 'ERR_VALUE_TOO_LARGE'), `${where}: ${error}`).toBe(true);
          totals.valueTooLarge++;
        } else {
          await db.append(touched, chunk);
          oracle.set(touched, joined);
        }
      } else if (step.kind === 'del') {
        touched = keyOf(step.key);
        await db.del(touched);
        oracle.delete(touched);
      } else if (step.kind === 'snapshot') {
        snapshots.push({ snapshot: db.snapshot(), state: new Map(oracle) });
      } else if (step.kind === 'release') {
        snapshots.shift()?.snapshot.release();
        if (snapshots.length === 0) await settleGc();
      } else if (step.kind === 'compactRange') {
        const low = Math.min(step.start, step.end);
        const high = Math.max(step.start, step.end);
        await db.compactRange(keyOf(low), keyOf(high));
      } else if (step.kind === 'collect') {
        const running = db.collectBlobGarbage();
        if (snapshots.length === 0) {
          await within(running, GC_SETTLE_MS, `${where}: collectBlobGarbage`);
        } else {
          // It waits for the snapshots; a failure surfaces when it is awaited.
          running.catch(() => undefined);
          gc = gc === undefined ? running : Promise.all([gc, running]);
        }
      } else {
        await endSession();
        await db.close();
        db = await Strata.open(dir, options);
      }
      if (touched !== undefined) {
        expect(text(db.get(touched)), where).toBe(oracle.get(touched));
        for (const { snapshot, state } of snapshots) {
          expect(text(snapshot.get(touched)), `${where}: snapshot`).toBe(state.get(touched));
        }
      }
      for (const { snapshot, state } of snapshots) {
        expect(scanText(snapshot), `${where}: snapshot scan`).toEqual(oracleScan(state));
      }
    }
    await endSession();
    expect(scanText(db)).toEqual(oracleScan(oracle));
    for (let key = 0; key < KEY_COUNT; key++) {
      expect(text(db.get(keyOf(key))), keyOf(key)).toBe(oracle.get(keyOf(key)));
    }
    for (const { key, offset, length } of ranges) {
      const value = oracle.get(keyOf(key));
      const expected = value?.slice(offset, offset + length);
      const range = `getRange(${keyOf(key)}, ${offset}, ${length})`;
      expect(text(db.getRange(keyOf(key), offset, length)), range).toBe(expected);
    }
    // A reopen settles a round the close cut short; once the rounds the open started are done,
    // no marker is left and, after the catalog's queued deletions, the files on disk are the
    // ones it lists.
    await db.close();
    db = await Strata.open(dir, options);
    await within(db.collectBlobGarbage(), GC_SETTLE_MS, 'collectBlobGarbage after reopen');
    expect(gcMarkersOnDisk(dir)).toEqual([]);
    expect(await settledBlobFileCount(db)).toBe(db.stats().blobFiles);
    expect(scanText(db)).toEqual(oracleScan(oracle));
  } finally {
    for (const { snapshot } of snapshots) snapshot.release();
    await db.close();
  }
}

export function emptyTotals(): BlobModelTotals {
  return {
    blobGcRuns: 0,
    blobGcFilesRemoved: 0,
    blobGcSkipped: 0,
    appendsInPlace: 0,
    appendsRewritten: 0,
    blobsWritten: 0,
    valueTooLarge: 0,
  };
}
