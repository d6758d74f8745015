/**
 * The flush job against the memtable it flushes: the table holds every visible version in
 * internal-key order (tombstones and shadowed versions included), answers get() at every
 * snapshot as the memtable does, and reports what CommitFlush needs. Once on this thread over the
 * emulated backend, once through a Piscina pool running the compiled dist/workers/flush.js while
 * the main thread keeps the memtable open (mapped backend), and an empty memtable writes nothing.
 */
import { existsSync } from 'node:fs';
import { Piscina } from 'piscina';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { NvmImage } from '../../nvm/image.js';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import type { NvmBackendKind } from '../../nvm/types.js';
import { isStrataError } from '../errors.js';
import { Memtable } from '../memtable/memtable.js';
import { keyOf, makeBatches } from '../memtable/testing/batches.js';
import { type OracleEntry, render, scanForward } from '../memtable/testing/oracle.js';
import {
  compareInternalKeys,
  encodeInternalKey,
  internalKeyKind,
  internalKeySeq,
  KIND_DELETION,
  KIND_VALUE,
  userKeyOf,
} from '../sst/internal-key.js';
import { TableReader } from '../sst/table-reader.js';
import { type FlushResult, type FlushWritten, flushMemtable, flushWorkerUrl } from './flush-job.js';

const KEY_COUNT = 12;
const BATCH_COUNT = 60;
/** Small blocks, so that the table has many data blocks and index entries. */
const TABLE_OPTIONS = { blockSizeBytes: 256, createdAtMs: 1 };

let temp: ReturnType<typeof makeTempFolder>;
let nextFileNumber = 1;
beforeEach(() => {
  temp = makeTempFolder('flush-job');
});
afterEach(() => temp.remove());

function openMemtable(backend: NvmBackendKind): { image: NvmImage; memtable: Memtable } {
  const image = NvmImage.open(`${temp.path}/image.nvm`, { backend, sizeMaxBytes: 64 << 20 });
  const memtable = Memtable.open(image, Memtable.create(image, { runSizeBytes: 16 << 10 }));
  return { image, memtable };
}

function fillMemtable(memtable: Memtable, seed: number): void {
  for (const batch of makeBatches(seed, {
    batchCount: BATCH_COUNT,
    keyCount: KEY_COUNT,
    firstSeq: 0,
  })) {
    memtable.applyBatch(batch);
  }
  // Overwrites and deletes of one key across batches, so old versions sit below new ones.
  const seq = memtable.visibleSeq;
  const key = keyOf(1);
  memtable.applyBatch([{ kind: KIND_VALUE, userKey: key, value: Uint8Array.of(1), seq: seq + 1 }]);
  memtable.applyBatch([
    { kind: KIND_DELETION, userKey: key, value: new Uint8Array(0), seq: seq + 2 },
  ]);
  memtable.applyBatch([{ kind: KIND_VALUE, userKey: key, value: Uint8Array.of(3), seq: seq + 3 }]);
}

function written(result: FlushResult): FlushWritten {
  if (result.empty) throw new Error('the flush wrote no table');
  return result;
}

function tableEntries(reader: TableReader): OracleEntry[] {
  const entries: OracleEntry[] = [];
  const iterator = reader.iterator();
  for (iterator.seekFirst(); iterator.valid(); iterator.next()) {
    const key = iterator.key();
    entries.push({
      userKey: userKeyOf(key).slice(),
      seq: internalKeySeq(key),
      kind: internalKeyKind(key),
      value: iterator.value().slice(),
    });
  }
  return entries;
}

/** Every version, the reported properties, and get() at each snapshot against the memtable. */
function checkTable(path: string, result: FlushWritten, memtable: Memtable): void {
  const limitSeq = result.limitSeq;
  const expected = scanForward(memtable, limitSeq);
  expect(expected.length).toBeGreaterThan(0);
  const reader = TableReader.open(path, { fileNumber: nextFileNumber++ });
  try {
    expect(render(tableEntries(reader))).toEqual(render(expected));
    const first = expected[0]!;
    const last = expected[expected.length - 1]!;
    const seqs = expected.map((entry) => entry.seq);
    expect(result.table).toEqual({
      sizeBytes: reader.properties.fileSizeBytes,
      entryCount: expected.length,
      smallest: encodeInternalKey(first.userKey, first.seq, first.kind as 0 | 1),
      largest: encodeInternalKey(last.userKey, last.seq, last.kind as 0 | 1),
      seqMin: Math.min(...seqs),
      seqMax: Math.max(...seqs),
    });
    expect(compareInternalKeys(result.table.smallest, result.table.largest)).toBeLessThan(0);
    const tombstones = expected.filter((entry) => entry.kind === KIND_DELETION).length;
    expect(result.tombstoneCount).toBe(tombstones);
    const keys = [...Array(KEY_COUNT + 2).keys()].map(keyOf); // two keys never written
    for (let snapshot = 0; snapshot <= limitSeq + 1; snapshot++) {
      for (const key of keys) {
        const want = memtable.get(key, Math.min(snapshot, limitSeq));
        const got = reader.get(key, snapshot);
        expect(got && { ...got, value: got.value.slice() }).toEqual(want);
      }
    }
  } finally {
    reader.close();
  }
}

describe('flushMemtable', () => {
  test('writes every visible version, in order, on this thread (emulated backend)', () => {
    const { image, memtable } = openMemtable('emulated');
    try {
      fillMemtable(memtable, 7);
      const path = `${temp.path}/flush.tmp`;
      const result = written(
        flushMemtable({ memtable: memtable.handle(), tempPath: path, options: TABLE_OPTIONS }),
      );
      expect(result.limitSeq).toBe(memtable.visibleSeq);
      expect(result.table.entryCount).toBe(memtable.entryCount); // shadowed versions too
      expect(result.tombstoneCount).toBeGreaterThan(0);
      checkTable(path, result, memtable);

      // A snapshot limit keeps newer versions out of the table.
      const partialPath = `${temp.path}/partial.tmp`;
      const snapshotSeq = Math.floor(memtable.visibleSeq / 2);
      const partial = written(
        flushMemtable({ memtable: memtable.handle(), snapshotSeq, tempPath: partialPath }),
      );
      expect(partial.limitSeq).toBe(snapshotSeq);
      expect(partial.table.seqMax).toBeLessThanOrEqual(snapshotSeq);
      checkTable(partialPath, partial, memtable);
      // The job detached: the memtable is still fully usable on this thread.
      expect(memtable.entryCount).toBeGreaterThan(0);
    } finally {
      memtable.close();
      image.close();
    }
  });

  test('an empty memtable (or snapshot) writes no file', () => {
    const { image, memtable } = openMemtable('emulated');
    try {
      const path = `${temp.path}/empty.tmp`;
      expect(flushMemtable({ memtable: memtable.handle(), tempPath: path })).toEqual({
        empty: true,
        limitSeq: 0,
      });
      expect(existsSync(path)).toBe(false);
      fillMemtable(memtable, 3);
      const result = flushMemtable({ memtable: memtable.handle(), snapshotSeq: 0, tempPath: path });
      expect(result).toEqual({ empty: true, limitSeq: 0 });
      expect(existsSync(path)).toBe(false);
    } finally {
      memtable.close();
      image.close();
    }
  });

  test('refuses an existing temp path and bad input, leaving the existing file alone', () => {
    const { image, memtable } = openMemtable('emulated');
    try {
      fillMemtable(memtable, 5);
      const path = `${temp.path}/taken.tmp`;
      const first = written(flushMemtable({ memtable: memtable.handle(), tempPath: path }));
      const again = () => flushMemtable({ memtable: memtable.handle(), tempPath: path });
      expect(again).toThrow(expect.objectContaining({ code: 'ERR_IO' }));
      expect(existsSync(path)).toBe(true);
      checkTable(path, first, memtable);
      for (const snapshotSeq of [-1, 1.5, Number.NaN]) {
        try {
          flushMemtable({ memtable: memtable.handle(), snapshotSeq, tempPath: `${path}.x` });
          expect.unreachable();
        } catch (error) {
          expect(isStrataError(error) && error.code).toBe('ERR_INVALID_ARGUMENT');
        }
      }
      expect(existsSync(`${path}.x`)).toBe(false);
    } finally {
      memtable.close();
      image.close();
    }
  });

  test('runs in a Piscina worker while the main thread keeps the memtable open (mapped)', async () => {
    const { image, memtable } = openMemtable('mapped');
    const pool = new Piscina({ filename: flushWorkerUrl(), maxThreads: 2 });
    try {
      fillMemtable(memtable, 11);
      const handle = memtable.handle();
      const fullPath = `${temp.path}/worker-full.tmp`;
      const partialPath = `${temp.path}/worker-partial.tmp`;
      const emptyPath = `${temp.path}/worker-empty.tmp`;
      const snapshotSeq = Math.floor(memtable.visibleSeq / 3);
      const [full, partial, empty] = (await Promise.all([
        pool.run({ memtable: handle, tempPath: fullPath, options: TABLE_OPTIONS }),
        pool.run({ memtable: handle, snapshotSeq, tempPath: partialPath }),
        pool.run({ memtable: handle, snapshotSeq: 0, tempPath: emptyPath }),
      ])) as FlushResult[];
      expect(written(full!).table.entryCount).toBe(memtable.entryCount);
      checkTable(fullPath, written(full!), memtable);
      checkTable(partialPath, written(partial!), memtable);
      expect(empty).toEqual({ empty: true, limitSeq: 0 });
      expect(existsSync(emptyPath)).toBe(false);
      // The workers detached; the opener still reads and writes.
      const seq = memtable.visibleSeq + 1;
      memtable.applyBatch([{ kind: KIND_VALUE, userKey: keyOf(2), value: Uint8Array.of(9), seq }]);
      expect(memtable.get(keyOf(2))?.value).toEqual(Uint8Array.of(9));
    } finally {
      await pool.destroy();
      memtable.close();
      image.close();
    }
  });
});
