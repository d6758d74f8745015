/**
 * Little-endian encoder for the catalog's records (FORMAT.md "Field types"). Every value is
 * asserted in range for its width before it is written: an out-of-range value is a bug in the
 * caller, and writing it truncated would persist a lie.
 */
import { assert } from '../assert.js';

const TWO_POW_32 = 2 ** 32;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
const CAPACITY_START_BYTES = 256;

export class ByteWriter {
  private bytes = new Uint8Array(CAPACITY_START_BYTES);
  private view = new DataView(this.bytes.buffer);
  private lengthBytes = 0;

  get length(): number {
    return this.lengthBytes;
  }

  u8(value: number): this {
    assert(Number.isInteger(value) && value >= 0 && value <= 0xff, `u8 out of range: ${value}`);
    this.reserve(1);
    this.view.setUint8(this.lengthBytes, value);
    this.lengthBytes += 1;
    return this;
  }

  u16(value: number): this {
    assert(Number.isInteger(value) && value >= 0 && value <= U16_MAX, `u16 out of range: ${value}`);
    this.reserve(2);
    this.view.setUint16(this.lengthBytes, value, true);
    this.lengthBytes += 2;
    return this;
  }

  u32(value: number): this {
    assert(Number.isInteger(value) && value >= 0 && value <= U32_MAX, `u32 out of range: ${value}`);
    this.reserve(4);
    this.view.setUint32(this.lengthBytes, value, true);
    this.lengthBytes += 4;
    return this;
  }

  /** A safe integer as u64 (two u32 halves, low first). */
  u64(value: number): this {
    assert(Number.isSafeInteger(value) && value >= 0, `u64 out of safe range: ${value}`);
    this.reserve(8);
    this.view.setUint32(this.lengthBytes, value % TWO_POW_32, true);
    this.view.setUint32(this.lengthBytes + 4, Math.floor(value / TWO_POW_32), true);
    this.lengthBytes += 8;
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.lengthBytes);
    this.lengthBytes += bytes.length;
    return this;
  }

  /** u32 length, then the bytes. */
  bytesWithLength(bytes: Uint8Array): this {
    return this.u32(bytes.length).raw(bytes);
  }

  /** u16 byte length, then the UTF-8 bytes. */
  string(text: string): this {
    const encoded = new TextEncoder().encode(text);
    return this.u16(encoded.length).raw(encoded);
  }

  /** A copy of what was written. */
  finish(): Uint8Array {
    return this.bytes.slice(0, this.lengthBytes);
  }

  private reserve(extraBytes: number): void {
    const needed = this.lengthBytes + extraBytes;
    if (needed <= this.bytes.length) return;
    let capacity = this.bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.bytes.subarray(0, this.lengthBytes));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }
}
