/**
 * The container all three catalog files share: a 16-byte header, then framed records
 * (FORMAT.md "File header" and "Records").
 *
 *   header:  magic[8] | formatVersion u32 | headerCrc u32 (CRC32C of bytes 0..11)
 *   record:  length u32 | crc u32 | type u8 | payload[length]
 *            crc = CRC32C of type and payload; length counts the payload only
 *
 * A record that does not check out (short header, extent past the end of the file, CRC mismatch)
 * is a torn tail when no valid record starts anywhere after it: an append that a crash cut
 * short is always the last thing in the file. Only the manifest accepts a torn tail; anything
 * else is ERR_CORRUPT naming the file and the record's offset.
 */
import { crc32c } from '../../nvm/crc32c.js';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';

/**
 * The version this code writes and the newest it reads; it reads every version from 1 up
 * (FORMAT.md "Version history"). Version 2 gave index entries an id.
 */
export const CATALOG_FORMAT_VERSION = 2;

export const FILE_HEADER_BYTES = 16;
export const RECORD_HEADER_BYTES = 9;
/** Caps one record so that a bad length cannot make a reader allocate without bound. */
export const RECORD_PAYLOAD_BYTES_MAX = 64 * 1024 * 1024;

/** File magics, 8 ASCII bytes each. On disk: never change. */
export const FileMagic = {
  current: 'STRCURNT',
  checkpoint: 'STRCKPNT',
  manifest: 'STRMANIF',
} as const;
export type FileMagicValue = (typeof FileMagic)[keyof typeof FileMagic];

/** Record types. On disk: never renumber, never reuse. */
export const RecordType = { edit: 1, checkpoint: 2, current: 3 } as const;
export type RecordTypeValue = (typeof RecordType)[keyof typeof RecordType];

const MAGIC_BYTES = 8;
const VERSION_OFFSET = 8;
const HEADER_CRC_OFFSET = 12;

assert(MAGIC_BYTES + 4 + 4 === FILE_HEADER_BYTES);
assert(Object.values(FileMagic).every((magic) => magic.length === MAGIC_BYTES));

export function encodeFileHeader(magic: FileMagicValue): Uint8Array {
  const header = new Uint8Array(FILE_HEADER_BYTES);
  const view = new DataView(header.buffer);
  header.set(new TextEncoder().encode(magic), 0);
  view.setUint32(VERSION_OFFSET, CATALOG_FORMAT_VERSION, true);
  view.setUint32(HEADER_CRC_OFFSET, crc32c(header, 0, HEADER_CRC_OFFSET), true);
  return header;
}

export function frameRecord(type: RecordTypeValue, payload: Uint8Array): Uint8Array {
  assert(payload.length <= RECORD_PAYLOAD_BYTES_MAX, 'catalog record too large');
  const record = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  const view = new DataView(record.buffer);
  record[8] = type;
  record.set(payload, RECORD_HEADER_BYTES);
  view.setUint32(0, payload.length, true);
  view.setUint32(4, crc32c(record, 8, record.length), true);
  return record;
}

export interface ScannedRecord {
  readonly type: RecordTypeValue;
  readonly payload: Uint8Array;
  /** Offset of the record's first byte in the file. */
  readonly offset: number;
}

export interface ScanResult {
  /** From the file's header: how its payloads are laid out. */
  readonly formatVersion: number;
  readonly records: readonly ScannedRecord[];
  /** Bytes up to the end of the last valid record. */
  readonly validLengthBytes: number;
  /** Where a torn tail starts, if the file has one (manifest only). */
  readonly tornTailOffset?: number;
}

export interface ScanSpec {
  /** File name for error messages. */
  readonly file: string;
  readonly magic: FileMagicValue;
  /** Record types this kind of file holds; any other is corrupt. */
  readonly types: readonly RecordTypeValue[];
  readonly allowTornTail: boolean;
}

export function scanRecordFile(bytes: Uint8Array, spec: ScanSpec): ScanResult {
  const formatVersion = checkHeader(bytes, spec);
  const records: ScannedRecord[] = [];
  let offset = FILE_HEADER_BYTES;
  // Each pass consumes at least RECORD_HEADER_BYTES, which bounds the loop by the file length.
  while (offset < bytes.length) {
    const record = readRecordAt(bytes, offset, spec.types);
    if (record === undefined) {
      if (spec.allowTornTail && !validRecordAfter(bytes, offset, spec.types)) {
        return { formatVersion, records, validLengthBytes: offset, tornTailOffset: offset };
      }
      throw corrupt(`bad record (length, crc or type)`, spec.file, offset);
    }
    records.push(record);
    offset += RECORD_HEADER_BYTES + record.payload.length;
  }
  return { formatVersion, records, validLengthBytes: offset };
}

export function corrupt(problem: string, file: string, offset: number): StrataError {
  return new StrataError('ERR_CORRUPT', `${problem} in ${file} at byte ${offset}`);
}

/** The file's format version, once magic, version and header CRC check out. */
function checkHeader(bytes: Uint8Array, spec: ScanSpec): number {
  if (bytes.length < FILE_HEADER_BYTES) {
    throw corrupt(`file of ${bytes.length} bytes is shorter than its header`, spec.file, 0);
  }
  const magic = new TextDecoder('latin1').decode(bytes.subarray(0, MAGIC_BYTES));
  if (magic !== spec.magic) {
    throw corrupt(`bad magic (expected ${spec.magic}: not a Strata catalog file)`, spec.file, 0);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(VERSION_OFFSET, true);
  if (version > CATALOG_FORMAT_VERSION) {
    throw new StrataError(
      'ERR_FORMAT_VERSION',
      `${spec.file} has catalog format version ${version}; this build reads versions up to ` +
        `${CATALOG_FORMAT_VERSION} (open it with a newer Strata)`,
    );
  }
  if (version === 0) throw corrupt('format version 0', spec.file, VERSION_OFFSET);
  if (view.getUint32(HEADER_CRC_OFFSET, true) !== crc32c(bytes, 0, HEADER_CRC_OFFSET)) {
    throw corrupt('file header crc mismatch', spec.file, HEADER_CRC_OFFSET);
  }
  return version;
}

/** The record at `offset` if it is whole, checks out and has an expected type. */
function readRecordAt(
  bytes: Uint8Array,
  offset: number,
  types: readonly RecordTypeValue[],
): ScannedRecord | undefined {
  if (bytes.length - offset < RECORD_HEADER_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, RECORD_HEADER_BYTES);
  const length = view.getUint32(0, true);
  if (length > RECORD_PAYLOAD_BYTES_MAX) return undefined;
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > bytes.length) return undefined;
  const type = bytes[offset + 8]! as RecordTypeValue;
  if (!types.includes(type)) return undefined;
  if (view.getUint32(4, true) !== crc32c(bytes, offset + 8, end)) return undefined;
  return { type, payload: bytes.subarray(offset + RECORD_HEADER_BYTES, end), offset };
}

/**
 * Whether any valid record starts after `offset`. Runs only when a record failed, so its cost
 * (one CRC per plausible position) is paid on the error path; for a real torn tail the rest of
 * the file is shorter than one record.
 */
function validRecordAfter(
  bytes: Uint8Array,
  offset: number,
  types: readonly RecordTypeValue[],
): boolean {
  for (let position = offset + 1; position + RECORD_HEADER_BYTES <= bytes.length; position++) {
    if (readRecordAt(bytes, position, types) !== undefined) return true;
  }
  return false;
}
