/**
 * Encodes and validates the superblock, page 0 of an image (FORMAT.md, "Superblock"). The static
 * fields are written once at creation and covered by a CRC32C; the dynamic words and the roots
 * change later through single atomic stores (see image.ts) and carry no checksum.
 *
 *   0        8       12      16              24      28      32      36      40      44
 *   +--------+-------+-------+---------------+-------+-------+-------+-------+-------+
 *   | magic  | vers  | page  | sizeMaxBytes  | pages | pt    | pt    | desc  | root  |
 *   |        |       | size  | (u64)         | max   | first | count | bytes | off   |
 *   +--------+-------+-------+---------------+-------+-------+-------+-------+-------+
 *   44      48      52      56      60      64            72            80           88
 *   +-------+-------+-------+-------+-------+-------------+-------------+-------------+
 *   | root  | data  | rsvd  | crc32c| pad   | pagesHigh-  | clean-      | open        |
 *   | count | first |   0   | 0..56 |   0   | Water (u64) | Shutdown    | generation  |
 *   +-------+-------+-------+-------+-------+-------------+-------------+-------------+
 *   256: 32 root words (u64) .. 512
 */
import { assert, invariantsEnabled } from '../src/assert.js';
import { StrataError } from '../src/errors.js';
import { crc32c } from './crc32c.js';
import {
  computeGeometry,
  DESCRIPTOR_BYTES,
  FORMAT_VERSION,
  type ImageGeometry,
  MAGIC_BYTES,
  PAGE_SIZE_BYTES,
  ROOT_COUNT,
  ROOT_OFFSET,
  SB_CLEAN_SHUTDOWN,
  SB_DATA_FIRST_PAGE,
  SB_DESCRIPTOR_BYTES,
  SB_FORMAT_VERSION,
  SB_MAGIC,
  SB_OPEN_GENERATION,
  SB_PAGE_COUNT_MAX,
  SB_PAGE_SIZE,
  SB_PAGE_TABLE_FIRST_PAGE,
  SB_PAGE_TABLE_PAGE_COUNT,
  SB_PAGES_HIGH_WATER,
  SB_RESERVED,
  SB_ROOT_COUNT,
  SB_ROOT_OFFSET,
  SB_SIZE_MAX,
  SB_STATIC_CRC,
  SIZE_MAX_BYTES_LIMIT,
  sizeMaxBytesMinimum,
} from './layout.js';

/** What open learns from a valid superblock. */
export interface SuperblockState {
  readonly geometry: ImageGeometry;
  readonly pagesHighWater: number;
  readonly cleanShutdown: boolean;
  readonly openGeneration: bigint;
}

/**
 * Writes a fresh superblock for `geometry` into `page` (one page, zero-filled by the caller).
 * The image starts empty, marked cleanly shut down, with generation 0.
 */
export function encodeSuperblock(page: Uint8Array, geometry: ImageGeometry): void {
  assert(page.length === PAGE_SIZE_BYTES);
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  for (let index = 0; index < MAGIC_BYTES.length; index++)
    page[SB_MAGIC + index] = MAGIC_BYTES[index]!;
  view.setUint32(SB_FORMAT_VERSION, FORMAT_VERSION, true);
  view.setUint32(SB_PAGE_SIZE, PAGE_SIZE_BYTES, true);
  view.setBigUint64(SB_SIZE_MAX, BigInt(geometry.sizeMaxBytes), true);
  view.setUint32(SB_PAGE_COUNT_MAX, geometry.pageCountMax, true);
  view.setUint32(SB_PAGE_TABLE_FIRST_PAGE, geometry.pageTableFirstPage, true);
  view.setUint32(SB_PAGE_TABLE_PAGE_COUNT, geometry.pageTablePageCount, true);
  view.setUint32(SB_DESCRIPTOR_BYTES, DESCRIPTOR_BYTES, true);
  view.setUint32(SB_ROOT_OFFSET, ROOT_OFFSET, true);
  view.setUint32(SB_ROOT_COUNT, ROOT_COUNT, true);
  view.setUint32(SB_DATA_FIRST_PAGE, geometry.dataFirstPage, true);
  view.setUint32(SB_RESERVED, 0, true);
  view.setUint32(SB_STATIC_CRC, crc32c(page, 0, SB_STATIC_CRC), true);
  view.setBigUint64(SB_PAGES_HIGH_WATER, BigInt(geometry.dataFirstPage), true);
  view.setBigUint64(SB_CLEAN_SHUTDOWN, 1n, true);
  view.setBigUint64(SB_OPEN_GENERATION, 0n, true);
  if (invariantsEnabled) {
    const decoded = decodeSuperblock(page, { path: '(encoder check)', fileSizeBytes: 2 ** 53 });
    assert(decoded.geometry.pageCountMax === geometry.pageCountMax);
  }
}

/**
 * Validates the superblock in `page` (the first bytes of the file; possibly fewer than a page
 * when the file is short) and returns its state. Each failure is a StrataError naming the path
 * and, for corruption, the byte offset. Checks run in the order FORMAT.md gives: magic, version,
 * checksum, the relations between fields, then the file length.
 */
export function decodeSuperblock(
  page: Uint8Array,
  file: { readonly path: string; readonly fileSizeBytes: number },
): SuperblockState {
  const { path } = file;
  if (page.length < MAGIC_BYTES.length) {
    throw new StrataError(
      'ERR_NVM_TRUNCATED',
      `${path} is ${page.length} bytes: too short for an NVM image`,
    );
  }
  for (let index = 0; index < MAGIC_BYTES.length; index++) {
    if (page[SB_MAGIC + index] !== MAGIC_BYTES[index]) {
      throw new StrataError('ERR_NVM_FOREIGN', `${path} is not a Strata NVM image (bad magic)`);
    }
  }
  if (page.length < PAGE_SIZE_BYTES) {
    throw new StrataError(
      'ERR_NVM_TRUNCATED',
      `${path} is ${page.length} bytes, shorter than its ${PAGE_SIZE_BYTES}-byte superblock`,
    );
  }
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const version = view.getUint32(SB_FORMAT_VERSION, true);
  if (version > FORMAT_VERSION) {
    throw new StrataError(
      'ERR_NVM_VERSION',
      `${path} has NVM format version ${version}; this build reads versions up to ${FORMAT_VERSION}`,
    );
  }
  checkChecksum(page, view, path);
  const sizeMaxBytes = Number(view.getBigUint64(SB_SIZE_MAX, true));
  const geometry = checkStaticFields(view, { path, version, sizeMaxBytes });
  // The checksum vouches for sizeMaxBytes, so a short file is truncated, not corrupt.
  if (sizeMaxBytes > file.fileSizeBytes) {
    throw new StrataError(
      'ERR_NVM_TRUNCATED',
      `${path} is ${file.fileSizeBytes} bytes but its superblock records ${sizeMaxBytes}`,
    );
  }
  return {
    geometry,
    pagesHighWater: checkHighWater(view, path, geometry),
    cleanShutdown: checkCleanShutdown(view, path),
    openGeneration: view.getBigUint64(SB_OPEN_GENERATION, true),
  };
}

function checkChecksum(page: Uint8Array, view: DataView, path: string): void {
  const stored = view.getUint32(SB_STATIC_CRC, true);
  const computed = crc32c(page, 0, SB_STATIC_CRC);
  if (stored !== computed) {
    throw new StrataError(
      'ERR_CORRUPT',
      `superblock checksum mismatch in ${path} at byte ${SB_STATIC_CRC}: stored ` +
        `0x${hex(stored)}, computed 0x${hex(computed)} over bytes [0, ${SB_STATIC_CRC})`,
    );
  }
}

function checkStaticFields(
  view: DataView,
  fields: { readonly path: string; readonly version: number; readonly sizeMaxBytes: number },
): ImageGeometry {
  const { path, version, sizeMaxBytes } = fields;
  const corrupt = (offset: number, what: string): StrataError =>
    new StrataError('ERR_CORRUPT', `superblock of ${path} at byte ${offset}: ${what}`);
  if (version === 0) throw corrupt(SB_FORMAT_VERSION, 'format version 0 does not exist');
  if (view.getUint32(SB_PAGE_SIZE, true) !== PAGE_SIZE_BYTES) {
    throw corrupt(
      SB_PAGE_SIZE,
      `page size ${view.getUint32(SB_PAGE_SIZE, true)} is not ${PAGE_SIZE_BYTES}`,
    );
  }
  const sizeOk =
    sizeMaxBytes % PAGE_SIZE_BYTES === 0 &&
    sizeMaxBytes >= sizeMaxBytesMinimum() &&
    sizeMaxBytes <= SIZE_MAX_BYTES_LIMIT;
  if (!sizeOk) throw corrupt(SB_SIZE_MAX, `impossible sizeMaxBytes ${sizeMaxBytes}`);
  const geometry = computeGeometry(sizeMaxBytes);
  const expected: readonly (readonly [number, number, string])[] = [
    [SB_PAGE_COUNT_MAX, geometry.pageCountMax, 'pageCountMax'],
    [SB_PAGE_TABLE_FIRST_PAGE, geometry.pageTableFirstPage, 'page-table first page'],
    [SB_PAGE_TABLE_PAGE_COUNT, geometry.pageTablePageCount, 'page-table page count'],
    [SB_DESCRIPTOR_BYTES, DESCRIPTOR_BYTES, 'descriptor size'],
    [SB_ROOT_OFFSET, ROOT_OFFSET, 'root offset'],
    [SB_ROOT_COUNT, ROOT_COUNT, 'root count'],
    [SB_DATA_FIRST_PAGE, geometry.dataFirstPage, 'first data page'],
    [SB_RESERVED, 0, 'reserved word'],
  ];
  for (const [offset, value, name] of expected) {
    const stored = view.getUint32(offset, true);
    if (stored !== value) throw corrupt(offset, `${name} is ${stored}, expected ${value}`);
  }
  return geometry;
}

function checkHighWater(view: DataView, path: string, geometry: ImageGeometry): number {
  const highWater = view.getBigUint64(SB_PAGES_HIGH_WATER, true);
  if (highWater < BigInt(geometry.dataFirstPage) || highWater > BigInt(geometry.pageCountMax)) {
    throw new StrataError(
      'ERR_CORRUPT',
      `superblock of ${path} at byte ${SB_PAGES_HIGH_WATER}: pagesHighWater ${highWater} lies ` +
        `outside [${geometry.dataFirstPage}, ${geometry.pageCountMax}]`,
    );
  }
  return Number(highWater);
}

function checkCleanShutdown(view: DataView, path: string): boolean {
  const flag = view.getBigUint64(SB_CLEAN_SHUTDOWN, true);
  if (flag > 1n) {
    throw new StrataError(
      'ERR_CORRUPT',
      `superblock of ${path} at byte ${SB_CLEAN_SHUTDOWN}: clean-shutdown flag is ${flag}, not 0 or 1`,
    );
  }
  return flag === 1n;
}

function hex(value: number): string {
  return value.toString(16).padStart(8, '0');
}
