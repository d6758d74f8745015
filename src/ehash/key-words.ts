/**
 * Conversion of public keys and values (bigint, or a safe non-negative integer number) into the
 * two unsigned 32-bit halves the table stores, and the 32-bit hash that picks a directory entry.
 */
import { StrataError, type StrataErrorCode } from '../errors.js';

const TWO_32 = 2 ** 32;
const U64_LIMIT = 1n << 64n;

/** Scratch pair filled by `splitU64`: [0] = low half, [1] = high half. One per thread. */
export const scratchWords = new Uint32Array(2);

/** Fills scratchWords with the halves of `input`, or throws `code` for anything out of range. */
export function splitU64(input: unknown, code: StrataErrorCode, what: string): void {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) throw rangeError(input, code, what);
    scratchWords[0] = input % TWO_32;
    scratchWords[1] = Math.floor(input / TWO_32);
    return;
  }
  if (typeof input === 'bigint') {
    if (input < 0n || input >= U64_LIMIT) throw rangeError(input, code, what);
    scratchWords[0] = Number(input & 0xffffffffn);
    scratchWords[1] = Number(input >> 32n);
    return;
  }
  throw new StrataError(
    code,
    `${what} must be a bigint in [0, 2^64) or a safe non-negative integer, got ${typeof input}`,
  );
}

export function joinU64(high: number, low: number): bigint {
  return (BigInt(high) << 32n) | BigInt(low);
}

/** Requires: both halves are unsigned 32-bit integers (checked by the `*Words` entry points). */
export function isU32(value: number): boolean {
  return value >>> 0 === value;
}

/**
 * murmur3's 32-bit finaliser over the low half mixed with the high half. It is a bijection on the
 * low half, so keys below 2^32 (all course keys) never collide; directory entries use its low bits.
 */
export function hashKey(high: number, low: number): number {
  let hash = (low ^ Math.imul(high, 0x9e3779b1)) >>> 0;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

function rangeError(input: number | bigint, code: StrataErrorCode, what: string): StrataError {
  return new StrataError(code, `${what} ${String(input)} is outside [0, 2^64) or not an integer`);
}
