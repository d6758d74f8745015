import fc from 'fast-check';
import { expect, test } from 'vitest';
import {
  decodeVarint32,
  decodeVarint64,
  encodeVarint32,
  encodeVarint64,
  varint32Length,
  varint64Length,
} from './varint.js';

test('varint32 round-trips every width', () => {
  const boundaries = [0, 1, 127, 128, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28];
  for (const value of [...boundaries, 0xffffffff]) {
    const buffer = new Uint8Array(5);
    const end = encodeVarint32(buffer, 0, value);
    expect(end).toBe(varint32Length(value));
    const cursor = { offset: 0 };
    expect(decodeVarint32(buffer, cursor, end)).toBe(value);
    expect(cursor.offset).toBe(end);
    expect(decodeVarint32(buffer, { offset: 0 }, end - 1)).toBe(-1); // truncated
  }
  expect([...encodeVarint32Bytes(300)]).toEqual([0xac, 0x02]);
});

test('varint64 round-trips safe integers', () => {
  fc.assert(
    fc.property(fc.oneof(fc.nat(), fc.maxSafeNat()), (value) => {
      const buffer = new Uint8Array(10);
      const end = encodeVarint64(buffer, 0, value);
      expect(end).toBe(varint64Length(value));
      const cursor = { offset: 0 };
      expect(decodeVarint64(buffer, cursor, end)).toBe(value);
      expect(cursor.offset).toBe(end);
    }),
  );
});

test('malformed varints decode to -1', () => {
  expect(decodeVarint32(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x10]), { offset: 0 }, 5)).toBe(
    -1,
  );
  expect(decodeVarint32(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]), { offset: 0 }, 5)).toBe(
    0xffffffff,
  );
  expect(decodeVarint64(new Uint8Array(11).fill(0x80), { offset: 0 }, 11)).toBe(-1);
  const above = Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]); // 2^53
  expect(decodeVarint64(above, { offset: 0 }, above.length)).toBe(-1);
  expect(decodeVarint64(new Uint8Array(0), { offset: 0 }, 0)).toBe(-1);
});

function encodeVarint32Bytes(value: number): Uint8Array {
  const buffer = new Uint8Array(5);
  return buffer.subarray(0, encodeVarint32(buffer, 0, value));
}
