/**
 * Reads values from a blob file by BlobRef, and walks its records for GC and recovery.
 * FORMAT.md, "File".
 *
 * The file is not immutable (records are appended, reserves filled in place), so it is read with
 * positioned reads, never mapped. The reader remembers the file size it last saw and asks again
 * (fstat) only when a ref reaches past it, so a reader opened before an append still reads the
 * newer records.
 *
 * Thread model: one reader per thread; any number of threads may read a file while its one
 * writer appends, because a committed ref's used bytes are never written again.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { crc32c } from '../../nvm/crc32c.js';
import { StrataError } from '../errors.js';
import {
  blobCorruption,
  checkFileHeader,
  FILE_HEADER_BYTES,
  RECORD_HEADER_BYTES,
} from './blob-format.js';
import { blobIoCall, readFully } from './blob-io.js';
import type { BlobRef } from './blob-ref.js';
import { walkRecords } from './record-walk.js';

export interface BlobRecordEntry {
  readonly key: Uint8Array;
  readonly valueOffset: number;
  readonly capacity: number;
}

export class BlobFileReader {
  readonly path: string;
  readonly fileNumber: number;
  private fd: number | undefined;
  private knownSizeBytes: number;

  private constructor(path: string, fileNumber: number, fd: number, sizeBytes: number) {
    this.path = path;
    this.fileNumber = fileNumber;
    this.fd = fd;
    this.knownSizeBytes = sizeBytes;
  }

  /** Checks the header: ERR_CORRUPT naming file and byte / ERR_FORMAT_VERSION; ERR_IO if missing. */
  static open(path: string, fileNumber: number): BlobFileReader {
    const fd = blobIoCall(path, 'open', () => openSync(path, 'r'));
    try {
      const sizeBytes = blobIoCall(path, 'stat', () => fstatSync(fd).size);
      const header = readFully(fd, path, {
        position: 0,
        length: Math.min(sizeBytes, FILE_HEADER_BYTES),
        offsetBytes: 0,
        what: 'file header',
      });
      checkFileHeader(header, path, fileNumber);
      return new BlobFileReader(path, fileNumber, fd, sizeBytes);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** The file's size now (one fstat). */
  get sizeBytes(): number {
    const fd = this.openFd();
    this.knownSizeBytes = blobIoCall(this.path, 'stat', () => fstatSync(fd).size);
    return this.knownSizeBytes;
  }

  /**
   * The value's `used` bytes in a fresh array, checked against the ref's CRC. ERR_CORRUPT naming
   * the file and value offset on a mismatch or when the bytes lie past the end of the file.
   * The record header before the value is not read: the value's CRC is what vouches for it.
   */
  read(ref: BlobRef): Uint8Array {
    const fd = this.openFd();
    this.checkRef(ref, ref.used);
    const value = readFully(fd, this.path, {
      position: ref.valueOffset,
      length: ref.used,
      offsetBytes: ref.valueOffset,
      what: 'blob value',
    });
    const crc = crc32c(value);
    if (crc !== ref.crc) {
      throw blobCorruption(
        this.path,
        ref.valueOffset,
        `value crc mismatch over ${ref.used} bytes (ref version ${ref.version})`,
      );
    }
    return value;
  }

  /**
   * Bytes [offset, offset+length) of the value, clipped to `used`. Not CRC-checked: the ref's CRC
   * covers the whole value, so checking a range would cost reading all of it, which is what a
   * range read exists to avoid. Callers that need verified bytes use read().
   * ERR_INVALID_ARGUMENT for a negative or non-integer offset or length.
   */
  readRange(ref: BlobRef, offset: number, length: number): Uint8Array {
    const fd = this.openFd();
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw invalid(`blob range offset must be a non-negative integer, got ${offset}`);
    }
    if (!Number.isSafeInteger(length) || length < 0) {
      throw invalid(`blob range length must be a non-negative integer, got ${length}`);
    }
    const start = Math.min(offset, ref.used);
    const end = Math.min(ref.used, start + length);
    this.checkRef(ref, end);
    return readFully(fd, this.path, {
      position: ref.valueOffset + start,
      length: end - start,
      offsetBytes: ref.valueOffset,
      what: 'blob value range',
    });
  }

  /**
   * Record headers in file order, each header CRC checked (ERR_CORRUPT naming file and offset).
   * Stops without an error at the end of the file or at a torn tail (record-walk.ts has the rules).
   * Walks the file as it is when iteration starts.
   */
  *records(): Iterable<BlobRecordEntry> {
    const fd = this.openFd();
    for (const record of walkRecords(fd, this.path, this.sizeBytes)) {
      yield { key: record.key, valueOffset: record.valueOffset, capacity: record.capacity };
    }
  }

  /** Idempotent. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    blobIoCall(this.path, 'close', () => closeSync(fd));
  }

  /** The ref names this file and its first `end` value bytes lie inside it (else ERR_CORRUPT). */
  private checkRef(ref: BlobRef, end: number): void {
    if (ref.fileNumber !== this.fileNumber) {
      throw invalid(`ref names blob file ${ref.fileNumber}, not ${this.fileNumber} (${this.path})`);
    }
    if (ref.valueOffset < FILE_HEADER_BYTES + RECORD_HEADER_BYTES) {
      throw blobCorruption(this.path, ref.valueOffset, 'ref points inside the file header');
    }
    const valueEnd = ref.valueOffset + end;
    if (valueEnd <= this.knownSizeBytes) return;
    if (valueEnd <= this.sizeBytes) return; // the file grew since we last looked
    throw blobCorruption(
      this.path,
      ref.valueOffset,
      `ref's ${end} bytes end at ${valueEnd}, past the end of a ${this.knownSizeBytes}-byte file`,
    );
  }

  private openFd(): number {
    if (this.fd === undefined) {
      throw new StrataError('ERR_CLOSED', `blob file reader ${this.path} is closed`);
    }
    return this.fd;
  }
}

function invalid(message: string): StrataError {
  return new StrataError('ERR_INVALID_ARGUMENT', message);
}
