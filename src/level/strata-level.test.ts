// Strata-specific behaviour of StrataLevel. The abstract-level suite (test/level-suite.mjs) covers
// the interface itself; these cover what it cannot see: data in flushed tables and across a
// reopen, snapshots that outlive a flush, the tag byte's key space, getSync, the engine limits.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { makeTempFolder, type TempFolder } from '../../nvm/testing/temp-folder.js';
import type { StrataOptions } from '../db/strata.js';
import { StrataLevel, type StrataLevelOptions } from './strata-level.js';

// Tiny memtables: a few entries already freeze one, so reads meet flushed tables.
const strata: StrataOptions = { memtableSize: 512, flushThreads: 0, sizeMaxBytes: 1 << 26 };

let temp: TempFolder;
const opened: StrataLevel<unknown, unknown>[] = [];

beforeEach(() => {
  temp = makeTempFolder('level');
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close()));
  temp.remove();
});

function openLevel<K = string, V = string>(
  options: StrataLevelOptions<K, V> = {},
  location = temp.path,
): StrataLevel<K, V> {
  const db = new StrataLevel<K, V>(location, { strata, ...options });
  opened.push(db as StrataLevel<unknown, unknown>);
  return db;
}

async function codeOf(action: () => unknown): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  return 'no error';
}

describe('persistence', () => {
  test('entries survive close and reopen, from memtables and from flushed tables', async () => {
    const first = openLevel();
    const inner = first.sublevel('inner');
    for (let index = 0; index < 200; index++) {
      await first.put(`key-${String(index).padStart(3, '0')}`, `value-${index}`);
    }
    await first.flush();
    expect(first.stats().flushes).toBeGreaterThan(0);
    await first.batch([
      { type: 'del', key: 'key-007' },
      { type: 'put', key: '', value: 'empty key' },
      { type: 'put', key: 'in-sublevel', value: 'yes', sublevel: inner },
    ]);
    await first.close();

    const second = openLevel();
    expect(await second.get('key-000')).toBe('value-0');
    expect(await second.get('key-199')).toBe('value-199');
    expect(await second.get('key-007')).toBeUndefined();
    expect(await second.get('')).toBe('empty key');
    expect(await second.sublevel('inner').get('in-sublevel')).toBe('yes');
    const keys = await second.keys({ gte: 'key-005', lt: 'key-010' }).all();
    expect(keys).toEqual(['key-005', 'key-006', 'key-008', 'key-009']);
    // The root sees the sublevel's entry under its prefix: after the empty key, before 'key-'.
    expect(await second.keys({ limit: 2 }).all()).toEqual(['', '!inner!in-sublevel']);
  });

  test('the same instance reopens after close', async () => {
    const db = openLevel<string, unknown>({ valueEncoding: 'json' });
    await db.put('config', { level: 1 });
    await db.close();
    await db.open();
    expect(await db.get('config')).toEqual({ level: 1 });
  });

  test('createIfMissing and errorIfExists look for the database in the directory', async () => {
    const missing = openLevel({}, temp.file('missing'));
    const error = await openError(missing, { createIfMissing: false });
    expect(error.code).toBe('LEVEL_DATABASE_NOT_OPEN');
    expect((error.cause as { code?: string }).code).toBe('LEVEL_DATABASE_MISSING');

    const existing = openLevel();
    await existing.open();
    await existing.close();
    const again = await openError(existing, { errorIfExists: true });
    expect((again.cause as { code?: string }).code).toBe('LEVEL_DATABASE_EXISTS');
  });
});

describe('snapshots', () => {
  test('an explicit snapshot keeps its view across writes, deletes and a flush', async () => {
    const db = openLevel();
    await db.batch([
      { type: 'put', key: 'a', value: '1' },
      { type: 'put', key: 'b', value: '2' },
    ]);
    const snapshot = db.snapshot();
    await db.put('a', 'changed');
    await db.del('b');
    await db.put('c', 'new');
    await db.flush(); // the memtable the snapshot reads is frozen and flushed under it

    expect(await db.get('a', { snapshot })).toBe('1');
    expect(db.getSync('b', { snapshot })).toBe('2');
    expect(await db.has('c', { snapshot })).toBe(false);
    expect(await db.iterator({ snapshot }).all()).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
    expect(await db.iterator().all()).toEqual([
      ['a', 'changed'],
      ['c', 'new'],
    ]);
    await snapshot.close();
    expect(await codeOf(() => db.get('a', { snapshot }))).toBe('LEVEL_SNAPSHOT_NOT_OPEN');
  });

  test('an iterator reads the state of its creation (implicit snapshot), also after seek', async () => {
    const db = openLevel();
    await db.open();
    await db.batch([
      { type: 'put', key: 'a', value: '1' },
      { type: 'put', key: 'c', value: '3' },
    ]);
    const iterator = db.iterator();
    await db.put('b', '2');
    await db.del('c');
    await db.flush();
    expect(await iterator.next()).toEqual(['a', '1']);
    expect(await iterator.next()).toEqual(['c', '3']);
    iterator.seek('b');
    expect(await iterator.all()).toEqual([['c', '3']]);
  });

  test('clear() deletes what the range held at the call, not a write issued after it', async () => {
    const db = openLevel();
    await db.batch(['a', 'b', 'c', 'd'].map((key) => ({ type: 'put' as const, key, value: key })));
    const cleared = db.clear({ gte: 'b', lte: 'c' });
    const rewritten = db.put('b', 'after clear');
    await Promise.all([cleared, rewritten]);
    expect(await db.iterator().all()).toEqual([
      ['a', 'a'],
      ['b', 'after clear'],
      ['d', 'd'],
    ]);
  });
});

describe('getSync', () => {
  test('reads a write as soon as it resolved, in any encoding, on sublevels too', async () => {
    const db = openLevel<string, unknown>({ valueEncoding: 'json' });
    await db.open();
    expect(db.getSync('nothing')).toBeUndefined();
    await db.put('doc', { n: 1 });
    expect(db.getSync('doc')).toEqual({ n: 1 });
    expect(db.getSync('doc', { valueEncoding: 'utf8' })).toBe('{"n":1}');
    const bytes = db.getSync('doc', { valueEncoding: 'view' }) as Uint8Array;
    expect(new TextDecoder().decode(bytes)).toBe('{"n":1}');

    const sub = db.sublevel<string, string>('sub', { valueEncoding: 'utf8' });
    await sub.put('k', 'v');
    expect(sub.getSync('k')).toBe('v');
    expect(db.getSync('k')).toBeUndefined();
  });

  test('cannot be deferred: it throws while the database is still opening', () => {
    const db = openLevel();
    expect(db.status).toBe('opening');
    expect(() => db.getSync('a')).toThrow(
      expect.objectContaining({ code: 'LEVEL_DATABASE_NOT_OPEN' }),
    );
  });
});

describe('key space and limits', () => {
  test('empty keys and all byte values sort bytewise, with every range shape', async () => {
    const db = openLevel<Uint8Array, string>({ keyEncoding: 'view' });
    const keys = [[], [0x00], [0x00, 0x00], [0x01], [0x7f], [0xff], [0xff, 0xff]].map((bytes) =>
      Uint8Array.from(bytes),
    );
    await db.batch(keys.map((key, index) => ({ type: 'put', key, value: String(index) })));
    expect(await db.values().all()).toEqual(['0', '1', '2', '3', '4', '5', '6']);
    expect(await db.values({ gt: keys[0]!, lte: keys[5]! }).all()).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
    ]);
    expect(await db.values({ lt: keys[0]! }).all()).toEqual([]);
    expect(await db.values({ lte: keys[0]! }).all()).toEqual(['0']);
    expect(await db.values({ gte: keys[6]!, reverse: true }).all()).toEqual(['6']);
    await db.clear({ gt: keys[0]!, reverse: true, limit: 2 });
    expect(await db.values().all()).toEqual(['0', '1', '2', '3', '4']);
  });

  test('all() returns long ranges whole and stops at the limit across its chunks', async () => {
    const db = openLevel({ strata: { ...strata, memtableSize: 64 << 10 } });
    const ops = [];
    for (let index = 0; index < 2500; index++) {
      ops.push({ type: 'put' as const, key: String(index).padStart(4, '0'), value: 'v' });
    }
    await db.batch(ops);
    const keys = await db.keys().all();
    expect(keys.length).toBe(2500);
    expect(keys[2499]).toBe('2499');
    expect((await db.keys({ limit: 1500, reverse: true }).all()).at(-1)).toBe('1000');
  });

  test('maxKeyBytes and maxValueBytes limit user keys and values, as LEVEL_INVALID_*', async () => {
    const db = openLevel({ strata: { ...strata, maxKeyBytes: 8, maxValueBytes: 4 } });
    await db.put('12345678', 'ok'); // the tag byte does not count against maxKeyBytes
    expect(await db.get('12345678')).toBe('ok');
    expect(await codeOf(() => db.put('123456789', 'x'))).toBe('LEVEL_INVALID_KEY');
    expect(await codeOf(() => db.put('k', '12345'))).toBe('LEVEL_INVALID_VALUE');
    expect(await codeOf(() => db.batch([{ type: 'put', key: 'k', value: '12345' }]))).toBe(
      'LEVEL_INVALID_VALUE',
    );
  });
});

async function openError(
  db: StrataLevel,
  options: { createIfMissing?: boolean; errorIfExists?: boolean },
): Promise<Error & { code?: string }> {
  try {
    await db.open(options);
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('open() resolved');
}
