import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { makeTempFolder, type TempFolder } from '../../nvm/testing/temp-folder.js';
import { type IteratorOptions, Strata } from './strata.js';
import { expectCode, text } from './testing/expect-code.js';

function backends(): ('emulated' | 'mapped')[] {
  return ['emulated', 'mapped'];
}

let temp: TempFolder;
beforeEach(() => {
  temp = makeTempFolder('db');
});
afterEach(() => {
  temp.remove();
});

/** The oracle's answer for an iterator: sorted keys, bounds, reverse, limit. */
function oracleScan(oracle: Map<string, string>, options: IteratorOptions): [string, string][] {
  const compare = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
  let entries = [...oracle.entries()].sort((a, b) => compare(a[0], b[0]));
  entries = entries.filter(([key]) => {
    if (typeof options.gt === 'string' && compare(key, options.gt) <= 0) return false;
    if (typeof options.gte === 'string' && compare(key, options.gte) < 0) return false;
    if (typeof options.lt === 'string' && compare(key, options.lt) >= 0) return false;
    if (typeof options.lte === 'string' && compare(key, options.lte) > 0) return false;
    return true;
  });
  if (options.reverse === true) entries.reverse();
  return entries.slice(0, options.limit ?? entries.length);
}

function scan(
  source: { iterator(options: IteratorOptions): Iterable<[Uint8Array, Uint8Array]> },
  options: IteratorOptions,
) {
  return [...source.iterator(options)].map(([key, value]) => [text(key), text(value)]);
}

const keyArb = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'aa', 'ab', 'ba', 'z');
const valueArb = fc.string({ maxLength: 40 });
const opArb = fc.oneof(
  fc.record({ type: fc.constant('put' as const), key: keyArb, value: valueArb }),
  fc.record({ type: fc.constant('del' as const), key: keyArb }),
);
const boundsArb = fc.record(
  {
    gt: keyArb,
    lte: keyArb,
    reverse: fc.boolean(),
    limit: fc.nat({ max: 8 }),
  },
  { requiredKeys: [] },
);
const actionArb = fc.oneof(
  { weight: 6, arbitrary: opArb.map((op) => ({ kind: 'op' as const, op })) },
  {
    weight: 2,
    arbitrary: fc.array(opArb, { maxLength: 6 }).map((ops) => ({ kind: 'batch' as const, ops })),
  },
  {
    weight: 2,
    arbitrary: fc
      .array(opArb, { minLength: 2, maxLength: 6 })
      .map((ops) => ({ kind: 'concurrent' as const, ops })),
  },
  { weight: 3, arbitrary: keyArb.map((key) => ({ kind: 'get' as const, key })) },
  { weight: 2, arbitrary: boundsArb.map((options) => ({ kind: 'scan' as const, options })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  {
    weight: 1,
    arbitrary: fc.array(opArb, { maxLength: 4 }).map((ops) => ({ kind: 'snapshot' as const, ops })),
  },
);

function applyOp(
  oracle: Map<string, string>,
  op: { type: 'put' | 'del'; key: string; value?: string },
) {
  if (op.type === 'put') oracle.set(op.key, op.value ?? '');
  else oracle.delete(op.key);
}

const configurations = backends().flatMap((backend) =>
  [0, 1].map((flushThreads) => ({ backend, flushThreads })),
);

for (const { backend, flushThreads } of configurations) {
  describe(`Strata (${backend}, flushThreads ${flushThreads})`, () => {
    // flushThreads 1 runs the compiled dist/workers/flush.js: build first.
    // Compactions run where flushes do: on this thread, or on a pool of one.
    const options = {
      backend,
      flushThreads,
      compactionThreads: flushThreads,
      memtableSize: 300,
      sizeMaxBytes: 64 << 20,
    } as const;

    test('model: put/del/batch/get/scan/flush/reopen/snapshot against a Map', async () => {
      let run = 0;
      let autoFlushes = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(actionArb, { minLength: 1, maxLength: 40 }), async (actions) => {
          const dir = `${temp.path}/model-${run++}`;
          const oracle = new Map<string, string>();
          let db = await Strata.open(dir, options);
          try {
            for (const action of actions) {
              switch (action.kind) {
                case 'op':
                  if (action.op.type === 'put') await db.put(action.op.key, action.op.value);
                  else await db.del(action.op.key);
                  applyOp(oracle, action.op);
                  break;
                case 'batch':
                  await db.batch(action.ops);
                  for (const op of action.ops) applyOp(oracle, op);
                  break;
                case 'concurrent': {
                  const pending = action.ops.map((op) =>
                    op.type === 'put' ? db.put(op.key, op.value) : db.del(op.key),
                  );
                  for (const op of action.ops) applyOp(oracle, op);
                  await Promise.all(pending);
                  break;
                }
                case 'get':
                  expect(text(db.get(action.key))).toBe(oracle.get(action.key));
                  break;
                case 'scan':
                  expect(scan(db, action.options)).toEqual(oracleScan(oracle, action.options));
                  break;
                case 'flush':
                  await db.flush();
                  expect(db.stats().memtables).toBe(1);
                  break;
                case 'reopen':
                  autoFlushes += db.stats().flushes;
                  await db.close();
                  db = await Strata.open(dir, options);
                  break;
                case 'snapshot': {
                  const before = new Map(oracle);
                  const snapshot = db.snapshot();
                  const iterator = db.iterator({});
                  await db.batch(action.ops);
                  for (const op of action.ops) applyOp(oracle, op);
                  for (const key of ['a', 'b', 'c', 'z']) {
                    expect(text(snapshot.get(key))).toBe(before.get(key));
                  }
                  expect(scan(snapshot, {})).toEqual(oracleScan(before, {}));
                  expect([...iterator].map(([k, v]) => [text(k), text(v)])).toEqual(
                    oracleScan(before, {}),
                  );
                  snapshot.release();
                  break;
                }
              }
            }
            for (const key of ['a', 'b', 'ab', 'z'])
              expect(text(db.get(key))).toBe(oracle.get(key));
            await db.flush();
            expect(db.stats().mutableMemtableBytes).toBe(0);
            autoFlushes += db.stats().flushes;
            await db.close();
            db = await Strata.open(dir, options);
            expect(scan(db, {})).toEqual(oracleScan(oracle, {}));
            expect(scan(db, { reverse: true })).toEqual(oracleScan(oracle, { reverse: true }));
          } finally {
            await db.close();
          }
        }),
        { numRuns: flushThreads === 0 ? 60 : 15 },
      );
      expect(autoFlushes).toBeGreaterThan(0);
    }, 60_000);

    test('automatic flushes under a stream of writes, then reopen keeps everything', async () => {
      const dir = `${temp.path}/auto`;
      let db = await Strata.open(dir, { ...options, memtableSize: 4096 });
      const expected = new Map<string, string>();
      let index = 0;
      const next = (): [string, string] => {
        const key = `key-${String(index % 700).padStart(4, '0')}`;
        const value = `value-${index}`.repeat(3);
        index++;
        expected.set(key, value);
        return [key, value];
      };
      // One at a time until two automatic flushes completed (no timing assumption) …
      while (db.stats().flushes < 2) {
        expect(index).toBeLessThan(200_000);
        await db.put(...next());
      }
      // … then groups of 100 concurrent writes, which outrun the flushes.
      for (let group = 0; group < 14; group++) {
        const writes: Promise<void>[] = [];
        for (let count = 0; count < 100; count++) writes.push(db.put(...next()));
        await Promise.all(writes);
      }
      expect(db.stats().mutableMemtableBytes).toBeGreaterThan(0);
      await db.flush();
      const stats = db.stats();
      expect(stats.memtables).toBe(1);
      expect(stats.mutableMemtableBytes).toBe(0);
      expect(stats.flushes).toBeGreaterThanOrEqual(3);
      // Every flush made an L0 table; compactions merged some of them into level 1.
      const tableCount = stats.levels.reduce((sum, level) => sum + level.files, 0);
      expect(tableCount).toBeGreaterThan(0);
      expect(stats.l0Files).toBeLessThanOrEqual(stats.flushes);
      expect(stats.flushErrors).toBe(0);
      expect(stats.compactionErrors).toBe(0);
      for (const [key, value] of expected) expect(text(db.get(key))).toBe(value);
      await db.close();
      db = await Strata.open(dir, { ...options, memtableSize: 4096 });
      try {
        expect(db.stats().tableBytes).toBeGreaterThan(0);
        const all = scan(db, {});
        expect(all.length).toBe(expected.size);
        for (const [key, value] of all) expect(expected.get(key ?? '')).toBe(value);
        await db.put('after', 'reopen');
        expect(text(db.get('after'))).toBe('reopen');
        expect(db.stats().lastSeq).toBeGreaterThan(stats.lastSeq);
      } finally {
        await db.close();
      }
    }, 30_000);

    test('an iterator keeps a flushed memtable readable until it is closed', async () => {
      const db = await Strata.open(`${temp.path}/pin`, options);
      try {
        await db.put('k1', 'v1');
        await db.put('k2', 'v2');
        const iterator = db.iterator({});
        iterator.seekFirst();
        await db.flush();
        await db.put('k3', 'v3');
        await db.flush();
        expect(db.stats().retiredMemtables).toBeGreaterThanOrEqual(1);
        expect(text(iterator.key())).toBe('k1');
        iterator.next();
        expect(text(iterator.value())).toBe('v2');
        iterator.next();
        expect(iterator.valid()).toBe(false);
        iterator.close();
        await new Promise((resolve) => setImmediate(resolve));
        expect(db.stats().retiredMemtables).toBe(0);
        await expectCode(() => iterator.next(), 'ERR_CLOSED');
      } finally {
        await db.close();
      }
    });
  });
}

describe('Strata errors', () => {
  test('bad input is ERR_INVALID_ARGUMENT, oversize keys and values have their own codes', async () => {
    const db = await Strata.open(`${temp.path}/bad`, {
      backend: 'emulated',
      maxKeyBytes: 4,
      maxValueBytes: 8,
      sizeMaxBytes: 16 << 20,
    });
    try {
      await expectCode(() => db.put('', 'v'), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => db.put('12345', 'v'), 'ERR_KEY_TOO_LARGE');
      await expectCode(() => db.put('k', '123456789'), 'ERR_VALUE_TOO_LARGE');
      await db.put('k', '12345678'); // exactly at both limits
      await expectCode(() => db.put(42 as unknown as string, 'v'), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => db.del(null as unknown as string), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => db.get('12345'), 'ERR_KEY_TOO_LARGE');
      await expectCode(
        () => db.batch([{ type: 'put', key: 'k', value: '123456789' }]),
        'ERR_VALUE_TOO_LARGE',
      );
      await expectCode(
        () => db.batch([{ type: 'put', key: 'k' }] as never),
        'ERR_INVALID_ARGUMENT',
      );
      await expectCode(
        () => db.batch([{ type: 'del', key: 'k', value: 'v' }]),
        'ERR_INVALID_ARGUMENT',
      );
      await expectCode(
        () => db.batch([{ type: 'merge', key: 'k', value: 'v' }] as never),
        'ERR_INVALID_ARGUMENT',
      );
      await expectCode(() => db.batch('nope' as never), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => db.iterator({ gt: 'a', gte: 'b' }), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => db.iterator({ limit: -1 }), 'ERR_INVALID_ARGUMENT');
      // A failed batch changes nothing: the valid op before the bad one is not applied.
      await expectCode(
        () =>
          db.batch([
            { type: 'put', key: 'ok', value: 'v' },
            { type: 'put', key: 'toolong', value: 'v' },
          ]),
        'ERR_KEY_TOO_LARGE',
      );
      expect(db.get('ok')).toBeUndefined();
      await db.batch([]);
      await db.put(new Uint8Array([1, 2]), new Uint8Array([3]));
      expect(db.get(new Uint8Array([1, 2]))).toEqual(new Uint8Array([3]));
    } finally {
      await db.close();
    }
    await expectCode(
      () => Strata.open(`${temp.path}/bad2`, { memtableSize: 0 }),
      'ERR_INVALID_ARGUMENT',
    );
    await expectCode(
      () => Strata.open(`${temp.path}/bad3`, { unknown: 1 } as never),
      'ERR_INVALID_ARGUMENT',
    );
  });

  test('use after close is ERR_CLOSED; close waits for queued writes', async () => {
    const dir = `${temp.path}/closed`;
    const db = await Strata.open(dir, { backend: 'emulated', sizeMaxBytes: 16 << 20 });
    const snapshot = db.snapshot();
    const pending = db.put('queued', 'yes');
    await db.close();
    await pending;
    await db.close();
    expect(db.closed).toBe(true);
    expect(snapshot.released).toBe(true);
    await expectCode(() => db.put('k', 'v'), 'ERR_CLOSED');
    await expectCode(() => db.del('k'), 'ERR_CLOSED');
    await expectCode(() => db.batch([]), 'ERR_CLOSED');
    await expectCode(() => db.get('k'), 'ERR_CLOSED');
    await expectCode(() => db.iterator(), 'ERR_CLOSED');
    await expectCode(() => db.snapshot(), 'ERR_CLOSED');
    await expectCode(() => db.flush(), 'ERR_CLOSED');
    await expectCode(() => db.stats(), 'ERR_CLOSED');
    await expectCode(() => snapshot.get('k'), 'ERR_CLOSED');
    const again = await Strata.open(dir, { backend: 'emulated' });
    try {
      expect(text(again.get('queued'))).toBe('yes');
    } finally {
      await again.close();
    }
  });
});

describe('block cache shared by the databases of a thread', () => {
  test('two databases with the same table numbers read their own blocks', async () => {
    const options = { backend: 'emulated', flushThreads: 0, sizeMaxBytes: 16 << 20 } as const;
    const first = await Strata.open(`${temp.path}/cache-a`, options);
    const second = await Strata.open(`${temp.path}/cache-b`, {
      ...options,
      blockCacheBytes: 48 << 20,
    });
    try {
      for (let index = 0; index < 50; index++) {
        await first.put(`k${index}`, `first-${index}`);
        await second.put(`k${index}`, `second-${index}`);
      }
      await first.flush();
      await second.flush();
      // Both hold table 000001.sst with the same block offsets; the cache keeps them apart.
      expect(first.stats().l0Files).toBe(1);
      expect(second.stats().l0Files).toBe(1);
      const before = first.stats().blockCache;
      for (let round = 0; round < 3; round++) {
        for (let index = 0; index < 50; index++) {
          expect(text(first.get(`k${index}`))).toBe(`first-${index}`);
          expect(text(second.get(`k${index}`))).toBe(`second-${index}`);
        }
      }
      const after = second.stats().blockCache;
      expect(after.capacityBytes).toBe(48 << 20);
      expect(after.hits - before.hits).toBeGreaterThan(250);
      expect(after.misses - before.misses).toBeLessThanOrEqual(4);
      expect(after.sizeBytes).toBeGreaterThan(0);
    } finally {
      await first.close();
      await second.close();
    }
  });
});

describe('values returned by get', () => {
  test('are private copies: writing into one changes neither the store nor other values', async () => {
    const db = await Strata.open(`${temp.path}/copies`, { backend: 'mapped', flushThreads: 0 });
    try {
      for (let index = 0; index < 40; index++) await db.put(`k${index}`, `value-${index}`);
      await db.flush(); // half from a table, half from the memtable
      for (let index = 40; index < 80; index++) await db.put(`k${index}`, `value-${index}`);
      const values = Array.from({ length: 80 }, (_, index) => db.get(`k${index}`)!);
      for (const value of values) value.fill(0x21);
      for (let index = 0; index < 80; index++) {
        expect(text(db.get(`k${index}`))).toBe(`value-${index}`);
      }
      // Each value is its own range, even where two share a slab.
      const again = Array.from({ length: 80 }, (_, index) => db.get(`k${index}`)!);
      again[0]!.fill(0x21);
      for (let index = 1; index < 80; index++) expect(text(again[index])).toBe(`value-${index}`);
      // They outlive the memtable they were read from.
      const fromMemtable = db.get('k79')!;
      await db.put('k79', 'newer');
      await db.flush();
      await db.compactRange();
      expect(text(fromMemtable)).toBe('value-79');
      expect(text(db.get('k79'))).toBe('newer');
    } finally {
      await db.close();
    }
  });
});

describe('sync: true on the mapped backend (volatile memtable index)', () => {
  test('a reopen in a new boot rebuilds every memtable index and loses nothing', async () => {
    const dir = `${temp.path}/power`;
    const options = { sync: true, backend: 'mapped', memtableSize: 4096, flushThreads: 0 } as const;
    const db = await Strata.open(dir, { ...options, maxFrozenMemtables: 4 });
    const expected = new Map<string, string>();
    for (let index = 0; index < 300; index++) {
      const key = `key-${index % 120}`;
      const value = `value-${index}`.repeat(4);
      expected.set(key, value);
      if (index % 3 === 0) {
        await db.batch([
          { type: 'put', key, value },
          { type: 'del', key: `gone-${index}` },
        ]);
      } else {
        await db.put(key, value);
      }
    }
    expect(db.stats().flushes).toBeGreaterThan(0);
    await db.close();
    // A new boot tag: every volatile index is rebuilt from its records on open.
    const reopened = await Strata.open(dir, options, { bootTag: 0x5eed });
    try {
      for (const [key, value] of expected) expect(text(reopened.get(key))).toBe(value);
      expect(scan(reopened, {}).length).toBe(expected.size);
      expect(scan(reopened, { reverse: true, limit: 5 }).map(([key]) => key)).toEqual(
        [...expected.keys()].sort().reverse().slice(0, 5),
      );
      await reopened.put('after', 'rebuild');
      expect(text(reopened.get('after'))).toBe('rebuild');
    } finally {
      await reopened.close();
    }
  });
});
