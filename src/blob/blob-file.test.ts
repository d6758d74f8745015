/**
 * Blob files: random records round-trip through writer, refs and reader; in-place appends match
 * a concatenation oracle while older refs keep reading their prefix; the reserve is a hole on
 * disk; large values go through fragments; reopening for append continues the file.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { crc32c } from '../../nvm/crc32c.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { BlobFileReader, BlobFileWriter, blobFileName } from './blob-file.js';
import { FILE_HEADER_BYTES, RECORD_HEADER_BYTES } from './blob-format.js';
import { type BlobRef, decodeBlobRef, encodeBlobRef } from './blob-ref.js';
import {
  concatBytes,
  expectBytes,
  expectStrataError,
  patternBytes,
} from './testing/blob-fixtures.js';

const folder = makeTempFolder('blob-file');
afterAll(() => folder.remove());
let nextFileNumber = 1;

function newFile(): { path: string; fileNumber: number } {
  const fileNumber = nextFileNumber++;
  return { path: folder.file(blobFileName(fileNumber)), fileNumber };
}

const recordArbitrary = fc.record({
  key: fc.uint8Array({ maxLength: 40 }),
  valueLength: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 1, max: 100 }),
    fc.integer({ max: 70_000, min: 101 }),
  ),
  extra: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20_000 })),
  seed: fc.integer(),
});

describe('blob file', () => {
  test('blobFileName is the catalog scheme', () => {
    expect(blobFileName(7)).toBe('000007.blob');
    expect(blobFileName(1234567)).toBe('1234567.blob');
  });

  test('round trip: random records in batches read back; refs encode; records() in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(recordArbitrary, { maxLength: 6 }), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (batches, reopenBetween) => {
          const { path, fileNumber } = newFile();
          let writer = BlobFileWriter.create(path, fileNumber);
          const written: { key: Uint8Array; value: Uint8Array; ref: BlobRef }[] = [];
          try {
            for (const batch of batches) {
              const inputs = batch.map((record) => {
                const value = patternBytes(record.valueLength, record.seed);
                return { key: record.key, value, capacity: value.length + record.extra };
              });
              const endBefore = writer.endOffset;
              const refs = writer.appendRecords(inputs);
              expect(refs.length).toBe(inputs.length);
              let offset = endBefore;
              inputs.forEach((input, index) => {
                const ref = refs[index]!;
                expect(ref).toEqual({
                  fileNumber,
                  valueOffset: offset + RECORD_HEADER_BYTES + input.key.length,
                  used: input.value.length,
                  capacity: input.capacity,
                  version: 1,
                  crc: crc32c(input.value),
                });
                offset = ref.valueOffset + ref.capacity;
                written.push({ key: input.key, value: input.value, ref });
              });
              expect(writer.endOffset).toBe(offset);
              // The file is extended over the last reserve: its size is the logical end.
              expect(statSync(path).size).toBe(offset);
              if (reopenBetween) {
                writer.sync();
                writer.close();
                writer = BlobFileWriter.openForAppend(path, fileNumber);
                expect(writer.endOffset).toBe(offset);
              }
            }
            writer.sync();
          } finally {
            writer.close();
          }
          const reader = BlobFileReader.open(path, fileNumber);
          try {
            for (const { value, ref } of written) {
              const decoded = decodeBlobRef(encodeBlobRef(ref), 'test');
              expect(decoded).toEqual(ref);
              expectBytes(reader.read(decoded), value);
            }
            const listed = [...reader.records()];
            expect(listed).toEqual(
              written.map(({ key, ref }) => ({
                key,
                valueOffset: ref.valueOffset,
                capacity: ref.capacity,
              })),
            );
            expect(reader.sizeBytes).toBe(statSync(path).size);
          } finally {
            reader.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  test('in-place appends match a concatenation oracle; old refs read the old prefix', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3_000 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 2_000 }),
        fc.integer(),
        (appendLengths, initialLength, seed) => {
          const { path, fileNumber } = newFile();
          const writer = BlobFileWriter.create(path, fileNumber);
          const reader = BlobFileReader.open(path, fileNumber);
          try {
            const initial = patternBytes(initialLength, seed);
            const capacity = initialLength + 40_000;
            // A neighbour after the value: appends must never reach it.
            const [ref0, neighbour] = writer.appendRecords([
              { key: Uint8Array.of(1), value: initial, capacity },
              { key: Uint8Array.of(2), value: patternBytes(100, seed + 1), capacity: 100 },
            ]);
            const history: { ref: BlobRef; bytes: Uint8Array }[] = [{ ref: ref0!, bytes: initial }];
            let parts = [initial];
            appendLengths.forEach((length, index) => {
              const current = history[history.length - 1]!;
              const bytes = patternBytes(length, seed + 2 + index);
              if (current.ref.used + length > capacity) {
                expectStrataError(
                  () => writer.writeInPlace(current.ref, bytes),
                  'ERR_INVALID_ARGUMENT',
                  ['does not fit'],
                );
                return;
              }
              const next = writer.writeInPlace(current.ref, bytes);
              expect(next.used).toBe(current.ref.used + length);
              expect(next.version).toBe(current.ref.version + 1);
              expect(next.capacity).toBe(capacity);
              expect(next.valueOffset).toBe(ref0!.valueOffset);
              parts = [...parts, bytes];
              const expected = concatBytes(parts);
              expect(next.crc).toBe(crc32c(expected));
              expectBytes(reader.read(next), expected);
              history.push({ ref: next, bytes: expected });
            });
            // A snapshot holding an older ref sees the older length and its bytes, crc intact.
            for (const { ref, bytes } of history) expectBytes(reader.read(ref), bytes);
            expectBytes(reader.read(neighbour!), patternBytes(100, seed + 1));
            expect(statSync(path).size).toBe(writer.endOffset);
          } finally {
            reader.close();
            writer.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  test('an append that does not fit, or names another file, is refused and changes nothing', () => {
    const { path, fileNumber } = newFile();
    const writer = BlobFileWriter.create(path, fileNumber);
    const reader = BlobFileReader.open(path, fileNumber);
    try {
      const [ref] = writer.appendRecords([
        { key: Uint8Array.of(9), value: patternBytes(10, 1), capacity: 16 },
      ]);
      const full = writer.writeInPlace(ref!, patternBytes(6, 2)); // exactly fills it
      expect(full.used).toBe(16);
      expectStrataError(() => writer.writeInPlace(full, Uint8Array.of(1)), 'ERR_INVALID_ARGUMENT', [
        'does not fit',
        '16 of 16',
      ]);
      expectStrataError(
        () => writer.writeInPlace(ref!, patternBytes(7, 3)),
        'ERR_INVALID_ARGUMENT',
      );
      expectStrataError(
        () => writer.writeInPlace({ ...ref!, fileNumber: fileNumber + 1 }, Uint8Array.of(1)),
        'ERR_INVALID_ARGUMENT',
        ['names blob file'],
      );
      expectStrataError(
        () => writer.writeInPlace({ ...ref!, valueOffset: writer.endOffset }, Uint8Array.of(1)),
        'ERR_INVALID_ARGUMENT',
        ['not inside'],
      );
      expectBytes(reader.read(full), concatBytes([patternBytes(10, 1), patternBytes(6, 2)]));
      expectStrataError(
        () =>
          writer.appendRecords([{ key: Uint8Array.of(), value: patternBytes(5, 1), capacity: 4 }]),
        'ERR_INVALID_ARGUMENT',
        ['capacity'],
      );
      expect(statSync(path).size).toBe(writer.endOffset);
    } finally {
      reader.close();
      writer.close();
    }
  });

  test('the reserve is a hole: a 100 KB value with 1 MB capacity allocates about 100 KB', () => {
    const { path, fileNumber } = newFile();
    const writer = BlobFileWriter.create(path, fileNumber);
    try {
      const value = patternBytes(100_000, 5);
      const [ref] = writer.appendRecords([{ key: Uint8Array.of(1), value, capacity: 1_000_000 }]);
      writer.sync();
      const stat = statSync(path);
      const allocatedBytes = stat.blocks * 512; // the header's block included
      expect(stat.size).toBe(ref!.valueOffset + 1_000_000);
      expect(allocatedBytes).toBeGreaterThanOrEqual(100_000);
      expect(allocatedBytes).toBeLessThan(200_000); // well below the 1 MB capacity
      // Filling part of the reserve allocates only what it writes.
      writer.writeInPlace(ref!, patternBytes(100_000, 6));
      writer.sync();
      expect(statSync(path).blocks * 512).toBeLessThan(300_000);
    } finally {
      writer.close();
    }
  });

  test('a value above 1 MiB is written in fragments and reads back intact, as do its ranges', () => {
    const { path, fileNumber } = newFile();
    const writer = BlobFileWriter.create(path, fileNumber);
    const reader = BlobFileReader.open(path, fileNumber);
    try {
      const value = patternBytes(3 * (1 << 20) + 12_345, 9);
      const [small, large] = writer.appendRecords([
        { key: Uint8Array.of(1), value: patternBytes(10, 1), capacity: 10 },
        { key: patternBytes(300, 2), value, capacity: value.length + (1 << 20) },
      ]);
      expectBytes(reader.read(large!), value);
      expectBytes(reader.read(small!), patternBytes(10, 1));
      const tail = patternBytes((1 << 20) + 7 - 8, 3);
      const grown = writer.writeInPlace(large!, tail);
      expectBytes(reader.read(grown), concatBytes([value, tail]));
      const start = (1 << 20) - 5;
      expectBytes(
        reader.readRange(large!, start, 2 << 20),
        value.subarray(start, start + (2 << 20)),
      );
    } finally {
      reader.close();
      writer.close();
    }
  });

  test('readRange clips to used and refuses bad arguments', () => {
    const { path, fileNumber } = newFile();
    const writer = BlobFileWriter.create(path, fileNumber);
    const value = patternBytes(1000, 4);
    const [ref] = writer.appendRecords([{ key: Uint8Array.of(), value, capacity: 5000 }]);
    writer.writeInPlace(ref!, patternBytes(50, 5)); // beyond ref.used: not visible through ref
    writer.close();
    const reader = BlobFileReader.open(path, fileNumber);
    try {
      expectBytes(reader.readRange(ref!, 0, 1000), value);
      expectBytes(reader.readRange(ref!, 10, 20), value.subarray(10, 30));
      expectBytes(reader.readRange(ref!, 990, 100), value.subarray(990));
      expectBytes(reader.readRange(ref!, 1000, 5), new Uint8Array(0));
      expectBytes(reader.readRange(ref!, 5000, 5), new Uint8Array(0));
      expectBytes(reader.readRange(ref!, 3, 0), new Uint8Array(0));
      for (const [offset, length] of [
        [-1, 1],
        [1.5, 1],
        [0, -1],
        [0, Number.NaN],
      ] as const) {
        expectStrataError(() => reader.readRange(ref!, offset, length), 'ERR_INVALID_ARGUMENT');
      }
      expectStrataError(() => reader.read({ ...ref!, fileNumber: 99 }), 'ERR_INVALID_ARGUMENT');
    } finally {
      reader.close();
    }
    expectStrataError(() => reader.read(ref!), 'ERR_CLOSED');
    reader.close(); // idempotent
  });

  test('a reader opened before an append reads the newer records', () => {
    const { path, fileNumber } = newFile();
    const writer = BlobFileWriter.create(path, fileNumber);
    const reader = BlobFileReader.open(path, fileNumber);
    try {
      expect(reader.sizeBytes).toBe(FILE_HEADER_BYTES);
      expect([...reader.records()]).toEqual([]);
      const [ref] = writer.appendRecords([
        { key: Uint8Array.of(3), value: patternBytes(77, 1), capacity: 200 },
      ]);
      expectBytes(reader.read(ref!), patternBytes(77, 1));
      expect([...reader.records()].length).toBe(1);
    } finally {
      reader.close();
      writer.close();
    }
  });

  test('create refuses an existing path and open a missing one, both ERR_IO naming the path', () => {
    const { path, fileNumber } = newFile();
    writeFileSync(path, 'x');
    expectStrataError(() => BlobFileWriter.create(path, fileNumber), 'ERR_IO', [path]);
    const missing = folder.file('missing.blob');
    expectStrataError(() => BlobFileReader.open(missing, 1), 'ERR_IO', [missing]);
    expectStrataError(() => BlobFileWriter.openForAppend(missing, 1), 'ERR_IO', [missing]);
    expect(existsSync(missing)).toBe(false);
  });

  test('the writer refuses use after close; close is idempotent', () => {
    const { path, fileNumber } = newFile();
    const writer = BlobFileWriter.create(path, fileNumber);
    writer.close();
    writer.close();
    expect(writer.closed).toBe(true);
    expectStrataError(() => writer.appendRecords([]), 'ERR_CLOSED');
    expectStrataError(() => writer.sync(), 'ERR_CLOSED');
  });

  test('openForAppend with the committed end cuts off what lies after it', () => {
    const { path, fileNumber } = newFile();
    const writer = BlobFileWriter.create(path, fileNumber);
    const [first] = writer.appendRecords([
      { key: Uint8Array.of(1), value: patternBytes(30, 1), capacity: 64 },
    ]);
    const committedEnd = writer.endOffset;
    writer.appendRecords([{ key: Uint8Array.of(2), value: patternBytes(30, 2), capacity: 64 }]);
    writer.close();
    const again = BlobFileWriter.openForAppend(path, fileNumber, { endOffset: committedEnd });
    try {
      expect(again.endOffset).toBe(committedEnd);
      expect(statSync(path).size).toBe(committedEnd);
      const [third] = again.appendRecords([
        { key: Uint8Array.of(3), value: patternBytes(5, 3), capacity: 5 },
      ]);
      expect(third!.valueOffset).toBe(committedEnd + RECORD_HEADER_BYTES + 1);
      const reader = BlobFileReader.open(path, fileNumber);
      expect([...reader.records()].map((record) => record.key[0])).toEqual([1, 3]);
      expectBytes(reader.read(first!), patternBytes(30, 1));
      reader.close();
    } finally {
      again.close();
    }
    expectStrataError(
      () => BlobFileWriter.openForAppend(path, fileNumber, { endOffset: committedEnd + 10_000 }),
      'ERR_CORRUPT',
      [path, 'committed end'],
    );
  });
});
