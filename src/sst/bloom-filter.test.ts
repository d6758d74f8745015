import { describe, expect, test } from 'vitest';
import { BloomFilter, BloomFilterBuilder, bloomHash, bloomProbeCount } from './bloom-filter.js';

const location = { path: 'memory.sst', offsetBytes: 0 };
const text = (value: string) => new TextEncoder().encode(value);

function u32Key(value: number): Uint8Array {
  const key = new Uint8Array(4);
  new DataView(key.buffer).setUint32(0, value, true);
  return key;
}

/** Key shapes: short integers (the weak spot of hashes without a final mix), text, long keys. */
const KEY_SHAPES: ReadonlyArray<{ name: string; key: (index: number) => Uint8Array }> = [
  { name: '4-byte integers', key: u32Key },
  { name: '2-byte integers', key: (index) => Uint8Array.of(index & 0xff, index >>> 8) },
  { name: 'text ids', key: (index) => text(`user${String(index).padStart(10, '0')}`) },
  { name: '100-byte keys', key: (index) => text(`${'x'.repeat(90)}${index}`) },
];

function measureFalsePositiveRate(
  keyOf: (index: number) => Uint8Array,
  bitsPerKey: number,
): number {
  const builder = new BloomFilterBuilder(bitsPerKey);
  for (let index = 0; index < 10_000; index++) builder.addKey(keyOf(index * 2));
  const filter = BloomFilter.parse(builder.finish(), location);
  for (let index = 0; index < 10_000; index++) {
    expect(filter.mayContain(keyOf(index * 2))).toBe(true); // never a false negative
  }
  let falsePositives = 0;
  for (let index = 0; index < 10_000; index++) {
    if (filter.mayContain(keyOf(index * 2 + 1))) falsePositives++;
  }
  return falsePositives / 10_000;
}

describe('bloom filter', () => {
  test('hash is MurmurHash3 x86_32 (published test vectors)', () => {
    expect(bloomHash(new Uint8Array(0), 0)).toBe(0);
    expect(bloomHash(new Uint8Array(0), 1)).toBe(0x514e28b7);
    expect(bloomHash(new Uint8Array(0), 0xffffffff)).toBe(0x81f16f39);
    expect(bloomHash(new Uint8Array(4), 0)).toBe(0x2362f9de);
    expect(bloomHash(text('a'), 0x9747b28c)).toBe(0x7fa09ea6);
    expect(bloomHash(text('ab'), 0x9747b28c)).toBe(0x74875592);
    expect(bloomHash(text('abc'), 0x9747b28c)).toBe(0xc84a62dd);
    expect(bloomHash(text('abcd'), 0x9747b28c)).toBe(0xf0478627);
    expect(bloomHash(text('Hello, world!'), 0x9747b28c)).toBe(0x24884cba);
    const fox = text('The quick brown fox jumps over the lazy dog');
    expect(bloomHash(fox, 0x9747b28c)).toBe(0x2fa826cd);
  });

  test('probe count is bitsPerKey * ln 2 in 1..30', () => {
    expect(bloomProbeCount(10)).toBe(6);
    expect(bloomProbeCount(1)).toBe(1);
    expect(bloomProbeCount(64)).toBe(30);
  });

  test.each(KEY_SHAPES)('about 1% false positives at 10 bits per key: $name', ({ key }) => {
    const rate = measureFalsePositiveRate(key, 10);
    console.log(`bloom false-positive rate, 10 bits/key: ${(rate * 100).toFixed(2)}%`);
    expect(rate).toBeLessThan(0.02);
  });

  test('more bits per key, fewer false positives', () => {
    const shape = KEY_SHAPES[0]!.key;
    expect(measureFalsePositiveRate(shape, 20)).toBeLessThan(0.002);
    expect(measureFalsePositiveRate(shape, 5)).toBeLessThan(0.15);
  });

  test('an empty filter contains nothing; the empty key is a key', () => {
    const empty = BloomFilter.parse(new BloomFilterBuilder(10).finish(), location);
    expect(empty.mayContain(text('a'))).toBe(false);
    const builder = new BloomFilterBuilder(10);
    builder.addKey(new Uint8Array(0));
    const filter = BloomFilter.parse(builder.finish(), location);
    expect(filter.mayContain(new Uint8Array(0))).toBe(true);
  });

  test('a filter with an impossible probe count or size is corrupt', () => {
    const bytes = new BloomFilterBuilder(10).finish();
    bytes[bytes.length - 1] = 31;
    expect(() => BloomFilter.parse(bytes, location)).toThrow(/filter probe count 31/);
    bytes[bytes.length - 1] = 0;
    expect(() => BloomFilter.parse(bytes, location)).toThrow(/filter probe count 0/);
    expect(() => BloomFilter.parse(new Uint8Array(4), location)).toThrow(/filter block of 4 bytes/);
  });
});
