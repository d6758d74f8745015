import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { isStrataError } from '../errors.js';
import { PmEHash } from './pm-ehash.js';

const BACKENDS = ['mapped', 'emulated'] as const;
const SIZE = 64 << 20;

describe.each(BACKENDS)('PmEHash on the %s backend', (backend) => {
  let temp: ReturnType<typeof makeTempFolder>;
  const open = () => PmEHash.open(temp.path, { backend, sizeMaxBytes: SIZE });

  beforeEach(() => {
    temp = makeTempFolder('ehash');
  });
  afterEach(() => temp.remove());

  // The course's five gtest cases.
  test('InsertTest.SingleInsert', () => {
    const table = open();
    expect(table.insert(1n, 1n)).toBe(true);
    expect(table.search(1n)).toBe(1n);
    expect(table.search(0n)).toBeUndefined();
    table.close();
  });

  test('InsertTest.DuplicateInsert', () => {
    const table = open();
    expect(table.insert(1n, 1n)).toBe(true);
    expect(table.insert(1n, 1n)).toBe(false);
    expect(table.size).toBe(1);
    table.close();
  });

  test('UpdateTest.SingleUpdate', () => {
    const table = open();
    expect(table.insert(1n, 1n)).toBe(true);
    expect(table.update(1n, 2n)).toBe(true);
    expect(table.search(1n)).toBe(2n);
    expect(table.update(2n, 2n)).toBe(false);
    expect(table.search(2n)).toBeUndefined();
    table.close();
  });

  test('SearchTest.SingleSearch', () => {
    const table = open();
    table.insert(1n, 1n);
    expect(table.search(1n)).toBe(1n);
    table.close();
  });

  test('RemoveTest.SingleRemove', () => {
    const table = open();
    expect(table.insert(1n, 1n)).toBe(true);
    expect(table.insert(2n, 2n)).toBe(true);
    expect(table.remove(1n)).toBe(true);
    expect(table.remove(1n)).toBe(false);
    expect(table.search(1n)).toBeUndefined();
    expect(table.search(2n)).toBe(2n);
    table.close();
  });

  test('key 0 and 2^64-1 are ordinary keys and values', () => {
    const table = open();
    const max = 2n ** 64n - 1n;
    expect(table.insert(0n, max)).toBe(true);
    expect(table.insert(max, 0n)).toBe(true);
    expect(table.search(0)).toBe(max);
    expect(table.search(max)).toBe(0n);
    expect(table.update(max, max)).toBe(true);
    expect(table.search(max)).toBe(max);
    table.close();
  });

  test('out-of-range and non-integer keys and values throw typed errors', () => {
    const table = open();
    for (const key of [-1n, 2n ** 64n, -1, 1.5, Number.NaN, 2 ** 53, '1', null]) {
      expect(() => table.insert(key as bigint, 1n)).toThrow(
        expect.objectContaining({ code: 'ERR_KEY_RANGE' }),
      );
      expect(() => table.search(key as bigint)).toThrow(
        expect.objectContaining({ code: 'ERR_KEY_RANGE' }),
      );
    }
    for (const value of [-1n, 2n ** 64n, 0.5, undefined]) {
      expect(() => table.insert(5n, value as bigint)).toThrow(
        expect.objectContaining({ code: 'ERR_VALUE_RANGE' }),
      );
      expect(() => table.update(5n, value as bigint)).toThrow(
        expect.objectContaining({ code: 'ERR_VALUE_RANGE' }),
      );
    }
    expect(() => table.insertWords(2 ** 32, 0, 0, 0)).toThrow(
      expect.objectContaining({ code: 'ERR_KEY_RANGE' }),
    );
    expect(() => table.insertWords(0, 0, -1, 0)).toThrow(
      expect.objectContaining({ code: 'ERR_VALUE_RANGE' }),
    );
    expect(table.size).toBe(0);
    table.close();
    expect(() => table.search(1n)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
  });

  test('splits and doubles while growing, merges and halves while shrinking, across reopen', () => {
    let table = open();
    const keyCount = 20_000;
    for (let key = 0; key < keyCount; key++)
      expect(table.insertWords(key % 3, key, 0, key + 1)).toBe(true);
    const grown = table.stats();
    expect(grown.keys).toBe(keyCount);
    expect(grown.globalDepth).toBeGreaterThan(10);
    expect(grown.buckets).toBeGreaterThan(keyCount / 15);
    expect(grown.loadFactor).toBeGreaterThan(0.5);
    table.close();

    table = open();
    expect(table.stats()).toEqual(grown);
    const out = new Uint32Array(2);
    for (let key = 0; key < keyCount; key++) {
      expect(table.searchWords(key % 3, key, out)).toBe(true);
      expect(out[0]).toBe(key + 1);
    }
    for (let key = 0; key < keyCount; key++) expect(table.removeWords(key % 3, key)).toBe(true);
    const shrunk = table.stats();
    expect(shrunk.keys).toBe(0);
    expect(shrunk.buckets).toBeLessThan(grown.buckets / 4);
    expect(shrunk.globalDepth).toBeLessThan(grown.globalDepth);
    for (let key = 0; key < keyCount; key += 97)
      expect(table.searchWords(key % 3, key, out)).toBe(false);
    table.close();

    table = open();
    // Reopening returns bucket pages that merges emptied completely to the image.
    const { pages, imageBytes, ...rest } = table.stats();
    const { pages: _pages, imageBytes: _imageBytes, ...shrunkRest } = shrunk;
    expect(rest).toEqual(shrunkRest);
    expect(pages).toBeLessThanOrEqual(shrunk.pages);
    expect(imageBytes).toBeLessThanOrEqual(shrunk.imageBytes);
    expect(table.insert(42n, 43n)).toBe(true);
    expect(table.search(42n)).toBe(43n);
    table.close();
  });

  test('matches a Map oracle over random operations and reopens', () => {
    const key = fc.oneof(
      fc.bigInt({ min: 0n, max: 300n }),
      fc.constantFrom(0n, 2n ** 64n - 1n, 2n ** 32n, 2n ** 63n),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    );
    const value = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    const command = fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant('insert' as const), key, value }), weight: 5 },
      { arbitrary: fc.record({ kind: fc.constant('update' as const), key, value }), weight: 2 },
      { arbitrary: fc.record({ kind: fc.constant('remove' as const), key }), weight: 3 },
      { arbitrary: fc.record({ kind: fc.constant('search' as const), key }), weight: 3 },
      { arbitrary: fc.record({ kind: fc.constant('reopen' as const) }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(command, { maxLength: 400 }), (commands) => {
        const run = makeTempFolder('ehash-oracle');
        let table = PmEHash.open(run.path, { backend, sizeMaxBytes: SIZE });
        const oracle = new Map<bigint, bigint>();
        try {
          for (const step of commands) {
            switch (step.kind) {
              case 'insert':
                expect(table.insert(step.key, step.value)).toBe(!oracle.has(step.key));
                if (!oracle.has(step.key)) oracle.set(step.key, step.value);
                break;
              case 'update':
                expect(table.update(step.key, step.value)).toBe(oracle.has(step.key));
                if (oracle.has(step.key)) oracle.set(step.key, step.value);
                break;
              case 'remove':
                expect(table.remove(step.key)).toBe(oracle.delete(step.key));
                break;
              case 'search':
                expect(table.search(step.key)).toBe(oracle.get(step.key));
                break;
              case 'reopen':
                table.close();
                table = PmEHash.open(run.path, { backend });
                break;
            }
            expect(table.size).toBe(oracle.size);
          }
          for (const [k, v] of oracle) expect(table.search(k)).toBe(v);
        } finally {
          table.close();
          run.remove();
        }
      }),
      { numRuns: 40 },
    );
  });

  test('refuses a corrupted header and a header from a newer version', async () => {
    const table = open();
    table.insert(1n, 1n);
    const magicWord = table.headerWordIndexForTest(0);
    table.close();
    const { openSync, readSync, writeSync, closeSync } = await import('node:fs');
    const path = `${temp.path}/ehash.nvm`;
    const fd = openSync(path, 'r+');
    const word = Buffer.alloc(4);
    readSync(fd, word, 0, 4, magicWord * 4);
    writeSync(fd, Buffer.from([0, 0, 0, 0]), 0, 4, magicWord * 4);
    closeSync(fd);
    expect(() => open()).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT' }));
    const fd2 = openSync(path, 'r+');
    writeSync(fd2, word, 0, 4, magicWord * 4);
    const version = Buffer.alloc(4);
    version.writeUInt32LE(2);
    writeSync(fd2, version, 0, 4, magicWord * 4 + 4);
    closeSync(fd2);
    let caught: unknown;
    try {
      open();
    } catch (error) {
      caught = error;
    }
    expect(isStrataError(caught, 'ERR_NVM_VERSION')).toBe(true);
    expect(String((caught as Error).message)).toContain('newer');
  });
});

describe('tables inside an image another structure owns', () => {
  test('createIn, openIn, upsert, drop and orphan reclamation', async () => {
    const { NvmImage } = await import('../../nvm/image.js');
    const temp = makeTempFolder('ehash-in');
    const image = NvmImage.open(`${temp.path}/shared.nvm`, {
      backend: 'emulated',
      sizeMaxBytes: SIZE,
    });
    try {
      const first = PmEHash.createIn(image);
      const second = PmEHash.createIn(image);
      const a = PmEHash.openIn(image, first);
      const b = PmEHash.openIn(image, second);
      const previous = new Uint32Array(2);
      for (let key = 0; key < 3_000; key++)
        expect(a.upsertWords(0, key, 0, key, previous)).toBe(false);
      for (let key = 0; key < 3_000; key += 2) {
        expect(a.upsertWords(0, key, 1, key + 5, previous)).toBe(true);
        expect([previous[0], previous[1]]).toEqual([key, 0]);
      }
      expect(b.insert(7n, 8n)).toBe(true);
      expect(a.search(2)).toBe((1n << 32n) | 7n);
      expect(a.search(3)).toBe(3n);
      expect(b.search(2)).toBeUndefined();
      expect(a.size).toBe(3_000);
      a.close();
      b.close();
      const allocatedWithBoth = image.stats().pagesAllocated;
      PmEHash.dropIn(image, first);
      expect(image.pageKind(first)).toBe(0);
      expect(image.stats().pagesAllocated).toBeLessThan(allocatedWithBoth - 10);
      PmEHash.dropIn(image, first); // idempotent
      PmEHash.reclaimOrphansIn(image, new Set([second]));
      const reopened = PmEHash.openIn(image, second);
      expect(reopened.search(7n)).toBe(8n);
      reopened.close();
      PmEHash.reclaimOrphansIn(image, new Set());
      expect(image.pageKind(second)).toBe(0);
      expect(image.stats().pagesAllocated).toBe(0);
    } finally {
      image.close();
      temp.remove();
    }
  });
});
