/**
 * The catalog's byte formats. Golden dumps in testdata/format/ pin the bytes of a manifest, a
 * checkpoint and CURRENT as FORMAT.md describes them; a change there is a format change (bump
 * CATALOG_FORMAT_VERSION rather than editing a dump). UPDATE_TESTDATA=1 rewrites the dumps.
 * Random edits and states survive an encode/decode round trip.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { isStrataError } from '../errors.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import {
  AddBlobFile,
  Catalog,
  ChangeIndexState,
  Checkpoint,
  CommitFlush,
  CreateMemtable,
  FreezeMemtable,
} from './catalog.js';
import { type CatalogEdit, makeEdit } from './catalog-edit.js';
import { type CatalogState, deepFreeze, LEVEL_COUNT } from './catalog-state.js';
import { decodeEdit, decodeState, encodeEdit, encodeState } from './edit-codec.js';
import { bytesOf, table, writeTemp } from './testing/fixtures.js';
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
  await new ChangeIndexState(snapshot, { name: 'author', state: 'building' }).push().waitDone();
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
      expect(decodeEdit(encodeEdit(edit), SOURCE)).toEqual(edit);
    }),
  );
  fc.assert(
    fc.property(stateArbitrary, (state) => {
      expect(decodeState(encodeState(state), SOURCE)).toEqual(state);
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
  expect(() => decodeEdit(unknownTag, { file: 'M', baseOffset: 20 })).toThrow(
    /unknown edit tag 99 in M at byte 29/,
  );
});

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
