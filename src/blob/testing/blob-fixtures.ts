/** Helpers shared by the blob tests: deterministic bytes, byte flips, error expectations. */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { expect } from 'vitest';

/** `length` bytes from a xorshift generator seeded by `seed`: fast for large values. */
export function patternBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = (seed | 0) ^ 0x9e3779b9 || 1;
  for (let index = 0; index < length; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[index] = state & 0xff;
  }
  return bytes;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Xors one byte of the file at `offset` with `mask` (default 0x01). */
export function flipByte(path: string, offset: number, mask = 0x01): void {
  const fd = openSync(path, 'r+');
  try {
    const byte = new Uint8Array(1);
    expect(readSync(fd, byte, 0, 1, offset)).toBe(1);
    byte[0] = byte[0]! ^ mask;
    writeSync(fd, byte, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

export function writeAt(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Byte equality without vitest's element-wise deep equality, which is slow on large arrays. */
export function expectBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  if (Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(expected)) return;
  let index = 0;
  while (index < actual.length && index < expected.length && actual[index] === expected[index]) {
    index++;
  }
  expect.fail(
    `${what}: ${actual.length} bytes, expected ${expected.length}; first difference at ${index}`,
  );
}

export { expectStrataError } from '../../testing/expect-strata-error.js';
