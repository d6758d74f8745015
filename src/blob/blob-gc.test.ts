/**
 * Blob GC: rewriteBlobs copies the live values of several input files into one new file, with
 * fresh reserves, the same bytes and crcs, refs into the new file; directly and through a real
 * Piscina worker running the compiled dist/workers/blob-gc.js (built first when missing or older
 * than its sources). A corrupted input fails the job with ERR_CORRUPT and leaves no output.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { isStrataError, StrataError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { BlobFileReader, BlobFileWriter, blobFileName } from './blob-file.js';
import { type BlobGcTask, blobGcWorkerUrl, rewriteBlobs } from './blob-gc-job.js';
import type { BlobRef } from './blob-ref.js';
import { capacityFor, type ReservePolicy } from './reserve-policy.js';
import {
  concatBytes,
  expectBytes,
  expectStrataError,
  flipByte,
  patternBytes,
} from './testing/blob-fixtures.js';
import { errorForTransfer, reviveWorkerError } from './worker-error.js';

const folder = makeTempFolder('blob-gc');
afterAll(() => folder.remove());
const RESERVE: ReservePolicy = { ratio: 0.5, minBytes: 64, maxBytes: 1 << 20 };

interface Input {
  readonly inputPaths: Record<number, string>;
  readonly live: { key: Uint8Array; ref: BlobRef }[];
  readonly values: Uint8Array[];
}

/** Two input files with dead and live values; one live value was appended to in place. */
function makeInputs(name: string): Input {
  const inputPaths: Record<number, string> = {};
  const live: { key: Uint8Array; ref: BlobRef }[] = [];
  const values: Uint8Array[] = [];
  for (const fileNumber of [3, 5]) {
    const path = folder.file(`${name}-${blobFileName(fileNumber)}`);
    inputPaths[fileNumber] = path;
    const writer = BlobFileWriter.create(path, fileNumber);
    const inputs = Array.from({ length: 12 }, (_, index) => {
      const value = patternBytes(index === 5 ? 2_500_000 : index * 97, fileNumber * 100 + index);
      return { key: Uint8Array.of(fileNumber, index), value, capacity: value.length + 1000 };
    });
    const refs = writer.appendRecords(inputs);
    for (const [index, ref] of refs.entries()) {
      if (index % 3 === 1) continue; // dead
      let current = ref;
      let value = inputs[index]!.value;
      if (index === 2) {
        const tail = patternBytes(300, 77);
        current = writer.writeInPlace(ref, tail);
        value = concatBytes([value, tail]);
      }
      live.push({ key: inputs[index]!.key, ref: current });
      values.push(value);
    }
    writer.sync();
    writer.close();
  }
  // Interleave files, as the engine's key order would.
  const order = live.map((_, index) => index).sort((a, b) => (a % 4) - (b % 4) || a - b);
  return {
    inputPaths,
    live: order.map((index) => live[index]!),
    values: order.map((index) => values[index]!),
  };
}

function task(input: Input, outputPath: string): BlobGcTask {
  return {
    inputPaths: input.inputPaths,
    live: input.live,
    outputPath,
    outputFileNumber: 9,
    reserve: RESERVE,
  };
}

function checkOutput(input: Input, outputPath: string, result: ReturnType<typeof rewriteBlobs>) {
  expect(result.refs.length).toBe(input.live.length);
  expect(statSync(outputPath).size).toBe(result.sizeBytes);
  const usedTotal = input.values.reduce((sum, value) => sum + value.length, 0);
  const keyTotal = input.live.reduce((sum, { key }) => sum + key.length, 0);
  expect(result.bytesRead).toBe(usedTotal);
  expect(result.bytesWritten).toBe(32 + 20 * input.live.length + keyTotal + usedTotal);
  const reader = BlobFileReader.open(outputPath, 9);
  try {
    for (const [index, ref] of result.refs.entries()) {
      const old = input.live[index]!.ref;
      expect(ref.fileNumber).toBe(9);
      expect(ref.version).toBe(1);
      expect(ref.used).toBe(old.used);
      expect(ref.crc).toBe(old.crc);
      expect(ref.capacity).toBe(capacityFor(old.used, RESERVE));
      expectBytes(reader.read(ref), input.values[index]!, `value ${index}`);
    }
    const records = [...reader.records()];
    expect(records.map((record) => record.key)).toEqual(input.live.map(({ key }) => key));
    expect(records.map((record) => record.valueOffset)).toEqual(
      result.refs.map((ref) => ref.valueOffset),
    );
  } finally {
    reader.close();
  }
}

describe('blob gc', () => {
  test('rewriteBlobs copies the live values into a new file with fresh reserves', () => {
    const input = makeInputs('direct');
    const outputPath = folder.file('direct-out.tmp');
    const result = rewriteBlobs(task(input, outputPath));
    checkOutput(input, outputPath, result);
    // The copy has room to append in place.
    const writer = BlobFileWriter.openForAppend(outputPath, 9);
    const grown = writer.writeInPlace(result.refs[0]!, Uint8Array.of(1, 2, 3));
    writer.close();
    const reader = BlobFileReader.open(outputPath, 9);
    expectBytes(reader.read(grown), concatBytes([input.values[0]!, Uint8Array.of(1, 2, 3)]));
    reader.close();
  });

  test('no live values: an output holding only its header', () => {
    const outputPath = folder.file('empty-out.tmp');
    const result = rewriteBlobs({ ...task(makeInputs('empty'), outputPath), live: [] });
    expect(result).toEqual({ refs: [], sizeBytes: 32, bytesRead: 0, bytesWritten: 32 });
    expect(statSync(outputPath).size).toBe(32);
  });

  test('a corrupted input fails with ERR_CORRUPT and leaves no output file', () => {
    const input = makeInputs('corrupt');
    const victim = input.live.findLast(({ ref }) => ref.used > 100)!.ref;
    flipByte(input.inputPaths[victim.fileNumber]!, victim.valueOffset, 0x20);
    const outputPath = folder.file('corrupt-out.tmp');
    expectStrataError(() => rewriteBlobs(task(input, outputPath)), 'ERR_CORRUPT', [
      input.inputPaths[victim.fileNumber]!,
      `at byte ${victim.valueOffset}`,
    ]);
    expect(existsSync(outputPath)).toBe(false);
  });

  test('bad tasks: an existing output is ERR_IO and kept; a missing input is refused', () => {
    const input = makeInputs('bad');
    const existing = folder.file('existing.tmp');
    copyFileSync(input.inputPaths[3]!, existing);
    expectStrataError(() => rewriteBlobs(task(input, existing)), 'ERR_IO', [existing]);
    expect(existsSync(existing)).toBe(true);
    const outputPath = folder.file('bad-out.tmp');
    expectStrataError(
      () => rewriteBlobs({ ...task(input, outputPath), inputPaths: { 3: input.inputPaths[3]! } }),
      'ERR_INVALID_ARGUMENT',
      ['file 5'],
    );
    expect(existsSync(outputPath)).toBe(false);
    expectStrataError(
      () => rewriteBlobs({ ...task(input, outputPath), reserve: { ratio: -1 } as ReservePolicy }),
      'ERR_INVALID_ARGUMENT',
      ['ratio'],
    );
    expect(existsSync(outputPath)).toBe(false);
  });

  test('worker errors: a StrataError survives the trip with its code; others pass through', () => {
    const original = new StrataError('ERR_IO', 'cannot read blob file x', {
      cause: new Error('EIO'),
    });
    const sent = errorForTransfer(original) as Error;
    expect(isStrataError(sent)).toBe(false);
    const cloned = structuredClone(sent);
    const revived = reviveWorkerError(cloned);
    expect(isStrataError(revived, 'ERR_IO')).toBe(true);
    expect((revived as Error).message).toBe('cannot read blob file x (cause: Error: EIO)');
    const plain = new TypeError('boom');
    expect(errorForTransfer(plain)).toBe(plain);
    expect(reviveWorkerError(plain)).toBe(plain);
    expect(reviveWorkerError(original)).toBe(original);
    expect(reviveWorkerError('text')).toBe('text');
  });

  describe('through the compiled worker (dist/workers/blob-gc.js)', () => {
    let pool: Piscina | undefined;
    beforeAll(() => {
      buildIfStale();
      pool = new Piscina({ filename: blobGcWorkerUrl(), maxThreads: 2 });
    });
    afterAll(async () => {
      await pool?.destroy();
    });

    test('two jobs at once copy their live values; a corrupt one fails with ERR_CORRUPT', async () => {
      const good = makeInputs('worker');
      const bad = makeInputs('worker-bad');
      const victim = bad.live.find(({ ref }) => ref.used > 100)!.ref;
      flipByte(bad.inputPaths[victim.fileNumber]!, victim.valueOffset + 1, 0x01);
      const goodPath = folder.file('worker-out.tmp');
      const badPath = folder.file('worker-bad-out.tmp');
      const [goodRun, badRun] = await Promise.allSettled([
        pool!.run(task(good, goodPath)),
        pool!.run(task(bad, badPath)),
      ]);
      expect(goodRun.status).toBe('fulfilled');
      checkOutput(good, goodPath, (goodRun as PromiseFulfilledResult<never>).value);
      expect(badRun.status).toBe('rejected');
      const reason = (badRun as PromiseRejectedResult).reason as Error;
      // Structured clone drops the class and code; the message carries the code across.
      expect(isStrataError(reason)).toBe(false);
      expect(reason.message).toMatch(/^\[ERR_CORRUPT\] corrupt blob file /);
      const revived = reviveWorkerError(reason);
      expect(isStrataError(revived, 'ERR_CORRUPT')).toBe(true);
      expect((revived as Error).message).toContain(bad.inputPaths[victim.fileNumber]!);
      expect((revived as Error).message).toContain(`at byte ${victim.valueOffset}`);
      expect(existsSync(badPath)).toBe(false);
    });
  });
});

/** Compiles the project (tsconfig.build.json) when a blob source is newer than its output. */
function buildIfStale(): void {
  const root = packageRoot();
  const pairs: [string, string][] = [['workers/blob-gc.ts', 'dist/workers/blob-gc.js']];
  const blobFolder = fileURLToPath(new URL('.', import.meta.url));
  for (const name of readdirSync(blobFolder)) {
    if (!name.endsWith('.ts') || name.endsWith('.test.ts')) continue;
    pairs.push([join('src/blob', name), join('dist/src/blob', name.replace(/\.ts$/, '.js'))]);
  }
  const stale = pairs.some(
    ([source, compiled]) =>
      !existsSync(join(root, compiled)) ||
      statSync(join(root, compiled)).mtimeMs < statSync(join(root, source)).mtimeMs,
  );
  if (!stale) return;
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  } catch {
    // Type errors elsewhere in the tree still emit JavaScript; the check below is what matters.
  }
  for (const [, compiled] of pairs) {
    expect(existsSync(join(root, compiled)), `${compiled} after tsc -p tsconfig.build.json`).toBe(
      true,
    );
  }
}
