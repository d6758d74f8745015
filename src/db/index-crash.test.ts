/**
 * Crash tests of secondary indexes (emulated backend; flushes, compactions and index builds on
 * the main thread). One seeded workload (testing/index-crash-workload.ts) writes field records
 * and raw values, builds an index (flush, scan, CommitIndexBuild), moves, deletes and rewrites
 * indexed records, builds a second index while writes go on (some from beforeIndexBuildTask,
 * between the build's flush and its scan), drops the first (its entries removed in the
 * background while writes go on) and builds it again. The run is cut
 *
 * - at NVM persist points (`crashAtPersist: N`, every other N tearing the crashing persist);
 * - at mutating calls of the catalog's file system (every other call torn): ChangeIndexState,
 *   the builds' flushes, CommitIndexBuild's renames and edit, compactions, checkpoints.
 *
 * The default run takes every 5th NVM point and every catalog call; STRATA_SLOW=1 takes every
 * point, for three seeds.
 * After each crash a clean reopen must show every acknowledged write with its exact bytes and at
 * most the in-flight write's effect; list exactly the indexes the crashed catalog holds (not
 * dropping), which must be the acknowledged set or that set after the in-flight createIndex or
 * dropIndex; and every listed index (waited for, when the open builds it again) must agree with
 * a brute force over a scan of the data, whole and per value (testing/index-crash-check.ts). So
 * again after writes, and after a second reopen. Once closed, the catalog folder must hold only
 * the files the catalog lists (testing/leftover-files.ts) and the catalog no index left building
 * or dropping. KV_SEED=n replays one seed. The harness is testing/crash-run.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { IndexMeta } from '../catalog/catalog-state.js';
import { Strata, type StrataOptions } from './strata.js';
import {
  CrashRunner,
  type CrashSide,
  candidateModels,
  crashSeeds,
  fastTempRoot,
  inFlightFate,
  nothingDoneOutcome,
  type SweepCounts,
  zeroSweepCounts,
} from './testing/crash-run.js';
import { catalogIndexes, expectIndexesAgree, scanData } from './testing/index-crash-check.js';
import {
  BuildInterleave,
  type IndexStepsOutcome,
  runIndexSteps,
} from './testing/index-crash-run.js';
import {
  ABSENT_VALUES,
  AUTHORS,
  applyIndexWrite,
  fullIndexModel,
  type IndexStep,
  issueIndexWrite,
  latin1,
  makeIndexSteps,
  RECORD_COUNT,
  recordKey,
  type Write,
  YEARS,
} from './testing/index-crash-workload.js';
import {
  expectOneGeneration,
  expectOnlyListedFiles,
  readCatalogFolder,
} from './testing/leftover-files.js';

const OPTIONS: StrataOptions = {
  backend: 'emulated',
  memtableSize: 2 << 10,
  flushThreads: 0,
  compactionThreads: 0,
  l0CompactionTrigger: 2,
  sizeMaxBytes: 8 << 20,
};
const CHECKPOINT_EVERY_EDITS = 6;
const SLOW = process.env['STRATA_SLOW'] === '1';
/** Every STRIDE-th crash point in the default run (odd, so torn and clean cuts alternate). */
const STRIDE = SLOW ? { nvm: 1, catalog: 1 } : { nvm: 5, catalog: 1 };
const CRASH_TEST_TIMEOUT_MS = SLOW ? 3_600_000 : 120_000;
const PROBES = [...AUTHORS, ...YEARS, ...ABSENT_VALUES, 'after', 'after\u0000'];
/**
 * Written by verify after the reopen: the recovered indexes follow them. Awaited one by one,
 * they also give a removal the open resumed the event-loop turns it needs before the close
 * (which would stop it: see "a dropped index across close" below).
 */
const AFTER_WRITES: readonly Write[] = [
  { kind: 'putFields', key: recordKey(0), fields: { author: 'after', year: 'after\u0000' } },
  { kind: 'del', key: recordKey(6) },
  { kind: 'put', key: recordKey(8), raw: 'raw after' },
  { kind: 'putFields', key: 'after-crash', fields: { author: 'x', year: '1954' } },
];

const runner = new CrashRunner({ acceptWrappedCrash: false });

beforeAll(() => runner.install());
afterAll(() => runner.uninstall());

describe.each(crashSeeds(3))('seed %i', (seed) => {
  const steps = makeIndexSteps(seed);

  test('without a crash the workload builds, maintains, drops and rebuilds', async () => {
    const root = mkdtempSync(join(fastTempRoot(), 'strata-index-clean-'));
    try {
      const interleave = new BuildInterleave();
      const db = await Strata.open(join(root, 'db'), OPTIONS, {
        beforeIndexBuildTask: interleave.hook,
      });
      let outcome: IndexStepsOutcome;
      try {
        outcome = await runIndexSteps(db, steps, interleave);
        expect(outcome.failure).toBe(undefined);
        expect(outcome.model).toEqual(fullIndexModel(steps));
        expect([...outcome.indexes].sort()).toEqual(['author', 'year']);
        expect(outcome.hookGroups, 'writes issued from beforeIndexBuildTask').toBe(1);
        const stats = db.stats();
        console.log(
          `KV_SEED=${seed} clean: builds ${stats.indexBuilds}, entries built ` +
            `${stats.indexBuildEntriesWritten}, written ${stats.indexEntriesWritten}, ` +
            `deleted ${stats.indexEntriesDeleted}, removed ${stats.indexEntriesRemoved}, ` +
            `flushes ${stats.flushes}`,
        );
        expect(stats.indexBuilds).toBe(3);
        expect(stats.indexEntriesDeleted, 'old entries deleted by writes').toBeGreaterThan(5);
        expect(stats.indexEntriesRemoved, 'entries removed after the drop').toBeGreaterThan(10);
        expect(stats.indexTasksFailed).toBe(0);
        await expectIndexesAgree(db, PROBES, `KV_SEED=${seed} clean`);
      } finally {
        await db.close();
      }
      await verify(join(root, 'db'), outcome, `KV_SEED=${seed} clean`, undefined);
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
      expectCoverage(counts, 'nvm');
      // A torn commit mark may land: an indexed write in flight survives, with its entries.
      if (SLOW || seed === 1) expect(counts.indexedWritesKept).toBeGreaterThan(0);
    },
    CRASH_TEST_TIMEOUT_MS,
  );

  test(
    'catalog crash at every mutating file-system call',
    async () => {
      const counts = await crashEverywhere(seed, steps, 'catalog');
      const { cleanRunCalls, ...summary } = counts;
      console.log(`KV_SEED=${seed} catalog: ${JSON.stringify(summary)}`);
      // The uncut run ingested build outputs and checkpointed, so the points cut through both.
      const ingests = cleanRunCalls.filter((call) => /^rename \S+\.tmp \d{6}\.sst$/.test(call));
      const checkpoints = cleanRunCalls.filter((call) => call.startsWith('writeFile CATALOG-'));
      expect(ingests.length, cleanRunCalls.join('\n')).toBeGreaterThanOrEqual(6);
      expect(checkpoints.length, cleanRunCalls.join('\n')).toBeGreaterThanOrEqual(3);
      expectCoverage(counts, 'catalog');
    },
    CRASH_TEST_TIMEOUT_MS,
  );
});

/**
 * Found by these tests; reported, not fixed here. close() stops the background entry removal of
 * a dropped index instead of letting it finish: Strata's #close sets #closed before it awaits
 * the index manager's whenIdle(), and IndexManager.#remove calls checkOpen(host) before each
 * batch (as #changeState does before the final edit), so the removal in progress ends with
 * ERR_CLOSED, which it swallows, after at most the batch in flight. The catalog keeps the index
 * `dropping`, with the entries not yet deleted, until a later open resumes the removal and stays
 * open long enough for it. whenIdle's comment ("every queued index task and entry removal has
 * finished (close waits)") says otherwise. `test.fails` passes while this lasts; once close lets
 * removals finish, it fails: then drop `.fails`.
 */
describe('a dropped index across close', () => {
  test('close stops the removal of its entries; the next open resumes and finishes it', async () => {
    const root = mkdtempSync(join(fastTempRoot(), 'strata-index-drop-close-'));
    try {
      const dir = join(root, 'db');
      let db = await Strata.open(dir, OPTIONS);
      for (const key of ['a', 'b', 'c']) await db.putFields(key, { f: 'v' });
      await db.createIndex('f');
      await db.dropIndex('f');
      await db.close();
      // Close does not wait for the removal: the catalog still says dropping.
      expect(await catalogIndexes(dir)).toEqual([{ name: 'f', id: 1, state: 'dropping' }]);
      db = await Strata.open(dir, OPTIONS);
      try {
        expect(db.listIndexes()).toEqual([]);
        // createIndex waits for the resumed removal, then builds the field afresh.
        await db.createIndex('f');
        expect((await db.queryByIndex('f', 'v')).length).toBe(3);
      } finally {
        await db.close();
      }
      const [index] = await catalogIndexes(dir);
      expect(index?.state).toBe('ready');
      expect(index?.id).toBeGreaterThan(1);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

interface Counts extends SweepCounts {
  /** Runs that crashed while a createIndex was pending. */
  inBuild: number;
  /** Crashed catalogs holding an index `building` (the reopen builds it again). */
  buildingAtCrash: number;
  /** Crashed catalogs holding an index `dropping` (the reopen resumes its removal). */
  droppingAtCrash: number;
  /** Runs whose in-flight write was issued while an index was listed, and of those, kept. */
  indexedWrites: number;
  indexedWritesKept: number;
  /** Runs whose in-flight createIndex had not made its index durable, or dropIndex had. */
  createLost: number;
  dropDurable: number;
}

/** The least of each count a sweep must reach (the catalog side has far fewer points). */
const COVERAGE_MIN = {
  nvm: { points: SLOW ? 800 : 150, inBuild: SLOW ? 100 : 20, indexedWrites: SLOW ? 300 : 50 },
  catalog: { points: 90, inBuild: 30, indexedWrites: 3 },
} as const;

function expectCoverage(counts: Counts, side: CrashSide): void {
  const min = COVERAGE_MIN[side];
  expect(counts.points).toBeGreaterThan(min.points);
  expect(counts.kept + counts.dropped).toBe(counts.points);
  expect(counts.inBuild, 'crashes during a build').toBeGreaterThan(min.inBuild);
  expect(counts.buildingAtCrash, 'crashes leaving an index building').toBeGreaterThan(0);
  expect(counts.droppingAtCrash, 'crashes leaving an index dropping').toBeGreaterThan(0);
  expect(counts.indexedWrites, 'crashes during an indexed write').toBeGreaterThan(
    min.indexedWrites,
  );
  expect(counts.createLost, 'in-flight creates that left no index').toBeGreaterThan(0);
}

function crashEverywhere(
  seed: number,
  steps: readonly IndexStep[],
  side: CrashSide,
): Promise<Counts> {
  const counts: Counts = {
    ...zeroSweepCounts(),
    inBuild: 0,
    buildingAtCrash: 0,
    droppingAtCrash: 0,
    indexedWrites: 0,
    indexedWritesKept: 0,
    createLost: 0,
    dropDurable: 0,
  };
  return runner.sweep({
    seed,
    side,
    folderPrefix: 'strata-index-crash',
    stride: STRIDE[side],
    counts,
    workload: () => {
      const interleave = new BuildInterleave();
      return {
        open: (dir, hooks) =>
          Strata.open(dir, OPTIONS, {
            ...hooks,
            beforeIndexBuildTask: interleave.hook,
            checkpointEveryEdits: CHECKPOINT_EVERY_EDITS,
          }),
        run: (db) => runIndexSteps(db, steps, interleave),
        nothingDone: () => ({
          ...nothingDoneOutcome(),
          inFlightIndexed: false,
          indexes: new Set<string>(),
          indexOp: undefined,
          hookGroups: 0,
        }),
      };
    },
    cleanRun: async (run, dir, context) => {
      expect(run.outcome.model, context).toEqual(fullIndexModel(steps));
      expect([...run.outcome.indexes].sort(), context).toEqual(['author', 'year']);
      await verify(dir, run.outcome, `${context} (no crash)`, undefined);
    },
    crashedRun: (run, dir, context) => verify(dir, run.outcome, context, counts),
  });
}

/**
 * Reopens cleanly and checks data, index set and every index (then after writes, then after a
 * second reopen), then the files; says whether the in-flight write survived.
 */
async function verify(
  dir: string,
  outcome: IndexStepsOutcome,
  context: string,
  counts: Counts | undefined,
): Promise<'kept' | 'dropped'> {
  const atCrash = await catalogIndexes(dir);
  const candidates = candidateModels(outcome, applyIndexWrite);
  let db = await Strata.open(dir, OPTIONS);
  let truth: Map<string, string>;
  let chosen: number;
  let listed: string[];
  try {
    const atOpen = db.listIndexes();
    expectIndexSet(atOpen, atCrash, outcome, context);
    for (const info of atOpen) {
      if (info.state !== 'building') continue;
      await expect(
        db.queryByIndex(info.field, 'x', { whenBuilding: 'fail' }),
        `${context}: ${info.field} building`,
      ).rejects.toMatchObject({ code: 'ERR_INDEX_BUILDING' });
    }
    chosen = chooseCandidate(db, candidates, `${context}: after reopen`);
    truth = new Map(candidates[chosen]!);
    await expectIndexesAgree(db, PROBES, `${context}: after reopen`);
    for (const write of AFTER_WRITES) {
      await issueIndexWrite(db, write);
      applyIndexWrite(truth, write);
    }
    expectData(db, truth, `${context}: after writes`);
    listed = (await expectIndexesAgree(db, PROBES, `${context}: after writes`)).map(
      (info) => info.field,
    );
  } finally {
    await db.close();
  }
  const folder = await readCatalogFolder(dir);
  expectOneGeneration(expectOnlyListedFiles(folder, context), context);
  const closed = await catalogIndexes(dir);
  expect(
    closed.map((meta) => `${meta.name}:${meta.state}`),
    `${context}: catalog after close`,
  ).toEqual(listed.map((field) => `${field}:ready`));
  db = await Strata.open(dir, OPTIONS);
  try {
    expectData(db, truth, `${context}: after the second reopen`);
    expect(db.listIndexes().map((info) => `${info.field}:${info.state}`)).toEqual(
      listed.map((field) => `${field}:ready`),
    );
    await expectIndexesAgree(db, PROBES, `${context}: after the second reopen`);
  } finally {
    await db.close();
  }
  const fate = inFlightFate(candidates, chosen);
  if (counts !== undefined) count(counts, { outcome, atCrash, fate });
  return fate;
}

function count(
  counts: Counts,
  found: { outcome: IndexStepsOutcome; atCrash: readonly IndexMeta[]; fate: 'kept' | 'dropped' },
): void {
  const { outcome, atCrash, fate } = found;
  if (outcome.indexOp?.kind === 'create') counts.inBuild++;
  if (atCrash.some((meta) => meta.state === 'building')) counts.buildingAtCrash++;
  if (atCrash.some((meta) => meta.state === 'dropping')) counts.droppingAtCrash++;
  if (outcome.inFlight !== undefined && outcome.inFlightIndexed) {
    counts.indexedWrites++;
    if (fate === 'kept') counts.indexedWritesKept++;
  }
  const op = outcome.indexOp;
  const durable = atCrash.filter((meta) => meta.state !== 'dropping').map((meta) => meta.name);
  if (op?.kind === 'create' && !durable.includes(op.field)) counts.createLost++;
  if (op?.kind === 'drop' && !durable.includes(op.field)) counts.dropDurable++;
}

/**
 * The reopened database lists exactly the indexes the crashed catalog holds (but dropping ones),
 * and that set is the acknowledged one or the one after the in-flight index operation.
 */
function expectIndexSet(
  atOpen: readonly { field: string; state: string }[],
  atCrash: readonly IndexMeta[],
  outcome: IndexStepsOutcome,
  context: string,
): void {
  const listed = atOpen.map((info) => info.field);
  const durable = atCrash.filter((meta) => meta.state !== 'dropping');
  expect(listed, `${context}: listed vs the crashed catalog`).toEqual(
    durable.map((meta) => meta.name),
  );
  for (const info of atOpen) {
    const state = durable.find((meta) => meta.name === info.field)?.state;
    expect(info.state, `${context}: state of ${info.field}`).toBe(state);
  }
  const acked = [...outcome.indexes].sort();
  const allowed = [acked];
  const op = outcome.indexOp;
  if (op?.kind === 'create') allowed.push([...acked, op.field].sort());
  if (op?.kind === 'drop') allowed.push(acked.filter((field) => field !== op.field));
  expect(
    allowed.some((set) => isDeepStrictEqual(set, listed)),
    `${context}: indexes ${JSON.stringify(listed)}, acknowledged ${JSON.stringify(acked)}, ` +
      `in flight ${JSON.stringify(op)}`,
  ).toBe(true);
}

/** The candidate the data matches (acknowledged, or that plus the in-flight write). */
function chooseCandidate(
  db: Strata,
  candidates: readonly Map<string, string>[],
  context: string,
): number {
  const found = scanned(db, context);
  const chosen = candidates.findIndex((candidate) => isDeepStrictEqual(found, sorted(candidate)));
  if (chosen < 0) {
    expect(found, `${context}: neither acked nor acked + in-flight`).toEqual(
      sorted(candidates.at(-1)!),
    );
  }
  expectData(db, candidates[chosen]!, context);
  return chosen;
}

/** The iterator both ways and get of every key the workload writes, against `truth`. */
function expectData(db: Strata, truth: ReadonlyMap<string, string>, context: string): void {
  const found = scanned(db, context);
  expect(found, `${context}: iterator`).toEqual(sorted(truth));
  const backward = [...db.iterator({ reverse: true })].map(([key]) => latin1(key));
  expect(backward, `${context}: reverse iteration`).toEqual(found.map(([key]) => key).reverse());
  const keys = Array.from({ length: RECORD_COUNT + 4 }, (_, index) => recordKey(index));
  for (const key of [...keys, 'after-crash']) {
    const bytes = db.get(key);
    expect(bytes === undefined ? undefined : latin1(bytes), `${context}: get ${key}`).toBe(
      truth.get(key),
    );
  }
}

function scanned(db: Strata, context: string): [string, string][] {
  return scanData(db, context).map(([key, value]) => [latin1(key), latin1(value)]);
}

function sorted(model: ReadonlyMap<string, string>): [string, string][] {
  return [...model.entries()].sort(([left], [right]) =>
    Buffer.compare(Buffer.from(left, 'latin1'), Buffer.from(right, 'latin1')),
  );
}
