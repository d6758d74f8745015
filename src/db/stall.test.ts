/**
 * Write stalls and background errors of the Strata engine: writers that outrun the flushes wait
 * (the event loop keeps running), in arrival order, and are counted; close lets stalled writes
 * in; a failed flush rejects stalled writes with a clear error and `flush()` retries it. Also the
 * `snapshot` option of `db.iterator`.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { makeTempFolder, type TempFolder } from '../../nvm/testing/temp-folder.js';
import { type CatalogFs, nodeCatalogFs } from '../catalog/catalog-fs.js';
import { isStrataError, StrataError } from '../errors.js';
import { Strata } from './strata.js';
import { expectCode, text } from './testing/expect-code.js';

let temp: TempFolder;
beforeEach(() => {
  temp = makeTempFolder('db-stall');
});
afterEach(() => {
  temp.remove();
});

const value = (index: number): string => `value-${index}-`.padEnd(200, 'x');

describe('write stalls', () => {
  test('writers that outrun the pool stall without blocking the event loop', async () => {
    const db = await Strata.open(`${temp.path}/stall`, {
      memtableSize: 4096,
      maxFrozenMemtables: 1,
      flushThreads: 1,
    });
    let ticks = 0;
    let ticksWhileStalled = 0;
    let frozenMax = 0;
    const timer = setInterval(() => {
      ticks++;
      const stats = db.stats();
      frozenMax = Math.max(frozenMax, stats.frozenMemtables);
      if (stats.writesStalledNow > 0) ticksWhileStalled++;
    }, 1);
    try {
      let index = 0;
      for (let wave = 0; wave < 40 && db.stats().stalls < 5; wave++) {
        const writes: Promise<void>[] = [];
        for (let count = 0; count < 300; count++) {
          writes.push(db.put(`key-${String(index % 2000).padStart(5, '0')}`, value(index)));
          index++;
        }
        await Promise.all(writes);
        frozenMax = Math.max(frozenMax, db.stats().frozenMemtables);
        // Let a timer fire between waves as well, so ticks counts real loop turns.
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const stats = db.stats();
      expect(stats.stalls).toBeGreaterThan(0);
      expect(stats.stalledWrites).toBeGreaterThan(0);
      expect(stats.stallTimeMs).toBeGreaterThan(0);
      expect(stats.writesStalledNow).toBe(0);
      expect(ticks).toBeGreaterThan(0);
      // The interval fired while writes waited: waiting never blocked the event loop.
      expect(ticksWhileStalled).toBeGreaterThan(0);
      expect(frozenMax).toBeLessThanOrEqual(1);
      expect(stats.flushes).toBeGreaterThan(2);
      for (let key = 0; key < Math.min(index, 2000); key++) {
        const last = key + Math.floor((index - 1 - key) / 2000) * 2000;
        expect(text(db.get(`key-${String(key).padStart(5, '0')}`))).toBe(value(last));
      }
    } finally {
      clearInterval(timer);
      await db.close();
    }
  }, 60_000);

  test('stalled writes keep their order, and close lets them in', async () => {
    const dir = `${temp.path}/order`;
    let db = await Strata.open(dir, {
      memtableSize: 2048,
      maxFrozenMemtables: 1,
      flushThreads: 1,
    });
    const writes: Promise<void>[] = [];
    // Enough in one turn to fill the memtable several times over; later writes stall.
    for (let round = 0; round < 60; round++) {
      for (let key = 0; key < 20; key++) writes.push(db.put(`k${key}`, `${round}`.padEnd(100)));
    }
    await writes[0];
    // The first group filled the memtable; the freeze and the flush are still in flight.
    await db.close();
    await Promise.all(writes);
    db = await Strata.open(dir, { memtableSize: 2048, flushThreads: 1 });
    try {
      for (let key = 0; key < 20; key++) expect(text(db.get(`k${key}`))?.trim()).toBe('59');
    } finally {
      await db.close();
    }
  }, 30_000);

  test('a failed flush rejects stalled writes, is counted, and flush() retries it', async () => {
    let failFlushes = 0;
    const db = await Strata.open(
      `${temp.path}/fail`,
      { memtableSize: 2048, maxFrozenMemtables: 1, flushThreads: 0, backend: 'emulated' },
      {
        beforeFlushTask: (tempPath) => {
          if (failFlushes === 0) return;
          failFlushes--;
          throw new StrataError('ERR_IO', `injected: cannot write ${tempPath}`);
        },
      },
    );
    try {
      await db.put('before', 'ok');
      failFlushes = 1;
      const { settled, acknowledged } = await writeUntilFlushFails(db);
      expect(db.stats().flushErrors).toBe(1);
      expectStallRejections(settled, /failed flush \(injected: cannot write/);
      for (const [key, expected] of acknowledged) expect(text(db.get(key))).toBe(expected);
      await db.flush();
      const stats = db.stats();
      expect(stats.frozenMemtables).toBe(0);
      expect(stats.mutableMemtableBytes).toBe(0);
      expect(text(db.get('before'))).toBe('ok');
      for (const [key, expected] of acknowledged) expect(text(db.get(key))).toBe(expected);
      await db.put('after', 'ok');
      expect(text(db.get('after'))).toBe('ok');
    } finally {
      await db.close();
    }
  }, 30_000);

  test('a failed catalog write stops background work; acknowledged writes survive', async () => {
    let failRenames = 0;
    const failing: CatalogFs = {
      ...nodeCatalogFs,
      rename: async (from: string, to: string) => {
        if (failRenames > 0 && to.endsWith('.sst')) {
          failRenames--;
          throw new StrataError('ERR_IO', `injected: rename ${from} -> ${to} failed`);
        }
        return nodeCatalogFs.rename(from, to);
      },
    };
    const dir = `${temp.path}/catalog-fail`;
    const options = { memtableSize: 2048, maxFrozenMemtables: 1, flushThreads: 0 } as const;
    const db = await Strata.open(dir, options, { catalogFs: failing });
    failRenames = 1;
    const { settled, acknowledged } = await writeUntilFlushFails(db);
    expectStallRejections(settled, /failed flush .*injected: rename/);
    // The catalog is fail-stop: a retry cannot commit, and close reports why (after releasing
    // the image and files, so the database can be reopened).
    await expectCode(() => db.flush(), 'ERR_IO');
    await expectCode(() => db.close(), 'ERR_IO');
    expect(db.closed).toBe(true);
    const reopened = await Strata.open(dir, options);
    try {
      for (const [key, expected] of acknowledged) expect(text(reopened.get(key))).toBe(expected);
      await reopened.flush();
      expect(reopened.stats().flushErrors).toBe(0);
    } finally {
      await reopened.close();
    }
  }, 30_000);
});

/** Waves of writes: the first fills the memtable, whose flush fails; later ones stall. */
async function writeUntilFlushFails(db: Strata): Promise<{
  settled: PromiseSettledResult<void>[];
  acknowledged: Map<string, string>;
}> {
  const writes: Promise<void>[] = [];
  let index = 0;
  for (let wave = 0; wave < 200 && db.stats().flushErrors === 0; wave++) {
    const waveWrites: Promise<void>[] = [];
    for (let count = 0; count < 20; count++, index++) {
      waveWrites.push(db.put(`k${index % 50}`, value(index)));
    }
    writes.push(...waveWrites);
    await Promise.race([Promise.allSettled(waveWrites), new Promise((r) => setTimeout(r, 5))]);
  }
  // A few more after the failure: they stall (memtable full, one frozen) and are refused.
  for (let count = 0; count < 20; count++, index++) {
    writes.push(db.put(`k${index % 50}`, value(index)));
  }
  const settled = await Promise.allSettled(writes);
  const acknowledged = new Map<string, string>();
  settled.forEach((outcome, writeIndex) => {
    if (outcome.status === 'fulfilled') acknowledged.set(`k${writeIndex % 50}`, value(writeIndex));
  });
  expect(db.stats().flushErrors).toBe(1);
  return { settled, acknowledged };
}

function expectStallRejections(settled: PromiseSettledResult<void>[], message: RegExp): void {
  const rejected = settled.filter((outcome) => outcome.status === 'rejected');
  expect(rejected.length).toBeGreaterThan(0);
  for (const outcome of rejected) {
    const reason = (outcome as PromiseRejectedResult).reason as unknown;
    expect(isStrataError(reason, 'ERR_IO'), String(reason)).toBe(true);
    expect(String(reason)).toMatch(message);
    expect(String(reason)).toMatch(/db\.flush\(\) retries it/);
  }
}

describe('db.iterator({ snapshot })', () => {
  test('reads at the snapshot; a released or foreign snapshot is refused', async () => {
    const db = await Strata.open(`${temp.path}/snap`, { backend: 'emulated', flushThreads: 0 });
    const other = await Strata.open(`${temp.path}/other`, {
      backend: 'emulated',
      flushThreads: 0,
    });
    try {
      await db.batch([
        { type: 'put', key: 'a', value: '1' },
        { type: 'put', key: 'b', value: '2' },
        { type: 'put', key: 'c', value: '3' },
      ]);
      const snapshot = db.snapshot();
      await db.del('b');
      await db.put('a', 'new');
      await db.flush();
      await db.put('d', '4');
      const seen = [...db.iterator({ snapshot, gte: 'a', lt: 'c' })].map(
        ([key, entry]) => `${text(key)}=${text(entry)}`,
      );
      expect(seen).toEqual(['a=1', 'b=2']);
      const now = [...db.iterator({ reverse: true })].map(([key]) => text(key));
      expect(now).toEqual(['d', 'c', 'a']);
      const foreign = other.snapshot();
      await expectCode(() => db.iterator({ snapshot: foreign }), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => db.iterator({ snapshot: {} as never }), 'ERR_INVALID_ARGUMENT');
      foreign.release();
      snapshot.release();
      await expectCode(() => db.iterator({ snapshot }), 'ERR_CLOSED');
    } finally {
      await other.close();
      await db.close();
    }
  });
});

describe('iterators after close', () => {
  test('closing an iterator after db.close() is harmless; the next open reclaims its memtable', async () => {
    const dir = `${temp.path}/late-close`;
    const db = await Strata.open(dir, { backend: 'emulated', flushThreads: 0 });
    await db.put('a', '1');
    await db.put('b', '2');
    const iterator = db.iterator();
    iterator.seekFirst();
    await db.flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(db.stats().retiredMemtables).toBe(1);
    await db.close();
    iterator.close();
    const reopened = await Strata.open(dir, { backend: 'emulated', flushThreads: 0 });
    try {
      expect(reopened.stats().retiredMemtables).toBe(0);
      expect([...reopened.iterator()].map(([key]) => text(key))).toEqual(['a', 'b']);
    } finally {
      await reopened.close();
    }
  });
});

describe('caller buffers', () => {
  test('a caller reusing its buffers right after put() cannot change what is written', async () => {
    // Flushes wait until every write was issued, so later writes surely stall.
    let letFlushesGo: () => void = () => undefined;
    const issued = new Promise<void>((resolve) => {
      letFlushesGo = resolve;
    });
    const db = await Strata.open(
      `${temp.path}/reuse`,
      { memtableSize: 2048, maxFrozenMemtables: 1, flushThreads: 1 },
      { beforeFlushTask: () => issued },
    );
    try {
      const key = new Uint8Array(8);
      const bytes = new Uint8Array(120);
      const writes: Promise<void>[] = [];
      // Waves of 20, one per loop turn: the first fill the memtable, later ones stall behind
      // its flush; each buffer is rewritten right after every put() call.
      for (let index = 0; index < 400; index++) {
        new DataView(key.buffer).setUint32(4, index);
        bytes.fill(index & 0xff);
        writes.push(db.put(key, bytes));
        // A few ms per wave, so the freeze of a full memtable lands before the next waves.
        if (index % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 3));
      }
      key.fill(0xee);
      bytes.fill(0xee);
      letFlushesGo();
      await Promise.all(writes);
      expect(db.stats().stalledWrites).toBeGreaterThan(0);
      for (let index = 0; index < 400; index++) {
        const probe = new Uint8Array(8);
        new DataView(probe.buffer).setUint32(4, index);
        expect(db.get(probe), `key ${index}`).toEqual(new Uint8Array(120).fill(index & 0xff));
      }
      expect(db.get(new Uint8Array(8).fill(0xee))).toBeUndefined();
    } finally {
      await db.close();
    }
  }, 30_000);
});
