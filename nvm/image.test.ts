import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { isStrataError } from '../src/errors.js';
import { NvmImage } from './image.js';
import { makeTempFolder, type TempFolder } from './testing/temp-folder.js';
import { type NvmBackendKind, type NvmDurability, PageKind } from './types.js';

const BACKENDS: readonly NvmBackendKind[] = ['mapped', 'emulated'];
const SIZE_BYTES = 1 << 20;

let folder: TempFolder;
beforeEach(() => {
  folder = makeTempFolder('nvm-image');
});
afterEach(() => folder.remove());

describe.each(BACKENDS)('%s backend', (backend) => {
  test('create, write, persist, close and reopen round trip', () => {
    const path = folder.file('image.nvm');
    const image = NvmImage.open(path, { backend, sizeMaxBytes: SIZE_BYTES });
    expect(image.backend).toBe(backend);
    expect(image.wasCleanShutdown).toBe(true);
    expect(image.pageCountMax).toBe(SIZE_BYTES / 4096);
    expect(image.lockWords.length).toBe(SIZE_BYTES / 256);
    const page = image.allocPages(3, PageKind.ehashBuckets, 7);
    const offset = page * image.pageSizeBytes;
    image.bytes.set([1, 2, 3, 4], offset + 100);
    image.persist(offset + 100, 4);
    expect(image.stats().pagesAllocated).toBe(3);
    image.close();
    image.close();
    expect(existsSync(path)).toBe(true);
    expect(readdirSync(folder.path)).toEqual(['image.nvm']);

    const again = NvmImage.open(path, { backend, create: false });
    expect(again.wasCleanShutdown).toBe(true);
    expect(again.pageKind(page)).toBe(PageKind.ehashBuckets);
    expect(again.pageKind(page + 2)).toBe(PageKind.ehashBuckets);
    expect(again.pageOwner(page)).toBe(7);
    expect(again.pageRunLength(page)).toBe(3);
    expect(again.pageRunLength(page + 1)).toBe(0);
    expect([...again.bytes.subarray(offset + 100, offset + 104)]).toEqual([1, 2, 3, 4]);
    expect(again.stats().pagesAllocated).toBe(3);
    expect(again.stats().pagesHighWater).toBe(page + 3);
    again.freePages(page, 3);
    expect(again.pageKind(page)).toBe(PageKind.free);
    expect(again.pageKind(page + 1)).toBe(PageKind.free);
    expect(again.stats().pagesAllocated).toBe(0);
    again.close();
  });

  test('root words and page aux survive close and reopen', () => {
    const path = folder.file('roots.nvm');
    const image = NvmImage.open(path, { backend, sizeMaxBytes: SIZE_BYTES });
    expect(image.rootCount).toBe(32);
    for (let index = 0; index < image.rootCount; index++) expect(image.root(index)).toBe(0n);
    const first = image.allocPages(2, PageKind.ehashDirectory, 1);
    image.setRoot(0, 1n);
    image.setRoot(31, (1n << 64n) - 1n);
    image.setRoot(5, 0x1234_5678_9abc_def0n);
    image.setPageAux(first, 0xffff_ffff);
    image.setPageAux(first + 1, 42);
    expect(() => image.setRoot(1, 1n << 64n)).toThrow(
      expect.objectContaining({ code: 'ERR_VALUE_RANGE' }),
    );
    expect(() => image.setRoot(1, -1n)).toThrow(
      expect.objectContaining({ code: 'ERR_VALUE_RANGE' }),
    );
    image.close();
    const again = NvmImage.open(path, { backend });
    expect(again.root(0)).toBe(1n);
    expect(again.root(31)).toBe((1n << 64n) - 1n);
    expect(again.root(5)).toBe(0x1234_5678_9abc_def0n);
    expect(again.root(1)).toBe(0n);
    expect(again.pageAux(first)).toBe(0xffff_ffff);
    expect(again.pageAux(first + 1)).toBe(42);
    again.close();
  });

  test('forEachPage visits first pages of runs by kind and owner', () => {
    const image = NvmImage.open(folder.file('visit.nvm'), { backend, sizeMaxBytes: SIZE_BYTES });
    const a = image.allocPages(1, PageKind.ehashBuckets, 1);
    const b = image.allocPages(4, PageKind.ehashBuckets, 2);
    const c = image.allocPages(2, PageKind.ehashHeader, 1);
    const d = image.allocPages(1, PageKind.ehashBuckets, 1);
    const visit = (
      kind: typeof PageKind.ehashBuckets | typeof PageKind.ehashHeader,
      owner?: number,
    ) => {
      const seen: number[] = [];
      image.forEachPage(kind, owner, (index) => seen.push(index));
      return seen;
    };
    expect(visit(PageKind.ehashBuckets)).toEqual([a, b, d]);
    expect(visit(PageKind.ehashBuckets, 1)).toEqual([a, d]);
    expect(visit(PageKind.ehashHeader, 1)).toEqual([c]);
    expect(visit(PageKind.ehashHeader, 2)).toEqual([]);
    // A visitor may allocate and free: the walk runs outside the allocator mutex.
    image.forEachPage(PageKind.ehashBuckets, 1, (index) => image.freePages(index, 1));
    expect(visit(PageKind.ehashBuckets)).toEqual([b]);
    image.close();
  });

  test('a reused page is zero in memory and after reopen', () => {
    const path = folder.file('reuse.nvm');
    const image = NvmImage.open(path, { backend, sizeMaxBytes: SIZE_BYTES });
    const page = image.allocPages(2, PageKind.ehashBuckets, 1);
    image.bytes.fill(0xab, page * 4096, (page + 2) * 4096);
    image.persist(page * 4096, 2 * 4096);
    image.freePages(page, 2);
    const again = image.allocPages(1, PageKind.ehashBuckets, 1);
    expect(again).toBe(page);
    expect(image.bytes.subarray(page * 4096, (page + 1) * 4096).every((byte) => byte === 0)).toBe(
      true,
    );
    image.close();
    const reopened = NvmImage.open(path, { backend });
    const bytes = reopened.bytes.subarray(page * 4096, (page + 1) * 4096);
    expect(bytes.every((byte) => byte === 0)).toBe(true);
    expect(reopened.bytes[(page + 1) * 4096]).toBe(0xab); // still free: no zeroing needed yet
    const next = reopened.allocPages(1, PageKind.ehashBuckets, 1);
    expect(next).toBe(page + 1);
    expect(
      reopened.bytes.subarray(next * 4096, (next + 1) * 4096).every((byte) => byte === 0),
    ).toBe(true);
    reopened.close();
  });

  test('use after close is ERR_CLOSED; handle-attached images see the same memory', () => {
    const image = NvmImage.open(folder.file('closed.nvm'), { backend, sizeMaxBytes: SIZE_BYTES });
    const attached = NvmImage.attach(image.handle());
    expect(attached.backend).toBe(backend);
    const page = attached.allocPages(1, PageKind.ehashBuckets, 3);
    expect(image.pageOwner(page)).toBe(3);
    attached.words[page * 1024] = 99;
    expect(image.words[page * 1024]).toBe(99);
    attached.close(); // detaches only
    image.setRoot(0, 5n);
    expect(() => attached.persist(0, 8)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    const second = NvmImage.attach(image.handle());
    image.close();
    const closedCodes = [
      () => image.persist(0, 8),
      () => image.allocPages(1, PageKind.ehashBuckets, 1),
      () => image.freePages(page, 1),
      () => image.handle(),
      () => second.allocPages(1, PageKind.ehashBuckets, 1),
    ].map((call) => {
      try {
        call();
        return 'no error';
      } catch (error) {
        return isStrataError(error) ? error.code : String(error);
      }
    });
    expect(closedCodes).toEqual([
      'ERR_CLOSED',
      'ERR_CLOSED',
      'ERR_CLOSED',
      'ERR_CLOSED',
      'ERR_CLOSED',
    ]);
    expect(() => NvmImage.attach(image.handle())).toThrow();
  });

  test.each<NvmDurability>(['process', 'power'])(
    'durability %s persists and counts',
    (durability) => {
      const path = folder.file(`durability-${durability}.nvm`);
      const image = NvmImage.open(path, { backend, durability, sizeMaxBytes: SIZE_BYTES });
      expect(image.durability).toBe(durability);
      const before = image.stats().persistCount;
      const page = image.allocPages(1, PageKind.ehashBuckets, 1);
      image.words[page * 1024 + 3] = 77;
      image.persist(page * 4096 + 12, 4);
      expect(image.stats().persistCount).toBeGreaterThan(before + 1);
      image.close();
      const again = NvmImage.open(path, { backend, durability });
      expect(again.words[page * 1024 + 3]).toBe(77);
      again.close();
    },
  );

  test('stats report the allocation state', () => {
    const image = NvmImage.open(folder.file('stats.nvm'), { backend, sizeMaxBytes: SIZE_BYTES });
    const empty = image.stats();
    expect(empty.backend).toBe(backend);
    expect(empty.pageSizeBytes).toBe(4096);
    expect(empty.pageCountMax).toBe(256);
    expect(empty.pagesAllocated).toBe(0);
    expect(empty.pagesFree).toBe(256 - 2); // superblock + one page-table page
    expect(empty.pagesHighWater).toBe(2);
    expect(empty.imageBytesUsed).toBe(2 * 4096);
    image.allocPages(5, PageKind.ehashBuckets, 1);
    const used = image.stats();
    expect(used.pagesAllocated).toBe(5);
    expect(used.pagesFree).toBe(256 - 2 - 5);
    expect(used.pagesHighWater).toBe(7);
    image.close();
  });
});

describe('emulated backend', () => {
  test('only persisted bytes survive a reopen', () => {
    const path = folder.file('persisted.nvm');
    const image = NvmImage.open(path, { backend: 'emulated', sizeMaxBytes: SIZE_BYTES });
    const page = image.allocPages(1, PageKind.ehashBuckets, 1);
    const base = page * 1024;
    image.words[base] = 1;
    image.words[base + 1] = 2;
    image.persist(base * 4, 4);
    image.words[base + 100] = 3; // never persisted
    image.words64[ROOT_WORD_INDEX] = 9n; // a root stored without setRoot: not persisted
    image.close();
    const again = NvmImage.open(path, { backend: 'emulated' });
    expect(again.words[base]).toBe(1);
    expect(again.words[base + 1]).toBe(0);
    expect(again.words[base + 100]).toBe(0);
    expect(again.root(0)).toBe(0n);
    again.close();
  });

  test('a crash leaves wasCleanShutdown false', () => {
    const path = folder.file('unclean.nvm');
    NvmImage.open(path, { backend: 'emulated', sizeMaxBytes: SIZE_BYTES }).close();
    const image = NvmImage.open(path, { backend: 'emulated', crashAtPersist: 2 });
    expect(() => image.setRoot(0, 1n)).toThrow(
      expect.objectContaining({ code: 'ERR_CRASH_INJECTED' }),
    );
    expect(() => image.setRoot(0, 2n)).toThrow(
      expect.objectContaining({ code: 'ERR_CRASH_INJECTED' }),
    );
    image.close();
    const again = NvmImage.open(path, { backend: 'emulated' });
    expect(again.wasCleanShutdown).toBe(false);
    expect(again.root(0)).toBe(0n);
    again.close();
    const third = NvmImage.open(path, { backend: 'emulated' });
    expect(third.wasCleanShutdown).toBe(true);
    third.close();
  });

  test('open removes temporary files of creations that can no longer finish', () => {
    const path = folder.file('temp.nvm');
    const dead = `${path}.creating.999999999.0`;
    const own = `${path}.creating.${process.pid}.${threadId}`;
    const alive = `${path}.creating.${process.ppid}.0`;
    for (const name of [dead, own, alive]) writeFileSync(name, 'partial');
    NvmImage.open(path, { backend: 'emulated', sizeMaxBytes: SIZE_BYTES }).close();
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(own)).toBe(false);
    expect(existsSync(alive)).toBe(true); // its creator may still be working
  });

  test('a handle outlives its owner only as ERR_CLOSED', () => {
    const image = NvmImage.open(folder.file('stale.nvm'), {
      backend: 'emulated',
      sizeMaxBytes: SIZE_BYTES,
    });
    const handle = image.handle();
    image.close();
    expect(() => NvmImage.attach(handle)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(() => NvmImage.attach({ ...handle, runtime: new SharedArrayBuffer(64) })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    );
  });

  test('destroy removes the image and tolerates a missing one', () => {
    const path = folder.file('gone.nvm');
    NvmImage.open(path, { backend: 'emulated', sizeMaxBytes: SIZE_BYTES }).close();
    NvmImage.destroy(path);
    expect(existsSync(path)).toBe(false);
    NvmImage.destroy(path);
    NvmImage.destroy(folder.file('missing-folder/gone.nvm'));
  });
});

const ROOT_WORD_INDEX = 256 / 8;
