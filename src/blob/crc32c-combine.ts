/**
 * CRC32C of a concatenation from the CRCs of its parts: crc(A || B) from crc(A), crc(B) and
 * len(B), without the bytes. An in-place append (blob-file-writer.ts) uses it to extend a value's
 * CRC by the appended bytes alone, never reading the old ones back.
 *
 * zlib's `crc32_combine` method (Mark Adler, zlib 1.2.12+), with the Castagnoli polynomial. A
 * CRC is the remainder of the message polynomial times x^32 modulo P (reflected: bit 31 is x^0).
 * Appending len(B) bytes multiplies A's remainder by x^(8 len(B)) mod P; the initial value and
 * final xor (both 0xFFFFFFFF) cancel, so crc(A||B) = crc(A) * x^(8 len(B)) mod P xor crc(B).
 * x^(8n) is assembled from a table of x^(2^k) mod P by the bits of n: O(log n) multiplications
 * of 32 steps each.
 */
import { assert } from '../assert.js';

const CRC32C_POLYNOMIAL_REFLECTED = 0x82f63b78;
/** x^0 in the reflected representation. */
const X_POWER_0 = 0x80000000;
/** x^(2^k) for k < 64 covers every safe-integer length times 8 (k <= 56). */
const POWER_TABLE_SIZE = 64;

const POWER_TABLE: Uint32Array = buildPowerTable();

/** Requires: u32 CRCs; lengthB a safe non-negative integer (the byte length of B). */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  assert(Number.isInteger(crcA) && crcA >= 0 && crcA <= 0xffffffff, 'crcA is a u32');
  assert(Number.isInteger(crcB) && crcB >= 0 && crcB <= 0xffffffff, 'crcB is a u32');
  assert(Number.isSafeInteger(lengthB) && lengthB >= 0, 'lengthB is a safe non-negative integer');
  return (multiplyModP(xPowerEightN(lengthB), crcA) ^ crcB) >>> 0;
}

/** a * b modulo P, both reflected polynomials of degree < 32. */
function multiplyModP(a: number, b: number): number {
  let product = 0;
  let mask = X_POWER_0;
  let multiplicand = b >>> 0;
  for (let bit = 0; bit < 32; bit++) {
    if ((a & mask) !== 0) product ^= multiplicand;
    mask >>>= 1;
    multiplicand =
      multiplicand & 1 ? (multiplicand >>> 1) ^ CRC32C_POLYNOMIAL_REFLECTED : multiplicand >>> 1;
  }
  return product >>> 0;
}

/** x^(8 n) mod P: the factor that shifts a remainder past n bytes. */
function xPowerEightN(n: number): number {
  let power = X_POWER_0;
  let remaining = n;
  // Bit j of n contributes x^(8 * 2^j) = x^(2^(j+3)).
  for (let k = 3; remaining > 0; k++) {
    assert(k < POWER_TABLE_SIZE);
    if (remaining % 2 === 1) power = multiplyModP(POWER_TABLE[k]!, power);
    remaining = Math.floor(remaining / 2);
  }
  return power;
}

function buildPowerTable(): Uint32Array {
  const table = new Uint32Array(POWER_TABLE_SIZE);
  let power = X_POWER_0 >>> 1; // x^1
  table[0] = power;
  for (let k = 1; k < POWER_TABLE_SIZE; k++) {
    power = multiplyModP(power, power);
    table[k] = power;
  }
  return table;
}

assert(multiplyModP(X_POWER_0, 0x12345678) === 0x12345678); // 1 * b = b
