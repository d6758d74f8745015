/**
 * Writes records to a blob file and appends to values in place. FORMAT.md, "File".
 *
 *   +-------------+----------+-----+-------+---------------------+----------+-----+-------+---
 *   | file header | record 0 | key | value | reserve (a hole)    | record 1 | key | value | ...
 *   +-------------+----------+-----+-------+---------------------+----------+-----+-------+---
 *     32 bytes      20 bytes         used    capacity - used       at valueOffset + capacity
 *
 * A record writes its header, key and value bytes only; its reserve is skipped, because the next
 * record is written with a positioned write at the end of the region, and after every batch the
 * file is extended (ftruncate) over the last region. So the reserve is a hole: it costs no disk
 * blocks until an append fills it, and the file size is always the end of the last region, which
 * is what tells a complete record from a torn one after a crash (record-walk.ts).
 *
 * The used length and CRC of a value live in its BlobRef, not in the file: an append writes the
 * new bytes into the reserve and returns a new ref, whose CRC is combined from the old CRC and
 * the new bytes' (crc32c-combine.ts) without reading the old bytes. Nothing here is durable until
 * `sync()`; the engine syncs before it commits the refs it got back.
 *
 * Thread model: one writer per file, on one thread (the main thread for the engine's active blob
 * file, a Piscina worker for a GC output). Readers on any thread may read the same file at the
 * same time: a writer only writes past the end of every committed ref's used bytes.
 */
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, rmSync } from 'node:fs';
import { crc32c } from '../../nvm/crc32c.js';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import {
  blobCorruption,
  checkFileHeader,
  encodeFileHeader,
  encodeRecordHead,
  FILE_HEADER_BYTES,
  RECORD_HEADER_BYTES,
} from './blob-format.js';
import { blobIoCall, readFully, writeFully } from './blob-io.js';
import type { BlobRef } from './blob-ref.js';
import { crc32cCombine } from './crc32c-combine.js';
import { endOfRecords } from './record-walk.js';

export interface BlobRecordInput {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  /** Bytes reserved for the value, >= value.length (see reserve-policy.ts). */
  readonly capacity: number;
}

export interface OpenForAppendOptions {
  /**
   * The logical end the engine committed (a former `endOffset`). Without it the end is found by
   * walking the records. Either way, bytes after the end are a torn tail and are cut off.
   */
  readonly endOffset?: number;
}

/** A record whose header, key and value take at most this many bytes is written in one call. */
const SINGLE_WRITE_BYTES_MAX = 64 << 10;
const VERSION_MAX = 0xffffffff;

export class BlobFileWriter {
  readonly fileNumber: number;
  readonly path: string;
  private fd: number | undefined;
  private endOffsetValue: number;

  private constructor(path: string, fileNumber: number, fd: number, endOffset: number) {
    this.path = path;
    this.fileNumber = fileNumber;
    this.fd = fd;
    this.endOffsetValue = endOffset;
  }

  /** Creates `path` (must not exist: ERR_IO naming it) and writes the header. */
  static create(path: string, fileNumber: number): BlobFileWriter {
    checkFileNumber(fileNumber);
    const fd = blobIoCall(path, 'create', () => openSync(path, 'wx'));
    try {
      writeFully(fd, path, encodeFileHeader(fileNumber), 0);
    } catch (error) {
      closeQuietly(fd);
      rmSync(path, { force: true });
      throw error;
    }
    return new BlobFileWriter(path, fileNumber, fd, FILE_HEADER_BYTES);
  }

  /**
   * Reopens an existing blob file to append records after its last complete one and to write in
   * place. Checks the header (ERR_CORRUPT / ERR_FORMAT_VERSION), cuts off a torn tail and syncs
   * the cut, so that stale bytes never reappear behind records appended later.
   */
  static openForAppend(
    path: string,
    fileNumber: number,
    options: OpenForAppendOptions = {},
  ): BlobFileWriter {
    checkFileNumber(fileNumber);
    const fd = blobIoCall(path, 'open', () => openSync(path, 'r+'));
    try {
      const sizeBytes = blobIoCall(path, 'stat', () => fstatSync(fd).size);
      const header = readFully(fd, path, {
        position: 0,
        length: Math.min(sizeBytes, FILE_HEADER_BYTES),
        offsetBytes: 0,
        what: 'file header',
      });
      checkFileHeader(header, path, fileNumber);
      const endOffset = options.endOffset ?? endOfRecords(fd, path, sizeBytes);
      checkCommittedEnd(path, endOffset, sizeBytes);
      if (sizeBytes > endOffset) {
        blobIoCall(path, 'truncate', () => ftruncateSync(fd, endOffset));
        blobIoCall(path, 'fdatasync', () => fdatasyncSync(fd));
      }
      return new BlobFileWriter(path, fileNumber, fd, endOffset);
    } catch (error) {
      closeQuietly(fd);
      throw error;
    }
  }

  /** Logical end: where the next record goes (after the last record's full capacity). */
  get endOffset(): number {
    return this.endOffsetValue;
  }

  get closed(): boolean {
    return this.fd === undefined;
  }

  /**
   * Writes the records with positioned writes (a value above 1 MiB in 1 MiB fragments) and
   * returns one ref per record: version 1, used = value.length, crc of the value. Not durable
   * until sync(). After an ERR_IO nothing is committed: the next batch overwrites the same space.
   * Requires: capacity >= value.length for every record (else ERR_INVALID_ARGUMENT, nothing written).
   */
  appendRecords(records: readonly BlobRecordInput[]): BlobRef[] {
    const fd = this.openFd();
    for (const record of records) checkRecordInput(record);
    const refs: BlobRef[] = [];
    let offset = this.endOffsetValue;
    for (const record of records) {
      const valueOffset = offset + RECORD_HEADER_BYTES + record.key.length;
      writeRecord(fd, this.path, offset, record);
      refs.push({
        fileNumber: this.fileNumber,
        valueOffset,
        used: record.value.length,
        capacity: record.capacity,
        version: 1,
        crc: crc32c(record.value),
      });
      offset = valueOffset + record.capacity;
      assert(Number.isSafeInteger(offset), 'a blob file ends below 2^53');
    }
    if (records.length > 0) {
      // Cover the last reserve (a hole) so the file size marks the end of the last region; this
      // also cuts off whatever a failed earlier batch left beyond it.
      blobIoCall(this.path, 'extend', () => ftruncateSync(fd, offset));
    }
    this.endOffsetValue = offset;
    return refs;
  }

  /**
   * Writes `bytes` at ref.valueOffset + ref.used (the reserve) and returns the new ref: used +=
   * bytes.length, version + 1, crc combined without reading the old bytes. The old ref still
   * reads its old prefix. Not durable until sync().
   * Requires: `ref` is the newest ref of its value (an append from an older one would overwrite
   * bytes a newer ref covers); else the CRC check of the newer ref fails on read.
   * ERR_INVALID_ARGUMENT if it does not fit the capacity or the ref names another file.
   */
  writeInPlace(ref: BlobRef, bytes: Uint8Array): BlobRef {
    const fd = this.openFd();
    if (ref.fileNumber !== this.fileNumber) {
      throw invalid(`ref names blob file ${ref.fileNumber}, not ${this.fileNumber} (${this.path})`);
    }
    if (ref.used + bytes.length > ref.capacity) {
      throw invalid(
        `append of ${bytes.length} bytes does not fit: ${ref.used} of ${ref.capacity} bytes used`,
      );
    }
    const regionEnd = ref.valueOffset + ref.capacity;
    if (ref.valueOffset < FILE_HEADER_BYTES + RECORD_HEADER_BYTES || regionEnd > this.endOffset) {
      throw invalid(`ref region [${ref.valueOffset}, ${regionEnd}) is not inside ${this.path}`);
    }
    if (ref.version >= VERSION_MAX) throw invalid(`ref version ${ref.version} is the last one`);
    writeFully(fd, this.path, bytes, ref.valueOffset + ref.used);
    const crc = crc32cCombine(ref.crc, crc32c(bytes), bytes.length);
    return { ...ref, used: ref.used + bytes.length, version: ref.version + 1, crc };
  }

  /** fdatasync: the records and in-place writes so far, and the file size, are durable. */
  sync(): void {
    const fd = this.openFd();
    blobIoCall(this.path, 'fdatasync', () => fdatasyncSync(fd));
  }

  /** Idempotent. Does not sync. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    blobIoCall(this.path, 'close', () => closeSync(fd));
  }

  private openFd(): number {
    if (this.fd === undefined) {
      throw new StrataError('ERR_CLOSED', `blob file writer ${this.path} is closed`);
    }
    return this.fd;
  }
}

/** Header, key and value at `offset`; small records in one write, else head then fragments. */
function writeRecord(fd: number, path: string, offset: number, record: BlobRecordInput): void {
  const headBytes = RECORD_HEADER_BYTES + record.key.length;
  if (headBytes + record.value.length <= SINGLE_WRITE_BYTES_MAX) {
    const bytes = encodeRecordHeadWithValue(record);
    writeFully(fd, path, bytes, offset);
    return;
  }
  writeFully(fd, path, encodeRecordHead(record.key, record.capacity), offset);
  writeFully(fd, path, record.value, offset + headBytes);
}

function encodeRecordHeadWithValue(record: BlobRecordInput): Uint8Array {
  const bytes = encodeRecordHead(record.key, record.capacity, record.value.length);
  bytes.set(record.value, RECORD_HEADER_BYTES + record.key.length);
  return bytes;
}

function checkRecordInput(record: BlobRecordInput): void {
  if (!Number.isSafeInteger(record.capacity) || record.capacity < record.value.length) {
    throw invalid(
      `blob record capacity ${record.capacity} must be an integer >= its value's ${record.value.length} bytes`,
    );
  }
  if (record.key.length > 0xffffffff)
    throw invalid(`blob record key of ${record.key.length} bytes`);
}

function checkFileNumber(fileNumber: number): void {
  if (!Number.isSafeInteger(fileNumber) || fileNumber < 0) {
    throw invalid(`blob file number must be a non-negative safe integer, got ${fileNumber}`);
  }
}

function checkCommittedEnd(path: string, endOffset: number, sizeBytes: number): void {
  if (!Number.isSafeInteger(endOffset) || endOffset < FILE_HEADER_BYTES) {
    throw invalid(`blob file ${path}: end offset ${endOffset} is not past the file header`);
  }
  if (endOffset > sizeBytes) {
    throw blobCorruption(path, sizeBytes, `file ends before its committed end ${endOffset}`);
  }
}

function invalid(message: string): StrataError {
  return new StrataError('ERR_INVALID_ARGUMENT', message);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already failing with a more useful error; a failed close of this descriptor adds nothing.
  }
}
