/**
 * Multi-field values and secondary indexes through the engine: a Map-oracle model over
 * putFields/put/del/batch/createIndex/dropIndex/queries with writes running while builds do
 * (inline and on the worker pool), snapshots, flushes, compactions and reopens; field records
 * with separators and zero bytes; the reserved index keyspace hidden from users; errors; a
 * build's waiting and failing queries; blob-stored and appended field records.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { makeTempFolder, type TempFolder } from '../../nvm/testing/temp-folder.js';
import { encodeFields } from '../fields/field-codec.js';
import { Strata, type StrataOptions, type StrataTestHooks } from './strata.js';
import { expectCode, text } from './testing/expect-code.js';
import {
  compareText,
  expectIndexesMatch,
  IndexOracle,
  type IndexStep,
  indexStepArb,
  keysText,
} from './testing/index-model.js';

let temp: TempFolder;
beforeEach(() => {
  temp = makeTempFolder('db-index');
});
afterEach(() => {
  temp.remove();
});

const SEED = Number(process.env['KV_SEED'] ?? 1);

const QUIET: StrataOptions = {
  backend: 'emulated',
  sizeMaxBytes: 64 << 20,
  flushThreads: 0,
  compactionThreads: 0,
};

/** Small memtables and tables: the model's writes flush and compact on their own. */
const CHURN: StrataOptions = {
  ...QUIET,
  memtableSize: 16 * 1024,
  targetFileSize: 4 * 1024,
  maxBytesForLevelBase: 16 * 1024,
  l0CompactionTrigger: 2,
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('index model', () => {
  test.each([
    { name: 'inline builds', threads: 0, numRuns: 25, maxSteps: 120 },
    { name: 'builds and compactions on workers (dist/)', threads: 1, numRuns: 5, maxSteps: 100 },
  ])(
    '$name: writes during builds, drops, snapshots and reopens match a Map',
    async (config) => {
      const options: StrataOptions = {
        ...CHURN,
        flushThreads: config.threads,
        compactionThreads: config.threads,
        // On workers, builds split into two scans whose outputs a merge task joins.
        indexBuildThreads: config.threads === 0 ? 1 : 2,
      };
      let run = 0;
      const totals = { builds: 0, writesDuringBuilds: 0 };
      await fc.assert(
        fc.asyncProperty(
          fc.array(indexStepArb, { minLength: 20, maxLength: config.maxSteps }),
          async (steps) => {
            run++;
            const counts = await runIndexModel(`${temp.path}/model-${run}`, options, steps);
            totals.builds += counts.builds;
            totals.writesDuringBuilds += counts.writesDuringBuilds;
          },
        ),
        { numRuns: config.numRuns, seed: SEED, interruptAfterTimeLimit: 80_000 },
      );
      expect(totals.builds).toBeGreaterThan(0);
      expect(totals.writesDuringBuilds).toBeGreaterThan(0);
    },
    150_000,
  );
});

/** Runs the steps against a fresh database and the oracle; checks every query and the end. */
async function runIndexModel(
  dir: string,
  options: StrataOptions,
  steps: readonly IndexStep[],
): Promise<{ builds: number; writesDuringBuilds: number }> {
  let building = 0;
  let writesDuringBuilds = 0;
  // Builds take a little while, so the writes after a createIndex land during its build.
  const hooks: StrataTestHooks = { beforeIndexBuildTask: () => sleep(3) };
  let db = await Strata.open(dir, options, hooks);
  const oracle = new IndexOracle();
  let tasks: Promise<void>[] = [];
  let snapshot: { db: ReturnType<Strata['snapshot']>; oracle: IndexOracle } | undefined;
  let builds = 0;
  const settleTasks = async (): Promise<void> => {
    await Promise.all(tasks);
    tasks = [];
  };
  try {
    for (const step of steps) {
      if (building > 0 && ['putFields', 'putRaw', 'del', 'batch'].includes(step.type)) {
        writesDuringBuilds++;
      }
      switch (step.type) {
        case 'putFields':
          await db.putFields(step.key, step.fields);
          oracle.put(step.key, { fields: step.fields });
          break;
        case 'putRaw':
          await db.put(step.key, step.raw);
          oracle.put(step.key, { raw: step.raw });
          break;
        case 'del':
          await db.del(step.key);
          oracle.put(step.key, undefined);
          break;
        case 'batch':
          await db.batch(
            step.ops.map((op) =>
              op.fields === undefined
                ? { type: 'del' as const, key: op.key }
                : { type: 'put' as const, key: op.key, value: encodeFields(op.fields) },
            ),
          );
          for (const op of step.ops) {
            oracle.put(op.key, op.fields === undefined ? undefined : { fields: op.fields });
          }
          break;
        case 'createIndex': {
          const exists = oracle.indexes.has(step.field);
          if (!exists) oracle.create(step.field);
          building++;
          const task = db.createIndex(step.field).then(
            () => {
              expect(exists, `createIndex(${step.field}) succeeded on an existing index`).toBe(
                false,
              );
              builds++;
            },
            (error: unknown) => {
              expect(exists, String(error)).toBe(true);
              expect((error as { code?: string }).code).toBe('ERR_INDEX_EXISTS');
            },
          );
          tasks.push(task.finally(() => building--));
          break;
        }
        case 'dropIndex': {
          const exists = oracle.drop(step.field);
          const task = db.dropIndex(step.field).then(
            () => expect(exists, `dropIndex(${step.field}) of a missing index`).toBe(true),
            (error: unknown) => {
              expect(exists, String(error)).toBe(false);
              expect((error as { code?: string }).code).toBe('ERR_INDEX_NOT_FOUND');
            },
          );
          tasks.push(task);
          break;
        }
        case 'query': {
          await settleTasks();
          if (!oracle.indexes.has(step.field)) {
            await expectCode(() => db.queryByIndex(step.field, step.value), 'ERR_INDEX_NOT_FOUND');
            break;
          }
          const keys = keysText(await db.queryByIndex(step.field, step.value));
          expect(keys, `${step.field} = ${JSON.stringify(step.value)}`).toEqual(
            oracle.query(step.field, step.value),
          );
          const limited = keysText(await db.queryByIndex(step.field, step.value, { limit: 1 }));
          expect(limited).toEqual(oracle.query(step.field, step.value).slice(0, 1));
          break;
        }
        case 'snapshot':
          await settleTasks();
          snapshot?.db.release();
          snapshot = { db: db.snapshot(), oracle: oracle.copy() };
          break;
        case 'querySnapshot': {
          if (snapshot === undefined) break;
          await settleTasks();
          const field = step.field;
          if (!snapshot.oracle.indexes.has(field) || !oracle.indexes.has(field)) break;
          const query = db.queryByIndex(field, step.value, { snapshot: snapshot.db });
          if (snapshot.oracle.generations.get(field) !== oracle.generations.get(field)) {
            // Re-created after the snapshot: refused, unless no write came in between.
            const answer = await query.then(keysText, (error: unknown) => error);
            if (!Array.isArray(answer)) {
              expect((answer as { code?: string }).code).toBe('ERR_INDEX_BUILDING');
              break;
            }
          }
          const keys = keysText(await query);
          expect(keys, `at the snapshot: ${field} = ${JSON.stringify(step.value)}`).toEqual(
            snapshot.oracle.query(field, step.value),
          );
          break;
        }
        case 'flush':
          await db.flush();
          break;
        case 'compact':
          await db.compactRange();
          break;
        case 'reopen':
          await settleTasks();
          snapshot = undefined;
          await db.close();
          db = await Strata.open(dir, options, hooks);
          break;
      }
    }
    await settleTasks();
    await expectIndexesMatch(db, oracle);
    // Every record still reads back, and no index entry leaks into a user scan.
    const scanned = [...db.iterator()].map(([key]) => text(key)!);
    expect(scanned).toEqual([...oracle.records.keys()].sort(compareText));
    await db.close();
    db = await Strata.open(dir, options);
    await expectIndexesMatch(db, oracle);
  } finally {
    await Promise.allSettled(tasks);
    await db.close();
  }
  return { builds, writesDuringBuilds };
}

describe('field records', () => {
  test('putFields / getFields round-trip names and values with separators and zero bytes', async () => {
    const db = await Strata.open(`${temp.path}/fields`, QUIET);
    try {
      // fromEntries: a literal's __proto__ would set the prototype instead of a field.
      const fields: Record<string, string | Uint8Array> = Object.fromEntries([
        ['', 'empty name'],
        ['a\u0000b', 'x\u0000y'],
        ['=;,', '\u0000'],
        ['__proto__', 'not a prototype'],
        ['bytes', Uint8Array.of(0, 255, 0, 1)],
        ['empty', ''],
      ]);
      await db.putFields('k', fields);
      const read = db.getFields('k', { strings: true })!;
      expect(Object.keys(read).sort()).toEqual(Object.keys(fields).sort());
      expect(read['a\u0000b']).toBe('x\u0000y');
      expect(read['=;,']).toBe('\u0000');
      expect(Object.getPrototypeOf(read)).toBe(Object.prototype);
      expect(Object.hasOwn(read, '__proto__')).toBe(true);
      expect(db.getFields('k')!['bytes']).toEqual(Uint8Array.of(0, 255, 0, 1));
      // Plain get returns the encoded record.
      expect(db.get('k')).toEqual(encodeFields(fields));
      expect(db.getFields('missing')).toBeUndefined();
    } finally {
      await db.close();
    }
  });

  test('a raw or truncated value is refused by getFields with ERR_CORRUPT, never misread', async () => {
    const db = await Strata.open(`${temp.path}/corrupt`, QUIET);
    try {
      await db.put('raw', 'just bytes');
      await expectCode(() => db.getFields('raw'), 'ERR_CORRUPT');
      const record = encodeFields({ name: 'value', other: 'x' });
      for (let cut = 0; cut < record.length; cut++) {
        await db.put('cut', record.subarray(0, cut));
        await expectCode(() => db.getFields('cut'), 'ERR_CORRUPT');
      }
      await expectCode(() => db.putFields('k', null as never), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => db.putFields('k', { n: 5 } as never), 'ERR_INVALID_ARGUMENT');
    } finally {
      await db.close();
    }
  });

  test('keys in the reserved index keyspace are refused; user scans never show index entries', async () => {
    const db = await Strata.open(`${temp.path}/keyspace`, QUIET);
    try {
      const reserved = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x69, 0x78, 1);
      await expectCode(() => db.put(reserved, 'x'), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => db.del(reserved), 'ERR_INVALID_ARGUMENT');
      await expectCode(
        () => db.batch([{ type: 'put', key: reserved, value: 'x' }]),
        'ERR_INVALID_ARGUMENT',
      );
      expect(() => db.get(reserved)).toThrow(/reserved/);
      // Keys on both sides of the index keyspace.
      const below = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x69, 0x77, 0xff);
      const above = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x69, 0x79);
      await db.putFields(below, { f: 'v' });
      await db.putFields(above, { f: 'v' });
      await db.putFields('z', { f: 'v' });
      await db.createIndex('f');
      for (const flushed of [false, true]) {
        if (flushed) await db.flush();
        const forward = [...db.iterator()].map(([key]) => [...key]);
        expect(forward).toEqual([[...Buffer.from('z')], [...below], [...above]]);
        const backward = [...db.iterator({ reverse: true })].map(([key]) => [...key]);
        expect(backward).toEqual([...forward].reverse());
        const inside = [
          ...db.iterator({
            gte: Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x69, 0x78),
            lt: Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x69, 0x79, 0),
          }),
        ];
        expect(inside.map(([key]) => [...key])).toEqual([[...above]]);
        const cursor = db.iterator();
        cursor.seek(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x69, 0x78, 0, 0, 0));
        expect([...cursor.key()]).toEqual([...above]);
        cursor.prev();
        expect([...cursor.key()]).toEqual([...below]);
        cursor.close();
      }
      expect(keysText(await db.queryByIndex('f', 'v')).length).toBe(3);
    } finally {
      await db.close();
    }
  });
});

describe('secondary indexes', () => {
  test('a build over existing data, then updates, deletes and batches keep the index exact', async () => {
    const db = await Strata.open(`${temp.path}/basic`, CHURN);
    try {
      for (let index = 0; index < 300; index++) {
        await db.putFields(`book${String(index).padStart(3, '0')}`, {
          author: `author${index % 7}`,
          year: String(1900 + (index % 50)),
        });
      }
      await db.createIndex('author');
      expect(db.listIndexes()).toEqual([{ field: 'author', state: 'ready' }]);
      const by3 = keysText(await db.queryByIndex('author', 'author3'));
      expect(by3.length).toBe(43);
      expect(by3.every((key) => Number(key.slice(4)) % 7 === 3)).toBe(true);
      // Update: the old value's entry goes.
      await db.putFields('book003', { author: 'author4' });
      expect(keysText(await db.queryByIndex('author', 'author3'))).not.toContain('book003');
      expect(keysText(await db.queryByIndex('author', 'author4'))).toContain('book003');
      // A raw put has no fields: it leaves the index.
      await db.put('book004', 'raw');
      expect(keysText(await db.queryByIndex('author', 'author4'))).not.toContain('book004');
      await db.del('book010');
      expect(keysText(await db.queryByIndex('author', 'author3'))).not.toContain('book010');
      // Two ops on one key in one batch: the last wins, the index follows.
      await db.batch([
        { type: 'put', key: 'book017', value: encodeFields({ author: 'a' }) },
        { type: 'put', key: 'book017', value: encodeFields({ author: 'b' }) },
      ]);
      expect(keysText(await db.queryByIndex('author', 'a'))).toEqual([]);
      expect(keysText(await db.queryByIndex('author', 'b'))).toEqual(['book017']);
      const range = keysText(
        await db.queryRangeByIndex('author', { gte: 'author5', lt: 'author6' }),
      );
      expect(range).toEqual(keysText(await db.queryByIndex('author', 'author5')));
      const reverse = await db.queryRangeByIndex('author', { reverse: true, limit: 2 });
      const forward = keysText(await db.queryRangeByIndex('author'));
      expect(forward.length).toBe(298);
      expect(keysText(reverse)).toEqual(forward.reverse().slice(0, 2));
      expect(db.stats().indexBuilds).toBe(1);
    } finally {
      await db.close();
    }
  });

  test('errors: an index that exists, a drop or query of none, bad arguments', async () => {
    const db = await Strata.open(`${temp.path}/errors`, QUIET);
    try {
      await expectCode(() => db.queryByIndex('f', 'v'), 'ERR_INDEX_NOT_FOUND');
      await expectCode(() => db.dropIndex('f'), 'ERR_INDEX_NOT_FOUND');
      await db.createIndex('f');
      await expectCode(() => db.createIndex('f'), 'ERR_INDEX_EXISTS');
      await expectCode(() => db.createIndex(''), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => db.createIndex(5 as never), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => db.queryByIndex('f', 5 as never), 'ERR_INVALID_ARGUMENT');
      await expectCode(() => db.queryByIndex('f', 'v', { limit: -1 }), 'ERR_INVALID_ARGUMENT');
      await expectCode(
        () => db.queryByIndex('f', 'v', { whenBuilding: 'never' as never }),
        'ERR_INVALID_ARGUMENT',
      );
      await db.dropIndex('f');
      await expectCode(() => db.queryByIndex('f', 'v'), 'ERR_INDEX_NOT_FOUND');
      await expectCode(() => db.dropIndex('f'), 'ERR_INDEX_NOT_FOUND');
      await db.close();
      await expectCode(() => db.createIndex('g'), 'ERR_CLOSED');
      await expectCode(() => db.queryByIndex('g', 'v'), 'ERR_CLOSED');
    } finally {
      await db.close();
    }
  });

  test.each([
    { name: 'inline', threads: 0 },
    { name: 'on the worker pool', threads: 1 },
  ])(
    'writes racing a build from its first moment to its commit are all indexed ($name)',
    async (config) => {
      const db = await Strata.open(
        `${temp.path}/race-${config.threads}`,
        {
          ...CHURN,
          flushThreads: config.threads,
          compactionThreads: config.threads,
          indexBuildThreads: 2,
        },
        { beforeIndexBuildTask: () => sleep(5) },
      );
      try {
        const expected = new Map<string, string>();
        for (let index = 0; index < 100; index++) {
          await db.putFields(`k${index}`, { f: `v${index % 5}` });
          expected.set(`k${index}`, `v${index % 5}`);
        }
        let done = false;
        const created = db.createIndex('f').finally(() => {
          done = true;
        });
        let writes = 0;
        for (let index = 0; !done; index++) {
          const key = `k${(index * 7) % 150}`;
          if (index % 11 === 3) {
            await db.del(key);
            expected.delete(key);
          } else {
            await db.putFields(key, { f: `v${index % 5}`, other: String(index) });
            expected.set(key, `v${index % 5}`);
          }
          writes++;
        }
        await created;
        expect(writes).toBeGreaterThan(20);
        for (let value = 0; value < 5; value++) {
          const want = [...expected].filter(([, v]) => v === `v${value}`).map(([key]) => key);
          expect(keysText(await db.queryByIndex('f', `v${value}`))).toEqual(want.sort(compareText));
        }
      } finally {
        await db.close();
      }
    },
  );

  test('a query on a building index waits, or fails with ERR_INDEX_BUILDING when asked', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const db = await Strata.open(`${temp.path}/building`, QUIET, {
      beforeIndexBuildTask: () => gate,
    });
    try {
      await db.putFields('old', { f: 'v' });
      const created = db.createIndex('f');
      await sleep(10);
      expect(db.listIndexes()).toEqual([{ field: 'f', state: 'building' }]);
      await expectCode(
        () => db.queryByIndex('f', 'v', { whenBuilding: 'fail' }),
        'ERR_INDEX_BUILDING',
      );
      // A write during the build is indexed by the write path.
      await db.putFields('new', { f: 'v' });
      await db.putFields('old', { f: 'w' });
      const waiting = db.queryByIndex('f', 'v');
      release();
      expect(keysText(await waiting)).toEqual(['new']);
      await created;
      expect(keysText(await db.queryByIndex('f', 'w'))).toEqual(['old']);
    } finally {
      release();
      await db.close();
    }
  });

  test('a snapshot query sees the index as of the snapshot; a snapshot older than the index is refused', async () => {
    const db = await Strata.open(`${temp.path}/snapshot`, QUIET);
    try {
      await db.putFields('a', { f: '1' });
      const before = db.snapshot();
      await db.putFields('c', { f: '1' });
      await db.createIndex('f');
      await expectCode(() => db.queryByIndex('f', '1', { snapshot: before }), 'ERR_INDEX_BUILDING');
      const at = db.snapshot();
      await db.putFields('a', { f: '2' });
      await db.putFields('b', { f: '1' });
      expect(keysText(await db.queryByIndex('f', '1', { snapshot: at }))).toEqual(['a', 'c']);
      expect(keysText(await db.queryByIndex('f', '1'))).toEqual(['b', 'c']);
      expect(db.getFieldsAt(at, 'a', { strings: true })).toEqual({ f: '1' });
      at.release();
      await expectCode(() => db.queryByIndex('f', '1', { snapshot: at }), 'ERR_CLOSED');
      before.release();
    } finally {
      await db.close();
    }
  });

  test('drop removes the entries in the background; the field can be indexed again', async () => {
    const db = await Strata.open(`${temp.path}/drop`, CHURN);
    try {
      for (let index = 0; index < 200; index++)
        await db.putFields(`k${index}`, { f: `v${index % 3}` });
      await db.createIndex('f');
      const indexEntries = db.stats().indexBuildEntriesWritten;
      expect(indexEntries).toBe(200);
      await db.dropIndex('f');
      expect(db.listIndexes()).toEqual([]);
      // Writes after the drop no longer maintain it.
      const written = db.stats().indexEntriesWritten;
      await db.putFields('k0', { f: 'changed' });
      expect(db.stats().indexEntriesWritten).toBe(written);
      await db.createIndex('f');
      expect(db.stats().indexEntriesRemoved).toBe(200);
      expect(keysText(await db.queryByIndex('f', 'changed'))).toEqual(['k0']);
      expect((await db.queryByIndex('f', 'v1')).length).toBe(67);
    } finally {
      await db.close();
    }
  });

  test('field records stored as blobs, and appends to them, keep the index exact', async () => {
    const db = await Strata.open(`${temp.path}/blobs`, { ...QUIET, minBlobSize: 64 });
    try {
      const big = 'x'.repeat(200);
      await db.putFields('k', { f: 'v', body: big });
      await db.createIndex('f');
      expect(keysText(await db.queryByIndex('f', 'v'))).toEqual(['k']);
      await db.putFields('k', { f: 'w', body: big });
      expect(keysText(await db.queryByIndex('f', 'v'))).toEqual([]);
      expect(keysText(await db.queryByIndex('f', 'w'))).toEqual(['k']);
      // Appending to a field record leaves trailing bytes: no longer a record, so not indexed.
      await db.append('k', 'tail');
      expect(keysText(await db.queryByIndex('f', 'w'))).toEqual([]);
      await expectCode(() => db.getFields('k'), 'ERR_CORRUPT');
      // A record built by appends becomes indexed once it is whole.
      const record = encodeFields({ f: 'z', body: big });
      await db.put('j', record.subarray(0, 100));
      await db.append('j', record.subarray(100));
      expect(keysText(await db.queryByIndex('f', 'z'))).toEqual(['j']);
      await db.collectBlobGarbage();
      expect(keysText(await db.queryByIndex('f', 'z'))).toEqual(['j']);
    } finally {
      await db.close();
    }
  });
});
