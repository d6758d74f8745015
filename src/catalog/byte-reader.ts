/**
 * Little-endian decoder for the catalog's records. Every read is bounds-checked; a short or
 * out-of-range field throws `ERR_CORRUPT` naming the file and the absolute byte offset, because
 * the bytes passed their CRC and still do not parse (a bug or a foreign writer), or they are a
 * checkpoint whose CRC is checked by the caller before decoding.
 */
import { StrataError } from '../errors.js';

const TWO_POW_32 = 2 ** 32;
/** Largest high half of a u64 that still makes a safe integer (2^53 - 1). */
const SAFE_HIGH_MAX = 2 ** 21 - 1;

export interface ReaderSource {
  /** File name for error messages. */
  readonly file: string;
  /** Offset of `bytes[0]` in that file. */
  readonly baseOffset: number;
}

export class ByteReader {
  private readonly view: DataView;
  private position = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly source: ReaderSource,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.position;
  }

  /** Absolute file offset of the next byte. */
  get offset(): number {
    return this.source.baseOffset + this.position;
  }

  u8(what: string): number {
    this.need(1, what);
    const value = this.view.getUint8(this.position);
    this.position += 1;
    return value;
  }

  u16(what: string): number {
    this.need(2, what);
    const value = this.view.getUint16(this.position, true);
    this.position += 2;
    return value;
  }

  u32(what: string): number {
    this.need(4, what);
    const value = this.view.getUint32(this.position, true);
    this.position += 4;
    return value;
  }

  u64(what: string): number {
    this.need(8, what);
    const low = this.view.getUint32(this.position, true);
    const high = this.view.getUint32(this.position + 4, true);
    if (high > SAFE_HIGH_MAX) throw this.corrupt(`${what} exceeds 2^53`);
    this.position += 8;
    return high * TWO_POW_32 + low;
  }

  /** A copy of `length` bytes. */
  raw(length: number, what: string): Uint8Array {
    this.need(length, what);
    const bytes = this.bytes.slice(this.position, this.position + length);
    this.position += length;
    return bytes;
  }

  bytesWithLength(what: string): Uint8Array {
    return this.raw(this.u32(`${what} length`), what);
  }

  string(what: string): string {
    const encoded = this.raw(this.u16(`${what} length`), what);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(encoded);
    } catch (error) {
      throw this.corrupt(`${what} is not UTF-8`, error);
    }
  }

  /** An ERR_CORRUPT at the current offset. */
  corrupt(problem: string, cause?: unknown): StrataError {
    const message = `${problem} in ${this.source.file} at byte ${this.offset}`;
    return new StrataError('ERR_CORRUPT', message, cause === undefined ? undefined : { cause });
  }

  private need(length: number, what: string): void {
    if (length > this.remaining) throw this.corrupt(`${what} runs past the end of its record`);
  }
}
