/**
 * The harness of the engine's crash tests (crash.test.ts, blob-crash.test.ts): runs a workload
 * under a PowerCut (testing/power-cut.ts) that dies at its N-th NVM persist or catalog call, for
 * N = 1, 2, … until a run gets through, and hands every crashed run to the test to verify. The
 * workload (its steps, options and hooks) and the verification are the test's; this module owns
 * what is the same for every workload: opening under the cut, running the steps, closing,
 * telling an injected crash from a bug, abandoning the dead database, and counting.
 *
 * Strata keeps its image private, so `CrashRunner.install()` spies on NvmImage.open to hand the
 * image of the run in progress to its PowerCut.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { type MockInstance, vi } from 'vitest';
import { NvmImage } from '../../../nvm/image.js';
import { isStrataError, StrataError } from '../../errors.js';
import { IMAGE_FILE_NAME, type Strata, type StrataTestHooks } from '../strata.js';
import { CrashRejections } from './crash-rejections.js';
import { PowerCut } from './power-cut.js';

/** Where crashes are injected: NVM persist points, or the catalog's mutating fs calls. */
export type CrashSide = 'nvm' | 'catalog';

/** What every workload's run reports: how far it got and what ended it. */
export interface RunEnd {
  /** The failure that ended the run; undefined when every step succeeded. */
  readonly failure: unknown;
  readonly stepsDone: number;
}

/** One workload, as the harness runs it. */
export interface CrashWorkload<O extends RunEnd> {
  /** Opens the database with the crash hooks (and any hooks of the workload's own). */
  open(dir: string, hooks: StrataTestHooks): Promise<Strata>;
  /** Runs the steps until one fails; never throws for a failed write. */
  run(db: Strata, context: string): Promise<O>;
  /** The outcome of a run whose open crashed: nothing acknowledged, nothing in flight. */
  nothingDone(): O;
}

export interface CrashRun<O extends RunEnd> {
  readonly crashed: boolean;
  readonly outcome: O;
  /** The crash came inside Strata.open. */
  readonly inOpen: boolean;
}

/** The counts every sweep keeps; a test's own counts extend them. */
export interface SweepCounts {
  /** Crash points exercised (runs that crashed). */
  points: number;
  /** Runs whose in-flight step survived, and runs where it (or nothing) was lost. */
  kept: number;
  dropped: number;
  /** Runs that crashed inside Strata.open. */
  inOpen: number;
  /** The catalog's mutating calls in the run that did not crash. */
  cleanRunCalls: string[];
}

export interface Sweep<O extends RunEnd, C extends SweepCounts> {
  readonly seed: number;
  readonly side: CrashSide;
  /** Start of the temp folder's name, such as 'strata-db-crash'. */
  readonly folderPrefix: string;
  /** Every stride-th crash point (1: all of them). */
  readonly stride: number;
  readonly counts: C;
  /**
   * A fresh workload for one run: a workload that keeps state per run (a GC interleave) makes
   * it here.
   */
  workload(): CrashWorkload<O>;
  /** Checks the run that got through without a crash. */
  cleanRun(run: CrashRun<O>, dir: string, context: string): Promise<void>;
  /** Checks a crashed run (reopens, verifies); says whether its in-flight step survived. */
  crashedRun(run: CrashRun<O>, dir: string, context: string): Promise<'kept' | 'dropped'>;
}

export const CRASH_POINTS_MAX = 20_000;

/** Counts before the first run, for a test's own counts to extend. */
export function zeroSweepCounts(): SweepCounts {
  return { points: 0, kept: 0, dropped: 0, inOpen: 0, cleanRunCalls: [] };
}

/** The outcome every workload reports for a run whose open crashed, before its own fields. */
export function nothingDoneOutcome(): RunEnd & {
  readonly model: Map<string, string>;
  readonly inFlight: undefined;
} {
  return { model: new Map(), inFlight: undefined, failure: undefined, stepsDone: 0 };
}

export class CrashRunner {
  /** Unhandled ERR_CRASH_INJECTED rejections (testing/crash-rejections.ts). */
  readonly rejections = new CrashRejections();
  readonly #acceptWrappedCrash: boolean;
  #activeCut: PowerCut | undefined;
  #imageSpy: MockInstance<typeof NvmImage.open> | undefined;

  /**
   * `acceptWrappedCrash`: a crash may also surface as a non-StrataError whose cause is one (as
   * blob GC's errors do).
   */
  constructor(options: { readonly acceptWrappedCrash: boolean }) {
    this.#acceptWrappedCrash = options.acceptWrappedCrash;
  }

  /** For beforeAll: counts crash rejections and hands each opened image to the active cut. */
  install(): void {
    this.rejections.install();
    const openImage = NvmImage.open;
    this.#imageSpy = vi.spyOn(NvmImage, 'open').mockImplementation((path, options) => {
      const image = openImage(path, options);
      const cut = this.#activeCut;
      if (cut !== undefined && path.endsWith(IMAGE_FILE_NAME)) cut.adoptImage(image);
      return image;
    });
  }

  /** For afterAll. */
  uninstall(): void {
    this.#imageSpy?.mockRestore();
    this.#imageSpy = undefined;
    this.rejections.uninstall();
  }

  /** Runs `body` with `cut` taking the image that Strata.open opens meanwhile. */
  async withCut<T>(cut: PowerCut, body: () => Promise<T>): Promise<T> {
    this.#activeCut = cut;
    try {
      return await body();
    } finally {
      this.#activeCut = undefined;
    }
  }

  /**
   * For crashAt = 1, 1 + stride, … runs the workload with the crash hooks of `crashAt` until a
   * run ends without crashing, handing each run to the sweep's checks; returns the counts.
   */
  async sweep<O extends RunEnd, C extends SweepCounts>(sweep: Sweep<O, C>): Promise<C> {
    const { seed, side, counts } = sweep;
    const root = mkdtempSync(join(fastTempRoot(), `${sweep.folderPrefix}-${side}-`));
    try {
      for (let crashAt = 1; crashAt <= CRASH_POINTS_MAX; crashAt += sweep.stride) {
        const context = `KV_SEED=${seed} ${side} crashAt=${crashAt}`;
        const dir = join(root, String(crashAt));
        const { cut, hooks } = crashHooks(side, seed, crashAt);
        const run = await this.run(dir, sweep.workload(), { cut, hooks }, context);
        if (!run.crashed) {
          await sweep.cleanRun(run, dir, context);
          rmSync(dir, { recursive: true, force: true });
          counts.cleanRunCalls = [...cut.catalogCalls];
          return counts;
        }
        counts.points++;
        if (run.inOpen) counts.inOpen++;
        counts[await sweep.crashedRun(run, dir, context)]++;
        rmSync(dir, { recursive: true, force: true });
      }
      throw new Error(`KV_SEED=${seed} ${side}: still crashing after ${CRASH_POINTS_MAX} points`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }

  /** One run with crash hooks, abandoned at the crash; `crashed` false if it closed cleanly. */
  run<O extends RunEnd>(
    dir: string,
    workload: CrashWorkload<O>,
    { cut, hooks }: { readonly cut: PowerCut; readonly hooks: StrataTestHooks },
    context: string,
  ): Promise<CrashRun<O>> {
    return this.withCut(cut, async () => {
      let db: Strata;
      try {
        db = await workload.open(dir, hooks);
      } catch (error) {
        this.expectCrash(error, cut, `${context}: open`);
        await cut.abandon(undefined);
        return { crashed: true, outcome: workload.nothingDone(), inOpen: true };
      }
      const outcome = await workload.run(db, context);
      if (outcome.failure !== undefined) {
        this.expectCrash(outcome.failure, cut, `${context}: step ${outcome.stepsDone}`);
        await cut.abandon(db);
        return { crashed: true, outcome, inOpen: false };
      }
      try {
        await db.close();
      } catch (error) {
        this.expectCrash(error, cut, `${context}: close`);
        await cut.abandon(db);
        return { crashed: true, outcome, inOpen: false };
      }
      // A crash in background work that no call reported still counts as a crash point.
      return { crashed: cut.crashed, outcome, inOpen: false };
    });
  }

  /** An error of a crashed run must come after the cut, and as a StrataError. */
  expectCrash(error: unknown, cut: PowerCut, context: string): void {
    // The image's own creation may crash before Strata.open could hand the image over.
    if (isStrataError(error, 'ERR_CRASH_INJECTED')) cut.cutNow();
    if (!cut.crashed) {
      throw new Error(`${context}: failed although nothing crashed`, { cause: error });
    }
    if (error instanceof StrataError) return;
    const cause = this.#acceptWrappedCrash
      ? ((error as { cause?: unknown }).cause ?? error)
      : error;
    if (!(cause instanceof StrataError)) {
      throw new Error(`${context}: a crash surfaced as a non-StrataError`, { cause: error });
    }
  }
}

/**
 * The cut and hooks of crash point `crashAt`; every other point tears the crashing persist (NVM)
 * or call (catalog). Either way the other side dies at the same instant.
 */
export function crashHooks(
  side: CrashSide,
  seed: number,
  crashAt: number,
): { readonly cut: PowerCut; readonly hooks: StrataTestHooks } {
  const tearSeed = seed * 100_000 + crashAt;
  const torn = crashAt % 2 === 0;
  if (side === 'nvm') {
    const cut = new PowerCut();
    const tear = torn ? { tearOnCrash: { seed: tearSeed } } : {};
    return { cut, hooks: { nvm: { crashAtPersist: crashAt, ...tear }, catalogFs: cut.fs } };
  }
  const cut = new PowerCut({ crashAtCall: crashAt, ...(torn ? { tearSeed } : {}) });
  return { cut, hooks: { catalogFs: cut.fs } };
}

/**
 * The states a reopen may show: the acknowledged writes, then (if a step was in flight) those
 * and the in-flight step applied by `apply`.
 */
export function candidateModels<W>(
  outcome: { readonly model: Map<string, string>; readonly inFlight: W | undefined },
  apply: (model: Map<string, string>, inFlight: W) => void,
): Map<string, string>[] {
  const candidates = [outcome.model];
  if (outcome.inFlight !== undefined) {
    const withInFlight = new Map(outcome.model);
    apply(withInFlight, outcome.inFlight);
    candidates.push(withInFlight);
  }
  return candidates;
}

/** 'kept' when the reopen matched the in-flight step's effect, one that changed something. */
export function inFlightFate(
  candidates: readonly Map<string, string>[],
  chosen: number,
): 'kept' | 'dropped' {
  const differs = candidates.length === 2 && !isDeepStrictEqual(candidates[0], candidates[1]);
  return chosen === 1 && differs ? 'kept' : 'dropped';
}

/** tmpfs when there is one: the catalog fsyncs on every edit and nothing here needs a disk. */
export function fastTempRoot(): string {
  try {
    readdirSync('/dev/shm');
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/** KV_SEED=n replays one seed; STRATA_SLOW=1 runs seeds 1 to `slowSeedCount`, else seed 1. */
export function crashSeeds(slowSeedCount: number): number[] {
  const only = process.env['KV_SEED'];
  if (only !== undefined) return [Number(only)];
  if (process.env['STRATA_SLOW'] !== '1') return [1];
  return Array.from({ length: slowSeedCount }, (_, index) => index + 1);
}
