/**
 * Constants and fixed-size encodings of the blob file format (FORMAT.md). Every number here is
 * on disk: never renumber one. A change of layout is a new BLOB_FORMAT_VERSION, and readers
 * refuse versions they do not know.
 *
 *   file header (32 bytes), FORMAT.md "File header":
 *   +------------------+---------+------------+----------+-----------+
 *   | magic "STRBLOB\0"| version | fileNumber | reserved | crc       |
 *   | 8 bytes          | u32 LE  | u64 LE     | 8 zeros  | u32 LE    |  crc: masked CRC32C of 0..28
 *   +------------------+---------+------------+----------+-----------+
 *    0                  8         12           20         28          32
 *
 *   record header (20 bytes), FORMAT.md "Record":
 *   +--------+-----------+----------+-----------+-----+-------------------------------------+
 *   | magic  | keyLength | capacity | headerCrc | key | value region (capacity bytes)       |
 *   | u32 LE | u32 LE    | u64 LE   | u32 LE    |     | value bytes, then unwritten reserve |
 *   +--------+-----------+----------+-----------+-----+-------------------------------------+
 *    0        4           8          16          20    20 + keyLength = valueOffset - start
 *   headerCrc: masked CRC32C of header bytes 0..16 followed by the key.
 */

import { crc32c } from '../../nvm/crc32c.js';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import {
  maskCrc,
  readU32,
  readU64,
  type U32,
  type U64,
  writeU32,
  writeU64,
} from '../sst/table-format.js';
import { crc32cCombine } from './crc32c-combine.js';

export const BLOB_FORMAT_VERSION: U32 = 1;

/** "STRBLOB\0" in ASCII. */
export const BLOB_FILE_MAGIC: Uint8Array = Uint8Array.of(
  0x53,
  0x54,
  0x52,
  0x42,
  0x4c,
  0x4f,
  0x42,
  0,
);
export const FILE_HEADER_BYTES = 32;
const FILE_VERSION_OFFSET = 8;
const FILE_NUMBER_OFFSET = 12;
const FILE_RESERVED_OFFSET = 20;
const FILE_CRC_OFFSET = 28;

/** "BREC" read as a u32 LE. Never zero: an all-zero header is unwritten space (FORMAT.md). */
export const RECORD_MAGIC: U32 = 0x43455242;
export const RECORD_HEADER_BYTES = 20;
const RECORD_KEY_LENGTH_OFFSET = 4;
const RECORD_CAPACITY_OFFSET = 8;
const RECORD_CRC_OFFSET = 16;

/** Writes and reads move at most this many bytes per system call. */
export const FRAGMENT_BYTES = 1 << 20;

export function encodeFileHeader(fileNumber: U64): Uint8Array {
  const header = new Uint8Array(FILE_HEADER_BYTES);
  header.set(BLOB_FILE_MAGIC, 0);
  writeU32(header, FILE_VERSION_OFFSET, BLOB_FORMAT_VERSION);
  writeU64(header, FILE_NUMBER_OFFSET, fileNumber);
  writeU32(header, FILE_CRC_OFFSET, maskCrc(crc32c(header, 0, FILE_CRC_OFFSET)));
  return header;
}

/**
 * Checks a file header read from `path`: ERR_CORRUPT naming the byte of the failed field, or
 * ERR_FORMAT_VERSION. The CRC is checked before the version, so a flipped version byte reads as
 * damage; the first 32 bytes keep this layout in every format version.
 */
export function checkFileHeader(header: Uint8Array, path: string, fileNumber: U64): void {
  if (header.length < FILE_HEADER_BYTES) {
    throw blobCorruption(
      path,
      header.length,
      `file ends inside the ${FILE_HEADER_BYTES}-byte header`,
    );
  }
  for (let index = 0; index < BLOB_FILE_MAGIC.length; index++) {
    if (header[index] !== BLOB_FILE_MAGIC[index]) {
      throw blobCorruption(path, index, 'bad magic: not a blob file');
    }
  }
  const stored = readU32(header, FILE_CRC_OFFSET);
  if (stored !== maskCrc(crc32c(header, 0, FILE_CRC_OFFSET))) {
    throw blobCorruption(path, FILE_CRC_OFFSET, 'file header crc mismatch (header bytes 0..28)');
  }
  const version = readU32(header, FILE_VERSION_OFFSET);
  if (version > BLOB_FORMAT_VERSION) {
    throw new StrataError(
      'ERR_FORMAT_VERSION',
      `blob file ${path}: format version ${version} is newer than ${BLOB_FORMAT_VERSION}`,
    );
  }
  if (version === 0) throw blobCorruption(path, FILE_VERSION_OFFSET, 'format version 0');
  for (let index = FILE_RESERVED_OFFSET; index < FILE_CRC_OFFSET; index++) {
    if (header[index] !== 0) throw blobCorruption(path, index, 'reserved header byte not zero');
  }
  const storedNumber = readU64(header, FILE_NUMBER_OFFSET);
  if (storedNumber !== fileNumber) {
    throw blobCorruption(
      path,
      FILE_NUMBER_OFFSET,
      `header holds file number ${storedNumber}, expected ${fileNumber}`,
    );
  }
}

/** The record header and key, ready to write at the record's offset. */
export function encodeRecordHead(key: Uint8Array, capacity: U64, valueBytes = 0): Uint8Array {
  assert(key.length <= 0xffffffff, 'a key fits a u32 length');
  const head = new Uint8Array(RECORD_HEADER_BYTES + key.length + valueBytes);
  writeU32(head, 0, RECORD_MAGIC);
  writeU32(head, RECORD_KEY_LENGTH_OFFSET, key.length);
  writeU64(head, RECORD_CAPACITY_OFFSET, capacity);
  head.set(key, RECORD_HEADER_BYTES);
  writeU32(head, RECORD_CRC_OFFSET, recordHeadCrc(head, key.length));
  return head;
}

export interface RecordHeader {
  readonly magic: U32;
  readonly keyLength: U32;
  /** -1 when the stored u64 exceeds 2^53 - 1 (only damage does that). */
  readonly capacity: number;
  readonly headerCrc: U32;
}

export function decodeRecordHeader(bytes: Uint8Array): RecordHeader {
  assert(bytes.length >= RECORD_HEADER_BYTES);
  return {
    magic: readU32(bytes, 0),
    keyLength: readU32(bytes, RECORD_KEY_LENGTH_OFFSET),
    capacity: readU64(bytes, RECORD_CAPACITY_OFFSET),
    headerCrc: readU32(bytes, RECORD_CRC_OFFSET),
  };
}

/** Masked CRC32C of `head`'s bytes 0..16 followed by its key at 20..20+keyLength. */
export function recordHeadCrc(head: Uint8Array, keyLength: number): U32 {
  assert(head.length >= RECORD_HEADER_BYTES + keyLength);
  const fieldsCrc = crc32c(head, 0, RECORD_CRC_OFFSET);
  const keyCrc = crc32c(head, RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + keyLength);
  return maskCrc(crc32cCombine(fieldsCrc, keyCrc, keyLength));
}

/** The one way blob/ reports a damaged file: ERR_CORRUPT naming the file and byte offset. */
export function blobCorruption(path: string, offsetBytes: number, detail: string): StrataError {
  return new StrataError(
    'ERR_CORRUPT',
    `corrupt blob file ${path} at byte ${offsetBytes}: ${detail}`,
  );
}

assert(BLOB_FILE_MAGIC.length === 8);
assert(FILE_CRC_OFFSET + 4 === FILE_HEADER_BYTES);
assert(RECORD_CRC_OFFSET + 4 === RECORD_HEADER_BYTES);
assert(RECORD_MAGIC !== 0);
