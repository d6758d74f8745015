/**
 * Damage and crashes: a flipped byte in the file header, a record header or a value is a clear
 * ERR_CORRUPT naming the file and byte offset; a newer format version is ERR_FORMAT_VERSION; a
 * truncated file fails the reads past its end; a torn tail (half a record, a cut header, zeros)
 * ends records() cleanly, and openForAppend cuts it off and carries on.
 */
import { copyFileSync, statSync, truncateSync } from 'node:fs';
import { afterAll, beforeEach, describe, expect, test } from 'vitest';
import { crc32c } from '../../nvm/crc32c.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { maskCrc, writeU32 } from '../sst/table-format.js';
import { BlobFileReader, BlobFileWriter } from './blob-file.js';
import { encodeFileHeader, encodeRecordHead } from './blob-format.js';
import type { BlobRef } from './blob-ref.js';
import {
  expectBytes,
  expectStrataError,
  flipByte,
  patternBytes,
  writeAt,
} from './testing/blob-fixtures.js';

const folder = makeTempFolder('blob-corruption');
afterAll(() => folder.remove());

const FILE_NUMBER = 42;
const pristine = folder.file('pristine.blob');
const key1 = new TextEncoder().encode('key-1');
const values = [patternBytes(100, 1), patternBytes(50, 2), patternBytes(30, 3)];
// Offsets of this layout: header 32 bytes, then records at 32, 254 and 329; the file ends at 451.
const RECORD_OFFSETS = [32, 254, 329];
const END = 451;
let refs: BlobRef[] = [];
let path = '';
let copyIndex = 0;

{
  const writer = BlobFileWriter.create(pristine, FILE_NUMBER);
  refs = writer.appendRecords([
    { key: Uint8Array.of(0x6b, 0x30), value: values[0]!, capacity: 200 },
    { key: key1, value: values[1]!, capacity: 50 },
    { key: Uint8Array.of(0x6b, 0x32), value: values[2]!, capacity: 100 },
  ]);
  writer.sync();
  writer.close();
}

beforeEach(() => {
  path = folder.file(`copy-${copyIndex++}.blob`);
  copyFileSync(pristine, path);
});

function listKeys(): number[] {
  const reader = BlobFileReader.open(path, FILE_NUMBER);
  try {
    return [...reader.records()].map((record) => record.valueOffset);
  } finally {
    reader.close();
  }
}

describe('blob file corruption', () => {
  test('the layout the offsets below assume', () => {
    expect(refs.map((ref) => ref.valueOffset)).toEqual([54, 279, 351]);
    expect(statSync(path).size).toBe(END);
    expect(listKeys()).toEqual([54, 279, 351]);
  });

  test('every flipped file-header byte is ERR_CORRUPT naming the file and a header byte', () => {
    for (let offset = 0; offset < 32; offset++) {
      path = folder.file(`header-${offset}.blob`);
      copyFileSync(pristine, path);
      flipByte(path, offset, 0x10);
      for (const open of [
        () => BlobFileReader.open(path, FILE_NUMBER),
        () => BlobFileWriter.openForAppend(path, FILE_NUMBER),
      ]) {
        expectStrataError(open, 'ERR_CORRUPT', [path, `at byte ${offset < 8 ? offset : 28}`]);
      }
    }
  });

  test('a newer format version is ERR_FORMAT_VERSION; a wrong file number or short file is corrupt', () => {
    const header = encodeFileHeader(FILE_NUMBER);
    writeU32(header, 8, 2);
    writeU32(header, 28, maskCrc(crc32c(header, 0, 28)));
    writeAt(path, 0, header);
    expectStrataError(() => BlobFileReader.open(path, FILE_NUMBER), 'ERR_FORMAT_VERSION', [
      path,
      'version 2',
    ]);
    expectStrataError(() => BlobFileWriter.openForAppend(path, FILE_NUMBER), 'ERR_FORMAT_VERSION');
    writeAt(path, 0, encodeFileHeader(FILE_NUMBER));
    expectStrataError(() => BlobFileReader.open(path, FILE_NUMBER + 1), 'ERR_CORRUPT', [
      path,
      'at byte 12',
      'file number 42',
    ]);
    truncateSync(path, 20);
    expectStrataError(() => BlobFileReader.open(path, FILE_NUMBER), 'ERR_CORRUPT', [
      path,
      'inside the 32-byte header',
    ]);
  });

  test('a flipped record-header or key byte is ERR_CORRUPT naming the record offset', () => {
    const recordOffset = RECORD_OFFSETS[1]!;
    // magic, keyLength's low byte, capacity, headerCrc, key. keyLength's high bytes: next test.
    const fields = [0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 24];
    for (const field of fields) {
      for (const mask of [0x01, 0x80]) {
        path = folder.file(`record-${field}-${mask}.blob`);
        copyFileSync(pristine, path);
        flipByte(path, recordOffset + field, mask);
        const reader = BlobFileReader.open(path, FILE_NUMBER);
        try {
          expectStrataError(() => [...reader.records()], 'ERR_CORRUPT', [
            path,
            `at byte ${recordOffset}`,
          ]);
          expectBytes(reader.read(refs[0]!), values[0]!); // values do not depend on headers
        } finally {
          reader.close();
        }
        expectStrataError(() => BlobFileWriter.openForAppend(path, FILE_NUMBER), 'ERR_CORRUPT', [
          `at byte ${recordOffset}`,
        ]);
      }
    }
  });

  test('a key length that claims to run past the end reads as a torn tail (FORMAT.md)', () => {
    flipByte(path, RECORD_OFFSETS[1]! + 5, 0x01); // keyLength + 256: the key would end past EOF
    expect(listKeys()).toEqual([54]);
  });

  test('a flipped value byte is ERR_CORRUPT naming the file and value offset', () => {
    for (const [index, ref] of refs.entries()) {
      path = folder.file(`value-${index}.blob`);
      copyFileSync(pristine, path);
      flipByte(path, ref.valueOffset + Math.floor(ref.used / 2), 0x04);
      const reader = BlobFileReader.open(path, FILE_NUMBER);
      try {
        expectStrataError(() => reader.read(ref), 'ERR_CORRUPT', [
          path,
          `at byte ${ref.valueOffset}`,
          'crc',
        ]);
        // A range read is not checked (it would need the whole value).
        expect(reader.readRange(ref, 0, ref.used).length).toBe(ref.used);
        expect([...reader.records()].length).toBe(3);
      } finally {
        reader.close();
      }
    }
  });

  test('damage in the unused reserve is invisible', () => {
    flipByte(path, refs[0]!.valueOffset + 150, 0xff);
    const reader = BlobFileReader.open(path, FILE_NUMBER);
    expectBytes(reader.read(refs[0]!), values[0]!);
    reader.close();
  });

  test('a truncated file fails reads past its end with ERR_CORRUPT', () => {
    truncateSync(path, 300); // inside record 1's value
    const reader = BlobFileReader.open(path, FILE_NUMBER);
    try {
      expectBytes(reader.read(refs[0]!), values[0]!);
      for (const ref of [refs[1]!, refs[2]!]) {
        expectStrataError(() => reader.read(ref), 'ERR_CORRUPT', [
          path,
          `at byte ${ref.valueOffset}`,
          'past the end of a 300-byte file',
        ]);
      }
      expectStrataError(() => reader.readRange(refs[2]!, 0, 1), 'ERR_CORRUPT', ['past the end']);
      expect([...reader.records()].map((record) => record.valueOffset)).toEqual([54]);
    } finally {
      reader.close();
    }
  });

  test('a torn last record ends records(); openForAppend cuts it off and continues', () => {
    const head = encodeRecordHead(Uint8Array.of(7), 4000);
    writeAt(path, END, head);
    writeAt(path, END + head.length, patternBytes(500, 9)); // half of a 1000-byte value
    expect(statSync(path).size).toBe(END + head.length + 500);
    expect(listKeys()).toEqual([54, 279, 351]);
    const writer = BlobFileWriter.openForAppend(path, FILE_NUMBER);
    try {
      expect(writer.endOffset).toBe(END);
      expect(statSync(path).size).toBe(END);
      const [ref] = writer.appendRecords([
        { key: Uint8Array.of(8), value: patternBytes(10, 8), capacity: 10 },
      ]);
      expect(ref!.valueOffset).toBe(END + 21);
      writer.sync();
    } finally {
      writer.close();
    }
    expect(listKeys()).toEqual([54, 279, 351, END + 21]);
  });

  test('a cut header or a zero-filled tail ends records(); nonzero garbage is damage', () => {
    writeAt(path, END, encodeRecordHead(Uint8Array.of(7), 10).subarray(0, 12));
    expect(listKeys()).toEqual([54, 279, 351]); // fewer than 20 bytes left: a cut header

    path = folder.file('zero-tail.blob');
    copyFileSync(pristine, path);
    truncateSync(path, END + 5000); // the size reached the disk, the bytes did not
    expect(listKeys()).toEqual([54, 279, 351]);
    const writer = BlobFileWriter.openForAppend(path, FILE_NUMBER);
    expect(writer.endOffset).toBe(END);
    writer.close();
    expect(statSync(path).size).toBe(END);

    path = folder.file('garbage-tail.blob');
    copyFileSync(pristine, path);
    writeAt(path, END, patternBytes(64, 5));
    expectStrataError(() => listKeys(), 'ERR_CORRUPT', [path, `at byte ${END}`, 'magic']);
  });

  test('a header torn after the size was extended is damage to records(), not to a committed end', () => {
    // Half a header persisted, the rest of the extended file reads zero: the crc cannot match.
    writeAt(path, END, encodeRecordHead(Uint8Array.of(7), 10).subarray(0, 12));
    truncateSync(path, END + 4096);
    expectStrataError(() => listKeys(), 'ERR_CORRUPT', [`at byte ${END}`, 'crc']);
    // The engine reopens with the end it committed, which needs no walk.
    const writer = BlobFileWriter.openForAppend(path, FILE_NUMBER, { endOffset: END });
    writer.close();
    expect(statSync(path).size).toBe(END);
    expect(listKeys()).toEqual([54, 279, 351]);
  });
});
