import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  compareBytes,
  compareInternalKeys,
  compareUserKeys,
  decodeTrailer,
  encodeInternalKey,
  type InternalKeyKind,
  isValidEntryKey,
  KIND_DELETION,
  KIND_SEEK,
  KIND_VALUE,
  lookupKey,
  SEQ_MAX,
  userKeyOf,
  writeTrailer,
} from './internal-key.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const userKeyArbitrary = fc.oneof(
  fc.uint8Array({ maxLength: 12 }),
  fc
    .array(fc.constantFrom(0, 1, 0x7f, 0xfe, 0xff), { maxLength: 6 })
    .map((a) => Uint8Array.from(a)),
  fc.uint8Array({ minLength: 30, maxLength: 80 }).map((tail) => {
    const key = new Uint8Array(40 + tail.length); // long common prefixes take the native path
    key.fill(7, 0, 40);
    key.set(tail, 40);
    return key;
  }),
);
const seqArbitrary = fc.oneof(
  fc.nat(1000),
  fc.constant(SEQ_MAX),
  fc.integer({ min: 0, max: SEQ_MAX }),
);
const kindArbitrary = fc.constantFrom<InternalKeyKind>(0, 1, 2, 3);

function referenceCompare(
  a: { userKey: Uint8Array; seq: number; kind: number },
  b: { userKey: Uint8Array; seq: number; kind: number },
): number {
  const byUser = Buffer.compare(a.userKey, b.userKey);
  if (byUser !== 0) return byUser;
  if (a.seq !== b.seq) return a.seq > b.seq ? -1 : 1;
  if (a.kind !== b.kind) return a.kind > b.kind ? -1 : 1;
  return 0;
}

describe('internal key', () => {
  test('trailer is (seq << 8) | kind as u64 little-endian', () => {
    const key = encodeInternalKey(bytes('ab'), 0x0102030405, KIND_VALUE);
    expect([...key]).toEqual([0x61, 0x62, 0x01, 0x05, 0x04, 0x03, 0x02, 0x01, 0x00, 0x00]);
    expect(decodeTrailer(key)).toEqual({ seq: 0x0102030405, kind: KIND_VALUE });
    const largest = encodeInternalKey(new Uint8Array(0), SEQ_MAX, 3);
    expect([...largest]).toEqual([0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f]);
    expect(decodeTrailer(largest)).toEqual({ seq: SEQ_MAX, kind: 3 });
  });

  test('encode and decode round-trip', () => {
    fc.assert(
      fc.property(userKeyArbitrary, seqArbitrary, kindArbitrary, (userKey, seq, kind) => {
        const key = encodeInternalKey(userKey, seq, kind);
        expect(decodeTrailer(key)).toEqual({ seq, kind });
        expect(userKeyOf(key)).toEqual(userKey);
        expect(isValidEntryKey(key)).toBe(true);
      }),
    );
  });

  test('order: user key ascending, seq descending, kind descending', () => {
    const record = fc.record({ userKey: userKeyArbitrary, seq: seqArbitrary, kind: kindArbitrary });
    fc.assert(
      fc.property(record, record, (a, b) => {
        const actual = compareInternalKeys(
          encodeInternalKey(a.userKey, a.seq, a.kind),
          encodeInternalKey(b.userKey, b.seq, b.kind),
        );
        expect(Math.sign(actual)).toBe(Math.sign(referenceCompare(a, b)));
      }),
      { numRuns: 2000 },
    );
  });

  test('compareBytes agrees with Buffer.compare on any ranges', () => {
    fc.assert(
      fc.property(
        userKeyArbitrary,
        userKeyArbitrary,
        fc.nat(5),
        fc.nat(5),
        (a, b, skipA, skipB) => {
          const aStart = Math.min(skipA, a.length);
          const bStart = Math.min(skipB, b.length);
          const expected = Buffer.compare(a.subarray(aStart), b.subarray(bStart));
          const actual = compareBytes(a, aStart, a.length, b, bStart, b.length);
          expect(Math.sign(actual)).toBe(expected);
          expect(Math.sign(compareUserKeys(a, b))).toBe(Buffer.compare(a, b));
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('lookupKey sorts before every visible version and after every invisible one', () => {
    fc.assert(
      fc.property(
        userKeyArbitrary,
        seqArbitrary,
        seqArbitrary,
        kindArbitrary,
        (userKey, snapshot, seq, kind) => {
          const order = compareInternalKeys(
            lookupKey(userKey, snapshot),
            encodeInternalKey(userKey, seq, kind),
          );
          if (seq <= snapshot) expect(order).toBeLessThan(0);
          else expect(order).toBeGreaterThan(0);
        },
      ),
    );
  });

  test('seek keys and out-of-range trailers are not entry keys', () => {
    expect(isValidEntryKey(lookupKey(bytes('a'), 5))).toBe(false);
    expect(isValidEntryKey(new Uint8Array(7))).toBe(false);
    const tooNew = encodeInternalKey(bytes('a'), 1, KIND_DELETION);
    tooNew[tooNew.length - 1] = 0x20; // seq >= 2^53
    expect(isValidEntryKey(tooNew)).toBe(false);
    const key = new Uint8Array(8);
    writeTrailer(key, 0, 9, KIND_SEEK);
    expect(decodeTrailer(key)).toEqual({ seq: 9, kind: KIND_SEEK });
  });

  test('writeTrailer refuses seqs a JS number cannot hold', () => {
    expect(() => encodeInternalKey(bytes('a'), SEQ_MAX + 1, 1)).toThrow(/seq out of range/);
    expect(() => encodeInternalKey(bytes('a'), 1.5, 1)).toThrow(/integer/);
  });
});
