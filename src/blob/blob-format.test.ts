/** Golden bytes of the file header and a record head (FORMAT.md), so a layout change is loud. */
import { describe, expect, test } from 'vitest';
import { crc32c } from '../../nvm/crc32c.js';
import { maskCrc } from '../sst/table-format.js';
import { encodeFileHeader, encodeRecordHead } from './blob-format.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('blob format', () => {
  test('file header: magic, version 1, file number, 8 reserved zeros, masked crc', () => {
    const header = encodeFileHeader(0x010203);
    const crc = maskCrc(crc32c(header, 0, 28));
    expect(hex(header.subarray(0, 28))).toBe(
      '535452424c4f4200' + '01000000' + '0302010000000000' + '0000000000000000',
    );
    expect(Buffer.from(header).readUInt32LE(28)).toBe(crc);
    expect(hex(header)).toMatchInlineSnapshot(
      `"535452424c4f4200010000000302010000000000000000000000000095d244b5"`,
    );
  });

  test('record head: magic "BREC", key length, capacity, masked crc of fields + key, key', () => {
    const head = encodeRecordHead(Uint8Array.of(0x61, 0x62), 0x100000005);
    expect(hex(head.subarray(0, 16))).toBe('42524543' + '02000000' + '0500000001000000');
    const covered = Buffer.concat([head.subarray(0, 16), Uint8Array.of(0x61, 0x62)]);
    expect(Buffer.from(head).readUInt32LE(16)).toBe(maskCrc(crc32c(covered)));
    expect(hex(head.subarray(20))).toBe('6162');
    expect(hex(head)).toMatchInlineSnapshot(`"4252454302000000050000000100000012ed1c396162"`);
  });
});
