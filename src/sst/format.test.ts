/**
 * Golden bytes: a tiny table must encode to exactly the hex dump in testdata/format/, and the
 * footer and trailers must sit where FORMAT.md says. A difference here is a format change: bump
 * TABLE_FORMAT_VERSION and document it instead of editing the dump. UPDATE_TESTDATA=1 rewrites
 * the dump.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { crc32c } from '../../nvm/crc32c.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { FOOTER_BYTES, maskCrc, readU32, TABLE_MAGIC, unmaskCrc } from './table-format.js';
import { TableReader } from './table-reader.js';
import { buildTable, entry } from './testing/table-fixtures.js';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'format');
const folder = makeTempFolder('sst-format');
afterAll(() => folder.remove());

test('crc32c and its mask match the standard values', () => {
  expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  expect(maskCrc(0)).toBe(0xa282ead8);
  expect(unmaskCrc(maskCrc(0xe3069283))).toBe(0xe3069283);
});

test('a tiny table, byte for byte', () => {
  const path = folder.file('tiny.sst');
  const entries = [entry('a', 2, 1, 'x'), entry('a', 1, 0), entry('bc', 3, 1, 'yz')];
  const properties = buildTable(path, entries, {
    blockSizeBytes: 30,
    createdAtMs: 1_700_000_000_000,
  });
  const bytes = new Uint8Array(readFileSync(path));
  expectGolden('tiny-table.hex', hexDump(bytes));
  expect(properties.fileSizeBytes).toBe(bytes.length);
  expect(properties.dataBlockCount).toBe(2);

  // Footer fields where FORMAT.md puts them.
  const footer = bytes.subarray(bytes.length - FOOTER_BYTES);
  expect(footer.subarray(56)).toEqual(TABLE_MAGIC);
  expect(readU32(footer, 48)).toBe(1);
  expect(readU32(footer, 52)).toBe(maskCrc(crc32c(footer, 0, 52)));
  // First data block: entries a#2 and a#1 (the second shares 1 byte), then its trailer.
  expect([...bytes.subarray(0, 3)]).toEqual([0, 9, 1]); // shared 0, unshared 9, value length 1
  const reader = TableReader.open(path, { fileNumber: 1 });
  expect(reader.get(new TextEncoder().encode('bc'), 3)?.value).toEqual(
    new TextEncoder().encode('yz'),
  );
  reader.close();
});

/** Rows of 16 bytes: `offset: hex  |ascii|`. */
function hexDump(bytes: Uint8Array): string {
  const rows: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = bytes.subarray(offset, offset + 16);
    const hex = [...row].map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row]
      .map((byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.'))
      .join('');
    rows.push(`${offset.toString(16).padStart(6, '0')}: ${hex.padEnd(47)}  |${ascii}|`);
  }
  return `${rows.join('\n')}\n`;
}

function expectGolden(name: string, actual: string): void {
  const path = join(TESTDATA, name);
  if (process.env['UPDATE_TESTDATA'] === '1' || !existsSync(path)) writeFileSync(path, actual);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}
