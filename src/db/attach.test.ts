/**
 * Attached handles with real worker threads (dist/src/db/testing/attach-worker.js): writers on
 * two threads reading their own writes back across the coordinator's freezes, flushes and
 * compactions; a worker's snapshot and iterator staying consistent (and their memtable pages
 * kept) while the coordinator overwrites and compacts; the coordinator closing under a busy
 * worker (ERR_CLOSED, no crash); a worker that exits freeing its slot.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { makeTempFolder, type TempFolder } from '../../nvm/testing/temp-folder.js';
import { Strata, type StrataOptions } from './strata.js';
import { text } from './testing/expect-code.js';

const WORKER = fileURLToPath(
  new URL('../../dist/src/db/testing/attach-worker.js', import.meta.url),
);

let temp: TempFolder;
beforeEach(() => {
  temp = makeTempFolder('db-attach');
});
afterEach(() => {
  temp.remove();
});

/** Small memtables and tables: freezes, flushes and compactions happen during the test. */
const CHURN: StrataOptions = {
  backend: 'emulated',
  sizeMaxBytes: 256 << 20,
  memtableSize: 32 * 1024,
  targetFileSize: 16 * 1024,
  maxBytesForLevelBase: 64 * 1024,
  l0CompactionTrigger: 2,
  flushThreads: 1,
  compactionThreads: 1,
};

interface Running {
  readonly worker: Worker;
  readonly messages: unknown[];
  next(): Promise<Record<string, unknown>>;
  exited: Promise<number>;
}

function start(db: Strata, task: Record<string, unknown>): Running {
  const handle = db.handle();
  const worker = new Worker(WORKER, {
    workerData: { ...task, handle },
    transferList: [...handle.transferList],
  });
  const messages: Record<string, unknown>[] = [];
  const waiters: ((message: Record<string, unknown>) => void)[] = [];
  worker.on('message', (message: Record<string, unknown>) => {
    const waiter = waiters.shift();
    if (waiter !== undefined) waiter(message);
    else messages.push(message);
  });
  const exited = new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
  return {
    worker,
    messages,
    exited,
    next: () => {
      const queued = messages.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}

describe('attached handles', () => {
  test('two writer threads read their own writes at once, across freezes, flushes and compactions', async () => {
    const db = await Strata.open(`${temp.path}/writers`, CHURN);
    try {
      const mainKeys: string[] = [];
      for (let index = 0; index < 20; index++) {
        mainKeys.push(`m${index}`);
        await db.put(`m${index}`, `main-m${index}`);
      }
      const writers = ['a', 'b'].map((prefix) =>
        start(db, { kind: 'writer', prefix, count: 1500, mainKeys }),
      );
      // The coordinator writes too, and compacts, while the threads run.
      for (let index = 0; index < 300; index++) await db.put(`c${index}`, 'x'.repeat(200));
      await db.compactRange();
      const results = await Promise.all(writers.map((running) => running.next()));
      for (const result of results) {
        expect(result['failed']).toBeUndefined();
        expect(result['mismatches']).toEqual([]);
        expect(result['scanned']).toBe(1500);
        // Most writes went straight into the shared memtable; the rest (full or frozen
        // memtable) through the coordinator.
        expect(result['direct']).toBeGreaterThan(750);
      }
      await Promise.all(writers.map((running) => running.exited));
      expect(db.get('a01499')).toEqual(new TextEncoder().encode('value-a01499'));
      const stats = db.stats();
      expect(stats.flushes).toBeGreaterThan(3);
      expect(stats.compactions).toBeGreaterThan(0);
      expect(stats.attachedThreads).toBe(0);
    } finally {
      await db.close();
    }
  }, 60_000);

  test("a worker's snapshot and iterator see one state while the coordinator overwrites, flushes and compacts", async () => {
    const db = await Strata.open(`${temp.path}/snapshot`, CHURN);
    try {
      for (let index = 0; index < 1000; index++) {
        await db.put(`k${String(index).padStart(4, '0')}`, `old${index}`);
      }
      const running = start(db, { kind: 'snapshot' });
      expect((await running.next())['ready']).toBe(true);
      for (let index = 0; index < 1000; index++) {
        await db.put(`k${String(index).padStart(4, '0')}`, `new${index}`.padEnd(100, '.'));
      }
      await db.compactRange();
      // Many more memtables: pages freed too early would be reused under the worker's reads.
      for (let index = 0; index < 4000; index++) {
        await db.put(`z${index}`, 'y'.repeat(100));
      }
      await db.flush();
      running.worker.postMessage('go');
      const result = await running.next();
      expect(result['failed']).toBeUndefined();
      const expected = Array.from(
        { length: 1000 },
        (_, index) => `k${String(index).padStart(4, '0')}=old${index}`,
      );
      expect(result['fromIterator']).toEqual(expected);
      expect(result['fromSnapshot']).toEqual(expected);
      expect(result['gets']).toEqual(['old1', 'old500']);
      expect(result['now']).toBe('new1'.padEnd(100, '.'));
      await running.exited;
      // With the worker gone, flushed memtables are freed.
      await db.flush();
      for (let wait = 0; wait < 100 && db.stats().retiredMemtables > 0; wait++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(db.stats().retiredMemtables).toBe(0);
      expect(text(db.get('k0999'))).toBe('new999'.padEnd(100, '.'));
    } finally {
      await db.close();
    }
  }, 60_000);

  test("with an index, a worker's writes go through the coordinator and are indexed", async () => {
    const db = await Strata.open(`${temp.path}/fields`, CHURN);
    try {
      await db.putFields('main', { f: 'v1' });
      await db.createIndex('f');
      const running = start(db, { kind: 'fields', prefix: 'w', count: 300 });
      const result = await running.next();
      expect(result['failed']).toBeUndefined();
      expect(result['direct']).toBe(0);
      expect(result['found']).toBe(101);
      expect((await db.queryByIndex('f', 'v2')).length).toBe(100);
      await running.exited;
      // Without indexes the thread writes directly again.
      await db.dropIndex('f');
      const again = start(db, { kind: 'writer', prefix: 'z', count: 200, mainKeys: [] });
      expect((await again.next())['direct']).toBeGreaterThan(100);
      await again.exited;
    } finally {
      await db.close();
    }
  }, 60_000);

  test("blob GC keeps the old files a worker's snapshot still reads", async () => {
    const db = await Strata.open(`${temp.path}/blob-gc`, {
      ...CHURN,
      minBlobSize: 256,
      blobFileSize: 4096,
      blobGcGarbageRatio: 0.1,
    });
    try {
      await db.put('k', 'a'.repeat(1000));
      const running = start(db, { kind: 'blobSnapshot' });
      expect((await running.next())['ready']).toBe(true);
      await db.put('k', 'b'.repeat(1000));
      await db.flush();
      await db.compactRange();
      let collected: number | undefined;
      const gc = db.collectBlobGarbage().then((files) => {
        collected = files;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      // GC waits for the worker's snapshot before it removes the file the snapshot reads.
      expect(collected).toBeUndefined();
      running.worker.postMessage('go');
      const result = await running.next();
      expect(result['failed']).toBeUndefined();
      expect(result['value']).toBe('a'.repeat(1000));
      await gc;
      expect(collected).toBeGreaterThan(0);
      expect(text(db.get('k'))).toBe('b'.repeat(1000));
      await running.exited;
    } finally {
      await db.close();
    }
  }, 60_000);

  test('closing the coordinator under a busy worker fails its calls with ERR_CLOSED', async () => {
    const db = await Strata.open(`${temp.path}/close`, CHURN);
    const running = start(db, { kind: 'untilClosed' });
    while (db.stats().writes < 200) await new Promise((resolve) => setTimeout(resolve, 5));
    await db.close();
    const result = await running.next();
    expect(result['failed']).toBeUndefined();
    expect(result['code']).toBe('ERR_CLOSED');
    expect(result['closed']).toBe(true);
    expect(result['operations']).toBeGreaterThan(100);
    expect(await running.exited).toBe(0);
  }, 60_000);

  test('a thread that exits without closing frees its slot; handles are refused after close', async () => {
    const db = await Strata.open(`${temp.path}/exit`, CHURN);
    try {
      for (let round = 0; round < 3; round++) {
        const running = start(db, { kind: 'exit' });
        expect((await running.next())['attached']).toBe(true);
        expect(await running.exited).toBe(0);
      }
      for (let wait = 0; wait < 100 && db.stats().attachedThreads > 0; wait++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(db.stats().attachedThreads).toBe(0);
      await expect(Strata.attach({} as never)).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      });
    } finally {
      await db.close();
    }
    expect(() => db.handle()).toThrow(/closed/);
  }, 60_000);
});
