/**
 * Walks the records of a blob file in file order, from the end of the file header, checking each
 * record header's CRC. It tells a torn tail from damage by these rules (FORMAT.md, "Crashes and
 * the torn tail"); the first one that applies at a record's offset decides:
 *
 *   1. the offset is the end of the file                  -> end
 *   2. fewer than 20 bytes remain (header cut off)         -> torn tail: end
 *   3. the 20 header bytes are all zero (never written)    -> torn tail: end
 *   4. magic is not RECORD_MAGIC                           -> ERR_CORRUPT at the record
 *   5. the key runs past the end of the file               -> torn tail: end
 *   6. headerCrc does not match header fields + key        -> ERR_CORRUPT at the record
 *   7. the value region runs past the end of the file      -> torn tail: end
 *   8. otherwise: a whole record; the next starts at the end of its region
 *
 * A complete record's region always lies inside the file, because the writer extends the file
 * over the last region's reserve (a hole) before anything is synced; so only a record that was
 * never synced can trip rules 2, 3, 5 or 7.
 *
 * Thread model: runs on the caller's thread over a descriptor it owns.
 */
import { assert } from '../assert.js';
import {
  blobCorruption,
  decodeRecordHeader,
  FILE_HEADER_BYTES,
  RECORD_HEADER_BYTES,
  RECORD_MAGIC,
  recordHeadCrc,
} from './blob-format.js';
import { readFully } from './blob-io.js';

export interface WalkedRecord {
  readonly key: Uint8Array;
  /** Offset of the record header. */
  readonly recordOffset: number;
  readonly valueOffset: number;
  readonly capacity: number;
  /** valueOffset + capacity: where the next record starts. */
  readonly endOffset: number;
}

export function* walkRecords(
  fd: number,
  path: string,
  sizeBytes: number,
): Generator<WalkedRecord, void, undefined> {
  assert(sizeBytes >= FILE_HEADER_BYTES, 'the file header was checked');
  let offset = FILE_HEADER_BYTES;
  // Every record takes at least a header, which bounds the loop.
  const recordCountMax = Math.floor((sizeBytes - FILE_HEADER_BYTES) / RECORD_HEADER_BYTES) + 1;
  for (let recordIndex = 0; recordIndex < recordCountMax; recordIndex++) {
    const record = readRecordAt(fd, path, sizeBytes, offset);
    if (record === undefined) return;
    assert(record.endOffset > offset);
    yield record;
    offset = record.endOffset;
  }
  assert(false, 'a record walk ends within its bound');
}

/** The end of the last whole record: where the next record goes. */
export function endOfRecords(fd: number, path: string, sizeBytes: number): number {
  let end = FILE_HEADER_BYTES;
  for (const record of walkRecords(fd, path, sizeBytes)) end = record.endOffset;
  return end;
}

/** The record at `offset`, or undefined at the end of the file or a torn tail. */
function readRecordAt(
  fd: number,
  path: string,
  sizeBytes: number,
  offset: number,
): WalkedRecord | undefined {
  if (offset === sizeBytes) return undefined; // rule 1
  if (offset + RECORD_HEADER_BYTES > sizeBytes) return undefined; // rule 2
  const what = 'record header';
  const header = readFully(fd, path, {
    position: offset,
    length: RECORD_HEADER_BYTES,
    offsetBytes: offset,
    what,
  });
  if (header.every((byte) => byte === 0)) return undefined; // rule 3
  const fields = decodeRecordHeader(header);
  if (fields.magic !== RECORD_MAGIC) {
    throw blobCorruption(path, offset, `bad record magic 0x${fields.magic.toString(16)}`);
  }
  const valueOffset = offset + RECORD_HEADER_BYTES + fields.keyLength;
  if (valueOffset > sizeBytes) return undefined; // rule 5
  const head = new Uint8Array(RECORD_HEADER_BYTES + fields.keyLength);
  head.set(header, 0);
  const key = readFully(fd, path, {
    position: offset + RECORD_HEADER_BYTES,
    length: fields.keyLength,
    offsetBytes: offset,
    what: 'record key',
  });
  head.set(key, RECORD_HEADER_BYTES);
  if (recordHeadCrc(head, fields.keyLength) !== fields.headerCrc) {
    throw blobCorruption(path, offset, 'record header crc mismatch');
  }
  if (fields.capacity < 0) throw blobCorruption(path, offset, 'capacity exceeds 2^53 - 1');
  const endOffset = valueOffset + fields.capacity;
  if (endOffset > sizeBytes) return undefined; // rule 7
  return { key, recordOffset: offset, valueOffset, capacity: fields.capacity, endOffset };
}
