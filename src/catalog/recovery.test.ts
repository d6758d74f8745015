/**
 * Open against damaged directories: corrupt records in the middle of the manifest and in
 * checkpoints (ERR_CORRUPT naming file and offset), torn tails (dropped and cut off), newer
 * format versions (ERR_FORMAT_VERSION), leftovers (removed) and missing files (refused).
 */
import { describe, expect, test } from 'vitest';
import { isStrataError } from '../errors.js';
import {
  AddBlobFile,
  Catalog,
  ChangeIndexState,
  CreateMemtable,
  FreezeMemtable,
} from './catalog.js';
import { CATALOG_FORMAT_VERSION, FILE_HEADER_BYTES } from './record-file.js';
import { bytesOf, writeTemp } from './testing/fixtures.js';
import { MemoryCatalogFs } from './testing/memory-fs.js';

const DIR = '/db';
const MANIFEST = `${DIR}/MANIFEST-000001`;
const CHECKPOINT = `${DIR}/CATALOG-000001`;

/** A catalog whose manifest holds three edits: create memtable 1, freeze it, freeze 2. */
async function threeEdits(): Promise<MemoryCatalogFs> {
  const fs = new MemoryCatalogFs();
  const catalog = await Catalog.open(DIR, { fs });
  const snapshot = catalog.getSnapshot();
  await new CreateMemtable(snapshot, { locator: 10 }).push().waitDone();
  await new FreezeMemtable(snapshot, { memtableId: 1, nextLocator: 20 }).push().waitDone();
  await new FreezeMemtable(snapshot, { memtableId: 2, nextLocator: 30 }).push().waitDone();
  snapshot.release();
  await catalog.close();
  return fs;
}

/** Offsets of the records of a catalog file. */
function recordOffsets(bytes: Uint8Array): number[] {
  const offsets: number[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let offset = FILE_HEADER_BYTES; offset < bytes.length; ) {
    offsets.push(offset);
    offset += 9 + view.getUint32(offset, true);
  }
  return offsets;
}

async function rewrite(
  fs: MemoryCatalogFs,
  path: string,
  change: (bytes: Uint8Array) => Uint8Array,
) {
  await fs.writeFile(path, change(await fs.readFile(path)));
  await fs.fsyncFile(path);
}

async function openError(fs: MemoryCatalogFs): Promise<Error & { code?: string }> {
  return Catalog.open(DIR, { fs }).then(
    () => {
      throw new Error('open succeeded');
    },
    (error: Error) => error,
  );
}

async function versionAfterOpen(fs: MemoryCatalogFs): Promise<number> {
  const catalog = await Catalog.open(DIR, { fs });
  const snapshot = catalog.getSnapshot();
  const version = snapshot.version;
  snapshot.release();
  await catalog.close();
  return version;
}

describe('manifest damage', () => {
  test('a corrupt record before the tail is ERR_CORRUPT naming the manifest and offset', async () => {
    const fs = await threeEdits();
    const offsets = recordOffsets(await fs.readFile(MANIFEST));
    expect(offsets).toHaveLength(3);
    await rewrite(fs, MANIFEST, (bytes) => {
      bytes[offsets[1]! + 12]! ^= 0x40;
      return bytes;
    });
    const error = await openError(fs);
    expect(isStrataError(error, 'ERR_CORRUPT'), String(error)).toBe(true);
    expect(error.message).toContain('MANIFEST-000001');
    expect(error.message).toContain(`at byte ${offsets[1]}`);
  });

  test('a corrupt length field before the tail is not mistaken for a torn tail', async () => {
    const fs = await threeEdits();
    const offsets = recordOffsets(await fs.readFile(MANIFEST));
    await rewrite(fs, MANIFEST, (bytes) => {
      bytes[offsets[0]! + 3] = 0x7f; // the length now points far past the end of the file
      return bytes;
    });
    const error = await openError(fs);
    expect(isStrataError(error, 'ERR_CORRUPT'), String(error)).toBe(true);
    expect(error.message).toContain(`MANIFEST-000001 at byte ${offsets[0]}`);
  });

  test('an edit that passes its CRC but does not apply is ERR_CORRUPT', async () => {
    const fs = await threeEdits();
    const offsets = recordOffsets(await fs.readFile(MANIFEST));
    await rewrite(fs, MANIFEST, (bytes) => {
      const first = bytes.slice(offsets[0], offsets[1]);
      return Buffer.concat([bytes.subarray(0, offsets[1]), first, bytes.subarray(offsets[1])]);
    });
    const error = await openError(fs);
    expect(isStrataError(error, 'ERR_CORRUPT'), String(error)).toBe(true);
    expect(error.message).toMatch(/edit does not apply .* in MANIFEST-000001 at byte/);
  });

  test.each([1, 5, 9, 12])('a tail torn %i bytes short is dropped, then cut off', async (cut) => {
    const fs = await threeEdits();
    const bytes = await fs.readFile(MANIFEST);
    const offsets = recordOffsets(bytes);
    await rewrite(fs, MANIFEST, () => bytes.subarray(0, bytes.length - cut));
    expect(await versionAfterOpen(fs)).toBe(2);
    expect((await fs.stat(MANIFEST))?.sizeBytes).toBe(offsets[2]);
    // The next append follows the last whole record, and a second open replays all of it.
    const catalog = await Catalog.open(DIR, { fs });
    const snapshot = catalog.getSnapshot();
    expect(snapshot.mutableMemtable()?.id).toBe(2);
    await new FreezeMemtable(snapshot, { memtableId: 2, nextLocator: 40 }).push().waitDone();
    snapshot.release();
    await catalog.close();
    expect(await versionAfterOpen(fs)).toBe(3);
  });

  test.each([
    ['zeros', new Uint8Array(40)],
    ['garbage', bytesOf('\u0007garbage from a crashed append')],
  ])('%s after the last record are dropped', async (_name, tail) => {
    const fs = await threeEdits();
    await rewrite(fs, MANIFEST, (bytes) => Buffer.concat([bytes, tail]));
    expect(await versionAfterOpen(fs)).toBe(3);
  });

  test('a whole last record with a bad CRC counts as torn', async () => {
    const fs = await threeEdits();
    const offsets = recordOffsets(await fs.readFile(MANIFEST));
    await rewrite(fs, MANIFEST, (bytes) => {
      bytes[offsets[2]! + 10]! ^= 1;
      return bytes;
    });
    expect(await versionAfterOpen(fs)).toBe(2);
  });
});

describe('checkpoints, CURRENT and versions', () => {
  test('a corrupt checkpoint is ERR_CORRUPT naming it', async () => {
    const fs = await threeEdits();
    await rewrite(fs, CHECKPOINT, (bytes) => {
      bytes[bytes.length - 3]! ^= 0xff;
      return bytes;
    });
    const error = await openError(fs);
    expect(isStrataError(error, 'ERR_CORRUPT'), String(error)).toBe(true);
    expect(error.message).toMatch(/CATALOG-000001 at byte \d+/);
  });

  test.each(['CURRENT', 'CATALOG-000001', 'MANIFEST-000001'])(
    'a newer format version in %s is refused',
    async (name) => {
      const fs = await threeEdits();
      await rewrite(fs, `${DIR}/${name}`, (bytes) => {
        bytes[8] = CATALOG_FORMAT_VERSION + 1;
        return bytes;
      });
      const error = await openError(fs);
      expect(isStrataError(error, 'ERR_FORMAT_VERSION'), String(error)).toBe(true);
      expect(error.message).toContain(
        `${name} has catalog format version ${CATALOG_FORMAT_VERSION + 1}`,
      );
    },
  );

  test('a file with a foreign magic is ERR_CORRUPT at byte 0', async () => {
    const fs = await threeEdits();
    await rewrite(fs, `${DIR}/CURRENT`, (bytes) => {
      bytes[0] = 0x41;
      return bytes;
    });
    const error = await openError(fs);
    expect(isStrataError(error, 'ERR_CORRUPT')).toBe(true);
    expect(error.message).toMatch(/bad magic .* in CURRENT at byte 0/);
  });

  test('versions carry on across checkpoints and reopen', async () => {
    const fs = await threeEdits();
    const catalog = await Catalog.open(DIR, { fs, checkpointEveryEdits: 1 });
    const snapshot = catalog.getSnapshot();
    await new ChangeIndexState(snapshot, { name: 'f', state: 'building' }).push().waitDone();
    await catalog.whenIdle();
    expect(await fs.readdir(DIR)).toEqual(['CATALOG-000002', 'CURRENT', 'MANIFEST-000002']);
    snapshot.release();
    await catalog.close();
    expect(await versionAfterOpen(fs)).toBe(4);
  });
});

describe('the directory', () => {
  test('open removes temp files, unreferenced tables and old generations, and keeps the rest', async () => {
    const fs = await threeEdits();
    const catalog = await Catalog.open(DIR, { fs });
    const tempPath = await writeTemp(catalog, fs, bytesOf('blob'));
    const snapshot = catalog.getSnapshot();
    await new AddBlobFile(snapshot, { tempPath, sizeBytes: 4 }).push().waitDone();
    snapshot.release();
    await catalog.close();
    for (const name of ['x.tmp', '000007.sst', '000001.sst', '000009.blob', 'CATALOG-000000']) {
      await fs.writeFile(`${DIR}/${name}`, bytesOf('leftover'));
    }
    await fs.writeFile(`${DIR}/MANIFEST-000003`, bytesOf('leftover'));
    await fs.writeFile(`${DIR}/LOCK`, bytesOf('not ours'));
    await fs.writeFile(`${DIR}/1.sst`, bytesOf('not ours either'));
    expect(await versionAfterOpen(fs)).toBe(4);
    expect(await fs.readdir(DIR)).toEqual([
      '000001.blob',
      '1.sst',
      'CATALOG-000001',
      'CURRENT',
      'LOCK',
      'MANIFEST-000001',
    ]);
  });

  test('a referenced file that is missing is ERR_CORRUPT naming it', async () => {
    const fs = await threeEdits();
    const catalog = await Catalog.open(DIR, { fs });
    const tempPath = await writeTemp(catalog, fs, bytesOf('blob'));
    const snapshot = catalog.getSnapshot();
    await new AddBlobFile(snapshot, { tempPath, sizeBytes: 4 }).push().waitDone();
    snapshot.release();
    await catalog.close();
    await fs.unlink(`${DIR}/000001.blob`);
    const error = await openError(fs);
    expect(isStrataError(error, 'ERR_CORRUPT')).toBe(true);
    expect(error.message).toContain('000001.blob, which is missing');
  });

  test('without CURRENT, only a crashed creation may be started afresh', async () => {
    const fs = new MemoryCatalogFs();
    await fs.mkdir(DIR);
    await fs.writeFile(CHECKPOINT, bytesOf('whatever a crash left'));
    await fs.writeFile(`${DIR}/CURRENT.tmp`, bytesOf('half'));
    expect(await versionAfterOpen(fs)).toBe(0);
    expect(await fs.readdir(DIR)).toEqual(['CATALOG-000001', 'CURRENT', 'MANIFEST-000001']);

    for (const [damage, culprit] of [
      ['000004.sst', '000004.sst'],
      ['MANIFEST-000001', 'MANIFEST-000001'],
    ] as const) {
      const other = await threeEdits();
      await other.unlink(`${DIR}/CURRENT`);
      if (damage.endsWith('.sst')) await other.writeFile(`${DIR}/${damage}`, bytesOf('table'));
      const error = await openError(other);
      expect(isStrataError(error, 'ERR_CORRUPT')).toBe(true);
      expect(error.message).toContain(`CURRENT is missing but ${culprit}`);
    }
  });
});
