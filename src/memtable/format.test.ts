/**
 * Golden bytes: the header page's fixed fields and the records of a small batch, compared with
 * hex dumps in testdata/format/. `UPDATE_TESTDATA=1` rewrites them. A change here is a format
 * change (FORMAT.md, version rules).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { NvmImage } from '../../nvm/image.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { KIND_DELETION, KIND_VALUE } from '../sst/internal-key.js';
import { murmur3 } from '../sst/murmur3.js';
import { murmurKeyHash } from './key-hash.js';
import { H_USED_BYTES, PAGE_BYTES, RUN_HEADER_BYTES } from './layout.js';
import { Memtable } from './memtable.js';

const TESTDATA = fileURLToPath(new URL('./testdata/format/', import.meta.url));

test('header and records match the version 1 golden dumps', () => {
  const temp = makeTempFolder('memtable-format');
  const image = NvmImage.open(`${temp.path}/image.nvm`, {
    backend: 'mapped',
    sizeMaxBytes: 1 << 20,
  });
  try {
    const header = Memtable.create(image, { runSizeBytes: 4096, baseSeq: 0x1_0000_0005 });
    const memtable = Memtable.open(image, header, { heightSeed: 1 });
    memtable.applyBatch([
      {
        kind: KIND_VALUE,
        userKey: Uint8Array.of(0x6b, 0),
        value: Uint8Array.of(1, 2, 3),
        seq: 0x1_0000_0006,
      },
      {
        kind: KIND_DELETION,
        userKey: new Uint8Array(0),
        value: new Uint8Array(0),
        seq: 0x1_0000_0007,
      },
      {
        kind: KIND_VALUE,
        userKey: Uint8Array.of(0x6b, 0),
        value: Uint8Array.of(9),
        seq: 0x1_0000_0008,
      },
    ]);
    const bytes = image.bytes;
    const headerStart = header * PAGE_BYTES;
    // Addresses are absolute: a 1 MiB image puts the header at page 2 (byte 0x2000), the first
    // run at page 3 (0x3000) and the hash table after them.
    expect(header).toBe(2);
    const headerDump = hexDump(bytes.subarray(headerStart, headerStart + H_USED_BYTES), [
      [0, 'magic, version, hash page, run bytes'],
      [16, 'base seq, first run, reserved'],
      [32, 'commit (tail, seq offset), intentBefore (count, start)'],
      [48, 'intent (start, count), reserved'],
      [80, 'head next[0] at +92'],
    ]);
    const run = image.words[(headerStart + 24) / 4]!;
    const recordsStart = run * PAGE_BYTES + RUN_HEADER_BYTES;
    const tail = image.words[(headerStart + 32) / 4]!;
    const recordsDump = hexDump(bytes.subarray(recordsStart, tail), []);
    memtable.close();
    compareGolden('header-v1.txt', headerDump);
    compareGolden('records-v1.txt', recordsDump);
  } finally {
    image.close();
    temp.remove();
  }
});

/** 16 bytes a line, grouped as u32 words, with notes. */
function hexDump(bytes: Uint8Array, notes: Array<[number, string]>): string {
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = Buffer.from(bytes.subarray(offset, offset + 16)).toString('hex');
    const note = notes.filter(([at]) => at >= offset && at < offset + 16).map(([, text]) => text);
    lines.push(
      `${offset.toString().padStart(4)}: ${row.replace(/(.{8})/g, '$1 ').trim()}${note.length ? `  # ${note.join('; ')}` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function compareGolden(name: string, actual: string): void {
  const path = `${TESTDATA}${name}`;
  if (process.env['UPDATE_TESTDATA'] === '1' || !existsSync(path)) {
    mkdirSync(TESTDATA, { recursive: true });
    writeFileSync(path, actual);
  }
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

test('the key hash is MurmurHash3 x86_32: its values are on disk (PmEHash keys)', () => {
  const text = (value: string): Uint8Array => new TextEncoder().encode(value);
  expect(murmur3(new Uint8Array(0), 0)).toBe(0);
  expect(murmur3(new Uint8Array(0), 1)).toBe(0x514e28b7);
  expect(murmur3(text('test'), 0)).toBe(0xba6bd213);
  expect(murmur3(text('Hello, world!'), 0x9747b28c)).toBe(0x24884cba);
  expect(murmur3(text('The quick brown fox jumps over the lazy dog'), 0x9747b28c)).toBe(0x2fa826cd);
  const out = new Uint32Array(2);
  murmurKeyHash(text('Hello, world!'), out);
  expect([out[0], out[1]]).toEqual([0x24884cba, murmur3(text('Hello, world!'), 0x5bd1e995)]);
});
