/**
 * Every CRC32C path must agree with the original byte-at-a-time loop: the dispatching crc32c, the
 * JavaScript slice-by-8 (tested directly, so it is covered where the addon loaded too), and the
 * addon's hardware and portable code when the addon is built.
 */
import { expect, test, vi } from 'vitest';
import {
  CRC32C_NATIVE_MIN_BYTES,
  crc32c,
  crc32cBytewise,
  crc32cImplementation,
  crc32cSliceBy8,
} from './crc32c.js';
import { loadNativeAddon } from './native-addon.js';

type RangeCrc = (bytes: Uint8Array, start: number, end: number) => number;

const load = loadNativeAddon();
const addon = load.ok ? load.addon : undefined;
const CHECK_INPUT = new TextEncoder().encode('123456789');
const CHECK_VALUE = 0xe3069283;
const SEED = process.env['KV_SEED'] ? Number(process.env['KV_SEED']) : 1;

const implementations: [string, RangeCrc][] = [
  ['crc32c', crc32c],
  ['javascript slice-by-8', crc32cSliceBy8],
];
if (addon?.crc32c !== undefined) implementations.push(['native', addon.crc32c]);
if (addon?.crc32cPortable !== undefined) {
  implementations.push(['native slice-by-8', addon.crc32cPortable]);
}

test('every implementation gives the check value', () => {
  expect(crc32cBytewise(CHECK_INPUT)).toBe(CHECK_VALUE);
  for (const [name, crc] of implementations) {
    expect(crc(CHECK_INPUT, 0, CHECK_INPUT.length), name).toBe(CHECK_VALUE);
    expect(crc(new Uint8Array(0), 0, 0), name).toBe(0);
  }
});

test.each(implementations)('%s agrees with the bytewise loop for lengths 0..300', (_, crc) => {
  const random = prng(SEED);
  const buffer = new Uint8Array(1024);
  for (let index = 0; index < buffer.length; index++) buffer[index] = random() & 0xff;
  for (let length = 0; length <= 300; length++) {
    for (let trial = 0; trial < 4; trial++) {
      const start = random() % (buffer.length - length + 1);
      const context = `KV_SEED=${SEED} length=${length} start=${start}`;
      expect(crc(buffer, start, start + length), context).toBe(
        crc32cBytewise(buffer, start, start + length),
      );
      // The same bytes through a view that starts mid-buffer (byteOffset != 0).
      const view = buffer.subarray(start, start + length);
      expect(crc(view, 0, length), context).toBe(crc32cBytewise(buffer, start, start + length));
    }
  }
});

test.each(implementations)('%s agrees on block-sized and odd large ranges', (_, crc) => {
  const random = prng(SEED + 1);
  const buffer = new Uint8Array(70_000);
  for (let index = 0; index < buffer.length; index++) buffer[index] = random() & 0xff;
  for (const [start, end] of [
    [0, 4096],
    [3, 4104],
    [1, 65_537],
    [7, 70_000],
  ] as const) {
    expect(crc(buffer, start, end), `${start}..${end}`).toBe(crc32cBytewise(buffer, start, end));
  }
});

test('small arrays that live on the V8 heap go through the addon correctly', () => {
  if (addon?.crc32c === undefined) return;
  for (let length = 0; length <= 64; length++) {
    const bytes = new Uint8Array(length).map((_, index) => index * 7 + length);
    expect(addon.crc32c(bytes, 0, length)).toBe(crc32cBytewise(bytes));
    expect(addon.crc32c(bytes, length >> 1, length)).toBe(
      crc32cBytewise(bytes, length >> 1, length),
    );
  }
});

test('the addon refuses ranges outside the array', () => {
  if (addon?.crc32c === undefined) return;
  const crc = addon.crc32c;
  const bytes = new Uint8Array(200);
  expect(() => crc(bytes, 0, 201)).toThrow(TypeError);
  expect(() => crc(bytes, 10, 5)).toThrow(TypeError);
  expect(() => crc(bytes, -1, 5)).toThrow(TypeError);
  expect(() => crc(new DataView(bytes.buffer) as unknown as Uint8Array, 0, 5)).toThrow(TypeError);
});

test('crc32c uses the addon when it loaded, and its hardware path on x86-64', () => {
  expect(crc32cImplementation()).toBe(addon?.crc32c === undefined ? 'javascript' : 'native');
  if (addon !== undefined && process.arch === 'x64') expect(addon.crc32cHardware).toBe(true);
  expect(CRC32C_NATIVE_MIN_BYTES).toBeGreaterThan(64); // so on-heap arrays stay in JavaScript
});

test('with STRATA_NVM_ADDON=off crc32c falls back to JavaScript and still agrees', async () => {
  vi.resetModules();
  vi.stubEnv('STRATA_NVM_ADDON', 'off');
  try {
    const fresh = await import('./crc32c.js');
    expect(fresh.crc32cImplementation()).toBe('javascript');
    const buffer = new Uint8Array(5000).map((_, index) => (index * 31) & 0xff);
    expect(fresh.crc32c(buffer, 5, 4101)).toBe(crc32cBytewise(buffer, 5, 4101));
    expect(fresh.crc32c(CHECK_INPUT)).toBe(CHECK_VALUE);
  } finally {
    vi.unstubAllEnvs();
    vi.resetModules();
  }
});

/** mulberry32, as in src/ehash/testing/prng.ts (nvm sits below ehash, so it is not imported). */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return (value ^ (value >>> 14)) >>> 0;
  };
}
