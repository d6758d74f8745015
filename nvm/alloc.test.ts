import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { isStrataError } from '../src/errors.js';
import { NvmImage } from './image.js';
import { makeTempFolder, type TempFolder } from './testing/temp-folder.js';
import { type NvmBackendKind, PageKind } from './types.js';

const BACKENDS: readonly NvmBackendKind[] = ['mapped', 'emulated'];
/** 16 pages: superblock, one page-table page, 14 data pages (2..15). */
const SMALL_BYTES = 16 * 4096;

let folder: TempFolder;
beforeEach(() => {
  folder = makeTempFolder('nvm-alloc');
});
afterEach(() => folder.remove());

interface Snapshot {
  readonly runs: readonly string[];
  readonly stats: string;
}

function snapshot(image: NvmImage): Snapshot {
  const runs: string[] = [];
  for (const kind of [PageKind.ehashHeader, PageKind.ehashDirectory, PageKind.ehashBuckets]) {
    image.forEachPage(kind, undefined, (page) => {
      runs.push(
        `${page}:${image.pageRunLength(page)}:${kind}:${image.pageOwner(page)}:${image.pageAux(page)}`,
      );
    });
  }
  const { persistCount: _ignored, ...stats } = image.stats();
  return { runs: runs.sort(), stats: JSON.stringify(stats) };
}

describe.each(BACKENDS)('%s backend', (backend) => {
  test('single pages come lowest first and freed pages are reused first', () => {
    const image = NvmImage.open(folder.file('order.nvm'), { backend, sizeMaxBytes: SMALL_BYTES });
    const pages = Array.from({ length: 5 }, () => image.allocPages(1, PageKind.ehashBuckets, 1));
    expect(pages).toEqual([2, 3, 4, 5, 6]);
    image.freePages(4, 1);
    image.freePages(3, 1);
    expect(image.allocPages(1, PageKind.ehashBuckets, 1)).toBe(3);
    expect(image.allocPages(1, PageKind.ehashBuckets, 1)).toBe(4);
    expect(image.allocPages(1, PageKind.ehashBuckets, 1)).toBe(7);
    image.close();
  });

  test('multi-page runs take the first hole that fits, else grow the used range', () => {
    const image = NvmImage.open(folder.file('runs.nvm'), { backend, sizeMaxBytes: SMALL_BYTES });
    const a = image.allocPages(2, PageKind.ehashBuckets, 1); // 2..3
    const b = image.allocPages(1, PageKind.ehashBuckets, 1); // 4
    const c = image.allocPages(3, PageKind.ehashBuckets, 1); // 5..7
    expect([a, b, c]).toEqual([2, 4, 5]);
    image.freePages(a, 2);
    image.freePages(c, 3);
    expect(image.allocPages(3, PageKind.ehashBuckets, 2)).toBe(5); // hole 2..3 is too small
    expect(image.allocPages(2, PageKind.ehashBuckets, 2)).toBe(2);
    expect(image.allocPages(4, PageKind.ehashBuckets, 2)).toBe(8);
    expect(image.stats().pagesHighWater).toBe(12);
    image.close();
  });

  test('ERR_NVM_FULL names the limit and changes nothing', () => {
    const path = folder.file('full.nvm');
    const image = NvmImage.open(path, { backend, sizeMaxBytes: SMALL_BYTES });
    const runs: number[] = [];
    for (let index = 0; index < 7; index++)
      runs.push(image.allocPages(2, PageKind.ehashBuckets, index));
    image.setPageAux(runs[3]!, 33);
    image.freePages(runs[2]!, 2);
    image.freePages(runs[5]!, 2);
    const before = snapshot(image);
    let error: unknown;
    try {
      image.allocPages(3, PageKind.ehashBuckets, 99); // 4 pages free, but in two holes of 2
    } catch (caught) {
      error = caught;
    }
    expect(isStrataError(error, 'ERR_NVM_FULL')).toBe(true);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toContain(`sizeMaxBytes ${SMALL_BYTES}`);
    expect(() => image.allocPages(1_000_000, PageKind.ehashBuckets, 1)).toThrow(
      expect.objectContaining({ code: 'ERR_NVM_FULL' }),
    );
    expect(snapshot(image)).toEqual(before);
    image.close();

    const again = NvmImage.open(path, { backend });
    expect(snapshot(again)).toEqual(before);
    expect(again.allocPages(2, PageKind.ehashBuckets, 7)).toBe(runs[2]);
    expect(again.allocPages(2, PageKind.ehashBuckets, 7)).toBe(runs[5]);
    expect(() => again.allocPages(1, PageKind.ehashBuckets, 7)).toThrow(
      expect.objectContaining({ code: 'ERR_NVM_FULL' }),
    );
    expect(again.stats().pagesFree).toBe(0);
    again.close();
  });

  test('an image fills up exactly with single pages', () => {
    const image = NvmImage.open(folder.file('exact.nvm'), { backend, sizeMaxBytes: SMALL_BYTES });
    const pages = new Set<number>();
    for (let index = 0; index < 14; index++)
      pages.add(image.allocPages(1, PageKind.ehashBuckets, 1));
    expect(pages.size).toBe(14);
    expect(Math.min(...pages)).toBe(2);
    expect(Math.max(...pages)).toBe(15);
    expect(() => image.allocPages(1, PageKind.ehashBuckets, 1)).toThrow(
      expect.objectContaining({ code: 'ERR_NVM_FULL' }),
    );
    image.close();
  });

  test('broken calls are assertion failures, not silent damage', () => {
    const image = NvmImage.open(folder.file('asserts.nvm'), { backend, sizeMaxBytes: SMALL_BYTES });
    const page = image.allocPages(3, PageKind.ehashBuckets, 1);
    expect(() => image.freePages(page, 2)).toThrow(/run has 3 pages/);
    expect(() => image.freePages(page + 1, 1)).toThrow(/not the first page/);
    expect(() => image.allocPages(0, PageKind.ehashBuckets, 1)).toThrow(/positive/);
    expect(() => image.allocPages(1, PageKind.free, 1)).toThrow(/kind/);
    expect(() => image.allocPages(1, PageKind.superblock as never, 1)).toThrow(/reserved/);
    expect(() => image.pageKind(0)).toThrow(/not a data page/);
    expect(() => image.pageKind(16)).toThrow(/beyond/);
    expect(() => image.persist(SMALL_BYTES - 4, 8)).toThrow(/beyond the image/);
    expect(() => image.setPageAux(page + 3, 1)).toThrow(/free/);
    image.freePages(page, 3);
    expect(() => image.freePages(page, 3)).toThrow(/is free/);
    image.close();
  });
});
