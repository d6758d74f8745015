/**
 * The crash loop (`strata stress --crash-loop R`), after the RocksDB crash test: start the
 * stress run as a child process (`node dist/src/cli/main.js stress … --progress-lines`), kill -9
 * it at a seeded random moment (mostly --kill-after ms after its threads started, now and then
 * while it still opens the store), reopen the store here and verify every acknowledged write from
 * the threads' logs (a write in flight may or may not have landed, whole) and every index
 * against a brute-force scan (store-verify.ts; an index the kill left building is rebuilt at
 * open and waited for), now and then compact and collect blob garbage and verify again; then
 * start the next child on the same store. R kills, or until --seconds have passed; it stops at
 * the first failure, keeping the folder as it is for the post-mortem.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Strata } from '../db/strata.js';
import { Prng } from '../ehash/testing/prng.js';
import { packageRoot } from '../package-root.js';
import { type VerifyResult, verifyStore } from './store-verify.js';
import { prepareLayout, type StressConfig, stressStoreOptions } from './stress-config.js';
import {
  addCounters,
  addStoreCounters,
  emptyCounters,
  type Failure,
  type StoreCounters,
  type StressCounters,
  storeCounters,
} from './stress-report.js';
import type { VerifySummary } from './stress-run.js';

export interface CrashLoopConfig extends StressConfig {
  readonly crashLoop: number;
  /** A child is killed this many milliseconds after its threads start, drawn in [min, max]. */
  readonly killAfterMs: { readonly min: number; readonly max: number };
}

export const KILL_AFTER_MS_DEFAULT = { min: 300, max: 2000 } as const;

export interface CrashRound {
  readonly run: number;
  readonly seed: number;
  /** Milliseconds from the child's start to the kill; undefined when it exited by itself. */
  readonly killedAfterMs: number | undefined;
  /** Killed before its threads started (while it opened, recovered and verified the store). */
  readonly early: boolean;
  /** Operations the child reported before the kill (its last progress line). */
  readonly childOps: number;
  /** Acknowledged writes of this child, found after the kill. */
  readonly ackedWrites: number;
  readonly verify: VerifySummary;
}

export interface CrashLoopReport {
  readonly config: CrashLoopConfig;
  readonly elapsedMs: number;
  readonly rounds: readonly CrashRound[];
  readonly crashes: number;
  readonly counters: StressCounters;
  readonly store: StoreCounters;
  readonly failures: readonly Failure[];
  /** Acknowledged writes over the store's history, verified after the last kill. */
  readonly writesVerified: number;
  readonly lost: number;
}

/** A child not killed stops by itself after this long (so an orphan does not run on). */
const CHILD_SECONDS = 30;
const EARLY_KILL_PERCENT = 15;
const EARLY_KILL_MS_MAX = 600;
const FAILURES_KEPT = 50;

export function cliPath(): string {
  return join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
}

export async function runCrashLoop(
  config: CrashLoopConfig,
  log: (line: string) => void = () => undefined,
): Promise<CrashLoopReport> {
  const startedMs = Date.now();
  prepareLayout(config.dir, config.keysPerThread); // stress.json first: every child checks --keys
  const prng = new Prng(config.seed ^ 0x2545f491);
  const rounds: CrashRound[] = [];
  const counters = emptyCounters();
  const store = storeCounters({});
  const failures: Failure[] = [];
  const fail = (failure: Failure): void => {
    counters.failures++;
    if (failures.length < FAILURES_KEPT) failures.push(failure);
  };
  let crashes = 0;
  let writesVerified = 0;
  let lost = 0;
  const roundsMax = 2 * config.crashLoop + 5;
  for (let run = 1; crashes < config.crashLoop && run <= roundsMax; run++) {
    if (run > 1 && Date.now() - startedMs > config.seconds * 1000) break;
    const seed = (config.seed + run) >>> 0;
    const early = prng.below(100) < EARLY_KILL_PERCENT;
    const killAfterMs = early
      ? prng.below(EARLY_KILL_MS_MAX)
      : config.killAfterMs.min + prng.below(config.killAfterMs.max - config.killAfterMs.min + 1);
    const child = await runChild({ config, seed, early, killAfterMs }, fail);
    // Each of the child's failures arrived as a line and was counted then.
    addCounters(counters, { ...child.counters, failures: 0 });
    addStoreCounters(store, child.store);
    if (child.killedAfterMs !== undefined) crashes++;
    const verify = await verifyAfter(config, run, fail);
    counters.checks.recoveredKey += verify.keys;
    counters.checks.indexFull += verify.indexes;
    lost += verify.lost;
    const ackedWrites = verify.ackedWrites - writesVerified;
    writesVerified = verify.ackedWrites;
    const { replays: _replays, failures: _failures, ...summary } = verify;
    const round: CrashRound = {
      run,
      seed,
      killedAfterMs: child.killedAfterMs,
      early: early && !child.started,
      childOps: Object.values(child.counters.ops).reduce((total, value) => total + value, 0),
      ackedWrites,
      verify: summary,
    };
    rounds.push(round);
    log(formatRound(round));
    if (counters.failures > 0) break;
  }

  return {
    config,
    elapsedMs: Date.now() - startedMs,
    rounds,
    crashes,
    counters,
    store,
    failures,
    writesVerified,
    lost,
  };
}

interface ChildOutcome {
  readonly killedAfterMs: number | undefined;
  readonly started: boolean;
  readonly counters: StressCounters;
  readonly store: StoreCounters;
}

/** Runs one child until the planned kill (or its own exit); its failure lines become failures. */
function runChild(
  plan: { config: CrashLoopConfig; seed: number; early: boolean; killAfterMs: number },
  fail: (failure: Failure) => void,
): Promise<ChildOutcome> {
  const { config } = plan;
  const args = [
    cliPath(),
    'stress',
    '--threads',
    String(config.threads),
    '--seconds',
    String(CHILD_SECONDS),
    '--seed',
    String(plan.seed),
    '--dir',
    config.dir,
    '--keys',
    String(config.keysPerThread),
    '--progress-lines',
    ...(config.tolerateKnownIssues === true ? ['--tolerate-known-issues'] : []),
    ...(Number.isFinite(config.opsPerThread)
      ? ['--ops-per-thread', String(config.opsPerThread)]
      : []),
  ];
  return new Promise<ChildOutcome>((resolve) => {
    const spawnedMs = Date.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let counters = emptyCounters();
    let store = storeCounters({});
    let started = false;
    let killedAtMs: number | undefined;
    let buffered = '';
    let stderr = '';
    const kill = (): void => {
      if (child.exitCode !== null || child.signalCode !== null || killedAtMs !== undefined) return;
      killedAtMs = Date.now();
      child.kill('SIGKILL');
    };
    let timer = plan.early ? setTimeout(kill, plan.killAfterMs) : undefined;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? ''; // a line cut by the kill was never written
      for (const line of lines) {
        if (line === 'started') {
          started = true;
          if (timer === undefined) timer = setTimeout(kill, plan.killAfterMs);
        } else if (line.startsWith('progress ')) {
          const progress = JSON.parse(line.slice(9)) as {
            counters: StressCounters;
            store: StoreCounters;
          };
          counters = progress.counters;
          store = progress.store;
        } else if (line.startsWith('failure ')) {
          fail(JSON.parse(line.slice(8)) as Failure);
          kill();
        }
      }
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL' && code !== 0) {
        fail({
          where: `child seed ${plan.seed}`,
          detail: `exited with ${code ?? signal}: ${stderr.trim()}`,
        });
      }
      const killedAfterMs =
        signal === 'SIGKILL' && killedAtMs !== undefined ? killedAtMs - spawnedMs : undefined;
      resolve({ killedAfterMs, started, counters, store });
    });
  });
}

/** Reopens the store (recovery), verifies it; every third run also compacts, collects and verifies again. */
async function verifyAfter(
  config: CrashLoopConfig,
  run: number,
  fail: (failure: Failure) => void,
): Promise<VerifyResult> {
  const layout = prepareLayout(config.dir, config.keysPerThread);
  const db = await Strata.open(layout.storeDir, stressStoreOptions());
  try {
    const options = { keysPerThread: config.keysPerThread, settle: true };
    const verify = await verifyStore(db, layout, options);
    for (const detail of verify.failures) fail({ where: `reopen after run ${run}`, detail });
    if (verify.failures.length > 0 || run % 3 !== 0) return verify;
    await db.compactRange();
    await db.collectBlobGarbage();
    const again = await verifyStore(db, layout, options);
    for (const detail of again.failures)
      fail({ where: `compaction and GC after run ${run}`, detail });
    return { ...verify, failures: [...verify.failures, ...again.failures] };
  } finally {
    await db.close();
  }
}

export function formatRound(round: CrashRound): string {
  const how =
    round.killedAfterMs === undefined
      ? 'exited by itself'
      : `killed after ${(round.killedAfterMs / 1000).toFixed(2)} s${round.early ? ' (before its threads started)' : ''}`;
  const verify = round.verify;
  return (
    `run ${round.run} (seed ${round.seed}): ${how}, ${round.childOps.toLocaleString('en-US')} ops; ` +
    `reopened: ${round.ackedWrites.toLocaleString('en-US')} new acknowledged writes ` +
    `(${verify.ackedWrites.toLocaleString('en-US')} in all) verified over ${verify.keys} keys, ` +
    `in flight ${verify.inFlight} (landed ${verify.landed}), ${verify.indexes} indexes ` +
    `(${verify.indexEntries} entries) checked, lost ${verify.lost}`
  );
}
