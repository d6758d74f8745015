/**
 * Golden bytes: the encoders' output for a 1 MiB image must match the hex dumps in
 * testdata/format/ (FORMAT.md describes every field). A change here is a format change: bump
 * FORMAT_VERSION instead of editing the dump. UPDATE_TESTDATA=1 rewrites the dumps.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { crc32c } from './crc32c.js';
import { computeGeometry, DESCRIPTOR_BYTES, PAGE_SIZE_BYTES } from './layout.js';
import { encodeMetadataDescriptors } from './page-table.js';
import { decodeSuperblock, encodeSuperblock } from './superblock.js';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'format');

test('crc32c matches the standard check value', () => {
  expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  expect(crc32c(new Uint8Array(0))).toBe(0);
});

test('superblock of a fresh 1 MiB image', () => {
  const geometry = computeGeometry(1 << 20);
  const page = new Uint8Array(PAGE_SIZE_BYTES);
  encodeSuperblock(page, geometry);
  expectGolden('superblock-1mib.hex', hexDump(page));
  const state = decodeSuperblock(page, { path: 'golden', fileSizeBytes: 1 << 20 });
  expect(state.geometry).toEqual(geometry);
  expect(state.pagesHighWater).toBe(2);
  expect(state.cleanShutdown).toBe(true);
  expect(state.openGeneration).toBe(0n);
});

test('metadata descriptors of a fresh 16 MiB image', () => {
  const geometry = computeGeometry(16 << 20); // 4096 pages: a 16-page page table
  const descriptors = new Uint32Array((geometry.dataFirstPage * DESCRIPTOR_BYTES) / 4);
  encodeMetadataDescriptors(descriptors, geometry);
  expectGolden('descriptors-16mib.hex', hexDump(new Uint8Array(descriptors.buffer)));
});

/** Rows of 16 bytes as `offset: hex`, skipping all-zero rows. */
function hexDump(bytes: Uint8Array): string {
  const rows: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = bytes.subarray(offset, offset + 16);
    if (row.every((byte) => byte === 0)) continue;
    const hex = [...row].map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
    rows.push(`${offset.toString(16).padStart(6, '0')}: ${hex}`);
  }
  return `${rows.join('\n')}\n`;
}

function expectGolden(name: string, actual: string): void {
  const path = join(TESTDATA, name);
  if (process.env['UPDATE_TESTDATA'] === '1' || !existsSync(path)) writeFileSync(path, actual);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}
