/**
 * Damaged tables: a reader either returns exactly the original data or throws ERR_CORRUPT naming
 * the file and the offset of the damaged block, never wrong data. Every byte of a format-1 table
 * is covered by a CRC (blocks and trailers by the block CRC, the footer by its own CRC and magic),
 * so in fact every single-byte flip must be detected; the test checks that too.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { crc32c } from '../../nvm/crc32c.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { isStrataError } from '../errors.js';
import { BlockBuilder } from './block-builder.js';
import { BlockCache } from './block-cache.js';
import { type BlockHandle, decodeBlockHandle, encodeBlockHandle } from './block-handle.js';
import { BlockReader } from './block-reader.js';
import { writeBlockTrailer } from './block-trailer.js';
import { BloomFilterBuilder } from './bloom-filter.js';
import { decodeFooter, encodeFooter } from './footer.js';
import { encodeInternalKey, SEQ_MAX, userKeyOf } from './internal-key.js';
import {
  BLOCK_TRAILER_BYTES,
  FOOTER_BYTES,
  maskCrc,
  TABLE_FORMAT_VERSION,
  writeU32,
} from './table-format.js';
import { encodeTableProperties, type StoredTableProperties } from './table-properties.js';
import { TableReader } from './table-reader.js';
import { buildTable, type Entry, entry, formatEntry } from './testing/table-fixtures.js';

const folder = makeTempFolder('sst-corrupt');
afterAll(() => folder.remove());
let nextFileNumber = 1;

const ENTRIES: readonly Entry[] = [
  entry('', 4, 1, 'empty-key'),
  entry('alpha', 9, 1, 'a9'),
  entry('alpha', 5, 0),
  entry('alpha', 2, 1, 'a2'),
  entry('bravo', 7, 1, 'b'.repeat(40)),
  entry('charlie', 3, 0),
  entry('delta', 8, 1, 'd8'),
  entry('delta', 6, 1, 'd6'),
  entry('echo', 1, 1, 'e'),
  entry('foxtrot', 5, 1, 'f'.repeat(20)),
];
const SNAPSHOTS = [0, 3, 5, 7, 9, SEQ_MAX];
const PROBES = ['', 'alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'a'];

/** Everything a reader can say about a table, as one string to compare. */
function readEverything(path: string): string {
  const reader = TableReader.open(path, {
    fileNumber: nextFileNumber++,
    cache: new BlockCache({ capacityBytes: 1 << 20 }),
  });
  try {
    const lines: string[] = [
      JSON.stringify(reader.properties, (_, value) =>
        value instanceof Uint8Array ? [...value] : value,
      ),
    ];
    const iterator = reader.iterator();
    for (iterator.seekFirst(); iterator.valid(); iterator.next())
      lines.push(formatEntry(iterator.key(), iterator.value()));
    for (iterator.seekLast(); iterator.valid(); iterator.prev())
      lines.push(formatEntry(iterator.key(), iterator.value()));
    for (const probe of PROBES) {
      const userKey = new TextEncoder().encode(probe);
      lines.push(`${probe} may=${reader.mayContain(userKey)}`);
      for (const snapshot of SNAPSHOTS) {
        const found = reader.get(userKey, snapshot);
        lines.push(found === undefined ? '-' : `${found.kind}.${found.seq}:${[...found.value]}`);
      }
    }
    return lines.join('\n');
  } finally {
    reader.close();
  }
}

/** Start offsets of the table's regions (each block with its trailer, then the footer). */
function regionStarts(bytes: Uint8Array, path: string): number[] {
  const footerOffset = bytes.length - FOOTER_BYTES;
  const footer = decodeFooter(bytes.subarray(footerOffset), { path, offsetBytes: footerOffset });
  const location = { path, offsetBytes: footer.index.offsetBytes };
  const indexStart = footer.index.offsetBytes;
  const index = BlockReader.parse(
    bytes.slice(indexStart, indexStart + footer.index.sizeBytes),
    location,
  );
  const starts: number[] = [];
  const iterator = index.iterator();
  for (iterator.seekFirst(); iterator.valid(); iterator.next()) {
    starts.push(decodeBlockHandle(iterator.value(), location).offsetBytes);
  }
  starts.push(footer.filter.offsetBytes, footer.properties.offsetBytes, indexStart, footerOffset);
  return starts;
}

function expectCorrupt(call: () => unknown, path: string, pattern?: RegExp): string {
  try {
    call();
  } catch (error) {
    if (!isStrataError(error, 'ERR_CORRUPT')) throw error;
    expect(error.message).toContain(`corrupt table ${path} at byte `);
    if (pattern !== undefined) expect(error.message).toMatch(pattern);
    return error.message;
  }
  throw new Error(`expected ERR_CORRUPT from ${path}`);
}

describe('corrupt tables', () => {
  const originalPath = folder.file('original.sst');
  buildTable(originalPath, ENTRIES, { blockSizeBytes: 48, restartInterval: 2, createdAtMs: 5 });
  const original = new Uint8Array(readFileSync(originalPath));
  const expected = readEverything(originalPath);
  const starts = regionStarts(original, originalPath);

  test('every flipped byte is refused with ERR_CORRUPT at its block', () => {
    expect(starts.length).toBeGreaterThan(6); // several data blocks, three meta blocks, the footer
    const path = folder.file('flipped.sst');
    let detected = 0;
    let attempts = 0;
    for (let offset = 0; offset < original.length; offset++) {
      const regionStart = starts.filter((start) => start <= offset).at(-1)!;
      for (const mask of [0x01, 0x80, 0xff]) {
        attempts++;
        const damaged = original.slice();
        damaged[offset]! ^= mask;
        writeFileSync(path, damaged);
        let actual: string;
        try {
          actual = readEverything(path);
        } catch (error) {
          if (!isStrataError(error, 'ERR_CORRUPT')) throw error;
          expect(error.message, `flip ${mask} at ${offset}`).toContain(
            `corrupt table ${path} at byte ${regionStart}:`,
          );
          detected++;
          continue;
        }
        expect(actual, `flip ${mask} at byte ${offset} changed what the table says`).toBe(expected);
      }
    }
    expect(detected).toBe(attempts);
    console.log(`corruption: ${attempts} flips over ${original.length} bytes, all detected`);
  });

  test('every truncation is refused with ERR_CORRUPT', () => {
    const path = folder.file('truncated.sst');
    for (let length = 0; length < original.length; length++) {
      writeFileSync(path, original.subarray(0, length));
      const message = expectCorrupt(() => readEverything(path), path);
      if (length < FOOTER_BYTES) expect(message).toMatch(/truncated/);
    }
    writeFileSync(path, Buffer.concat([original, Uint8Array.of(0)])); // a byte appended
    expectCorrupt(() => readEverything(path), path, /bad magic/);
  });

  test('a newer format version is named', () => {
    const path = folder.file('newer.sst');
    const damaged = original.slice();
    const footer = damaged.subarray(damaged.length - FOOTER_BYTES);
    writeU32(footer, 48, TABLE_FORMAT_VERSION + 1);
    writeU32(footer, 52, maskCrc(crc32c(footer, 0, 52)));
    writeFileSync(path, damaged);
    expectCorrupt(() => readEverything(path), path, /newer format version 2/);
  });

  test('an unknown compression type with a valid CRC is refused', () => {
    const path = folder.file('compressed.sst');
    const damaged = original.slice();
    const blockEnd = starts[1]! - BLOCK_TRAILER_BYTES; // first data block: [0, blockEnd)
    damaged[blockEnd] = 1;
    writeU32(damaged, blockEnd + 1, maskCrc(crc32c(damaged, 0, blockEnd + 1)));
    writeFileSync(path, damaged);
    expectCorrupt(() => readEverything(path), path, /at byte 0: unknown compression type 1/);
  });
});

describe('damage behind valid checksums', () => {
  test('an entry with an unknown kind', () => {
    const bad = encodeInternalKey(new TextEncoder().encode('kilo'), 3, 1);
    bad[bad.length - 8] = 9;
    const path = assembleTable({
      dataBlocks: [[entry('juliet', 4, 1, 'j'), { key: bad, value: new Uint8Array(0) }]],
    });
    expectCorrupt(
      () => readEverything(path),
      path,
      /at byte 0: a data block holds a key with a bad trailer/,
    );
  });

  test('an index handle outside the data region, or malformed', () => {
    const blocks = [[entry('a', 1, 1, 'x')], [entry('b', 1, 1, 'y')]];
    const outside = assembleTable({
      dataBlocks: blocks,
      indexValue: (handle, index) =>
        encodeBlockHandle(
          index === 1
            ? { offsetBytes: handle.offsetBytes, sizeBytes: handle.sizeBytes + 9 }
            : handle,
        ),
    });
    expectCorrupt(() => readEverything(outside), outside, /outside the data region/);
    const malformed = assembleTable({ dataBlocks: blocks, indexValue: () => Uint8Array.of(0xff) });
    expectCorrupt(() => readEverything(malformed), malformed, /malformed block handle/);
  });

  test('a data block whose restart array is impossible', () => {
    const path = assembleTable({
      dataBlocks: [[entry('a', 1, 1, 'x')]],
      editBlock: (contents) => writeU32(contents, contents.length - 4, 1000),
    });
    expectCorrupt(() => readEverything(path), path, /at byte 0: restart count 1000/);
  });

  test('properties that contradict themselves', () => {
    const path = assembleTable({
      dataBlocks: [[entry('a', 1, 1, 'x')]],
      properties: { seqMin: 9, seqMax: 1 },
    });
    expectCorrupt(() => readEverything(path), path, /seqMin above seqMax/);
  });

  test('footer handles that do not tile the file', () => {
    const path = assembleTable({ dataBlocks: [[entry('a', 1, 1, 'x')]], filterOffsetShift: 1 });
    expectCorrupt(() => readEverything(path), path, /footer handles do not tile the file/);
  });

  test('a file that is not a table', () => {
    const path = folder.file('foreign.sst');
    writeFileSync(path, 'x'.repeat(100));
    expectCorrupt(() => readEverything(path), path, /at byte 36: bad magic/);
  });
});

interface AssembleOptions {
  dataBlocks: ReadonlyArray<readonly Entry[]>;
  indexValue?: (handle: BlockHandle, index: number) => Uint8Array;
  editBlock?: (contents: Uint8Array) => void;
  properties?: Partial<StoredTableProperties>;
  filterOffsetShift?: number;
}

/**
 * Lays out a table by hand from the format's parts, so a test can put damage behind valid CRCs
 * that the writer's asserts would never let through.
 */
function assembleTable(options: AssembleOptions): string {
  const parts: Uint8Array[] = [];
  let offsetBytes = 0;
  const appendBlock = (contents: Uint8Array): BlockHandle => {
    const stored = new Uint8Array(contents.length + BLOCK_TRAILER_BYTES);
    stored.set(contents, 0);
    writeBlockTrailer(stored, 0, contents.length);
    parts.push(stored);
    const handle = { offsetBytes, sizeBytes: contents.length };
    offsetBytes += stored.length;
    return handle;
  };
  const index = new BlockBuilder(1);
  const filter = new BloomFilterBuilder(10);
  const all = options.dataBlocks.flat();
  options.dataBlocks.forEach((entries, position) => {
    const builder = new BlockBuilder(16);
    for (const item of entries) builder.add(item.key, item.value);
    const contents = builder.finish().slice();
    options.editBlock?.(contents);
    const handle = appendBlock(contents);
    const value = options.indexValue?.(handle, position) ?? encodeBlockHandle(handle);
    index.add(entries.at(-1)!.key, value);
  });
  for (const item of all) filter.addKey(userKeyOf(item.key));
  const filterHandle = appendBlock(filter.finish());
  const stored: StoredTableProperties = {
    formatVersion: TABLE_FORMAT_VERSION,
    entryCount: all.length,
    tombstoneCount: 0,
    userKeyCount: all.length,
    dataBlockCount: options.dataBlocks.length,
    rawKeyBytes: 0,
    rawValueBytes: 0,
    seqMin: 1,
    seqMax: 9,
    smallestKey: all[0]!.key,
    largestKey: all[0]!.key,
    createdAtMs: 0,
    ...options.properties,
  };
  const propertiesHandle = appendBlock(encodeTableProperties(stored));
  const indexHandle = appendBlock(index.finish().slice());
  const shift = options.filterOffsetShift ?? 0;
  parts.push(
    encodeFooter({
      index: indexHandle,
      filter: { ...filterHandle, offsetBytes: filterHandle.offsetBytes + shift },
      properties: propertiesHandle,
    }),
  );
  const path = folder.file(`assembled-${nextFileNumber++}.sst`);
  writeFileSync(path, Buffer.concat(parts));
  return path;
}
