/**
 * Damaged files under a closed database: the engine refuses them with a StrataError (ERR_CORRUPT,
 * or ERR_NVM_FOREIGN for a foreign image) whose message names the file and the byte offset, never
 * returns wrong data, never crashes, and a failed open leaves nothing locked: once the bytes are
 * restored the next open succeeds and reads everything (the mapped backend takes an flock, which
 * a second open in this process would find taken).
 *
 * The fixture: three L0 tables, oldest first T1 (keys a000..a199, several data blocks),
 * T2 (b000..b009, one block) and T3 (c000..c009, one block). Layouts: src/sst/FORMAT.md,
 * src/catalog/FORMAT.md, nvm/FORMAT.md.
 */
import { readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { makeTempFolder, type TempFolder } from '../../nvm/testing/temp-folder.js';
import { isStrataError, type StrataErrorCode } from '../errors.js';
import type { StrataOptions } from './options.js';
import { CATALOG_DIR_NAME, IMAGE_FILE_NAME, Strata } from './strata.js';
import { readTableLayout, type TableLayout } from './testing/table-layout.js';

const OPTIONS: StrataOptions = { flushThreads: 0, backend: 'mapped', sizeMaxBytes: 64 << 20 };
const decoder = new TextDecoder();

interface Table {
  readonly path: string;
  readonly layout: TableLayout;
}

interface Fixture {
  readonly dir: string;
  readonly catalogDir: string;
  /** Oldest first: T1 (a…), T2 (b…), T3 (c…). */
  readonly tables: readonly [Table, Table, Table];
  readonly expected: ReadonlyMap<string, string>;
}

let temp: TempFolder;
let fixture: Fixture;
beforeEach(async () => {
  temp = makeTempFolder('db-corrupt');
  fixture = await buildFixture(temp.file('db'));
});
afterEach(() => temp.remove());

async function buildFixture(dir: string): Promise<Fixture> {
  const expected = new Map<string, string>();
  const db = await Strata.open(dir, OPTIONS);
  try {
    for (const [prefix, count] of [
      ['a', 200],
      ['b', 10],
      ['c', 10],
    ] as const) {
      for (let index = 0; index < count; index++) {
        const key = `${prefix}${String(index).padStart(3, '0')}`;
        const value = `${key}:${'v'.repeat(60)}`;
        await db.put(key, value);
        expected.set(key, value);
      }
      await db.flush();
    }
    expect(db.stats().l0Files).toBe(3);
  } finally {
    await db.close();
  }
  const catalogDir = join(dir, CATALOG_DIR_NAME);
  const tables = readdirSync(catalogDir)
    .filter((name) => name.endsWith('.sst'))
    .map((name) => join(catalogDir, name))
    .map((path) => ({ path, layout: readTableLayout(path) }))
    .sort((x, y) => firstKey(x).localeCompare(firstKey(y)));
  expect(tables.map(firstKey)).toEqual(['a000', 'b000', 'c000']);
  expect(tables[0]!.layout.dataBlocks.length).toBeGreaterThanOrEqual(3);
  expect(tables[1]!.layout.dataBlocks.length).toBe(1);
  return { dir, catalogDir, tables: tables as unknown as Fixture['tables'], expected };
}

function firstKey(table: Table): string {
  return table.layout.dataBlocks[0]!.userKeys[0]!;
}

/** Changes bytes of a file in place; the returned function puts the original bytes back. */
function damage(path: string, change: (bytes: Uint8Array) => void): () => void {
  const original = readFileSync(path);
  const changed = new Uint8Array(original);
  change(changed);
  expect(Buffer.compare(Buffer.from(changed), original)).not.toBe(0);
  writeFileSync(path, changed);
  return () => writeFileSync(path, original);
}

function flipByte(path: string, offset: number): () => void {
  return damage(path, (bytes) => {
    expect(offset).toBeLessThan(bytes.length);
    bytes[offset] = bytes[offset]! ^ 0x5a;
  });
}

/** Cuts a file to `length` bytes; the returned function puts the original bytes back. */
function truncate(path: string, length: number): () => void {
  const original = readFileSync(path);
  expect(length).toBeLessThan(original.length);
  truncateSync(path, length);
  return () => writeFileSync(path, original);
}

function caught(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}

async function caughtAsync(action: () => Promise<unknown>): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** A StrataError of `code` whose message names `file` and, when given, `at byte <offset>`. */
function expectError(
  error: unknown,
  expected: { code: StrataErrorCode; file?: string; offset?: number },
): void {
  expect(isStrataError(error, expected.code), String(error)).toBe(true);
  const message = (error as Error).message;
  if (expected.file !== undefined) expect(message).toContain(expected.file);
  if (expected.offset !== undefined) expect(message).toContain(`at byte ${expected.offset}`);
}

function scanAll(db: Strata, options: Parameters<Strata['iterator']>[0] = {}): string[] {
  return [...db.iterator(options)].map(([key]) => decoder.decode(key));
}

/** Opens, checks every key and a full scan both ways, closes. */
async function expectIntact(dir: string): Promise<void> {
  const db = await Strata.open(dir, OPTIONS);
  try {
    for (const [key, value] of fixture.expected) expect(text(db.get(key)), key).toBe(value);
    const keys = [...fixture.expected.keys()];
    expect(scanAll(db)).toEqual(keys);
    expect(scanAll(db, { reverse: true })).toEqual([...keys].reverse());
  } finally {
    await db.close();
  }
}

function text(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : decoder.decode(bytes);
}

/** Open must fail as described, twice in a row (no lock left by the first failure). */
async function expectOpenFails(expected: {
  code: StrataErrorCode;
  file?: string;
  offset?: number;
}): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    expectError(await caughtAsync(() => Strata.open(fixture.dir, OPTIONS)), expected);
  }
}

test('control: a second open in this process finds the image locked', async () => {
  const db = await Strata.open(fixture.dir, OPTIONS);
  try {
    expectError(await caughtAsync(() => Strata.open(fixture.dir, OPTIONS)), {
      code: 'ERR_LOCKED',
    });
  } finally {
    await db.close();
  }
  await expectIntact(fixture.dir);
});

describe('a damaged data block is refused when read, other tables stay readable', () => {
  test('T2 (one block): get of its keys and full scans throw; T1 and T3 keys read', async () => {
    const [, t2] = fixture.tables;
    const block = t2.layout.dataBlocks[0]!;
    const restore = flipByte(t2.path, block.offsetBytes + 3);
    const db = await Strata.open(fixture.dir, OPTIONS); // data blocks are checked when read
    try {
      const where = { code: 'ERR_CORRUPT', file: t2.path, offset: block.offsetBytes } as const;
      expectError(
        caught(() => db.get('b003')),
        where,
      );
      expectError(
        caught(() => db.get('b003')),
        where,
      ); // not cached as good
      expectError(
        caught(() => scanAll(db)),
        where,
      );
      expectError(
        caught(() => scanAll(db, { reverse: true })),
        where,
      );
      // T3 is newer than T2: found before T2 is consulted. T1 keys pass T2's bloom filter,
      // which says "absent" for them without touching the data block.
      for (const key of ['c000', 'c009', 'a000', 'a100', 'a199']) {
        expect(text(db.get(key)), key).toBe(fixture.expected.get(key));
      }
      // A forward scan from c000 never reads T2's block: T2's index separator is the short
      // successor "c" of b009, below every c000 lookup key. (From "c" itself it would be read.)
      expect(scanAll(db, { gte: 'c000' })).toEqual([...fixture.expected.keys()].slice(210));
    } finally {
      await db.close();
    }
    restore();
    await expectIntact(fixture.dir);
  });

  test.each([
    ['inside the contents', (size: number) => Math.floor(size / 2)],
    ['the compression byte', (size: number) => size],
    ['the block CRC', (size: number) => size + 2],
  ])('T1 block 1, %s: exactly that block’s keys throw, naming its offset', async (_, at) => {
    const [t1] = fixture.tables;
    const blocks = t1.layout.dataBlocks;
    const damaged = blocks[1]!;
    const restore = flipByte(t1.path, damaged.offsetBytes + at(damaged.sizeBytes));
    const db = await Strata.open(fixture.dir, OPTIONS);
    try {
      const damagedKeys = new Set(damaged.userKeys);
      expect(damagedKeys.size).toBeGreaterThan(0);
      for (const [key, value] of fixture.expected) {
        if (!damagedKeys.has(key)) {
          expect(text(db.get(key)), key).toBe(value);
          continue;
        }
        expectError(
          caught(() => db.get(key)),
          { code: 'ERR_CORRUPT', file: t1.path, offset: damaged.offsetBytes },
        );
      }
      expectError(
        caught(() => scanAll(db)),
        { code: 'ERR_CORRUPT', file: t1.path, offset: damaged.offsetBytes },
      );
      // A scan that stays inside block 0 never reaches block 1.
      const firstBlockKeys = blocks[0]!.userKeys;
      expect(scanAll(db, { limit: firstBlockKeys.length - 1 })).toEqual(
        firstBlockKeys.slice(0, -1),
      );
    } finally {
      await db.close();
    }
    restore();
    await expectIntact(fixture.dir);
  });
});

describe('a damaged footer, index, filter or properties block fails open', () => {
  // Which byte of T2 to flip, and the offset the error must name.
  const cases: [string, (layout: TableLayout) => { at: number; named: number }][] = [
    ['footer magic', (l) => ({ at: l.sizeBytes - 1, named: l.footerOffsetBytes })],
    ['footer CRC', (l) => ({ at: l.footerOffsetBytes + 52, named: l.footerOffsetBytes })],
    ['footer version', (l) => ({ at: l.footerOffsetBytes + 48, named: l.footerOffsetBytes })],
    ['footer index handle', (l) => ({ at: l.footerOffsetBytes, named: l.footerOffsetBytes })],
    [
      'index block',
      (l) => ({ at: l.footer.index.offsetBytes + 1, named: l.footer.index.offsetBytes }),
    ],
    [
      'index block CRC',
      (l) => ({
        at: l.footer.index.offsetBytes + l.footer.index.sizeBytes + 1,
        named: l.footer.index.offsetBytes,
      }),
    ],
    [
      'filter block',
      (l) => ({ at: l.footer.filter.offsetBytes, named: l.footer.filter.offsetBytes }),
    ],
    [
      'properties block',
      (l) => ({ at: l.footer.properties.offsetBytes + 2, named: l.footer.properties.offsetBytes }),
    ],
  ];
  test.each(cases)('%s', async (_, where) => {
    const [, t2] = fixture.tables;
    const { at, named } = where(t2.layout);
    const restore = flipByte(t2.path, at);
    await expectOpenFails({ code: 'ERR_CORRUPT', file: t2.path, offset: named });
    restore();
    await expectIntact(fixture.dir);
  });
});

describe('a truncated table fails open', () => {
  test.each([
    ['by one byte', (size: number) => size - 1],
    ['to half', (size: number) => Math.floor(size / 2)],
    ['inside the footer', (size: number) => size - 40],
    ['to 10 bytes', () => 10],
    ['to nothing', () => 0],
  ])('%s', async (_, length) => {
    const [t1] = fixture.tables;
    const newSize = length(t1.layout.sizeBytes);
    const restore = truncate(t1.path, newSize);
    // The footer is read from the (new) end; a file shorter than a footer is named at byte 0.
    const named = newSize < 64 ? 0 : newSize - 64;
    await expectOpenFails({ code: 'ERR_CORRUPT', file: t1.path, offset: named });
    restore();
    await expectIntact(fixture.dir);
  });
});

describe('a damaged catalog fails open', () => {
  // Catalog errors name the file by its name inside the catalog folder (`in CURRENT at byte 0`).
  const current = (): string => join(fixture.catalogDir, 'CURRENT');
  const manifestName = (): string => {
    const names = readdirSync(fixture.catalogDir).filter((name) => name.startsWith('MANIFEST-'));
    expect(names).toHaveLength(1);
    return names[0]!;
  };
  const manifest = (): string => join(fixture.catalogDir, manifestName());

  test.each([
    ['magic', 0, 0],
    ['header CRC', 12, 12],
    ['record CRC', 16 + 4, 16],
    ['generation', 16 + 9, 16],
  ])('CURRENT %s', async (_, at, named) => {
    const restore = flipByte(current(), at);
    await expectOpenFails({ code: 'ERR_CORRUPT', file: 'in CURRENT', offset: named });
    restore();
    await expectIntact(fixture.dir);
  });

  // Version 0 is corrupt; a newer version is refused as such (FORMAT.md "Version rules").
  test.each([
    [0, 'ERR_CORRUPT'],
    [91, 'ERR_FORMAT_VERSION'],
  ] as const)('CURRENT format version %i', async (version, code) => {
    const restore = damage(current(), (bytes) => {
      new DataView(bytes.buffer, bytes.byteOffset).setUint32(8, version, true);
    });
    await expectOpenFails({ code, file: 'CURRENT' });
    restore();
    await expectIntact(fixture.dir);
  });

  test('CURRENT cut short', async () => {
    const restore = truncate(current(), 20);
    await expectOpenFails({ code: 'ERR_CORRUPT', file: 'in CURRENT' });
    restore();
    await expectIntact(fixture.dir);
  });

  test('CURRENT missing while tables exist', async () => {
    const original = readFileSync(current());
    rmSync(current());
    await expectOpenFails({ code: 'ERR_CORRUPT' });
    writeFileSync(current(), original);
    await expectIntact(fixture.dir);
  });

  test('MANIFEST magic and header CRC', async () => {
    for (const [at, named] of [
      [0, 0],
      [12, 12],
    ] as const) {
      const restore = flipByte(manifest(), at);
      await expectOpenFails({ code: 'ERR_CORRUPT', file: `in ${manifestName()}`, offset: named });
      restore();
    }
    await expectIntact(fixture.dir);
  });

  test('MANIFEST: every record but the last, flipped anywhere, is corruption', async () => {
    const records = recordOffsets(readFileSync(manifest()));
    expect(records.length).toBeGreaterThanOrEqual(7); // create, then freeze + flush three times
    for (const record of records.slice(0, -1)) {
      for (const at of [record.offset, record.offset + 4, record.offset + 8, record.end - 1]) {
        const restore = flipByte(manifest(), at);
        await expectOpenFails({
          code: 'ERR_CORRUPT',
          file: `in ${manifestName()}`,
          offset: record.offset,
        });
        restore();
      }
    }
    await expectIntact(fixture.dir);
  });
});

// A flipped byte in the MANIFEST's last record passes for a torn tail (it may be one), so the
// catalog drops that flush's commit; the image no longer has the flushed memtable, so open fails
// with ERR_CORRUPT. Open checks the catalog against the image before it removes anything, so the
// flush's table is still there and putting the bytes back restores the database.
test('MANIFEST last record flipped: open fails and destroys nothing', async () => {
  const path = join(fixture.catalogDir, 'MANIFEST-000001');
  const last = recordOffsets(readFileSync(path)).at(-1)!;
  const before = readdirSync(fixture.catalogDir);
  const restore = flipByte(path, last.end - 1);
  expectError(await caughtAsync(() => Strata.open(fixture.dir, OPTIONS)), {
    code: 'ERR_CORRUPT',
  });
  expect(readdirSync(fixture.catalogDir)).toEqual(before); // fails: 000003.sst is gone
  restore();
  await expectIntact(fixture.dir);
});

describe('a damaged NVM superblock fails open', () => {
  const image = (): string => join(fixture.dir, IMAGE_FILE_NAME);
  test.each([
    ['garbage over the magic', 0, 'ERR_NVM_FOREIGN'],
    ['garbage over the static fields', 16, 'ERR_CORRUPT'],
    ['garbage over the static CRC', 56, 'ERR_CORRUPT'],
  ] as const)('%s', async (_, at, code) => {
    const restore = damage(image(), (bytes) => {
      for (let index = 0; index < 8; index++) bytes[at + index] = 0xa5 ^ (index * 37);
    });
    await expectOpenFails({ code, file: image() });
    restore();
    await expectIntact(fixture.dir);
  });
});

/** The records after a catalog file's 16-byte header: [offset, end) of each. */
function recordOffsets(bytes: Uint8Array): { offset: number; end: number }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: { offset: number; end: number }[] = [];
  for (let offset = 16; offset < bytes.length; ) {
    const end = offset + 9 + view.getUint32(offset, true);
    expect(end).toBeLessThanOrEqual(bytes.length);
    records.push({ offset, end });
    offset = end;
  }
  return records;
}
