/**
 * Child process of the engine's kill -9 test (runs from dist/): opens the database in `dir`
 * (default backend, flushes on the pool, 64 KiB memtables) and keeps KILL_IN_FLIGHT writes in
 * flight forever: puts and batches of puts over KILL_KEY_COUNT keys. Every key's versions go up
 * by one per write, starting above what the database already holds, so a recovered value can be
 * placed against what was acknowledged. Protocol on stdout, one line per write, each written
 * with writeLine (testing/kill-harness.ts) before the next step happens:
 *
 *   t k:v k:v …   before the write is issued: these versions may reach the database
 *   a k:v k:v …   after its promise resolved: these versions were acknowledged
 */
import { Prng } from '../../ehash/testing/prng.js';
import { type BatchOp, Strata, type StrataOptions } from '../strata.js';
import { writeLine } from './kill-harness.js';

export const KILL_KEY_COUNT = 200;
export const KILL_IN_FLIGHT = 64;
export const KILL_MEMTABLE_BYTES = 64 << 10;
/**
 * Small memtables, tables and level targets: flushes and compactions (on their pools) run all the
 * time, so kills land in the middle of both.
 */
export function killOptions(sync: boolean): StrataOptions {
  return {
    memtableSize: KILL_MEMTABLE_BYTES,
    flushThreads: 1,
    compactionThreads: 1,
    l0CompactionTrigger: 2,
    targetFileSize: 48 << 10,
    maxBytesForLevelBase: 192 << 10,
    levelSizeMultiplier: 4,
    sync,
  };
}

export function killKey(index: number): string {
  return `key-${String(index).padStart(4, '0')}`;
}

/** The value of `key` at `version`: its own name and version, then filler 0–300 bytes long. */
export function killValue(key: string, version: number): string {
  const filler = (version * 131 + key.length * 7 + Number(key.slice(4))) % 301;
  return `${key}:${version}:${'v'.repeat(filler)}`;
}

/** The version a value of killValue() carries. */
export function versionOf(value: string): number {
  return Number(value.split(':')[1]);
}

async function main(dir: string, seed: number, sync: boolean): Promise<void> {
  const db = await Strata.open(dir, killOptions(sync));
  const next: number[] = [];
  for (let index = 0; index < KILL_KEY_COUNT; index++) {
    const value = db.get(killKey(index));
    next.push(value === undefined ? 0 : versionOf(new TextDecoder().decode(value)) + 1);
  }
  const prng = new Prng(seed);
  let inFlight = 0;
  let wake: (() => void) | undefined;
  for (let writeIndex = 0; writeIndex < 100_000_000; writeIndex++) {
    while (inFlight >= KILL_IN_FLIGHT) await new Promise<void>((resolve) => (wake = resolve));
    const keyCount = prng.below(10) < 7 ? 1 : 2 + prng.below(7);
    const chosen = new Set<number>();
    while (chosen.size < keyCount) chosen.add(prng.below(KILL_KEY_COUNT));
    const ops: BatchOp[] = [];
    const versions: string[] = [];
    for (const index of chosen) {
      const key = killKey(index);
      const version = next[index]!;
      next[index] = version + 1;
      ops.push({ type: 'put', key, value: killValue(key, version) });
      versions.push(`${key}:${version}`);
    }
    const line = versions.join(' ');
    // Written out before the write is issued: process.stdout.write may queue it (the pipe is
    // non-blocking), and a kill would then lose the line of a write the child did issue.
    writeLine(`t ${line}\n`);
    const written = ops.length === 1 ? db.put(ops[0]!.key, ops[0]!.value!) : db.batch(ops);
    inFlight++;
    written.then(
      () => {
        writeLine(`a ${line}\n`);
        inFlight--;
        wake?.();
      },
      (error: unknown) => {
        process.stderr.write(`write failed: ${String(error)}\n`);
        process.exit(2);
      },
    );
    // Let the group close now and then, so groups hold many but not all writers.
    if (writeIndex % 16 === 15) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

// Only as the child's entry script: tests import the helpers above.
const [dir, seed, sync] = process.argv.slice(2);
if (process.argv[1]?.endsWith('kill-child.js') === true && dir !== undefined) {
  void main(dir, Number(seed ?? 1), sync === 'sync');
}
