/**
 * Key-value separation through the engine: a Map-oracle model of puts, appends, deletes,
 * snapshots, compactions, blob GC and reopens (inline and on the worker pools); in-place appends
 * writing only their bytes; concurrent appends and a put racing them; blob GC reclaiming files
 * while older snapshots and iterators keep reading the ones it replaced; argument errors; a
 * damaged blob value.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { makeTempFolder, type TempFolder } from '../../nvm/testing/temp-folder.js';
import { CATALOG_DIR_NAME, Strata, type StrataOptions } from './strata.js';
import {
  BLOB_CHURN,
  blobFilesOnDisk,
  blobRangesArbitrary,
  blobStepArbitrary,
  emptyTotals,
  filledValue,
  gcMarkersOnDisk,
  keyOf,
  oracleScan,
  runBlobModel,
  scanText,
  settledBlobFileCount,
  within,
} from './testing/blob-model.js';
import { expectCode, text } from './testing/expect-code.js';

let temp: TempFolder;
beforeEach(() => {
  temp = makeTempFolder('db-blob');
});
afterEach(() => {
  temp.remove();
});

const SEED = Number(process.env['KV_SEED'] ?? 1);

describe('blob model', () => {
  test.each([
    { name: 'inline flushes and compactions', threads: 0, numRuns: 30, maxSteps: 250 },
    { name: 'flush and compaction workers (dist/)', threads: 1, numRuns: 6, maxSteps: 200 },
  ])(
    '$name: put/append/del/snapshot/compact/GC/reopen match a Map',
    async (config) => {
      const options: StrataOptions = {
        ...BLOB_CHURN,
        flushThreads: config.threads,
        compactionThreads: config.threads,
      };
      const totals = emptyTotals();
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(blobStepArbitrary, { minLength: 60, maxLength: config.maxSteps }),
          blobRangesArbitrary,
          async (steps, ranges) => {
            run++;
            await runBlobModel(`${temp.path}/model-${run}`, options, steps, ranges, totals);
          },
        ),
        // A fixed seed (KV_SEED=n replays another); fast-check prints the failing one. Shrinking
        // long logs is slow: it stops after the time limit with the smallest case found so far.
        { numRuns: config.numRuns, seed: SEED, interruptAfterTimeLimit: 80_000 },
      );
      // The runs went down every path at least once.
      expect(totals.appendsInPlace).toBeGreaterThan(0);
      expect(totals.appendsRewritten).toBeGreaterThan(0);
      expect(totals.blobGcRuns).toBeGreaterThan(0);
      expect(totals.blobGcFilesRemoved).toBeGreaterThan(0);
      if (config.threads === 0) expect(totals.valueTooLarge).toBeGreaterThan(0);
    },
    120_000,
  );
});

/** No background churn: one blob file, nothing flushed unless asked. */
const QUIET: StrataOptions = {
  backend: 'emulated',
  sizeMaxBytes: 64 << 20,
  flushThreads: 0,
  compactionThreads: 0,
};

/** `size` bytes whose every 10-byte cell names its offset, so a misplaced slice shows. */
function patterned(tag: string, size: number): string {
  let out = '';
  for (let offset = 0; out.length < size; offset += 10) {
    out += `${tag}${offset.toString(36)}|`.padEnd(10, '.').slice(0, 10);
  }
  return out.slice(0, size);
}

describe('in-place append', () => {
  test('20 appends of 3 KB to a 100 KB blob write only their bytes', async () => {
    const dir = `${temp.path}/in-place`;
    // A reserve as large as the value: 60 KB of appends fit.
    const options: StrataOptions = { ...QUIET, blobReserve: { ratio: 1 } };
    let db = await Strata.open(dir, options);
    try {
      let expected = patterned('base', 100_000);
      await db.put('log', expected);
      const before = db.stats();
      expect(before.blobsWritten).toBe(1);
      const lengths: number[] = [];
      let snapshot: ReturnType<Strata['snapshot']> | undefined;
      let atSnapshot = '';
      for (let index = 0; index < 20; index++) {
        const chunk = patterned(`c${index}-`, 3000);
        await db.append('log', chunk);
        expected += chunk;
        lengths.push(db.get('log')!.length);
        if (index === 9) {
          snapshot = db.snapshot();
          atSnapshot = expected;
        }
      }
      const after = db.stats();
      expect(after.appendsInPlace - before.appendsInPlace).toBe(20);
      expect(after.appendsRewritten).toBe(0);
      expect(after.blobsWritten).toBe(before.blobsWritten);
      // The appended bytes and nothing like the 100 KB value per append.
      const written = after.blobBytesWritten - before.blobBytesWritten;
      expect(written).toBeGreaterThanOrEqual(20 * 3000);
      expect(written).toBeLessThan(20 * 3000 + 20 * 100);
      // The value grew into its reserve: the file did not.
      expect(after.blobBytes).toBe(before.blobBytes);
      expect(after.blobFiles).toBe(1);
      expect(lengths).toEqual(
        Array.from({ length: 20 }, (_, index) => 100_000 + 3000 * (index + 1)),
      );
      expect(text(db.get('log'))).toBe(expected);
      // The snapshot from after the tenth append still reads that length and those bytes.
      expect(text(snapshot!.get('log'))).toBe(atSnapshot);
      expect(atSnapshot).toHaveLength(130_000);
      expect(scanText(snapshot!)).toEqual([`log=${atSnapshot}`]);
      snapshot!.release();
      // Ranged reads: the middle, across the first append's start, past the end.
      expect(text(db.getRange('log', 50_000, 20_000))).toBe(expected.slice(50_000, 70_000));
      expect(text(db.getRange('log', 98_500, 3000))).toBe(expected.slice(98_500, 101_500));
      expect(text(db.getRange('log', 158_000, 5000))).toBe(expected.slice(158_000));
      expect(text(db.getRange('log', 200_000, 10))).toBe('');
      expect(db.getRange('absent', 0, 10)).toBeUndefined();
      // The references committed by the appends survive a flush, a compaction and a reopen.
      await db.compactRange();
      await db.close();
      db = await Strata.open(dir, options);
      expect(text(db.get('log'))).toBe(expected);
      expect(text(db.getRange('log', 130_000, 3000))).toBe(expected.slice(130_000, 133_000));
      await db.append('log', 'tail');
      expect(db.stats().appendsInPlace).toBe(1);
      expect(text(db.get('log'))).toBe(`${expected}tail`);
    } finally {
      await db.close();
    }
  });

  test('an append past the reserve moves the value once, to a larger reserve', async () => {
    const db = await Strata.open(`${temp.path}/rewrite`, {
      ...QUIET,
      minBlobSize: 1024,
      blobReserve: { ratio: 0, minBytes: 1000, maxBytes: 1000, appendRatio: 2 },
    });
    try {
      let expected = patterned('v', 2000);
      await db.put('k', expected);
      for (let index = 0; index < 4; index++) {
        const chunk = patterned(`a${index}`, 400);
        await db.append('k', chunk);
        expected += chunk;
      }
      // 2000 + a 1000-byte reserve: two appends fit; the third moves the 3200 bytes to a new blob
      // (reserve 2 × 3200 clamped to maxBytes), where the fourth fits.
      const stats = db.stats();
      expect(stats.appendsInPlace).toBe(3);
      expect(stats.appendsRewritten).toBe(1);
      expect(text(db.get('k'))).toBe(expected);
      // An inline value becomes a blob on its first append.
      await db.put('small', 'abc');
      await db.append('small', 'def');
      expect(text(db.get('small'))).toBe('abcdef');
      expect(db.stats().appendsRewritten).toBe(2);
      await db.append('small', 'ghi');
      expect(db.stats().appendsInPlace).toBe(4);
      expect(text(db.get('small'))).toBe('abcdefghi');
      // An absent key is created.
      await db.append('new', 'first');
      expect(text(db.get('new'))).toBe('first');
    } finally {
      await db.close();
    }
  });
});

/** Small reserves, so that a run of appends both writes in place and moves values. */
const SMALL_RESERVE: StrataOptions = {
  ...QUIET,
  memtableSize: 16 << 10,
  minBlobSize: 512,
  blobReserve: { ratio: 0.25, minBytes: 256, maxBytes: 4096, appendRatio: 1 },
};

describe('concurrent appends', () => {
  test('50 appends to one key resolve in call order and land in that order', async () => {
    const db = await Strata.open(`${temp.path}/one-key`, SMALL_RESERVE);
    try {
      const chunks = Array.from({ length: 50 }, (_, index) =>
        filledValue(`<${index}>`, 1 + ((index * 37) % 300)),
      );
      const resolved: number[] = [];
      await Promise.all(
        chunks.map((chunk, index) => db.append('k', chunk).then(() => resolved.push(index))),
      );
      expect(resolved).toEqual(chunks.map((_, index) => index));
      expect(text(db.get('k'))).toBe(chunks.join(''));
      const stats = db.stats();
      expect(stats.appendsInPlace).toBeGreaterThan(0);
      expect(stats.appendsRewritten).toBeGreaterThan(1);
    } finally {
      await db.close();
    }
  });

  test('the caller may reuse its buffer once append returns, whichever way the append commits', async () => {
    const db = await Strata.open(`${temp.path}/reuse`, SMALL_RESERVE);
    try {
      await db.put('k', filledValue('<base>', 3000));
      let expected = text(db.get('k'))!;
      const buffer = new Uint8Array(50);
      const appendWith = (letter: number): Promise<void> => {
        buffer.fill(letter);
        expected += String.fromCharCode(letter).repeat(buffer.length);
        const appended = db.append('k', buffer);
        buffer.fill(0x3f); // '?': must never land
        return appended;
      };
      for (let round = 0; round < 6; round++) {
        // Alone: committed at once (in place) or through a group.
        await appendWith(0x61 + round);
        // Behind a put to the same key that opened a group: the append waits for it, finds
        // the key changed (a conflict) and retries with its bytes after the wait.
        const base = filledValue(`<base${round}>`, 1000 + 700 * round);
        const opened = db.put('k', base);
        expected = base;
        const waiting = appendWith(0x41 + round);
        // Queued behind the running append of the same key.
        const queued = [appendWith(0x30 + round), appendWith(0x30 + round + 1)];
        await Promise.all([opened, waiting, ...queued]);
      }
      expect(text(db.get('k'))).toBe(expected);
      expect(text(db.get('k'))).not.toContain('?');
      expect(db.stats().appendsInPlace).toBeGreaterThan(0);
    } finally {
      await db.close();
    }
  });

  test('appends to 20 keys at once all land', async () => {
    const db = await Strata.open(`${temp.path}/many-keys`, SMALL_RESERVE);
    try {
      // Half start inline, half as blobs, the rest absent.
      for (let key = 0; key < 20; key++) {
        if (key % 3 === 0) await db.put(keyOf(key), filledValue(`<base${key}>`, 100));
        if (key % 3 === 1) await db.put(keyOf(key), filledValue(`<base${key}>`, 2000));
      }
      const expected = new Map<string, string>();
      for (let key = 0; key < 20; key++) {
        expected.set(keyOf(key), text(db.get(keyOf(key))) ?? '');
      }
      const appends: Promise<void>[] = [];
      for (let round = 0; round < 10; round++) {
        for (let key = 0; key < 20; key++) {
          const chunk = filledValue(`<${key}.${round}>`, 20 + ((key * 31 + round * 17) % 400));
          appends.push(db.append(keyOf(key), chunk));
          expected.set(keyOf(key), expected.get(keyOf(key)) + chunk);
        }
      }
      await Promise.all(appends);
      for (let key = 0; key < 20; key++) {
        expect(text(db.get(keyOf(key))), keyOf(key)).toBe(expected.get(keyOf(key)));
      }
      expect(scanText(db)).toEqual(oracleScan(expected));
    } finally {
      await db.close();
    }
  });

  test.each([
    { name: 'inline put', putBytes: 100 },
    { name: 'blob put', putBytes: 3000 },
  ])(
    'a $name racing 20 appends leaves the put followed by a suffix of the appends',
    async ({ putBytes }) => {
      const db = await Strata.open(`${temp.path}/race-${putBytes}`, SMALL_RESERVE);
      try {
        for (let putAt = 0; putAt <= 20; putAt += 4) {
          const key = `race-${putAt}`;
          await db.put(key, filledValue('<old>', 1500));
          const chunks = Array.from({ length: 20 }, (_, index) =>
            filledValue(`<${index}>`, 50 + index),
          );
          const put = filledValue('<put>', putBytes);
          const writes: Promise<void>[] = [];
          for (const [index, chunk] of chunks.entries()) {
            if (index === putAt) writes.push(db.put(key, put));
            writes.push(db.append(key, chunk));
          }
          if (putAt === 20) writes.push(db.put(key, put));
          await Promise.all(writes);
          // The put replaced whatever the appends before it had built; every append after it (and
          // perhaps some issued before it but committed later) extends it, in call order.
          const value = text(db.get(key))!;
          const valid = Array.from({ length: 21 }, (_, from) => put + chunks.slice(from).join(''));
          expect(valid, `putAt ${putAt}: ${value.slice(0, 80)}…`).toContain(value);
          // What each reader sees is a committed value: a snapshot scan agrees with get().
          const snapshot = db.snapshot();
          expect(text(snapshot.get(key))).toBe(value);
          snapshot.release();
        }
      } finally {
        await db.close();
      }
    },
  );
});

/** 16 KiB blob files of ~7 values each; compactions only when asked. */
const GC_OPTIONS: StrataOptions = {
  ...QUIET,
  memtableSize: 16 << 10,
  minBlobSize: 512,
  blobFileSize: 16 << 10,
  blobReserve: { ratio: 0, minBytes: 0, maxBytes: 0 },
  blobGcGarbageRatio: 0.5,
};

/**
 * 60 blob values of 2 KB, then every key below `deadBelow` and three in four of the others
 * overwritten inline or deleted. A flush every few puts lets each full file's successor be
 * registered before more values arrive (a full active file keeps taking values meanwhile), so
 * files stay near blobFileSize and values land in several of them.
 */
async function writeMostlyGarbage(db: Strata, deadBelow: number): Promise<Map<string, string>> {
  const oracle = new Map<string, string>();
  for (let key = 0; key < 60; key++) {
    const value = patterned(`first${key}-`, 2000);
    await db.put(keyOf(key), value);
    oracle.set(keyOf(key), value);
    if (key % 4 === 3) await db.flush();
  }
  for (let key = 0; key < 60; key++) {
    if (key % 4 === 0 && key >= deadBelow) continue;
    if (key % 4 === 1) {
      await db.del(keyOf(key));
      oracle.delete(keyOf(key));
    } else {
      await db.put(keyOf(key), `small-${key}`);
      oracle.set(keyOf(key), `small-${key}`);
    }
  }
  return oracle;
}

describe('blob GC', () => {
  test('reclaims files whose values were overwritten or deleted; the live ones move', async () => {
    const dir = `${temp.path}/gc`;
    let db = await Strata.open(dir, GC_OPTIONS);
    try {
      // The files of keys 0-23 hold only garbage; the others keep one value in four.
      const oracle = await writeMostlyGarbage(db, 24);
      const before = db.stats();
      expect(before.blobFiles).toBeGreaterThanOrEqual(4);
      // Garbage is only known once compactions drop the versions that referenced it.
      await db.compactRange();
      expect(db.stats().blobLiveBytes).toBeLessThan(before.blobBytes / 2);
      await db.collectBlobGarbage();
      const after = db.stats();
      expect(after.blobGcErrors).toBe(0);
      expect(after.blobGcRuns).toBeGreaterThan(0);
      // Every file but the active one qualified; the live values (9 of 2 KB) were copied, but
      // for the last one, which may sit in the active file (it takes no GC round).
      expect(after.blobGcFilesRemoved).toBeGreaterThanOrEqual(before.blobFiles - 1);
      expect(after.blobGcBytesRewritten).toBeGreaterThanOrEqual(8 * 2000);
      expect(after.blobFiles).toBeLessThan(before.blobFiles);
      expect(after.blobBytes).toBeLessThan(before.blobBytes / 3);
      expect(after.blobLiveBytes).toBeGreaterThanOrEqual(9 * 2000);
      for (let key = 0; key < 60; key++) {
        expect(text(db.get(keyOf(key))), keyOf(key)).toBe(oracle.get(keyOf(key)));
      }
      expect(scanText(db)).toEqual(oracleScan(oracle));
      // Nothing is left to collect.
      expect(await db.collectBlobGarbage()).toBe(0);
      const blobFiles = after.blobFiles;
      await db.close();
      db = await Strata.open(dir, GC_OPTIONS);
      expect(db.stats().blobFiles).toBe(blobFiles);
      expect(await settledBlobFileCount(db)).toBe(blobFiles);
      expect(blobFilesOnDisk(dir)).toHaveLength(blobFiles);
      expect(gcMarkersOnDisk(dir)).toEqual([]);
      expect(scanText(db)).toEqual(oracleScan(oracle));
      // Moved values still take appends (into the reserve GC gave them, or by a rewrite).
      await db.append(keyOf(0), 'more');
      expect(text(db.get(keyOf(0)))).toBe(`${oracle.get(keyOf(0))}more`);
    } finally {
      await db.close();
    }
  });

  test.each(['snapshot', 'iterator'] as const)(
    'waits for an older %s, which keeps reading the values GC moved or dropped',
    async (reader) => {
      let releaseTask: () => void = () => undefined;
      const held = new Promise<void>((resolve) => {
        releaseTask = resolve;
      });
      const db = await Strata.open(`${temp.path}/gc-${reader}`, GC_OPTIONS, {
        beforeBlobGcTask: () => held,
      });
      try {
        // Every file keeps live values, so the first round (which waits for the reader) moves some.
        const oracle = await writeMostlyGarbage(db, 0);
        // The compaction accounts the garbage (and may start a round, which waits at the hook).
        await db.compactRange();
        const before = db.stats();
        const oldState = oracleScan(oracle);
        const snapshot = reader === 'snapshot' ? db.snapshot() : undefined;
        const iterator = reader === 'iterator' ? db.iterator() : undefined;
        iterator?.seekFirst();
        // After the reader: new values for half the live keys (GC must not resurrect the old
        // ones, which only the reader sees now), an append to one, a delete of another.
        const current = new Map(oracle);
        for (let key = 0; key < 60; key += 8) {
          await db.put(keyOf(key), patterned(`new${key}`, 900));
          current.set(keyOf(key), patterned(`new${key}`, 900));
        }
        await db.append(keyOf(4), 'appended');
        current.set(keyOf(4), `${oracle.get(keyOf(4))}appended`);
        await db.del(keyOf(12));
        current.delete(keyOf(12));
        let done = false;
        const collecting = db.collectBlobGarbage().then((removed) => {
          done = true;
          return removed;
        });
        releaseTask();
        // GC copies and commits the moved references, then waits for the reader.
        for (let turn = 0; turn < 500 && db.stats().blobGcBytesRewritten === 0; turn++) {
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        expect(db.stats().blobGcBytesRewritten).toBeGreaterThan(0);
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(done).toBe(false);
        expect(db.stats().blobGcFilesRemoved).toBe(0);
        expect(db.stats().blobFiles).toBeGreaterThan(before.blobFiles);
        // Meanwhile the current state reads through the moved references...
        expect(scanText(db)).toEqual(oracleScan(current));
        // ...and the old reader through the old ones, in the files GC is waiting to remove.
        if (snapshot !== undefined) {
          for (let key = 0; key < 60; key++) {
            expect(text(snapshot.get(keyOf(key))), keyOf(key)).toBe(oracle.get(keyOf(key)));
          }
          expect(scanText(snapshot)).toEqual(oldState);
          snapshot.release();
        } else {
          const seen: string[] = [];
          for (; iterator!.valid(); iterator!.next()) {
            seen.push(`${text(iterator!.key())}=${text(iterator!.value())}`);
          }
          expect(seen).toEqual(oldState);
          iterator!.close();
        }
        const removed = await within(collecting, 10_000, 'collectBlobGarbage after release');
        expect(removed).toBeGreaterThan(0);
        const after = db.stats();
        expect(after.blobGcErrors).toBe(0);
        expect(after.blobBytes).toBeLessThan(before.blobBytes / 2);
        expect(scanText(db)).toEqual(oracleScan(current));
        expect(gcMarkersOnDisk(db.dir)).toEqual([]);
      } finally {
        releaseTask();
        await db.close();
      }
    },
  );
});

describe('errors', () => {
  test('an append past maxValueBytes is ERR_VALUE_TOO_LARGE and changes nothing', async () => {
    const db = await Strata.open(`${temp.path}/too-large`, {
      ...QUIET,
      minBlobSize: 512,
      maxValueBytes: 4096,
    });
    try {
      await db.put('blob', patterned('b', 3000));
      await db.put('inline', patterned('i', 100));
      await expectCode(() => db.append('blob', patterned('x', 1097)), 'ERR_VALUE_TOO_LARGE');
      await expectCode(() => db.append('inline', patterned('x', 3997)), 'ERR_VALUE_TOO_LARGE');
      await expectCode(() => db.append('absent', patterned('x', 4097)), 'ERR_VALUE_TOO_LARGE');
      expect(text(db.get('blob'))).toBe(patterned('b', 3000));
      expect(text(db.get('inline'))).toBe(patterned('i', 100));
      expect(db.get('absent')).toBeUndefined();
      expect(db.stats().appendsInPlace + db.stats().appendsRewritten).toBe(0);
      // Exactly maxValueBytes is allowed.
      await db.append('blob', patterned('y', 1096));
      expect(db.get('blob')).toHaveLength(4096);
      await db.append('inline', patterned('y', 3996));
      expect(db.get('inline')).toHaveLength(4096);
    } finally {
      await db.close();
    }
  });

  test('getRange takes integer offsets and lengths >= 0', async () => {
    const db = await Strata.open(`${temp.path}/range-args`, { ...QUIET, minBlobSize: 512 });
    try {
      await db.put('blob', patterned('b', 2000));
      await db.put('inline', 'short');
      for (const key of ['blob', 'inline', 'absent']) {
        for (const [offset, length] of [
          [-1, 10],
          [1.5, 10],
          [Number.NaN, 10],
          [0, -1],
          [0, 0.5],
          [0, Number.POSITIVE_INFINITY],
        ] as const) {
          await expectCode(() => db.getRange(key, offset, length), 'ERR_INVALID_ARGUMENT');
        }
        expect(text(db.getRange(key, 0, 0))).toBe(key === 'absent' ? undefined : '');
      }
      expect(text(db.getRange('inline', 1, 3))).toBe('hor');
      expect(text(db.getRange('blob', 1990, 100))).toBe(patterned('b', 2000).slice(1990));
    } finally {
      await db.close();
    }
  });

  test('append, getRange and collectBlobGarbage after close are ERR_CLOSED', async () => {
    const db = await Strata.open(`${temp.path}/closed`, { ...QUIET, minBlobSize: 512 });
    await db.put('blob', patterned('b', 2000));
    await db.close();
    await expectCode(() => db.append('blob', 'more'), 'ERR_CLOSED');
    await expectCode(() => db.append('absent', 'more'), 'ERR_CLOSED');
    await expectCode(() => db.getRange('blob', 0, 10), 'ERR_CLOSED');
    await expectCode(() => db.collectBlobGarbage(), 'ERR_CLOSED');
  });

  test.each([
    { minBlobSize: 0 },
    { minBlobSize: 1.5 },
    { blobReserve: { ratio: -1 } },
    { blobReserve: { minBytes: 10, maxBytes: 5 } },
    { blobReserve: { unknown: 1 } },
    { blobFileSize: 100 },
    { blobGcGarbageRatio: 0 },
    { maxBlobSpaceAmplification: 1 },
  ])('open rejects blob option %o with ERR_INVALID_ARGUMENT', async (bad) => {
    const options = { ...QUIET, ...bad } as StrataOptions;
    await expectCode(() => Strata.open(`${temp.path}/bad`, options), 'ERR_INVALID_ARGUMENT');
  });
});

describe('corruption', () => {
  test('a flipped byte in a blob value: get is ERR_CORRUPT naming the file; the rest works', async () => {
    const dir = `${temp.path}/corrupt`;
    const options: StrataOptions = { ...QUIET, minBlobSize: 512 };
    let db = await Strata.open(dir, options);
    try {
      const damaged = patterned('DAMAGED-', 3000);
      const intact = patterned('intact-', 3000);
      await db.put('damaged', damaged);
      await db.put('intact', intact);
      await db.put('inline', 'small');
      const [file] = blobFilesOnDisk(dir);
      expect(blobFilesOnDisk(dir)).toHaveLength(1);
      const path = join(dir, CATALOG_DIR_NAME, file!);
      const bytes = readFileSync(path);
      const at = bytes.indexOf('DAMAGED-') + 1500;
      expect(at).toBeGreaterThan(1500);
      bytes[at] = bytes[at]! ^ 0x20;
      writeFileSync(path, bytes);

      const error = await expectCode(() => db.get('damaged'), 'ERR_CORRUPT');
      expect(String(error)).toContain(file);
      // Other keys, writes, appends, compactions and scans of other ranges go on.
      expect(text(db.get('intact'))).toBe(intact);
      expect(text(db.get('inline'))).toBe('small');
      await db.append('intact', 'more');
      await db.put('after', patterned('after-', 2000));
      await db.compactRange();
      expect(text(db.get('intact'))).toBe(`${intact}more`);
      expect(text(db.get('after'))).toBe(patterned('after-', 2000));
      expect([...db.iterator({ gt: 'damaged' })].map(([key]) => text(key))).toEqual([
        'inline',
        'intact',
      ]);
      await expectCode(() => [...db.iterator()], 'ERR_CORRUPT');
      // An append to the damaged value must not bless it with a fresh checksum.
      await db.append('damaged', 'x').catch(() => undefined);
      await expectCode(() => db.get('damaged'), 'ERR_CORRUPT');
      await db.close();
      db = await Strata.open(dir, options);
      await expectCode(() => db.get('damaged'), 'ERR_CORRUPT');
      expect(text(db.get('intact'))).toBe(`${intact}more`);
    } finally {
      await db.close();
    }
  });
});
