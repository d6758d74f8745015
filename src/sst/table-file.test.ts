/**
 * Table files are read through a private mapping where the addon offers one, else with pread:
 * both paths return the same bytes, refuse reads past the end, keep views valid after close, and
 * report a flipped byte as ERR_CORRUPT.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { loadNativeAddon } from '../../nvm/native-addon.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { isStrataError } from '../errors.js';
import { BlockCache } from './block-cache.js';
import { TableFile } from './table-file.js';
import { TableReader } from './table-reader.js';
import { buildTable, entry } from './testing/table-fixtures.js';

const folder = makeTempFolder('sst-file');
afterAll(() => folder.remove());

const addon = loadNativeAddon();
const canMap = addon.ok && addon.addon.mapFile !== undefined;

function withMmap<T>(mode: 'on' | 'off', action: () => T): T {
  const before = process.env['STRATA_TABLE_MMAP'];
  if (mode === 'off') process.env['STRATA_TABLE_MMAP'] = 'off';
  else delete process.env['STRATA_TABLE_MMAP'];
  try {
    return action();
  } finally {
    if (before === undefined) delete process.env['STRATA_TABLE_MMAP'];
    else process.env['STRATA_TABLE_MMAP'] = before;
  }
}

const entries = Array.from({ length: 300 }, (_, index) =>
  entry(`key${String(index).padStart(4, '0')}`, 1, 1, `value-${index}`.repeat(5)),
);

describe.each(['on', 'off'] as const)('table file, mmap %s', (mode) => {
  test('reads the same bytes as the file holds, and every entry through a reader', () => {
    const path = folder.file(`same-${mode}.sst`);
    buildTable(path, entries, { blockSizeBytes: 512 });
    const bytes = readFileSync(path);
    withMmap(mode, () => {
      const file = TableFile.open(path);
      try {
        expect(file.isMapped).toBe(mode === 'on' && canMap);
        expect(file.read(0, bytes.length)).toEqual(new Uint8Array(bytes));
        expect(file.read(100, 50)).toEqual(new Uint8Array(bytes.subarray(100, 150)));
        let caught: unknown;
        try {
          file.read(bytes.length - 10, 11);
        } catch (error) {
          caught = error;
        }
        expect(isStrataError(caught, 'ERR_CORRUPT'), String(caught)).toBe(true);
        const view = file.read(0, 16);
        file.close();
        // A view handed out stays valid after close (cached blocks keep theirs).
        expect(view).toEqual(new Uint8Array(bytes.subarray(0, 16)));
      } finally {
        file.close();
      }
      const reader = TableReader.open(path, {
        fileNumber: 7,
        cache: new BlockCache({ capacityBytes: 1 << 20 }),
      });
      try {
        for (const { key, value } of entries) {
          const userKey = key.subarray(0, key.length - 8);
          expect(reader.get(userKey, 1)?.value).toEqual(value);
        }
      } finally {
        reader.close();
      }
    });
  });

  test('a flipped data byte is ERR_CORRUPT naming the file', () => {
    const path = folder.file(`flip-${mode}.sst`);
    buildTable(path, entries, { blockSizeBytes: 512 });
    const bytes = readFileSync(path);
    bytes[40] = bytes[40]! ^ 0xff;
    writeFileSync(path, bytes);
    withMmap(mode, () => {
      const reader = TableReader.open(path, {
        fileNumber: 8,
        cache: new BlockCache({ capacityBytes: 1 << 20 }),
      });
      try {
        let caught: unknown;
        try {
          reader.get(new TextEncoder().encode('key0000'), 1);
        } catch (error) {
          caught = error;
        }
        expect(isStrataError(caught, 'ERR_CORRUPT'), String(caught)).toBe(true);
        expect(String(caught)).toContain(path);
      } finally {
        reader.close();
      }
    });
  });
});
