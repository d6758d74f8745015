/**
 * Crash safety. (1) Emulated backend: a seeded sequence that splits, doubles, merges and halves
 * is cut at every persist point; reopening must give a consistent table holding every operation
 * acknowledged before the crash, and the one in flight wholly or not at all. (2) Mapped backend:
 * a child process is killed with SIGKILL mid-insert and mid-remove; every acknowledged write
 * must be there after reopen.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { killAtProgress } from '../../nvm/testing/kill-at-progress.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { isStrataError } from '../errors.js';
import { PmEHash } from './pm-ehash.js';
import { Prng } from './testing/prng.js';

type Op =
  | { kind: 'insert' | 'update'; key: number; value: number }
  | { kind: 'remove'; key: number };
const KEY_SPACE = 1_500;
const SIZE = 4 << 20;

function makeSequence(seed: number): Op[] {
  const prng = new Prng(seed);
  const ops: Op[] = [];
  const live = new Set<number>();
  for (let index = 0; index < 520; index++) {
    const key = prng.below(KEY_SPACE);
    ops.push({ kind: 'insert', key, value: prng.nextU32() });
    live.add(key);
    if (index % 10 === 0)
      ops.push({ kind: 'update', key: prng.below(KEY_SPACE), value: prng.nextU32() });
  }
  // Remove everything in a scrambled order so buckets empty out, merge, and the directory halves.
  const order = [...live].sort((a, b) => ((a * 2654435761) % 1009) - ((b * 2654435761) % 1009));
  for (const key of order) ops.push({ kind: 'remove', key });
  for (let index = 0; index < 20; index++)
    ops.push({ kind: 'insert', key: prng.below(KEY_SPACE), value: index });
  return ops;
}

function apply(oracle: Map<number, number>, op: Op): void {
  if (op.kind === 'insert') {
    if (!oracle.has(op.key)) oracle.set(op.key, op.value);
  } else if (op.kind === 'update') {
    if (oracle.has(op.key)) oracle.set(op.key, op.value);
  } else {
    oracle.delete(op.key);
  }
}

function run(table: PmEHash, op: Op): void {
  if (op.kind === 'insert') table.insertWords(0, op.key, 0, op.value);
  else if (op.kind === 'update') table.updateWords(0, op.key, 0, op.value);
  else table.removeWords(0, op.key);
}

function contents(table: PmEHash): Map<number, number> {
  const found = new Map<number, number>();
  const out = new Uint32Array(2);
  for (let key = 0; key < KEY_SPACE; key++)
    if (table.searchWords(0, key, out)) found.set(key, out[0]!);
  return found;
}

describe('crash at every persist point (emulated backend)', () => {
  // STRATA_SLOW=1 runs many more seeds (README: "long crash runs"); KV_SEED=n runs one.
  const cases: Array<{ seed: number; tear?: number }> = crashCases();
  test.each(cases)('seed $seed, tear $tear', ({ seed, tear }) => {
    const ops = makeSequence(seed);
    let crashes = 0;
    let sawDoubling = false;
    let finalDepth = 0;
    for (let crashAt = 1; crashAt < 100_000; crashAt++) {
      const temp = makeTempFolder('ehash-crash');
      const oracle = new Map<number, number>();
      let pending: Op | undefined;
      let crashed = false;
      let table: PmEHash | undefined;
      try {
        table = PmEHash.open(temp.path, {
          backend: 'emulated',
          sizeMaxBytes: SIZE,
          crashAtPersist: crashAt,
          ...(tear === undefined ? {} : { tearOnCrash: { seed: tear + crashAt } }),
        });
        for (const op of ops) {
          pending = op;
          run(table, op);
          apply(oracle, op);
          pending = undefined;
          if (op.key % 50 === 0 && table.stats().globalDepth > 5) sawDoubling = true;
        }
        finalDepth = table.stats().globalDepth;
      } catch (error) {
        if (!isStrataError(error, 'ERR_CRASH_INJECTED')) throw error;
        crashed = true;
      }
      closeAfterCrash(table);
      const recovered = PmEHash.open(temp.path, { backend: 'emulated' });
      try {
        const found = contents(recovered);
        const withPending = new Map(oracle);
        if (pending !== undefined) apply(withPending, pending);
        const whole = sameEntries(found, oracle) || sameEntries(found, withPending);
        expect(whole, `KV_SEED=${seed} crashAt=${crashAt}`).toBe(true);
        expect(recovered.size).toBe(found.size);
        // The recovered table keeps working, including structural changes.
        for (let key = KEY_SPACE; key < KEY_SPACE + 40; key++)
          expect(recovered.insertWords(0, key, 0, key)).toBe(true);
        for (let key = KEY_SPACE; key < KEY_SPACE + 40; key++)
          expect(recovered.removeWords(0, key)).toBe(true);
      } finally {
        recovered.close();
        temp.remove();
      }
      if (!crashed) break;
      crashes++;
    }
    // The sequence doubled the directory while growing and halved it back while shrinking.
    expect(sawDoubling).toBe(true);
    expect(finalDepth).toBe(4);
    expect(crashes).toBeGreaterThan(500);
  });
});

function crashCases(): Array<{ seed: number; tear?: number }> {
  const only = process.env['KV_SEED'];
  if (only !== undefined)
    return [{ seed: Number(only) }, { seed: Number(only), tear: Number(only) }];
  const count = process.env['STRATA_SLOW'] === '1' ? 12 : 1;
  return Array.from({ length: count }, (_, index) => [
    { seed: index * 2 + 1 },
    { seed: index * 2 + 2, tear: index + 7 },
  ]).flat();
}

function killRounds(): number[] {
  return Array.from(
    { length: process.env['STRATA_SLOW'] === '1' ? 12 : 3 },
    (_, index) => index + 1,
  );
}

function closeAfterCrash(table: PmEHash | undefined): void {
  try {
    table?.close();
  } catch (error) {
    if (!isStrataError(error, 'ERR_CRASH_INJECTED')) throw error;
  }
}

function sameEntries(a: Map<number, number>, b: Map<number, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}

const CHILD = fileURLToPath(new URL('../../dist/src/ehash/testing/kill-child.js', import.meta.url));

describe('kill -9 of a writing child process (mapped backend)', () => {
  let temp: ReturnType<typeof makeTempFolder>;
  beforeEach(() => {
    temp = makeTempFolder('ehash-kill');
  });
  afterEach(() => temp.remove());

  test.each(killRounds())('round %i: every acknowledged insert survives', async (round) => {
    const target = 20_000 * ((round % 4) + 1) + 7_000 * round;
    const acked = await runChildUntil(temp.path, ['insert'], /acked (\d+)/, target);
    expect(acked).toBeGreaterThanOrEqual(target);
    const started = performance.now();
    const table = PmEHash.open(temp.path, { backend: 'mapped' });
    const openMs = performance.now() - started;
    try {
      const out = new Uint32Array(2);
      for (let key = 0; key < acked; key++) {
        if (!table.searchWords(key % 5, key, out) || out[0] !== key * 3 + 1) {
          throw new Error(`acknowledged key ${key} lost or wrong after kill -9 (acked ${acked})`);
        }
      }
      // Keys past the last report may or may not have landed, but never half.
      let extra = 0;
      for (let key = acked; key < acked + 2_000; key++) {
        if (table.searchWords(key % 5, key, out)) {
          expect(out[0]).toBe(key * 3 + 1);
          extra++;
        }
      }
      expect(table.size).toBe(acked + extra);
      expect(openMs).toBeGreaterThan(0);
    } finally {
      table.close();
    }
  });

  test('every acknowledged remove survives a kill during merges', async () => {
    const count = 30_000;
    const removed = await runChildUntil(
      temp.path,
      ['remove', String(count)],
      /removed (\d+)/,
      17_000,
    );
    const table = PmEHash.open(temp.path, { backend: 'mapped' });
    try {
      const out = new Uint32Array(2);
      for (let key = 0; key < removed; key++)
        expect(table.searchWords(key % 5, key, out)).toBe(false);
      for (let key = removed + 100; key < count; key++)
        expect(table.searchWords(key % 5, key, out)).toBe(true);
    } finally {
      table.close();
    }
  });
});

/** Starts the child, waits until a progress line reports at least `target`, then SIGKILLs it. */
function runChildUntil(
  dir: string,
  args: string[],
  pattern: RegExp,
  target: number,
): Promise<number> {
  return killAtProgress({ script: CHILD, args: [dir, ...args], pattern, target, initial: 0 });
}
