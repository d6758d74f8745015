/**
 * Engine crash tests (emulated backend, flushes on the main thread). One seeded sequence of
 * put/del/batch steps, some of them groups of concurrent writers, with small memtables so that
 * freezes, flushes and catalog checkpoints happen all the time, is cut:
 *
 * - at every NVM persist point (`crashAtPersist: N`, every other N tearing the crashing
 *   persist), for N = 1, 2, … until a run finishes without crashing;
 * - at every mutating call of the catalog's file system (CrashingCatalogFs over the real one,
 *   every other call torn), which cuts FreezeMemtable, CommitFlush, CreateMemtable, the table
 *   renames, file deletions and the automatic checkpoints.
 *
 * Either way the other side dies at the same instant (testing/power-cut.ts) and the database is
 * abandoned without persisting anything more. A clean reopen must show every acknowledged write,
 * the step in flight wholly or not at all, and nothing else, through get and both iterator
 * directions; it must keep working (a put and a flush); and once it closed, the catalog folder
 * must hold only the catalog files and the tables it lists, and the image only the memtables it
 * lists. KV_SEED=n replays one seed; STRATA_SLOW=1 runs more seeds. The harness (opening under
 * the cut, running, abandoning, counting) is testing/crash-run.ts; the file checks are
 * testing/leftover-files.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { NvmImage } from '../../nvm/image.js';
import { PageKind } from '../../nvm/types.js';
import { Catalog } from '../catalog/catalog.js';
import { IMAGE_FILE_NAME, Strata, type StrataOptions } from './strata.js';
import {
  type CrashRun,
  CrashRunner,
  type CrashSide,
  type CrashWorkload,
  candidateModels,
  crashSeeds,
  fastTempRoot,
  inFlightFate,
  type SweepCounts,
} from './testing/crash-run.js';
import {
  applyWrites,
  keyName,
  makeSteps,
  runSteps,
  type Step,
  type StepsOutcome,
  sortedEntries,
} from './testing/crash-workload.js';
import {
  expectOneGeneration,
  expectOnlyListedFiles,
  readCatalogFolder,
} from './testing/leftover-files.js';
import { PowerCut } from './testing/power-cut.js';

const OPTIONS: StrataOptions = {
  backend: 'emulated',
  memtableSize: 2 << 10,
  flushThreads: 0,
  // Compactions run on this thread too, and often (two L0 tables trigger one), so the crash
  // points cut through compaction commits as well.
  compactionThreads: 0,
  l0CompactionTrigger: 2,
  sizeMaxBytes: 8 << 20,
};
/** NVM persist points: about 660 for this shape (every write persists several times). */
const SHAPE_NVM = { stepCount: 45, keyCount: 24, valueBytesMax: 300 };
/** Catalog calls are far fewer per step, so a longer run: about 110 calls, 10 checkpoints. */
const SHAPE_CATALOG = { stepCount: 90, keyCount: 24, valueBytesMax: 300 };
/** Strata does not pass this option yet; the Catalog.open spy below injects it. */
const CHECKPOINT_EVERY_EDITS = 6;

const decoder = new TextDecoder();
const runner = new CrashRunner({ acceptWrappedCrash: false });

beforeAll(() => {
  runner.install();
  const openCatalog = Catalog.open;
  vi.spyOn(Catalog, 'open').mockImplementation((dir, options) =>
    openCatalog(dir, { ...options, checkpointEveryEdits: CHECKPOINT_EVERY_EDITS }),
  );
});

afterAll(() => {
  vi.restoreAllMocks();
  runner.uninstall();
});

describe.each(crashSeeds(6))('seed %i', (seed) => {
  test('NVM crash at every persist point', async () => {
    const steps = makeSteps(seed, SHAPE_NVM);
    const counts = await crashEverywhere(seed, steps, 'nvm');
    const { cleanRunCalls: _calls, ...summary } = counts;
    console.log(`KV_SEED=${seed} nvm: ${JSON.stringify(summary)}`);
    expect(counts.points).toBeGreaterThan(500);
    // A torn commit mark may land (the in-flight step survives): seed 1 is known to hit that
    // case; other seeds may not tear a commit mark at all.
    if (seed === 1) expect(counts.kept).toBeGreaterThan(0);
    expect(counts.dropped).toBeGreaterThan(0);
  });

  test('catalog crash at every mutating file-system call', async () => {
    const steps = makeSteps(seed, SHAPE_CATALOG);
    const counts = await crashEverywhere(seed, steps, 'catalog');
    const { cleanRunCalls, ...summary } = counts;
    console.log(`KV_SEED=${seed} catalog: ${JSON.stringify(summary)}`);
    // The uncut run checkpointed and committed flushes, so the points above cut through both.
    const checkpoints = cleanRunCalls.filter((call) => call.startsWith('writeFile CATALOG-'));
    const flushCommits = cleanRunCalls.filter((call) => /^rename \S+\.tmp \d{6}\.sst$/.test(call));
    expect(checkpoints.length, cleanRunCalls.join('\n')).toBeGreaterThanOrEqual(2);
    expect(flushCommits.length, cleanRunCalls.join('\n')).toBeGreaterThanOrEqual(5);
    expect(counts.points).toBeGreaterThan(80);
  });
});

// Strata drops a flushed memtable in a detached `memtableUnpinned.then` callback (or when the
// last reader releases it); a drop whose persist fails (an I/O error on the image; here the
// image is cut) is recorded as a background error, never an unhandled rejection, which would
// end a Node process.
test('a failed drop of a flushed memtable is not an unhandled rejection', async () => {
  const root = mkdtempSync(join(fastTempRoot(), 'strata-db-drop-'));
  const cut = new PowerCut();
  const before = runner.rejections.crashed;
  let db: Strata | undefined;
  try {
    await runner.withCut(cut, async () => {
      db = await Strata.open(join(root, 'db'), OPTIONS, { catalogFs: cut.fs });
      await db.put('key', 'value');
      const snapshot = db.snapshot(); // keeps the catalog from unpinning the memtable for now
      await db.flush();
      cut.cutNow(); // every persist fails from here on
      snapshot.release(); // the memtable is unpinned: the engine drops it, which fails
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(runner.rejections.crashed - before, 'unhandled rejections').toBe(0);
    });
  } finally {
    await cut.abandon(db);
    rmSync(root, { recursive: true, force: true });
  }
});

interface Counts extends SweepCounts {
  /** Unhandled ERR_CRASH_INJECTED rejections (failed memtable drops, see the bug test). */
  unhandled: number;
}

/**
 * For N = 1, 2, … runs the steps with the crash hooks of N until a run ends without crashing,
 * checking the recovered database after each crash.
 */
function crashEverywhere(seed: number, steps: readonly Step[], side: CrashSide): Promise<Counts> {
  const counts: Counts = {
    points: 0,
    kept: 0,
    dropped: 0,
    inOpen: 0,
    unhandled: 0,
    cleanRunCalls: [],
  };
  const unhandledBefore = runner.rejections.crashed;
  return runner.sweep({
    seed,
    side,
    folderPrefix: 'strata-db-crash',
    stride: 1,
    counts,
    workload: () => stepsWorkload(steps),
    cleanRun: async (run: CrashRun<StepsOutcome>, dir, context) => {
      expect(run.outcome.model, context).toEqual(fullModel(steps));
      await verify(dir, run.outcome, `${context} (no crash)`);
      counts.unhandled = runner.rejections.crashed - unhandledBefore;
    },
    crashedRun: (run, dir, context) => verify(dir, run.outcome, context),
  });
}

function stepsWorkload(steps: readonly Step[]): CrashWorkload<StepsOutcome> {
  return {
    open: (dir, hooks) => Strata.open(dir, OPTIONS, hooks),
    run: (db, context) => runSteps(db, steps, context),
    nothingDone: () => ({
      model: new Map(),
      inFlight: undefined,
      failure: undefined,
      stepsDone: 0,
    }),
  };
}

/**
 * Reopens cleanly and checks the state against the oracle; returns whether the in-flight step
 * survived ('kept') or not ('dropped', also when nothing was in flight).
 */
async function verify(
  dir: string,
  outcome: Pick<StepsOutcome, 'model' | 'inFlight'>,
  context: string,
): Promise<'kept' | 'dropped'> {
  const candidates = candidateModels(outcome, applyWrites);
  const db = await Strata.open(dir, OPTIONS);
  let chosen: number;
  try {
    const found = [...db.iterator()].map(([key, value]) => [
      decoder.decode(key),
      decoder.decode(value),
    ]);
    chosen = candidates.findIndex((candidate) =>
      isDeepStrictEqual(found, sortedEntries(candidate)),
    );
    if (chosen < 0) {
      const expected = sortedEntries(candidates.at(-1)!);
      expect(found, `${context}: neither acked nor acked + in-flight`).toEqual(expected);
    }
    const truth = candidates[chosen]!;
    const backward = [...db.iterator({ reverse: true })].map(([key]) => decoder.decode(key));
    expect(backward, `${context}: reverse iteration`).toEqual(found.map(([key]) => key).reverse());
    for (let index = 0; index < SHAPE_NVM.keyCount; index++) {
      const key = keyName(index);
      const value = db.get(key);
      expect(
        value === undefined ? undefined : decoder.decode(value),
        `${context}: get ${key}`,
      ).toBe(truth.get(key));
    }
    // The recovered database keeps working.
    await db.put('after-crash', context);
    await db.flush();
    expect(decoder.decode(db.get('after-crash')!), context).toBe(context);
  } finally {
    await db.close();
  }
  await checkNoLeftovers(dir, context);
  return inFlightFate(candidates, chosen);
}

/** Only the catalog's files and the tables it lists; only the memtables it lists in the image. */
async function checkNoLeftovers(dir: string, context: string): Promise<void> {
  const folder = await readCatalogFolder(dir);
  expectOneGeneration(expectOnlyListedFiles(folder, context), context);
  const image = NvmImage.open(join(dir, IMAGE_FILE_NAME), { backend: 'emulated' });
  try {
    const headers: number[] = [];
    image.forEachPage(PageKind.memtableHeader, undefined, (page) => headers.push(page));
    expect(
      headers.sort((a, b) => a - b),
      `${context}: memtables in the image`,
    ).toEqual(folder.memtableLocators);
  } finally {
    image.close();
  }
}

function fullModel(steps: readonly Step[]): Map<string, string> {
  const model = new Map<string, string>();
  for (const step of steps) if (step.kind === 'writes') applyWrites(model, step.writes);
  return model;
}
