/**
 * Crash consistency on the emulated backend: a seeded sequence (create, then batches that cross
 * arena runs) is cut at every persist point, optionally tearing the crashing persist. Reopening
 * must show exactly the batches acknowledged before the crash, plus the in-flight one wholly or
 * not at all. Every few points, recovery itself is crashed once more before a clean reopen.
 */
import { describe, expect, test } from 'vitest';
import { NvmImage } from '../../nvm/image.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { PageKind } from '../../nvm/types.js';
import { isStrataError } from '../errors.js';
import { KIND_VALUE } from '../sst/internal-key.js';
import { Memtable, type MemtableRecord } from './memtable.js';
import { keyOf, makeBatches } from './testing/batches.js';
import { Oracle, render, scanBackward, scanForward } from './testing/oracle.js';

const ROOT = 1; // the root word standing in for the catalog's record of the live memtable
const KEY_COUNT = 12;
const SIZE = 96 * 4096;

/**
 * Every open of a volatile-index memtable gets a new boot tag: on the emulated backend a crash
 * drops every unpersisted store, which is what a power loss does, so each reopen is a new boot.
 */
let bootTagLast = 1000;
const nextBoot = (): number => ++bootTagLast;

describe('crash at every persist point (emulated backend)', () => {
  test.each(crashCases())(
    'seed $seed, tear $tear, volatile index $volatileIndex',
    ({ seed, tear, volatileIndex }) => {
      const batches = makeBatches(seed, { batchCount: 24, keyCount: KEY_COUNT, firstSeq: 0 });
      const temp = makeTempFolder('memtable-crash');
      let crashes = 0;
      const outcomes = { kept: 0, dropped: 0 };
      try {
        for (let crashAt = 1; crashAt < 100_000; crashAt++) {
          const path = `${temp.path}/crash-${crashAt}.nvm`;
          NvmImage.open(path, { backend: 'emulated', sizeMaxBytes: SIZE }).close();
          const oracle = new Oracle();
          const run = runUntilCrash(path, batches, oracle, volatileIndex, {
            crashAtPersist: crashAt,
            ...(tear === undefined ? {} : { tearOnCrash: { seed: tear * 1000 + crashAt } }),
          });
          if (crashAt % 5 === 0) crashDuringRecovery(path, crashAt);
          const outcome = verifyRecovered(
            path,
            oracle,
            run.pending,
            `seed=${seed} crashAt=${crashAt} volatileIndex=${volatileIndex}`,
          );
          if (run.pending !== undefined) outcomes[outcome]++;
          NvmImage.destroy(path);
          if (!run.crashed) break;
          crashes++;
        }
      } finally {
        temp.remove();
      }
      // A volatile index persists only records, commit marks and allocations: fewer points.
      expect(crashes).toBeGreaterThan(volatileIndex ? 40 : 300);
      // Crashes cut in-flight batches (rolled back); a torn commit persist may land the mark.
      expect(outcomes.dropped).toBeGreaterThan(10);
      if (tear !== undefined) expect(outcomes.kept).toBeGreaterThan(0);
    },
  );
});

interface RunResult {
  readonly crashed: boolean;
  readonly pending: readonly MemtableRecord[] | undefined;
}

function runUntilCrash(
  path: string,
  batches: readonly MemtableRecord[][],
  oracle: Oracle,
  volatileIndex: boolean,
  crash: { crashAtPersist: number; tearOnCrash?: { seed: number } },
): RunResult {
  let image: NvmImage;
  try {
    image = NvmImage.open(path, { backend: 'emulated', ...crash });
  } catch (error) {
    if (!isStrataError(error, 'ERR_CRASH_INJECTED')) throw error;
    return { crashed: true, pending: undefined }; // the open's own persist crashed
  }
  let memtable: Memtable | undefined;
  let pending: readonly MemtableRecord[] | undefined;
  try {
    const header = Memtable.create(image, { runSizeBytes: 4096, volatileIndex });
    image.setRoot(ROOT, BigInt(header));
    memtable = Memtable.open(image, header, { heightSeed: 7, bootTag: nextBoot() });
    for (const batch of batches) {
      pending = batch;
      memtable.applyBatch(batch);
      oracle.apply(batch);
      pending = undefined;
    }
    return { crashed: false, pending: undefined };
  } catch (error) {
    if (!isStrataError(error, 'ERR_CRASH_INJECTED')) throw error;
    return { crashed: true, pending };
  } finally {
    ignoreCrash(() => memtable?.close());
    ignoreCrash(() => image.close());
  }
}

/** Opens once more with a crash injected early in recovery, then lets the caller reopen. */
function crashDuringRecovery(path: string, crashAt: number): void {
  let image: NvmImage;
  try {
    image = NvmImage.open(path, { backend: 'emulated', crashAtPersist: 2 + (crashAt % 4) });
  } catch (error) {
    if (!isStrataError(error, 'ERR_CRASH_INJECTED')) throw error;
    return;
  }
  try {
    const header = Number(image.root(ROOT));
    Memtable.reclaimOrphans(image, new Set(header === 0 ? [] : [header]));
    if (header !== 0) Memtable.open(image, header, { bootTag: nextBoot() }).close();
  } catch (error) {
    if (!isStrataError(error, 'ERR_CRASH_INJECTED')) throw error;
  } finally {
    ignoreCrash(() => image.close());
  }
}

function verifyRecovered(
  path: string,
  oracle: Oracle,
  pending: readonly MemtableRecord[] | undefined,
  context: string,
): 'kept' | 'dropped' {
  const image = NvmImage.open(path, { backend: 'emulated' });
  try {
    const header = Number(image.root(ROOT));
    Memtable.reclaimOrphans(image, new Set(header === 0 ? [] : [header]));
    if (header === 0) {
      expect(oracle.entries.length, context).toBe(0);
      for (const kind of [PageKind.memtableHeader, PageKind.memtableArena, PageKind.ehashHeader])
        image.forEachPage(kind, undefined, () => expect.fail(`${context}: orphan page kept`));
      return 'dropped';
    }
    const memtable = Memtable.open(image, header, { bootTag: nextBoot() });
    try {
      const found = render(scanForward(memtable, Number.MAX_SAFE_INTEGER));
      const withPending = new Oracle();
      withPending.apply(oracle.entries);
      if (pending !== undefined) withPending.apply(pending);
      const expected = render(oracle.visible(Number.MAX_SAFE_INTEGER));
      const expectedWithPending = render(withPending.visible(Number.MAX_SAFE_INTEGER));
      const matches = sameList(found, expected) || sameList(found, expectedWithPending);
      expect(matches, `${context}: found ${found.length} entries`).toBe(true);
      const truth = sameList(found, expected) ? oracle : withPending;
      expect(render(scanBackward(memtable, Number.MAX_SAFE_INTEGER)), context).toEqual(found);
      expect(memtable.entryCount, context).toBe(found.length);
      const last = truth.entries.reduce((max, entry) => Math.max(max, entry.seq), 0);
      expect(memtable.visibleSeq, context).toBe(last);
      for (let index = 0; index < KEY_COUNT; index++) {
        const key = keyOf(index);
        const want = truth.get(key, last);
        expect(memtable.get(key)?.seq, context).toBe(want?.seq);
      }
      // The recovered memtable keeps working.
      const next = { kind: KIND_VALUE, userKey: keyOf(1), value: Uint8Array.of(9), seq: last + 1 };
      memtable.applyBatch([next]);
      expect(memtable.get(keyOf(1))?.seq, context).toBe(last + 1);
      return truth === oracle ? 'dropped' : 'kept';
    } finally {
      memtable.close();
    }
  } finally {
    image.close();
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, index) => item === b[index]);
}

function ignoreCrash(action: () => void): void {
  try {
    action();
  } catch (error) {
    if (!isStrataError(error, 'ERR_CRASH_INJECTED')) throw error;
  }
}

function crashCases(): Array<{ seed: number; tear?: number; volatileIndex: boolean }> {
  const only = process.env['KV_SEED'];
  const cases: Array<{ seed: number; tear?: number }> =
    only !== undefined
      ? [{ seed: Number(only) }, { seed: Number(only), tear: 1 }]
      : Array.from({ length: process.env['STRATA_SLOW'] === '1' ? 10 : 1 }, (_, index) => [
          { seed: index * 2 + 1 },
          { seed: index * 2 + 2, tear: index + 3 },
        ]).flat();
  return cases.flatMap((each) => [
    { ...each, volatileIndex: false },
    { ...each, volatileIndex: true },
  ]);
}
