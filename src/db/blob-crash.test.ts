/**
 * Crash tests of key-value separation (emulated backend; flushes, compactions and blob GC copies
 * on the main thread). One seeded workload (testing/blob-workload.ts) puts large values, appends
 * to them in place and by rewriting, overwrites and deletes them, compacts (which accounts blob
 * garbage) and runs blob GC twice, each time writing to keys from `beforeBlobGcTask`, after the
 * round's liveness scan and before its reference commit. The run is cut
 *
 * - at NVM persist points (`crashAtPersist: N`, every other N tearing the crashing persist);
 * - at mutating calls of the catalog's file system (CrashingCatalogFs, every other call torn):
 *   blob file registration (AddBlobFile), CommitBlobGc, file deletions, flushes, compactions.
 *
 * The default run takes every STRIDE-th point; STRATA_SLOW=1 takes all of them (and more seeds).
 * After each crash a clean reopen must show every acknowledged write with its exact bytes, at
 * most the one in-flight write's effect and nothing else (no value a GC round moved coming back
 * over a newer write), through the iterator, get and getRange; again after a blob GC pass, and
 * again after a second reopen. Once closed, the catalog folder must hold exactly the tables and
 * blob files the catalog lists (and stats() reported), the catalog's own files, no temp file and
 * no BLOBGC- crash marker. KV_SEED=n replays one seed. The harness is testing/crash-run.ts (shared
 * with crash.test.ts), the file checks testing/leftover-files.ts.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CATALOG_DIR_NAME, Strata, type StrataOptions } from './strata.js';
import {
  applyBlobWrite,
  BLOB_MIN_BYTES,
  type BlobStep,
  type BlobStepsOutcome,
  type BlobWrite,
  blobKey,
  filler,
  fullBlobModel,
  GcInterleave,
  makeBlobSteps,
  runBlobSteps,
} from './testing/blob-workload.js';
import {
  CRASH_POINTS_MAX,
  CrashRunner,
  type CrashSide,
  type CrashWorkload,
  candidateModels,
  crashSeeds,
  fastTempRoot,
  inFlightFate,
  nothingDoneOutcome,
  type SweepCounts,
  zeroSweepCounts,
} from './testing/crash-run.js';
import {
  expectOneGeneration,
  expectOnlyListedFiles,
  expectReportedFiles,
  type ReportedFiles,
  readCatalogFolder,
  reportedFiles,
} from './testing/leftover-files.js';
import { PowerCut } from './testing/power-cut.js';

const OPTIONS: StrataOptions = {
  backend: 'emulated',
  memtableSize: 2 << 10,
  flushThreads: 0,
  compactionThreads: 0,
  l0CompactionTrigger: 2,
  sizeMaxBytes: 8 << 20,
  minBlobSize: BLOB_MIN_BYTES,
  // About six values a file, so the workload spreads over a dozen files and GC has choices.
  blobFileSize: 4096,
  // Room for two or three small appends in place; a large one (or the next) rewrites.
  blobReserve: { ratio: 0.25, minBytes: 64, maxBytes: 160, appendRatio: 0.5 },
  blobGcGarbageRatio: 0.25,
};
const SHAPE = { keyCount: 12, mixBefore: 30, mixAfter: 14 };
const CHECKPOINT_EVERY_EDITS = 6;
const SLOW = process.env['STRATA_SLOW'] === '1';
/** Every STRIDE-th crash point in the default run (odd, so torn and clean cuts alternate). */
const STRIDE = SLOW ? { nvm: 1, catalog: 1 } : { nvm: 11, catalog: 4 };
/** Every point of three seeds, and every crash of the marker-settling reopens, takes minutes. */
const CRASH_TEST_TIMEOUT_MS = SLOW ? 3_600_000 : 120_000;
/** Written by verify after the reopen: the recovered database takes blobs and appends. */
const AFTER_KEY = 'after-crash';

const decoder = new TextDecoder();
/** Blob GC's copy tasks report a crash wrapped, with the StrataError as its cause. */
const runner = new CrashRunner({ acceptWrappedCrash: true });

beforeAll(() => runner.install());
afterAll(() => runner.uninstall());

describe.each(crashSeeds(3))('seed %i', (seed) => {
  const steps = makeBlobSteps(seed, SHAPE);

  test('without a crash the workload appends both ways and GC moves and skips values', async () => {
    const root = mkdtempSync(join(fastTempRoot(), 'strata-blob-clean-'));
    try {
      const interleave = new GcInterleave();
      const db = await Strata.open(join(root, 'db'), OPTIONS, {
        beforeBlobGcTask: interleave.hook,
      });
      let outcome: BlobStepsOutcome;
      try {
        outcome = await runBlobSteps(db, steps, interleave);
        expect(outcome.failure).toBe(undefined);
        const stats = db.stats();
        console.log(
          `KV_SEED=${seed} clean: ${JSON.stringify(pick(stats, STAT_NAMES))} after GC 1: ` +
            JSON.stringify(pick(outcome.gcStats[0]!, STAT_NAMES)),
        );
        expect(stats.appendsInPlace, 'in-place appends').toBeGreaterThan(5);
        expect(stats.appendsRewritten, 'rewriting appends').toBeGreaterThan(5);
        // The first GC step moved live values, removed files and skipped the keys written from
        // beforeBlobGcTask (their old values must never come back).
        const first = outcome.gcStats[0]!;
        expect(first.blobGcBytesRewritten, 'bytes GC 1 moved').toBeGreaterThan(0);
        expect(first.blobGcFilesRemoved, 'files GC 1 removed').toBeGreaterThan(0);
        expect(first.blobGcSkipped, 'values GC 1 skipped').toBeGreaterThan(0);
        expect(stats.blobGcErrors).toBe(0);
        // A GC step runs as many copy tasks as it has rounds (rounds merge files up to one
        // output's worth of live bytes), so some planned groups may go unissued; the model
        // below counts only the issued ones.
        const planned = steps.flatMap((step) =>
          step.kind === 'gc' ? [step.duringTasks.length] : [],
        );
        expect(outcome.groupsIssued.length, 'GC steps').toBe(planned.length);
        expect(outcome.groupsIssued[0], 'hook write groups in GC 1').toBeGreaterThan(0);
        outcome.groupsIssued.forEach((issued, index) => {
          expect(issued, `hook write groups in GC ${index + 1}`).toBeLessThanOrEqual(
            planned[index]!,
          );
        });
        expect(outcome.model).toEqual(fullBlobModel(steps, outcome.groupsIssued));
      } finally {
        await db.close();
      }
      await verify(join(root, 'db'), outcome, `KV_SEED=${seed} clean`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test(
    'NVM crash at every persist point',
    async () => {
      const counts = await crashEverywhere(seed, steps, 'nvm');
      const { cleanRunCalls: _calls, ...summary } = counts;
      console.log(`KV_SEED=${seed} nvm: ${JSON.stringify(summary)}`);
      expect(counts.points).toBeGreaterThan(SLOW ? 600 : 50);
      expect(counts.kept + counts.dropped).toBe(counts.points);
      expect(counts.inGc, 'crash points inside a GC step').toBeGreaterThan(SLOW ? 40 : 4);
      expect(counts.markers, 'runs that left a GC crash marker').toBeGreaterThan(0);
      expect(counts.recoveryPoints, 'crashes of the reopen settling a marker').toBeGreaterThan(0);
    },
    CRASH_TEST_TIMEOUT_MS,
  );

  test(
    'catalog crash at every mutating file-system call',
    async () => {
      const counts = await crashEverywhere(seed, steps, 'catalog');
      const { cleanRunCalls, ...summary } = counts;
      console.log(`KV_SEED=${seed} catalog: ${JSON.stringify(summary)}`);
      // The uncut run registered blob files and committed GC rounds, so the points cut both.
      const blobRenames = cleanRunCalls.filter((call) =>
        /^rename \S+\.tmp \d{6}\.blob$/.test(call),
      );
      const blobUnlinks = cleanRunCalls.filter((call) => /^unlink \d{6}\.blob$/.test(call));
      expect(blobRenames.length, cleanRunCalls.join('\n')).toBeGreaterThanOrEqual(8);
      expect(blobUnlinks.length, cleanRunCalls.join('\n')).toBeGreaterThanOrEqual(2);
      expect(counts.points).toBeGreaterThan(SLOW ? 150 : 30);
      expect(counts.inGc, 'crash points inside a GC step').toBeGreaterThan(SLOW ? 20 : 6);
      expect(counts.markers, 'runs that left a GC crash marker').toBeGreaterThan(0);
      expect(counts.recoveryPoints, 'crashes of the reopen settling a marker').toBeGreaterThan(0);
    },
    CRASH_TEST_TIMEOUT_MS,
  );
});

/**
 * Regressions of two bugs these tests found (both fixed):
 *
 * 1. An in-place append that wrote into its blob's reserve before a GC round retired the file,
 *    but whose reference commit landed after the round's liveness scan: the round copied the old
 *    value, skipped the key (its reference changed), and CommitBlobGc removed the file the new,
 *    acknowledged reference still pointed into (ERR_CORRUPT on get, also after a reopen). The
 *    append's commit now also requires the file to be appendable still, else it rewrites.
 * 2. A put that filled the active blob file, then close(): the successor's creation rejected
 *    unhandled (ERR_CLOSED), which ends a Node process. Creations now never reject; close waits.
 */
describe('regressions', () => {
  const options: StrataOptions = {
    backend: 'emulated',
    flushThreads: 0,
    compactionThreads: 0,
    minBlobSize: 100,
    blobFileSize: 8192,
    blobGcGarbageRatio: 0.2,
    blobReserve: { minBytes: 64, maxBytes: 64 },
  };

  test('an in-place append racing a GC round keeps its value', async () => {
    const root = mkdtempSync(join(fastTempRoot(), 'strata-blob-race-'));
    try {
      const db = await Strata.open(join(root, 'db'), options);
      try {
        // Blob file 1, still active: a..h, then new versions of b..h; the compaction makes the
        // old ones garbage while no GC round may take the active file.
        for (const key of 'abcdefgh') await db.put(key, key.repeat(400));
        for (const key of 'bcdefgh') await db.put(key, key.toUpperCase().repeat(400));
        await db.compactRange();
        // A larger value fills file 1 and its successor becomes active; nothing schedules GC.
        await db.put('z', 'z'.repeat(1000));
        await new Promise((resolve) => setTimeout(resolve, 50));
        const appended = db.append('a', 'TAIL'); // in place into file 1, committed later
        const collected = db.collectBlobGarbage(); // retires and scans file 1 right now
        await appended;
        await collected;
        expect(db.stats().blobGcFilesRemoved).toBe(1);
        expect(decoder.decode(db.get('a')!)).toBe(`${'a'.repeat(400)}TAIL`);
      } finally {
        await db.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('closing while the next blob file is created rejects nothing unhandled', async () => {
    const root = mkdtempSync(join(fastTempRoot(), 'strata-blob-successor-'));
    try {
      const unhandled: unknown[] = [];
      const listener = (reason: unknown): void => {
        unhandled.push(reason);
      };
      process.on('unhandledRejection', listener);
      try {
        const dir = join(root, 'db');
        let db = await Strata.open(dir, { ...options, blobFileSize: 4096 });
        await db.put('k', 'v'.repeat(5000)); // passes blobFileSize: the successor is started
        await db.close();
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(unhandled, 'unhandled rejections').toEqual([]);
        // A successor registered as the database closed is reused, not left empty for good.
        db = await Strata.open(dir, { ...options, blobFileSize: 4096 });
        await db.put('k2', 'w'.repeat(500));
        const blobs = readdirSync(join(dir, 'catalog')).filter((name) => name.endsWith('.blob'));
        expect(blobs.length).toBe(db.stats().blobFiles);
        expect(db.stats().blobFiles).toBeLessThanOrEqual(2);
        expect(decoder.decode(db.get('k')!)).toBe('v'.repeat(5000));
        await db.close();
      } finally {
        process.off('unhandledRejection', listener);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

const STAT_NAMES = [
  'blobFiles',
  'blobsWritten',
  'appendsInPlace',
  'appendsRewritten',
  'blobGcRuns',
  'blobGcFilesRemoved',
  'blobGcBytesRewritten',
  'blobGcSkipped',
  'flushes',
] as const;

interface Counts extends SweepCounts {
  /** Runs that crashed during a GC step (its compactRange, its rounds or a hook write). */
  inGc: number;
  /** Runs that left a BLOBGC- crash marker for the reopen to settle. */
  markers: number;
  /** Second crashes: catalog calls of a reopen (+ GC pass) that settled a marker. */
  recoveryPoints: number;
}

/**
 * For N = 1, 1 + STRIDE, … runs the steps with the crash hooks of N until a run ends without
 * crashing, checking the recovered database after each crash (and crashing the reopens that
 * settle a GC crash marker too).
 */
function crashEverywhere(
  seed: number,
  steps: readonly BlobStep[],
  side: CrashSide,
): Promise<Counts> {
  const counts: Counts = { ...zeroSweepCounts(), inGc: 0, markers: 0, recoveryPoints: 0 };
  return runner.sweep({
    seed,
    side,
    folderPrefix: 'strata-blob-crash',
    stride: STRIDE[side],
    counts,
    workload: () => blobWorkload(steps),
    cleanRun: async (run, dir, context) => {
      const { model, groupsIssued } = run.outcome;
      expect(model, context).toEqual(fullBlobModel(steps, groupsIssued));
      expect(groupsIssued.length, context).toBe(2);
      expect(groupsIssued[0], `${context}: writes during GC 1`).toBeGreaterThan(0);
      await verify(dir, run.outcome, `${context} (no crash)`);
    },
    crashedRun: async (run, dir, context) => {
      if (steps[run.outcome.stepsDone]?.kind === 'gc') counts.inGc++;
      if (markersIn(dir).length > 0) {
        counts.markers++;
        // Crash the reopen that settles the marker too (the first such point; all under SLOW).
        if (SLOW || counts.markers === 1) {
          counts.recoveryPoints += await crashRecovery(dir, run.outcome, context);
        }
      }
      return verify(dir, run.outcome, context);
    },
  });
}

/** The steps, with a fresh GC interleave per run (the hook the run's database is opened with). */
function blobWorkload(steps: readonly BlobStep[]): CrashWorkload<BlobStepsOutcome> {
  const interleave = new GcInterleave();
  return {
    open: (dir, hooks) =>
      Strata.open(dir, OPTIONS, {
        ...hooks,
        beforeBlobGcTask: interleave.hook,
        checkpointEveryEdits: CHECKPOINT_EVERY_EDITS,
      }),
    run: (db) => runBlobSteps(db, steps, interleave),
    nothingDone: () => ({ ...nothingDoneOutcome(), gcStats: [], groupsIssued: [] }),
  };
}

/**
 * `dir` holds a crashed database with a BLOBGC- marker: for K = 1, 2, … a copy of it is reopened
 * (and GC run) with the catalog crashing at its K-th call, then verified like a first crash,
 * until a reopen gets through. Returns the crash points exercised.
 */
async function crashRecovery(
  dir: string,
  outcome: Pick<BlobStepsOutcome, 'model' | 'inFlight'>,
  context: string,
): Promise<number> {
  for (let crashAt = 1; crashAt <= CRASH_POINTS_MAX; crashAt++) {
    const copy = `${dir}-recovery-${crashAt}`;
    cpSync(dir, copy, { recursive: true });
    const recoveryContext = `${context} then reopen crashAt=${crashAt}`;
    const tear = crashAt % 2 === 0 ? { tearSeed: crashAt } : {};
    const cut = new PowerCut({ crashAtCall: crashAt, ...tear });
    let db: Strata | undefined;
    try {
      await runner.withCut(cut, async () => {
        db = await Strata.open(copy, OPTIONS, { catalogFs: cut.fs });
        await db.collectBlobGarbage();
        await db.close();
      });
    } catch (error) {
      runner.expectCrash(error, cut, recoveryContext);
    }
    const crashed = cut.crashed;
    if (crashed) await cut.abandon(db);
    await verify(copy, outcome, recoveryContext);
    rmSync(copy, { recursive: true, force: true });
    if (!crashed) return crashAt - 1;
  }
  throw new Error(`${context}: the reopen still crashes after ${CRASH_POINTS_MAX} points`);
}

/**
 * Reopens cleanly and checks the state against the oracle (then after a GC pass and a few
 * writes, then after a second reopen), then the files; says whether the in-flight write survived.
 */
async function verify(
  dir: string,
  outcome: Pick<BlobStepsOutcome, 'model' | 'inFlight'>,
  context: string,
): Promise<'kept' | 'dropped'> {
  const candidates = candidateModels(outcome, applyBlobWrite);
  let db = await Strata.open(dir, OPTIONS);
  let truth: Map<string, string>;
  let chosen: number;
  let reported: ReportedFiles;
  try {
    chosen = chooseCandidate(db, candidates, `${context}: after reopen`);
    truth = new Map(candidates[chosen]!);
    await db.collectBlobGarbage();
    expect(db.stats().blobGcErrors, `${context}: GC errors after reopen`).toBe(0);
    expectContents(db, truth, `${context}: after reopen + GC`);
    // The recovered database keeps working: a new blob, appends in place and rewriting, GC.
    const writes: BlobWrite[] = [
      { kind: 'put', key: AFTER_KEY, value: filler(context, 400) },
      { kind: 'append', key: AFTER_KEY, bytes: '<after 1>' },
      { kind: 'append', key: blobKey(1), bytes: `<${filler('after 2', 200)}>` },
    ];
    for (const write of writes) {
      await issueWrite(db, write);
      applyBlobWrite(truth, write);
    }
    await db.compactRange();
    await db.collectBlobGarbage();
    expectContents(db, truth, `${context}: after writes + GC`);
    const stats = db.stats();
    expect(stats.blobGcErrors, `${context}: GC errors`).toBe(0);
    reported = reportedFiles(stats);
  } finally {
    await db.close();
  }
  await checkFiles(dir, reported, context);
  db = await Strata.open(dir, OPTIONS);
  try {
    expectContents(db, truth, `${context}: after the second reopen`);
  } finally {
    await db.close();
  }
  return inFlightFate(candidates, chosen);
}

function issueWrite(db: Strata, write: BlobWrite): Promise<void> {
  if (write.kind === 'put') return db.put(write.key, write.value);
  if (write.kind === 'append') return db.append(write.key, write.bytes);
  throw new Error(`verify writes only puts and appends, not ${write.kind}`);
}

/** The candidate the database matches (the acknowledged state, or it plus the in-flight write). */
function chooseCandidate(
  db: Strata,
  candidates: readonly Map<string, string>[],
  context: string,
): number {
  const found = scan(db, context);
  const chosen = candidates.findIndex((candidate) => isDeepStrictEqual(found, sorted(candidate)));
  if (chosen < 0) {
    // Show the differences against the newest candidate, key by key.
    const expected = sorted(candidates.at(-1)!);
    expect(describeDiff(found, expected), `${context}: neither acked nor acked + in-flight`).toBe(
      '',
    );
  }
  expectContents(db, candidates[chosen]!, context);
  return chosen;
}

/** Iterator both ways, get and getRange of each key against `truth`. */
function expectContents(db: Strata, truth: ReadonlyMap<string, string>, context: string): void {
  const found = scan(db, context);
  const expected = sorted(truth);
  expect(describeDiff(found, expected), `${context}: iterator`).toBe('');
  const backward = [...db.iterator({ reverse: true })].map(([key]) => decoder.decode(key));
  expect(backward, `${context}: reverse iteration`).toEqual(found.map(([key]) => key).reverse());
  for (const key of [...Array.from({ length: SHAPE.keyCount }, (_, i) => blobKey(i)), AFTER_KEY]) {
    const value = truth.get(key);
    const bytes = db.get(key);
    expect(bytes === undefined ? undefined : decoder.decode(bytes), `${context}: get ${key}`).toBe(
      value,
    );
    if (value === undefined || value.length < 24) continue;
    const tail = db.getRange(key, value.length - 24, 100);
    expect(decoder.decode(tail!), `${context}: getRange tail of ${key}`).toBe(value.slice(-24));
  }
}

function scan(db: Strata, context: string): [string, string][] {
  try {
    return [...db.iterator()].map(([key, value]) => [decoder.decode(key), decoder.decode(value)]);
  } catch (error) {
    throw new Error(`${context}: iterating failed`, { cause: error });
  }
}

function sorted(model: ReadonlyMap<string, string>): [string, string][] {
  return [...model.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** One line per key whose value differs ('' when equal), naming lengths and the first byte off. */
function describeDiff(found: [string, string][], expected: [string, string][]): string {
  const left = new Map(found);
  const right = new Map(expected);
  const lines: string[] = [];
  for (const key of new Set([...left.keys(), ...right.keys()])) {
    const got = left.get(key);
    const want = right.get(key);
    if (got === want) continue;
    if (got === undefined || want === undefined) {
      lines.push(`${key}: ${got === undefined ? 'missing' : `unexpected ${got.slice(0, 40)}`}`);
      continue;
    }
    let first = 0;
    while (first < got.length && got[first] === want[first]) first++;
    lines.push(
      `${key}: ${got.length} bytes, expected ${want.length}; first difference at ${first}: ` +
        `${JSON.stringify(got.slice(first, first + 30))} vs ${JSON.stringify(want.slice(first, first + 30))}`,
    );
  }
  return lines.join('\n');
}

/**
 * After a clean close: exactly the tables and blob files the catalog lists (as many as stats()
 * reported before the close), the catalog's own three files, no temp file, no GC crash marker.
 */
async function checkFiles(dir: string, reported: ReportedFiles, context: string): Promise<void> {
  const folder = await readCatalogFolder(dir);
  expectReportedFiles(folder, reported, context);
  expectOneGeneration(expectOnlyListedFiles(folder, context), context);
}

/** The BLOBGC- crash markers in the database's catalog folder. */
function markersIn(dir: string): string[] {
  const catalogDir = join(dir, CATALOG_DIR_NAME);
  if (!existsSync(catalogDir)) return [];
  return readdirSync(catalogDir).filter((name) => name.startsWith('BLOBGC-'));
}

function pick<T extends object, K extends keyof T>(object: T, names: readonly K[]): Pick<T, K> {
  const picked = {} as Pick<T, K>;
  for (const name of names) picked[name] = object[name];
  return picked;
}
