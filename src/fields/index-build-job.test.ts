/**
 * The index build job against a brute-force oracle (the visible version of each key at readSeq,
 * decoded with decodeFields, its entry key at the version's own seq): hand-made tables with
 * several versions per key, deletions, raw values, records lacking the field, 00 and FF bytes,
 * a blob value, index keys already present, too-long values; random histories under tiny and
 * large sort buffers and output targets; damaged blobs and tables; cleanup on failure; the
 * external sorter's merge passes; and the job in a real Piscina worker from dist/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { Piscina } from 'piscina';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { BlobFileWriter } from '../blob/blob-file-writer.js';
import { encodeBlobRef } from '../blob/blob-ref.js';
import { flipByte } from '../blob/testing/blob-fixtures.js';
import { reviveWorkerError } from '../blob/worker-error.js';
import { isStrataError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import {
  compareInternalKeys,
  encodeInternalKey,
  type InternalKeyKind,
  internalKeyKind,
  internalKeySeq,
  KIND_BLOB_REFERENCE,
  KIND_DELETION,
  KIND_VALUE,
  userKeyOf,
} from '../sst/internal-key.js';
import { TableReader } from '../sst/table-reader.js';
import { buildTable } from '../sst/testing/table-fixtures.js';
import { BUFFERED_ENTRY_OVERHEAD_BYTES, EntrySorter, FAN_IN_MAX } from './entry-sorter.js';
import { decodeFields, encodeFields } from './field-codec.js';
import {
  buildIndex,
  type IndexBuildResult,
  type IndexBuildTask,
  indexBuildWorkerUrl,
} from './index-build-job.js';
import { encodeIndexKey, hasIndexKeyspacePrefix, keyspacePartition } from './index-key.js';
import { expectStrataError, fromHex, hex, utf8, writeRawRecord } from './testing/field-fixtures.js';

const folder = makeTempFolder('index-build');
afterAll(() => folder.remove());
let scenarioCount = 0;

const INDEX_ID = 7;
const BLOB_FILE_NUMBER = 9;

/** One stored version; a `blob` value is written to the blob file and referenced. */
interface Version {
  readonly key: Uint8Array;
  readonly seq: number;
  readonly kind: 'put' | 'del' | 'blob';
  readonly value?: Uint8Array;
}

interface Scenario {
  readonly task: IndexBuildTask;
  readonly versions: readonly Version[];
  readonly blobPath: string;
  /** Where each blob value's bytes start in the blob file, by key hex and seq. */
  readonly blobOffsets: ReadonlyMap<string, number>;
}

interface Expected {
  readonly entries: { readonly key: string; readonly seq: number }[];
  readonly recordsScanned: number;
  readonly valuesTooLong: number;
}

/** Writes each list as one table (sorted here) and every blob value into one blob file. */
function writeScenario(
  tables: readonly (readonly Version[])[],
  settings: Partial<IndexBuildTask> = {},
): Scenario {
  const name = `s${++scenarioCount}`;
  const blobPath = folder.file(`${name}-${BLOB_FILE_NUMBER}.blob`);
  const blobs = BlobFileWriter.create(blobPath, BLOB_FILE_NUMBER);
  const blobOffsets = new Map<string, number>();
  const paths = tables.flatMap((versions, index) => {
    if (versions.length === 0) return [];
    const entries = versions.map((version) => {
      const kind = KIND_OF[version.kind];
      let value = version.value ?? new Uint8Array(0);
      if (version.kind === 'blob') {
        const [ref] = blobs.appendRecords([
          { key: version.key, value, capacity: value.length + 8 },
        ]);
        blobOffsets.set(`${hex(version.key)}@${version.seq}`, ref!.valueOffset);
        value = encodeBlobRef(ref!);
      }
      return { key: encodeInternalKey(version.key, version.seq, kind), value };
    });
    const path = folder.file(`${name}-table${index}.sst`);
    buildTable(
      path,
      entries.sort((a, b) => compareInternalKeys(a.key, b.key)),
    );
    return [{ path, fileNumber: 100 + index }];
  });
  blobs.sync();
  blobs.close();
  const task: IndexBuildTask = {
    tables: paths,
    blobFiles: [{ fileNumber: BLOB_FILE_NUMBER, path: blobPath }],
    readSeq: 1000,
    indexId: INDEX_ID,
    field: 'color',
    tempPathPrefix: folder.file(`${name}-build`),
    targetFileBytes: 1 << 20,
    sortBufferBytes: 1 << 20,
    maxIndexedValueBytes: 64,
    options: { createdAtMs: 1 },
    ...settings,
  };
  return { task, versions: tables.flat(), blobPath, blobOffsets };
}

const KIND_OF: Record<Version['kind'], InternalKeyKind> = {
  put: KIND_VALUE,
  del: KIND_DELETION,
  blob: KIND_BLOB_REFERENCE,
};

/** Brute force over every version: no iterator, no fieldValue. */
function oracle(versions: readonly Version[], task: IndexBuildTask): Expected {
  const visible = new Map<string, Version>();
  for (const version of versions) {
    if (version.seq > task.readSeq) continue;
    const current = visible.get(hex(version.key));
    if (current === undefined || current.seq < version.seq) visible.set(hex(version.key), version);
  }
  const entries: { key: string; seq: number }[] = [];
  let recordsScanned = 0;
  let valuesTooLong = 0;
  for (const version of visible.values()) {
    if (hasIndexKeyspacePrefix(version.key) || version.kind === 'del') continue;
    recordsScanned++;
    let fields: ReturnType<typeof decodeFields>;
    try {
      fields = decodeFields(version.value!);
    } catch {
      continue; // not a field record
    }
    const field = fields.find((candidate) => candidate.name === task.field);
    if (field === undefined) continue;
    if (field.value.length > task.maxIndexedValueBytes) {
      valuesTooLong++;
      continue;
    }
    entries.push({
      key: hex(encodeIndexKey(task.indexId, field.value, version.key)),
      seq: version.seq,
    });
  }
  entries.sort((a, b) => Buffer.compare(fromHex(a.key), fromHex(b.key)));
  return { entries, recordsScanned, valuesTooLong };
}

/** Runs the job and checks its outputs: in order, one partition, reported right, no leftovers. */
function run(scenario: Scenario, result = buildIndex(scenario.task)): Expected {
  const entries: { key: string; seq: number }[] = [];
  const prefix = scenario.task.tempPathPrefix;
  for (const [index, output] of result.outputs.entries()) {
    expect(output.tempPath).toBe(`${prefix}-${index + 1}.tmp`);
    const keys = readKeys(output.tempPath);
    expect(output.table).toEqual({
      sizeBytes: statSync(output.tempPath).size,
      entryCount: keys.length,
      smallest: keys[0],
      largest: keys[keys.length - 1],
      seqMin: Math.min(...keys.map(internalKeySeq)),
      seqMax: Math.max(...keys.map(internalKeySeq)),
    });
    for (const key of keys) {
      expect(internalKeyKind(key)).toBe(KIND_VALUE);
      expect(keyspacePartition(userKeyOf(key))).toBe(scenario.task.indexId);
      entries.push({ key: hex(userKeyOf(key)), seq: internalKeySeq(key) });
    }
    if (index > 0) {
      const previous = result.outputs[index - 1]!.table.largest;
      expect(compareInternalKeys(previous, output.table.smallest)).toBeLessThan(0);
    }
  }
  expect(leftovers(prefix).sort()).toEqual(
    result.outputs.map((output) => basename(output.tempPath)).sort(),
  );
  expect(result.entriesWritten).toBe(entries.length);
  expect(result.bytesWritten).toBe(
    result.outputs.reduce((sum, output) => sum + output.table.sizeBytes, 0),
  );
  const tableBytes = scenario.task.tables.reduce(
    (sum, table) => sum + statSync(table.path).size,
    0,
  );
  expect(result.bytesRead).toBeGreaterThanOrEqual(tableBytes);
  return { entries, recordsScanned: result.recordsScanned, valuesTooLong: result.valuesTooLong };
}

function readKeys(path: string): Uint8Array[] {
  const reader = TableReader.open(path, { fileNumber: 1 });
  try {
    const keys: Uint8Array[] = [];
    const iterator = reader.iterator();
    for (iterator.seekFirst(); iterator.valid(); iterator.next()) {
      expect(iterator.value().length).toBe(0);
      keys.push(iterator.key());
    }
    return keys;
  } finally {
    reader.close();
  }
}

/** Files the job left under its prefix (outputs and runs alike). */
function leftovers(prefix: string): string[] {
  const stem = `${basename(prefix)}-`;
  return readdirSync(folder.path).filter((name) => name.startsWith(stem));
}

const record = (fields: Record<string, string | Uint8Array>): Uint8Array => encodeFields(fields);
const put = (key: string | Uint8Array, seq: number, value: Uint8Array): Version => ({
  key: typeof key === 'string' ? utf8(key) : key,
  seq,
  kind: 'put',
  value,
});
const del = (key: string, seq: number): Version => ({ key: utf8(key), seq, kind: 'del' });

/** The hand-made history: three overlapping tables; readSeq 50 falls between versions. */
function handMade(settings: Partial<IndexBuildTask> = {}): Scenario {
  const nulName = Uint8Array.of(0x00, 0xff, 0x00);
  return writeScenario(
    [
      [
        put('k1', 5, record({ color: 'red' })),
        put('k1', 60, record({ color: 'blue' })), // newer than readSeq
        put('k2', 10, record({ color: 'green' })),
        del('k2', 40), // deleted before readSeq
        put('k3', 20, record({ color: 'old' })),
        del('k3', 70), // deleted after readSeq: the older value is what the build sees
        put('raw', 3, utf8('not a field record')),
        put('nocolor', 4, record({ size: 'XL', 'color\u0000': 'x', Color: 'y' })),
      ],
      [
        put('k1', 30, record({ color: 'purple', size: 'S' })), // the visible version of k1
        put(Uint8Array.of(0x00, 0xff, 0x01), 8, record({ color: Uint8Array.of(0x00, 0xff, 0x00) })),
        put(Uint8Array.of(0xff, 0x00), 9, record({ color: Uint8Array.of(0xff) })),
        put(Uint8Array.of(0xff, 0x00, 0x00), 11, record({ color: new Uint8Array(0) })),
        put('long', 12, record({ color: 'x'.repeat(65) })),
        put('edge', 13, record({ color: 'y'.repeat(64) })),
        {
          key: utf8('blob'),
          seq: 14,
          kind: 'blob',
          value: record({ color: 'teal', big: 'z'.repeat(3000) }),
        },
        put('malformed', 15, writeRawRecord([[utf8('color'), utf8('red')]], 2)), // count says 2
        put(
          'dup',
          16,
          writeRawRecord([
            [utf8('color'), utf8('a')],
            [utf8('color'), utf8('b')],
          ]),
        ),
      ],
      [
        // Entries already in the index keyspace, of this index and another: not records.
        put(encodeIndexKey(INDEX_ID, utf8('red'), utf8('zz')), 2, new Uint8Array(0)),
        put(encodeIndexKey(INDEX_ID + 1, utf8('red'), utf8('zz')), 2, record({ color: 'no' })),
        put(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x69, 0x78), 2, record({ color: 'no' })),
        put('k2', 45, record({ color: 'late' })), // after the deletion, below readSeq
        put('k9', 50, record({ color: 'at-read-seq' })),
        put(nulName, 17, record({ color: 'nul-key' })),
        { key: utf8('zblob-del'), seq: 18, kind: 'blob', value: record({ color: 'gone' }) },
        del('zblob-del', 19),
      ],
    ],
    { readSeq: 50, ...settings },
  );
}

describe('buildIndex', () => {
  test('indexes the visible version of each key, at that version’s own seq', () => {
    const scenario = handMade();
    const got = run(scenario);
    expect(got).toEqual(oracle(scenario.versions, scenario.task));
    const seqOf = (key: string | Uint8Array, value: string | Uint8Array): number | undefined => {
      const primaryKey = typeof key === 'string' ? utf8(key) : key;
      const fieldBytes = typeof value === 'string' ? utf8(value) : value;
      const wanted = hex(encodeIndexKey(INDEX_ID, fieldBytes, primaryKey));
      return got.entries.find((entry) => entry.key === wanted)?.seq;
    };
    expect(seqOf('k1', 'purple')).toBe(30); // not 50 (readSeq), not 5 or 60
    expect(seqOf('k1', 'red')).toBeUndefined();
    expect(seqOf('k2', 'late')).toBe(45);
    expect(seqOf('k3', 'old')).toBe(20);
    expect(seqOf('k9', 'at-read-seq')).toBe(50);
    expect(seqOf('blob', 'teal')).toBe(14);
    expect(seqOf('edge', 'y'.repeat(64))).toBe(13);
    expect(seqOf(Uint8Array.of(0x00, 0xff, 0x01), Uint8Array.of(0x00, 0xff, 0x00))).toBe(8);
    expect(seqOf(Uint8Array.of(0xff, 0x00, 0x00), new Uint8Array(0))).toBe(11);
    expect(got.entries.length).toBe(10);
    expect(got.valuesTooLong).toBe(1); // 'long'
    // k1 k2 k3 raw nocolor 00ff01 ff00 ff0000 long edge blob malformed dup k9 000ff00
    expect(got.recordsScanned).toBe(15);
    // A field name holding a 00 byte is just another name.
    const nul = handMade({ field: 'color\u0000' });
    const nulEntries = run(nul);
    expect(nulEntries).toEqual(oracle(nul.versions, nul.task));
    expect(nulEntries.entries).toEqual([
      { key: hex(encodeIndexKey(INDEX_ID, utf8('x'), utf8('nocolor'))), seq: 4 },
    ]);
  });

  test('the same entries whatever the sort buffer and output target; runs are removed', () => {
    const reference = run(handMade());
    for (const sortBufferBytes of [1, BUFFERED_ENTRY_OVERHEAD_BYTES + 40, 3_000]) {
      for (const targetFileBytes of [1, 150, 1 << 20]) {
        const scenario = handMade({ sortBufferBytes, targetFileBytes });
        const result = buildIndex(scenario.task);
        expect(run(scenario, result)).toEqual(reference);
        if (targetFileBytes === 1) expect(result.outputs.length).toBe(reference.entries.length);
        if (targetFileBytes === 1 << 20) expect(result.outputs.length).toBe(1);
      }
    }
  });

  test('random histories against the oracle (fast-check)', () => {
    const keyArb = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f').map(utf8) },
      { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 3 }) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          fromHex('ffffffff6978'),
          fromHex('ffffffff69780000000701'),
          fromHex('ffffffff6979'),
        ),
      },
    );
    const fieldBytesArb = fc.oneof(
      fc.constantFrom(
        new Uint8Array(0),
        Uint8Array.of(0),
        Uint8Array.of(0xff),
        Uint8Array.of(0, 0xff),
      ),
      fc.uint8Array({ maxLength: 12 }),
    );
    const valueArb = fc.oneof(
      fc
        .record({ color: fieldBytesArb }, { requiredKeys: [] })
        .map((fields) => record({ ...fields, other: 'o' })),
      fc.uint8Array({ maxLength: 10 }), // raw, almost never a field record
    );
    const versionArb = fc.record({
      key: keyArb,
      seq: fc.integer({ min: 1, max: 40 }),
      kind: fc.constantFrom<Version['kind']>('put', 'put', 'del', 'blob'),
      value: valueArb,
    });
    fc.assert(
      fc.property(
        fc.array(versionArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 45 }),
        fc.constantFrom(1, 400, 1 << 20),
        fc.constantFrom(1, 200, 1 << 20),
        fc.integer({ min: 0, max: 2 }),
        (drawn, readSeq, sortBufferBytes, targetFileBytes, maxIndexedValueBytes) => {
          const seen = new Set<string>(); // one version per (key, seq)
          const versions = drawn.filter((version) => {
            const id = `${hex(version.key)}@${version.seq}`;
            if (seen.has(id)) return false;
            seen.add(id);
            return true;
          });
          const tables = [0, 1, 2].map((table) =>
            versions.filter((_, index) => index % 3 === table),
          );
          const limit = maxIndexedValueBytes === 2 ? 12 : maxIndexedValueBytes;
          const scenario = writeScenario(tables, {
            readSeq,
            sortBufferBytes,
            targetFileBytes,
            maxIndexedValueBytes: limit,
          });
          expect(run(scenario)).toEqual(oracle(versions, scenario.task));
        },
      ),
      { numRuns: 60 },
    );
  });

  test('no tables, or no record with the field: no outputs', () => {
    const none = writeScenario([]);
    expect(buildIndex(none.task)).toEqual({
      outputs: [],
      recordsScanned: 0,
      entriesWritten: 0,
      valuesTooLong: 0,
      bytesRead: 0,
      bytesWritten: 0,
    });
    const lacking = writeScenario([[put('a', 1, record({ size: 'S' })), put('b', 2, utf8('raw'))]]);
    const result = buildIndex(lacking.task);
    expect(result.outputs).toEqual([]);
    expect(result.recordsScanned).toBe(2);
    expect(leftovers(lacking.task.tempPathPrefix)).toEqual([]);
  });

  test('a blob value with a flipped byte is ERR_CORRUPT naming the file and offset; nothing left', () => {
    const scenario = handMade({ sortBufferBytes: 1 }); // runs are on disk when the blob is read
    const offset = scenario.blobOffsets.get(`${hex(utf8('blob'))}@14`)!;
    flipByte(scenario.blobPath, offset + 100);
    expectStrataError(() => buildIndex(scenario.task), 'ERR_CORRUPT', [
      scenario.blobPath,
      `at byte ${offset}`,
    ]);
    expect(leftovers(scenario.task.tempPathPrefix)).toEqual([]);
  });

  test('a ref to a blob file the task does not list is ERR_CORRUPT', () => {
    const scenario = handMade();
    expectStrataError(() => buildIndex({ ...scenario.task, blobFiles: [] }), 'ERR_CORRUPT', [
      `blob file ${BLOB_FILE_NUMBER}`,
      hex(utf8('blob')),
    ]);
    expect(leftovers(scenario.task.tempPathPrefix)).toEqual([]);
  });

  test('a damaged table is ERR_CORRUPT naming it', () => {
    const scenario = handMade({ sortBufferBytes: 1 });
    const victim = scenario.task.tables[1]!.path;
    flipByte(victim, 20);
    expectStrataError(() => buildIndex(scenario.task), 'ERR_CORRUPT', [victim]);
    expect(leftovers(scenario.task.tempPathPrefix)).toEqual([]);
  });

  test('a failure while writing outputs removes the outputs and runs written so far', () => {
    const scenario = handMade({ sortBufferBytes: 1, targetFileBytes: 1 });
    const squatter = `${scenario.task.tempPathPrefix}-3.tmp`;
    writeFileSync(squatter, 'not ours');
    expectStrataError(() => buildIndex(scenario.task), 'ERR_IO', [squatter]);
    expect(leftovers(scenario.task.tempPathPrefix)).toEqual([basename(squatter)]);
  });

  test('bad tasks are ERR_INVALID_ARGUMENT', () => {
    const { task } = handMade();
    const bad: [Partial<IndexBuildTask>, string][] = [
      [{ readSeq: -1 }, 'readSeq'],
      [{ readSeq: 1.5 }, 'readSeq'],
      [{ indexId: 2 ** 32 }, 'indexId'],
      [{ field: '\ud800' }, 'field'],
      [{ field: 3 as unknown as string }, 'field'],
      [{ targetFileBytes: 0 }, 'targetFileBytes'],
      [{ sortBufferBytes: Number.NaN }, 'sortBufferBytes'],
      [{ maxIndexedValueBytes: -1 }, 'maxIndexedValueBytes'],
      [{ tempPathPrefix: '' }, 'tempPathPrefix'],
      [{ blobFiles: [task.blobFiles[0]!, task.blobFiles[0]!] }, 'listed twice'],
    ];
    for (const [change, part] of bad) {
      expectStrataError(() => buildIndex({ ...task, ...change }), 'ERR_INVALID_ARGUMENT', [part]);
    }
    expect(leftovers(task.tempPathPrefix)).toEqual([]);
  });
});

describe('EntrySorter', () => {
  test(`more runs than FAN_IN_MAX (${FAN_IN_MAX}) merge in passes; every run is removed`, () => {
    const runPathPrefix = folder.file('sorter-run');
    const sorter = new EntrySorter({ runPathPrefix, sortBufferBytes: 1 });
    const count = 3 * FAN_IN_MAX + 5;
    const keys = Array.from({ length: count }, (_, index) => utf8(`key-${(index * 7919) % count}`));
    for (const [index, key] of keys.entries()) sorter.add(key, index + 1);
    expect(sorter.runsWritten).toBe(count);
    expect(leftovers(runPathPrefix).length).toBe(count);
    const drained: { key: string; seq: number }[] = [];
    sorter.drain((entry) => drained.push({ key: hex(entry.userKey), seq: entry.seq }));
    expect(sorter.runsWritten).toBeGreaterThan(count); // merge passes wrote bigger runs
    const expected = keys
      .map((key, index) => ({ key: hex(key), seq: index + 1 }))
      .sort((a, b) => Buffer.compare(fromHex(a.key), fromHex(b.key)));
    expect(drained).toEqual(expected);
    expect(leftovers(runPathPrefix)).toEqual([]);
  });

  test('abandon removes the runs and hands back the error', () => {
    const runPathPrefix = folder.file('sorter-abandon');
    const sorter = new EntrySorter({ runPathPrefix, sortBufferBytes: 1 });
    for (let index = 0; index < 5; index++) sorter.add(Uint8Array.of(index), index);
    expect(leftovers(runPathPrefix).length).toBe(5);
    const error = new Error('boom');
    expect(sorter.abandon(error)).toBe(error);
    expect(leftovers(runPathPrefix)).toEqual([]);
  });
});

describe('through the compiled worker (dist/workers/index-build.js)', () => {
  let pool: Piscina | undefined;
  beforeAll(() => {
    buildIfStale();
    pool = new Piscina({ filename: indexBuildWorkerUrl(), maxThreads: 2 });
  });
  afterAll(async () => {
    await pool?.destroy();
  });

  test('two builds at once: one writes the oracle’s entries, a corrupt one fails with its code', async () => {
    const good = handMade({ sortBufferBytes: 400, targetFileBytes: 150 });
    const bad = handMade();
    const offset = bad.blobOffsets.get(`${hex(utf8('blob'))}@14`)!;
    flipByte(bad.blobPath, offset + 1);
    const [goodRun, badRun] = await Promise.allSettled([pool!.run(good.task), pool!.run(bad.task)]);
    expect(goodRun.status).toBe('fulfilled');
    const result = (goodRun as PromiseFulfilledResult<IndexBuildResult>).value;
    expect(result.outputs.length).toBeGreaterThan(1);
    expect(run(good, result)).toEqual(oracle(good.versions, good.task));
    expect(badRun.status).toBe('rejected');
    const reason = (badRun as PromiseRejectedResult).reason as Error;
    expect(reason.message).toMatch(/^\[ERR_CORRUPT\] /);
    const revived = reviveWorkerError(reason);
    expect(isStrataError(revived, 'ERR_CORRUPT')).toBe(true);
    expect((revived as Error).message).toContain(bad.blobPath);
    expect(leftovers(bad.task.tempPathPrefix)).toEqual([]);
  });
});

/** Compiles the project (tsconfig.build.json) when a source the worker runs is newer than its output. */
function buildIfStale(): void {
  const root = packageRoot();
  const pairs: [string, string][] = [['workers/index-build.ts', 'dist/workers/index-build.js']];
  for (const sourceFolder of ['src/fields', 'src/lsm', 'src/blob', 'src/sst']) {
    for (const name of readdirSync(join(root, sourceFolder))) {
      if (!name.endsWith('.ts') || name.endsWith('.test.ts')) continue;
      pairs.push([
        join(sourceFolder, name),
        join('dist', sourceFolder, name.replace(/\.ts$/, '.js')),
      ]);
    }
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
