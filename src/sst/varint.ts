/**
 * LEB128 varints as LevelDB writes them: 7 bits per byte, least significant group first, the high
 * bit set on every byte but the last. FORMAT.md, "Integers".
 *
 *   300 = 0b1_0010_1100  ->  [1010_1100] [0000_0010]
 *                             ^ more      ^ last
 *
 * Varint32 holds u32 (at most 5 bytes); varint64 holds what a JS number holds exactly, u53 (at most
 * 8 bytes here; the format allows 10). Decoders never throw: they return -1 for a truncated or
 * overlong varint so the caller can report corruption with its file and offset.
 */
import { assert } from '../assert.js';

export const VARINT32_BYTES_MAX = 5;
export const VARINT64_BYTES_MAX = 10;

/** Where a decoder stopped; reused by a caller so that decoding allocates nothing. */
export interface ByteCursor {
  offset: number;
}

export function varint32Length(value: number): number {
  assert(Number.isInteger(value) && value >= 0 && value <= 0xffffffff, 'varint32 out of range');
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

export function varint64Length(value: number): number {
  assert(Number.isSafeInteger(value) && value >= 0, 'varint64 out of range');
  let length = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) length++;
  return length;
}

/**
 * Writes `value` at `offset` and returns the offset after it.
 * Requires: value is a u32; the target has varint32Length(value) bytes free at offset.
 */
export function encodeVarint32(target: Uint8Array, offset: number, value: number): number {
  assert(Number.isInteger(value) && value >= 0 && value <= 0xffffffff, 'varint32 out of range');
  let rest = value;
  let position = offset;
  while (rest >= 0x80) {
    target[position++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  target[position++] = rest;
  assert(position <= target.length, 'varint32 past the end of its buffer');
  return position;
}

/**
 * Writes `value` at `offset` and returns the offset after it.
 * Requires: value is a safe non-negative integer; room for varint64Length(value) bytes.
 */
export function encodeVarint64(target: Uint8Array, offset: number, value: number): number {
  assert(Number.isSafeInteger(value) && value >= 0, 'varint64 out of range');
  let rest = value;
  let position = offset;
  while (rest >= 0x80) {
    target[position++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  target[position++] = rest;
  assert(position <= target.length, 'varint64 past the end of its buffer');
  return position;
}

/**
 * Reads a varint32 at cursor.offset, not past `limit`, and advances the cursor. Returns -1 (cursor
 * unspecified) when the bytes end early or the value does not fit 32 bits.
 */
export function decodeVarint32(bytes: Uint8Array, cursor: ByteCursor, limit: number): number {
  let value = 0;
  let position = cursor.offset;
  for (let shift = 0; shift < 28; shift += 7) {
    if (position >= limit) return -1;
    const byte = bytes[position++]!;
    value |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      cursor.offset = position;
      return value;
    }
  }
  if (position >= limit) return -1;
  const last = bytes[position++]!;
  if (last > 0x0f) return -1; // a fifth byte carries only bits 28..31
  cursor.offset = position;
  return value + last * 0x10000000;
}

/**
 * Reads a varint64 at cursor.offset, not past `limit`, and advances the cursor. Returns -1 when
 * the bytes end early, the varint is longer than 10 bytes, or the value exceeds 2^53 - 1.
 */
export function decodeVarint64(bytes: Uint8Array, cursor: ByteCursor, limit: number): number {
  let value = 0;
  let scale = 1;
  let position = cursor.offset;
  for (let index = 0; index < VARINT64_BYTES_MAX; index++) {
    if (position >= limit) return -1;
    const byte = bytes[position++]!;
    value += (byte & 0x7f) * scale;
    if (value > Number.MAX_SAFE_INTEGER) return -1;
    if (byte < 0x80) {
      cursor.offset = position;
      return value;
    }
    scale *= 0x80;
  }
  return -1;
}
