/**
 * The catalog's byte formats. Golden dumps in testdata/format/ pin the bytes of a manifest, a
 * checkpoint and CURRENT as FORMAT.md describes them; a change there is a format change (bump
 * CATALOG_FORMAT_VERSION rather than editing a dump). UPDATE_TESTDATA=1 rewrites the dumps.
 * Random edits and states survive an encode/decode round trip.
 *
 * testdata/format/v1/ holds whole directories that format version 1 wrote (inputs, never
 * rewritten): one without indexes opens and is upgraded by its first write; ones with an index
 * entry are refused.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isStrataError } from '../errors.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import {
  AddBlobFile,
  Catalog,
  ChangeIndexState,
  Checkpoint,
  CommitFlush,
  CommitIndexBuild,
  CreateMemtable,
  FreezeMemtable,
} from './catalog.js';
import { type CatalogEdit, makeEdit } from './catalog-edit.js';
import {
  type CatalogState,
  deepFreeze,
  emptyState,
  INDEX_ID_MAX,
  LEVEL_COUNT,
} from './catalog-state.js';
import { decodeEdit, decodeState, encodeEdit, encodeState } from './edit-codec.js';
import { CATALOG_FORMAT_VERSION } from './record-file.js';
import {
  bytesOf,
  describeState,
  indexTable,
  loadDirectoryDump,
  table,
  writeTemp,
} from './testing/fixtures.js';
import { MemoryCatalogFs } from './testing/memory-fs.js';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'format');
const DIR = '/db';
const SOURCE = { file: 'test', baseOffset: 0 };

test('golden files: a manifest with every operation, a checkpoint, CURRENT', async () => {
  const fs = new MemoryCatalogFs();
  const catalog = await Catalog.open(DIR, { fs });
  const snapshot = catalog.getSnapshot();
  await new CreateMemtable(snapshot, { locator: 0x1122 }).push().waitDone();
  await new FreezeMemtable(snapshot, { memtableId: 1, nextLocator: 0x3344 }).push().waitDone();
  const bytes = bytesOf('sst');
  const tempPath = await writeTemp(catalog, fs, bytes);
  const properties = table({ low: 0x61, high: 0x7a, seqMin: 5, seqMax: 2 ** 40, sizeBytes: 3 });
  await new CommitFlush(snapshot, { memtableId: 1, tempPath, table: properties }).push().waitDone();
  const blobPath = await writeTemp(catalog, fs, bytes);
  await new AddBlobFile(snapshot, { tempPath: blobPath, sizeBytes: 3 }).push().waitDone();
  const author = await new ChangeIndexState(snapshot, { name: 'author', state: 'building' })
    .push()
    .waitDone();
  expect(author).toEqual({ name: 'author', id: 3, state: 'building' });
  const buildPath = await writeTemp(catalog, fs, bytes);
  const entries = indexTable({ id: 3, low: 0x61, high: 0x62, seqMin: 7, sizeBytes: 3 });
  const build = await new CommitIndexBuild(snapshot, {
    name: 'author',
    id: 3,
    outputs: [{ tempPath: buildPath, table: entries }],
  })
    .push()
    .waitDone();
  expect(build.level).toBe(6);
  await new ChangeIndexState(snapshot, { name: 'title', state: 'building' }).push().waitDone();
  await new ChangeIndexState(snapshot, { name: 'title', state: 'dropping' }).push().waitDone();
  expectGolden('manifest.hex', hexDump(await fs.readFile(`${DIR}/MANIFEST-000001`)));
  await new Checkpoint(snapshot).push().waitDone();
  expectGolden('checkpoint.hex', hexDump(await fs.readFile(`${DIR}/CATALOG-000002`)));
  expectGolden('current.hex', hexDump(await fs.readFile(`${DIR}/CURRENT`)));
  snapshot.release();
  await catalog.close();
});

const u64 = fc.oneof(fc.nat({ max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER));
const key = fc.uint8Array({ maxLength: 12 });
const fileMeta = fc.record({
  fileNumber: u64,
  level: fc.integer({ min: 0, max: LEVEL_COUNT - 1 }),
  sizeBytes: u64,
  entryCount: u64,
  smallest: key,
  largest: key,
  seqMin: u64,
  seqMax: u64,
});
const blobMeta = fc.record({ fileNumber: u64, sizeBytes: u64, garbageBytes: u64 });
const indexMeta = fc.record({
  name: fc.string({ minLength: 1, maxLength: 8 }).filter((name) => name.isWellFormed()),
  id: fc.oneof(fc.nat({ max: 1000 }), fc.constant(INDEX_ID_MAX)),
  state: fc.constantFrom('building' as const, 'ready' as const, 'dropping' as const),
});

const editArbitrary: fc.Arbitrary<CatalogEdit> = fc
  .record(
    {
      version: u64,
      memtablesAdded: fc.array(fc.record({ id: u64, locator: u64 }), { maxLength: 2 }),
      memtablesFrozen: fc.array(u64, { maxLength: 2 }),
      memtablesRemoved: fc.array(u64, { maxLength: 2 }),
      filesRemoved: fc.array(
        fc.record({ level: fc.integer({ min: 0, max: 6 }), fileNumber: u64 }),
        {
          maxLength: 3,
        },
      ),
      filesAdded: fc.array(fileMeta, { maxLength: 3 }),
      blobFilesRemoved: fc.array(u64, { maxLength: 2 }),
      blobFilesAdded: fc.array(blobMeta, { maxLength: 2 }),
      blobGarbage: fc.array(fc.record({ fileNumber: u64, garbageBytes: u64 }), { maxLength: 2 }),
      indexesRemoved: fc.array(
        indexMeta.map((index) => index.name),
        { maxLength: 2 },
      ),
      indexesSet: fc.array(indexMeta, { maxLength: 2 }),
      nextFileNumber: u64,
      nextMemtableId: u64,
      lastSequence: u64,
    },
    { requiredKeys: ['version'] },
  )
  .map(({ version, ...parts }) => makeEdit(version, parts));

const stateArbitrary: fc.Arbitrary<CatalogState> = fc
  .record({
    version: u64,
    nextFileNumber: u64,
    nextMemtableId: u64,
    lastSequence: u64,
    memtables: fc.array(
      fc.record({
        id: u64,
        state: fc.constantFrom('mutable' as const, 'immutable' as const),
        locator: u64,
      }),
      { maxLength: 3 },
    ),
    files: fc.array(fileMeta, { maxLength: 6 }),
    blobFiles: fc.array(blobMeta, { maxLength: 3 }),
    indexes: fc.array(indexMeta, { maxLength: 3 }),
  })
  .map(({ files, ...rest }) => {
    const levels = Array.from({ length: LEVEL_COUNT }, (_unused, level) =>
      files.filter((file) => file.level === level),
    );
    return deepFreeze({ ...rest, levels });
  });

test('edits and states survive a round trip', () => {
  fc.assert(
    fc.property(editArbitrary, (edit) => {
      expect(decodeEdit(encodeEdit(edit), SOURCE, CATALOG_FORMAT_VERSION)).toEqual(edit);
    }),
  );
  fc.assert(
    fc.property(stateArbitrary, (state) => {
      expect(decodeState(encodeState(state), SOURCE, CATALOG_FORMAT_VERSION)).toEqual(state);
    }),
  );
});

test('out-of-range values are refused on both sides', () => {
  expect(() => new ByteWriter().u64(2 ** 53)).toThrow(/u64 out of safe range/);
  expect(() => new ByteWriter().u8(256)).toThrow(/u8 out of range/);
  const tooLarge = new Uint8Array(8).fill(0xff);
  const error = captureError(() =>
    new ByteReader(tooLarge, { file: 'F', baseOffset: 100 }).u64('n'),
  );
  expect(isStrataError(error, 'ERR_CORRUPT')).toBe(true);
  expect(String(error)).toContain('n exceeds 2^53 in F at byte 100');
  const unknownTag = new ByteWriter().u64(1).u8(99).finish();
  expect(() =>
    decodeEdit(unknownTag, { file: 'M', baseOffset: 20 }, CATALOG_FORMAT_VERSION),
  ).toThrow(/unknown edit tag 99 in M at byte 29/);
  expect(() => new ByteWriter().u32(2 ** 32)).toThrow(/u32 out of range/);
});

test('version-1 payloads: the same layout without indexes, any index entry refused', () => {
  const plain = makeEdit(7, { memtablesAdded: [{ id: 3, locator: 9 }], nextMemtableId: 4 });
  expect(decodeEdit(encodeEdit(plain), SOURCE, 1)).toEqual(plain);
  for (const parts of [
    { indexesSet: [{ name: 'f', id: 1, state: 'building' as const }], nextFileNumber: 2 },
    { indexesRemoved: ['f'] },
  ]) {
    const payload = encodeEdit(makeEdit(7, parts));
    const error = captureError(() => decodeEdit(payload, { file: 'M', baseOffset: 100 }, 1));
    expect(isStrataError(error, 'ERR_CORRUPT'), String(error)).toBe(true);
    // The version (8 bytes) and the tag (1) come before the offset named.
    expect(String(error)).toMatch(/version-1 catalogs cannot hold indexes.* in M at byte 109$/);
  }
  const withIndex = deepFreeze({
    ...emptyState(),
    nextFileNumber: 2,
    indexes: [{ name: 'f', id: 1, state: 'ready' as const }],
  });
  expect(() => decodeState(encodeState(withIndex), SOURCE, 1)).toThrow(
    /version-1 catalogs cannot hold indexes/,
  );
  expect(decodeState(encodeState(emptyState()), SOURCE, 1)).toEqual(emptyState());
});

describe('version-1 directories', () => {
  test('one without indexes opens; its first write starts a version-2 generation', async () => {
    const fs = await loadDirectoryDump(DIR, join(TESTDATA, 'v1', 'no-indexes.dir'));
    const catalog = await Catalog.open(DIR, { fs });
    let snapshot = catalog.getSnapshot();
    const before = describeState(snapshot.state);
    expect(snapshot.version).toBe(7);
    expect(snapshot.memtables).toEqual([{ id: 3, state: 'mutable', locator: 0x5566 }]);
    expect(snapshot.levels.map((level) => level.map((file) => file.fileNumber))).toEqual([
      [3],
      [1],
      [],
      [],
      [],
      [],
      [],
    ]);
    expect(snapshot.blobFiles.map((blob) => blob.fileNumber)).toEqual([2]);
    expect(snapshot.indexes).toEqual([]);
    snapshot.release();
    // Opening alone writes nothing: the files stay version 1.
    expect(await headerVersions(fs)).toEqual({
      'CATALOG-000002': 1,
      CURRENT: 1,
      'MANIFEST-000002': 1,
    });
    snapshot = catalog.getSnapshot();
    const index = await new ChangeIndexState(snapshot, { name: 'f', state: 'building' })
      .push()
      .waitDone();
    expect(index).toEqual({ name: 'f', id: 4, state: 'building' });
    snapshot.release();
    await catalog.close();
    expect(await headerVersions(fs)).toEqual({
      'CATALOG-000003': 2,
      CURRENT: 2,
      'MANIFEST-000003': 2,
    });
    // The new checkpoint holds the state before the edit, the new manifest the edit.
    const again = await Catalog.open(DIR, { fs });
    const latest = again.getSnapshot();
    expect(latest.version).toBe(8);
    expect(latest.indexes).toEqual([index]);
    expect(describeState({ ...latest.state, version: 7, nextFileNumber: 4, indexes: [] })).toBe(
      before,
    );
    latest.release();
    await again.close();
  });

  test.each([
    ['index-in-manifest.dir', /MANIFEST-000001 at byte 77$/],
    ['index-in-checkpoint.dir', /CATALOG-000002 at byte \d+$/],
  ])('%s is refused as corrupt, naming file and byte', async (name, where) => {
    const fs = await loadDirectoryDump(DIR, join(TESTDATA, 'v1', name));
    const error = await Catalog.open(DIR, { fs }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isStrataError(error, 'ERR_CORRUPT'), String(error)).toBe(true);
    expect(String(error)).toContain('version-1 catalogs cannot hold indexes');
    expect(String(error)).toMatch(where);
  });
});

/** The formatVersion in the header of each catalog file (byte 8, u32 little-endian). */
async function headerVersions(fs: MemoryCatalogFs): Promise<Record<string, number>> {
  const versions: Record<string, number> = {};
  for (const [name, bytes] of fs.files(DIR)) {
    if (!/^(CURRENT|CATALOG-|MANIFEST-)/.test(name)) continue;
    versions[name] = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  }
  return versions;
}

function captureError(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Rows of 16 bytes as `offset: hex  ascii`. */
function hexDump(bytes: Uint8Array): string {
  const rows: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = [...bytes.subarray(offset, offset + 16)];
    const hex = row.map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
    const ascii = row
      .map((byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.'))
      .join('');
    rows.push(`${offset.toString(16).padStart(6, '0')}: ${hex.padEnd(47)}  ${ascii}`);
  }
  return `${rows.join('\n')}\n`;
}

function expectGolden(name: string, actual: string): void {
  const path = join(TESTDATA, name);
  if (process.env['UPDATE_TESTDATA'] === '1' || !existsSync(path)) {
    mkdirSync(TESTDATA, { recursive: true });
    writeFileSync(path, actual);
  }
  expect(actual).toBe(readFileSync(path, 'utf8'));
}
