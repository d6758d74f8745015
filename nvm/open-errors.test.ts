import { closeSync, openSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { isStrataError } from '../src/errors.js';
import { NvmImage } from './image.js';
import {
  SB_CLEAN_SHUTDOWN,
  SB_FORMAT_VERSION,
  SB_PAGE_COUNT_MAX,
  SB_PAGES_HIGH_WATER,
  SB_STATIC_CRC,
} from './layout.js';
import { makeTempFolder, type TempFolder } from './testing/temp-folder.js';
import { type NvmBackendKind, type NvmOpenOptions, PageKind } from './types.js';

const BACKENDS: readonly NvmBackendKind[] = ['mapped', 'emulated'];
const SIZE_BYTES = 256 << 10;

let folder: TempFolder;
beforeEach(() => {
  folder = makeTempFolder('nvm-open');
});
afterEach(() => folder.remove());

function openError(path: string, options: NvmOpenOptions): { code: string; message: string } {
  try {
    NvmImage.open(path, options).close();
  } catch (error) {
    if (isStrataError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  return { code: 'opened', message: '' };
}

function makeImage(name: string): string {
  const path = folder.file(name);
  const image = NvmImage.open(path, { backend: 'emulated', sizeMaxBytes: SIZE_BYTES });
  const page = image.allocPages(2, PageKind.ehashBuckets, 1);
  image.setPageAux(page, 5);
  image.close();
  return path;
}

function patch(path: string, offset: number, bytes: readonly number[]): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, Uint8Array.from(bytes), 0, bytes.length, offset);
  closeSync(fd);
}

function littleEndian32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
}

describe.each(BACKENDS)('%s backend refuses bad files', (backend) => {
  test('a file shorter than the superblock or than its recorded size is ERR_NVM_TRUNCATED', () => {
    const short = makeImage('short.nvm');
    truncateSync(short, 2048);
    const tooShort = openError(short, { backend });
    expect(tooShort.code).toBe('ERR_NVM_TRUNCATED');
    expect(tooShort.message).toContain(short);
    const cut = makeImage('cut.nvm');
    truncateSync(cut, SIZE_BYTES - 4096);
    const cutError = openError(cut, { backend });
    expect(cutError.code).toBe('ERR_NVM_TRUNCATED');
    expect(cutError.message).toContain(`${SIZE_BYTES}`);
    const empty = folder.file('empty.nvm');
    writeFileSync(empty, '');
    expect(openError(empty, { backend }).code).toBe('ERR_NVM_TRUNCATED');
  });

  test('random bytes and other files are ERR_NVM_FOREIGN', () => {
    const random = folder.file('random.bin');
    const noise = new Uint8Array(SIZE_BYTES);
    for (let index = 0; index < noise.length; index++) noise[index] = (index * 2654435761) >>> 24;
    writeFileSync(random, noise);
    expect(openError(random, { backend }).code).toBe('ERR_NVM_FOREIGN');
    const text = folder.file('notes.txt');
    writeFileSync(text, 'these are not the pages you are looking for\n'.repeat(200));
    const foreign = openError(text, { backend });
    expect(foreign.code).toBe('ERR_NVM_FOREIGN');
    expect(foreign.message).toContain(text);
    const json = folder.file('package.json');
    writeFileSync(json, '{"name":"x"}');
    expect(openError(json, { backend }).code).toBe('ERR_NVM_FOREIGN');
    expect(readFileSync(json, 'utf8')).toBe('{"name":"x"}'); // never touched
  });

  test('a newer format version is ERR_NVM_VERSION', () => {
    const path = makeImage('newer.nvm');
    patch(path, SB_FORMAT_VERSION, littleEndian32(2));
    const error = openError(path, { backend });
    expect(error.code).toBe('ERR_NVM_VERSION');
    expect(error.message).toMatch(/version 2.*up to 1/);
  });

  test('a flipped byte in the static fields or the checksum is ERR_CORRUPT naming the offset', () => {
    for (const offset of [SB_PAGE_COUNT_MAX, 20, SB_STATIC_CRC, SB_STATIC_CRC + 3]) {
      const path = makeImage(`flip-${offset}.nvm`);
      const original = readFileSync(path).subarray(offset, offset + 1)[0]!;
      patch(path, offset, [original ^ 0x10]);
      const error = openError(path, { backend });
      expect(error.code, `offset ${offset}`).toBe('ERR_CORRUPT');
      expect(error.message).toContain(path);
      expect(error.message).toContain(`byte ${SB_STATIC_CRC}`);
    }
  });

  test('impossible dynamic words are ERR_CORRUPT', () => {
    const highWater = makeImage('high-water.nvm');
    patch(highWater, SB_PAGES_HIGH_WATER, littleEndian32(10_000));
    const error = openError(highWater, { backend });
    expect(error.code).toBe('ERR_CORRUPT');
    expect(error.message).toContain(`byte ${SB_PAGES_HIGH_WATER}`);
    const clean = makeImage('clean.nvm');
    patch(clean, SB_CLEAN_SHUTDOWN, [7]);
    expect(openError(clean, { backend }).code).toBe('ERR_CORRUPT');
  });

  test('a page-table run beyond the high-water mark is ERR_CORRUPT naming the descriptor', () => {
    const path = makeImage('run.nvm');
    const descriptorOffset = 4096 + 2 * 16; // page 2 is the first data page of this image
    patch(path, descriptorOffset + 4, littleEndian32(500));
    const error = openError(path, { backend });
    expect(error.code).toBe('ERR_CORRUPT');
    expect(error.message).toContain(`byte ${descriptorOffset}`);
  });

  test('a missing image with create: false is ERR_INVALID_ARGUMENT', () => {
    const error = openError(folder.file('absent.nvm'), { backend, create: false });
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(error.message).toContain('absent.nvm');
  });
});

describe('options and locking', () => {
  test('bad options are ERR_INVALID_ARGUMENT', () => {
    const path = folder.file('options.nvm');
    const bad: unknown[] = [
      { backend: 'tape' },
      { durability: 'forever' },
      { sizeMaxBytes: -1 },
      { sizeMaxBytes: 4096 },
      { sizeMaxBytes: 2 ** 33 },
      { sizeMaxBytes: 1.5 },
      { backend: 'mapped', crashAtPersist: 3 },
      { backend: 'emulated', crashAtPersist: 0 },
      { create: 'yes' },
    ];
    for (const options of bad) {
      expect(openError(path, options as NvmOpenOptions).code, JSON.stringify(options)).toBe(
        'ERR_INVALID_ARGUMENT',
      );
    }
    expect(openError('', {}).code).toBe('ERR_INVALID_ARGUMENT');
  });

  test('sizeMaxBytes rounds up to whole pages', () => {
    const image = NvmImage.open(folder.file('round.nvm'), {
      backend: 'emulated',
      sizeMaxBytes: 100_000,
    });
    expect(image.pageCountMax).toBe(25);
    image.close();
  });

  test.each(BACKENDS)(
    'a second open of the same image (%s) is ERR_LOCKED until the first closes',
    (backend) => {
      const path = folder.file('locked.nvm');
      const first = NvmImage.open(path, { backend, sizeMaxBytes: SIZE_BYTES });
      const error = openError(path, { backend });
      expect(error.code).toBe('ERR_LOCKED');
      expect(error.message).toContain(path);
      first.close();
      expect(openError(path, { backend }).code).toBe('opened');
    },
  );
});
