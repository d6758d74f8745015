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
 * lists. KV_SEED=n replays one seed; STRATA_SLOW=1 runs more seeds.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { NvmImage } from '../../nvm/image.js';
import { PageKind } from '../../nvm/types.js';
import { Catalog } from '../catalog/catalog.js';
import { isStrataError, StrataError } from '../errors.js';
import { compareInternalKeys } from '../sst/internal-key.js';
import {
  CATALOG_DIR_NAME,
  IMAGE_FILE_NAME,
  Strata,
  type StrataOptions,
  type StrataTestHooks,
} from './strata.js';
import { CrashRejections } from './testing/crash-rejections.js';
import {
  applyWrites,
  keyName,
  makeSteps,
  runSteps,
  type Step,
  type StepsOutcome,
  sortedEntries,
} from './testing/crash-workload.js';
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
const CRASH_POINTS_MAX = 20_000;

const decoder = new TextDecoder();

/** The power switch of the run in progress; the NvmImage.open spy hands it the image. */
let activeCut: PowerCut | undefined;
const rejections = new CrashRejections();

beforeAll(() => {
  rejections.install();
  const openImage = NvmImage.open;
  const openCatalog = Catalog.open;
  vi.spyOn(NvmImage, 'open').mockImplementation((path, options) => {
    const image = openImage(path, options);
    if (activeCut !== undefined && path.endsWith(IMAGE_FILE_NAME)) activeCut.adoptImage(image);
    return image;
  });
  vi.spyOn(Catalog, 'open').mockImplementation((dir, options) =>
    openCatalog(dir, { ...options, checkpointEveryEdits: CHECKPOINT_EVERY_EDITS }),
  );
});

afterAll(() => {
  vi.restoreAllMocks();
  rejections.uninstall();
});

describe.each(seeds())('seed %i', (seed) => {
  test('NVM crash at every persist point', async () => {
    const steps = makeSteps(seed, SHAPE_NVM);
    const counts = await crashEverywhere(seed, steps, 'nvm', (crashAt) => {
      const cut = new PowerCut();
      const tear = crashAt % 2 === 0 ? { tearOnCrash: { seed: seed * 100_000 + crashAt } } : {};
      return { cut, hooks: { nvm: { crashAtPersist: crashAt, ...tear }, catalogFs: cut.fs } };
    });
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
    const counts = await crashEverywhere(seed, steps, 'catalog', (crashAt) => {
      const tear = crashAt % 2 === 0 ? { tearSeed: seed * 100_000 + crashAt } : {};
      const cut = new PowerCut({ crashAtCall: crashAt, ...tear });
      return { cut, hooks: { catalogFs: cut.fs } };
    });
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
  activeCut = cut;
  const before = rejections.crashed;
  let db: Strata | undefined;
  try {
    db = await Strata.open(join(root, 'db'), OPTIONS, { catalogFs: cut.fs });
    await db.put('key', 'value');
    const snapshot = db.snapshot(); // keeps the catalog from unpinning the memtable for now
    await db.flush();
    cut.cutNow(); // every persist fails from here on
    snapshot.release(); // the memtable is unpinned: the engine drops it, which fails
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(rejections.crashed - before, 'unhandled rejections').toBe(0);
  } finally {
    activeCut = undefined;
    await cut.abandon(db);
    rmSync(root, { recursive: true, force: true });
  }
});

interface Counts {
  /** Crash points exercised (runs that crashed). */
  points: number;
  /** Runs whose in-flight step survived, and runs where it (or nothing) was in flight. */
  kept: number;
  dropped: number;
  /** Runs that crashed inside Strata.open. */
  inOpen: number;
  /** Unhandled ERR_CRASH_INJECTED rejections (failed memtable drops, see the bug test). */
  unhandled: number;
  /** The catalog's mutating calls in the run that did not crash. */
  cleanRunCalls: string[];
}

/**
 * For N = 1, 2, … runs the steps with the crash hooks of N until a run ends without crashing,
 * checking the recovered database after each crash.
 */
async function crashEverywhere(
  seed: number,
  steps: readonly Step[],
  what: 'nvm' | 'catalog',
  setUp: (crashAt: number) => { readonly cut: PowerCut; readonly hooks: StrataTestHooks },
): Promise<Counts> {
  const root = mkdtempSync(join(fastTempRoot(), `strata-db-crash-${what}-`));
  const counts: Counts = {
    points: 0,
    kept: 0,
    dropped: 0,
    inOpen: 0,
    unhandled: 0,
    cleanRunCalls: [],
  };
  const unhandledBefore = rejections.crashed;
  try {
    for (let crashAt = 1; crashAt <= CRASH_POINTS_MAX; crashAt++) {
      const context = `KV_SEED=${seed} ${what} crashAt=${crashAt}`;
      const dir = join(root, String(crashAt));
      const { cut, hooks } = setUp(crashAt);
      const run = await crashRun(dir, steps, cut, hooks, context);
      if (!run.crashed) {
        expect(run.outcome.model, context).toEqual(fullModel(steps));
        await verify(dir, run.outcome, `${context} (no crash)`);
        rmSync(dir, { recursive: true, force: true });
        counts.unhandled = rejections.crashed - unhandledBefore;
        counts.cleanRunCalls = [...cut.catalogCalls];
        return counts;
      }
      counts.points++;
      if (run.inOpen) counts.inOpen++;
      const outcome = await verify(dir, run.outcome, context);
      counts[outcome]++;
      rmSync(dir, { recursive: true, force: true });
    }
    throw new Error(`KV_SEED=${seed} ${what}: still crashing after ${CRASH_POINTS_MAX} points`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

interface CrashRun {
  readonly crashed: boolean;
  readonly outcome: Pick<StepsOutcome, 'model' | 'inFlight'>;
  readonly inOpen: boolean;
}

/** One run with crash hooks, abandoned at the crash; `crashed` false if it closed cleanly. */
async function crashRun(
  dir: string,
  steps: readonly Step[],
  cut: PowerCut,
  hooks: StrataTestHooks,
  context: string,
): Promise<CrashRun> {
  activeCut = cut;
  let db: Strata | undefined;
  try {
    try {
      db = await Strata.open(dir, OPTIONS, hooks);
    } catch (error) {
      expectCrash(error, cut, `${context}: open`);
      await cut.abandon(undefined);
      return { crashed: true, outcome: { model: new Map(), inFlight: undefined }, inOpen: true };
    }
    const outcome = await runSteps(db, steps, context);
    if (outcome.failure !== undefined) {
      expectCrash(outcome.failure, cut, `${context}: step ${outcome.stepsDone}`);
      await cut.abandon(db);
      return { crashed: true, outcome, inOpen: false };
    }
    try {
      await db.close();
    } catch (error) {
      expectCrash(error, cut, `${context}: close`);
      await cut.abandon(db);
      return { crashed: true, outcome, inOpen: false };
    }
    // A crash in background work that no call reported still counts as a crash point.
    return { crashed: cut.crashed, outcome, inOpen: false };
  } finally {
    activeCut = undefined;
  }
}

function expectCrash(error: unknown, cut: PowerCut, context: string): void {
  // The image's own creation may crash before Strata.open could hand the image over.
  if (isStrataError(error, 'ERR_CRASH_INJECTED')) cut.cutNow();
  if (!cut.crashed)
    throw new Error(`${context}: failed although nothing crashed`, { cause: error });
  if (!(error instanceof StrataError)) {
    throw new Error(`${context}: a crash surfaced as a non-StrataError`, { cause: error });
  }
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
  const candidates = [outcome.model];
  if (outcome.inFlight !== undefined) {
    const withInFlight = new Map(outcome.model);
    applyWrites(withInFlight, outcome.inFlight);
    candidates.push(withInFlight);
  }
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
  return chosen === 1 && candidates.length === 2 && !isDeepStrictEqual(candidates[0], candidates[1])
    ? 'kept'
    : 'dropped';
}

/** Only the catalog's files and the tables it lists; only the memtables it lists in the image. */
async function checkNoLeftovers(dir: string, context: string): Promise<void> {
  const catalogDir = join(dir, CATALOG_DIR_NAME);
  const names = readdirSync(catalogDir).sort();
  const catalog = await Catalog.open(catalogDir, { compareKeys: compareInternalKeys });
  const snapshot = catalog.getSnapshot();
  const tables = snapshot.levels
    .flat()
    .map((file) => `${String(file.fileNumber).padStart(6, '0')}.sst`);
  const locators = snapshot.memtables.map((meta) => meta.locator).sort((a, b) => a - b);
  snapshot.release();
  await catalog.close();
  const others = names.filter((name) => !tables.includes(name));
  expect(
    others.filter((name) => name.endsWith('.tmp')),
    `${context}: temp files left`,
  ).toEqual([]);
  expect(others.length, `${context}: catalog folder holds ${names.join(' ')}`).toBe(3);
  expect(others[0], context).toMatch(/^CATALOG-\d{6}$/);
  expect(others[1], context).toBe('CURRENT');
  expect(others[2], context).toBe(others[0]!.replace('CATALOG', 'MANIFEST'));
  for (const table of tables) expect(names, `${context}: ${table} missing`).toContain(table);
  const image = NvmImage.open(join(dir, IMAGE_FILE_NAME), { backend: 'emulated' });
  try {
    const headers: number[] = [];
    image.forEachPage(PageKind.memtableHeader, undefined, (page) => headers.push(page));
    expect(
      headers.sort((a, b) => a - b),
      `${context}: memtables in the image`,
    ).toEqual(locators);
  } finally {
    image.close();
  }
}

function fullModel(steps: readonly Step[]): Map<string, string> {
  const model = new Map<string, string>();
  for (const step of steps) if (step.kind === 'writes') applyWrites(model, step.writes);
  return model;
}

/** tmpfs when there is one: the catalog fsyncs on every edit and nothing here needs a disk. */
function fastTempRoot(): string {
  try {
    readdirSync('/dev/shm');
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

function seeds(): number[] {
  const only = process.env['KV_SEED'];
  if (only !== undefined) return [Number(only)];
  return process.env['STRATA_SLOW'] === '1' ? [1, 2, 3, 4, 5, 6] : [1];
}
