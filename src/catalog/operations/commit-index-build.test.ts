/**
 * CommitIndexBuild: the level its outputs go to (the rule's cases are in
 * testdata/ingest-level; here they run through the catalog), the index's state and id checks,
 * temp files renamed to fresh file numbers, and the input checks.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { isStrataError, type StrataErrorCode } from '../../errors.js';
import { compareInternalKeys, encodeInternalKey, KIND_VALUE } from '../../sst/internal-key.js';
import { caseIntArg, runDataDriven } from '../../sst/testing/datadriven.js';
import {
  Catalog,
  ChangeIndexState,
  CommitCompaction,
  CommitIndexBuild,
  type CommitIndexBuildResult,
  type IndexBuildOutput,
  type IndexMeta,
  type TableProperties,
} from '../catalog.js';
import { type CatalogState, deepFreeze, emptyState, type FileMeta } from '../catalog-state.js';
import { tableFileName } from '../file-names.js';
import { bytesOf, indexTable, internalTable, writeTemp } from '../testing/fixtures.js';
import { MemoryCatalogFs } from '../testing/memory-fs.js';
import { ingestLevel } from './commit-index-build.js';

const DIR = '/db';
const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata');

interface Fixture {
  readonly catalog: Catalog;
  readonly fs: MemoryCatalogFs;
}

async function open(): Promise<Fixture> {
  const fs = new MemoryCatalogFs();
  // The engine's comparator, so tables of internal keys order as they do in the engine.
  const catalog = await Catalog.open(DIR, { fs, compareKeys: compareInternalKeys });
  return { catalog, fs };
}

async function createIndex({ catalog }: Fixture, name: string): Promise<IndexMeta> {
  const snapshot = catalog.getSnapshot();
  const index = await new ChangeIndexState(snapshot, { name, state: 'building' }).push().waitDone();
  snapshot.release();
  if (index === undefined) throw new Error('index not created');
  return index;
}

/** Puts a table straight into `level` (a CommitCompaction without inputs ingests it). */
async function place(fixture: Fixture, level: number, table: TableProperties): Promise<FileMeta> {
  const { catalog, fs } = fixture;
  const tempPath = await writeTemp(catalog, fs, bytesOf('x'.repeat(table.sizeBytes)));
  const snapshot = catalog.getSnapshot();
  const result = await new CommitCompaction(snapshot, {
    inputs: [],
    outputs: [{ tempPath, level, table }],
  })
    .push()
    .waitDone();
  snapshot.release();
  return result.filesAdded[0]!;
}

async function outputs(
  fixture: Fixture,
  tables: readonly TableProperties[],
): Promise<IndexBuildOutput[]> {
  const written: IndexBuildOutput[] = [];
  for (const table of tables) {
    const bytes = bytesOf('e'.repeat(table.sizeBytes));
    written.push({ tempPath: await writeTemp(fixture.catalog, fixture.fs, bytes), table });
  }
  return written;
}

function build(
  { catalog }: Fixture,
  input: { name: string; id: number; outputs: readonly IndexBuildOutput[] },
): Promise<CommitIndexBuildResult> {
  const snapshot = catalog.getSnapshot();
  const op = new CommitIndexBuild(snapshot, input).push();
  snapshot.release();
  return op.waitDone();
}

async function expectStrataError(promise: Promise<unknown>, code: StrataErrorCode): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isStrataError(error, code), String(error)).toBe(true);
  return error as Error;
}

function latest({ catalog }: Fixture): CatalogState {
  const snapshot = catalog.getSnapshot();
  const state = snapshot.state;
  snapshot.release();
  return state;
}

describe('the ingest level', () => {
  test('an empty database: L6; temp files become tables with fresh numbers', async () => {
    const fixture = await open();
    const index = await createIndex(fixture, 'author');
    expect(index).toEqual({ name: 'author', id: 1, state: 'building' });
    const tables = [
      indexTable({ id: 1, low: 0x40, high: 0x4f, seqMin: 2, seqMax: 5, sizeBytes: 7 }),
      indexTable({ id: 1, low: 0x10, high: 0x2f, seqMin: 1, seqMax: 9, sizeBytes: 5 }),
    ];
    const written = await outputs(fixture, tables);
    const result = await build(fixture, { name: 'author', id: 1, outputs: written });
    expect(result.index).toEqual({ name: 'author', id: 1, state: 'ready' });
    expect(result.level).toBe(6);
    expect(result.filesAdded.map((file) => [file.fileNumber, file.level])).toEqual([
      [2, 6],
      [3, 6],
    ]);
    const state = latest(fixture);
    expect(state.nextFileNumber).toBe(4);
    expect(state.lastSequence).toBe(9);
    expect(state.indexes).toEqual([result.index]);
    // L6 is sorted by smallest key: the second output comes first.
    expect(state.levels[6]!.map((file) => file.fileNumber)).toEqual([3, 2]);
    const names = (await fixture.fs.readdir(DIR)) ?? [];
    expect(names.filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(await fixture.fs.readFile(join(DIR, tableFileName(2)))).toEqual(bytesOf('eeeeeee'));
    expect(await fixture.fs.readFile(join(DIR, tableFileName(3)))).toEqual(bytesOf('eeeee'));
    await fixture.catalog.close();
    // The edit is durable: a reopen replays it.
    const reopened = await Catalog.open(DIR, { fs: fixture.fs, compareKeys: compareInternalKeys });
    const snapshot = reopened.getSnapshot();
    expect(snapshot.state).toEqual(state);
    snapshot.release();
    await reopened.close();
  });

  test.each([
    { name: 'overlap in L3 only', overlapping: [3], expected: 4 },
    { name: 'overlap in L1 and L3', overlapping: [1, 3], expected: 4 },
    { name: 'overlap in L2 and L5', overlapping: [2, 5], expected: 6 },
    { name: 'overlap in L1 only', overlapping: [1], expected: 2 },
    { name: 'overlap in L0 only (never matters)', overlapping: [0], expected: 6 },
  ])('$name: L$expected', async ({ overlapping, expected }) => {
    const fixture = await open();
    const { id } = await createIndex(fixture, 'f');
    // Newer entries of the index, written while it was building, and tables elsewhere.
    for (const level of overlapping) {
      await place(
        fixture,
        level,
        indexTable({ id, low: 0x30 + level, high: 0x30 + level, sizeBytes: 1 }),
      );
    }
    await place(fixture, 6, internalTable({ low: 0x10, high: 0x20, sizeBytes: 1 }));
    await place(fixture, 5, indexTable({ id: id + 1, low: 0, high: 0xff, sizeBytes: 1 }));
    const range = indexTable({ id, low: 0x30, high: 0x3f, sizeBytes: 2 });
    const result = await build(fixture, {
      name: 'f',
      id,
      outputs: await outputs(fixture, [range]),
    });
    expect(result.level).toBe(expected);
    const state = latest(fixture);
    expect(state.levels[expected]!.map((file) => file.fileNumber)).toContain(
      result.filesAdded[0]!.fileNumber,
    );
    await fixture.catalog.close();
  });

  test('an overlapping table in L6 leaves no level: ERR_CONFLICT, nothing changes', async () => {
    const fixture = await open();
    const { id } = await createIndex(fixture, 'f');
    // The table shares only the build's smallest user key, at another sequence number.
    await place(fixture, 6, indexTable({ id, low: 0x20, high: 0x20, seqMin: 50, sizeBytes: 1 }));
    const before = latest(fixture);
    const written = await outputs(fixture, [
      indexTable({ id, low: 0x20, high: 0x28, seqMin: 3, sizeBytes: 2 }),
    ]);
    const error = await expectStrataError(
      build(fixture, { name: 'f', id, outputs: written }),
      'ERR_CONFLICT',
    );
    expect(error.message).toMatch(/no level below the index's newer entries is free/);
    expect(latest(fixture)).toBe(before);
    // The temp file is the caller's again; a later try (here: after the table moved up) works.
    expect(await fixture.fs.stat(written[0]!.tempPath)).toBeDefined();
    const file = before.levels[6]![0]!;
    const snapshot = fixture.catalog.getSnapshot();
    const move = { fileNumber: file.fileNumber, fromLevel: 6, toLevel: 2 };
    await new CommitCompaction(snapshot, { inputs: [], outputs: [], moves: [move] })
      .push()
      .waitDone();
    snapshot.release();
    expect((await build(fixture, { name: 'f', id, outputs: written })).level).toBe(3);
    await fixture.catalog.close();
  });

  test('no outputs: the index just becomes ready', async () => {
    const fixture = await open();
    const { id } = await createIndex(fixture, 'f');
    const before = latest(fixture);
    const result = await build(fixture, { name: 'f', id, outputs: [] });
    expect(result).toEqual({
      index: { name: 'f', id, state: 'ready' },
      level: undefined,
      filesAdded: [],
    });
    const after = latest(fixture);
    expect(after.version).toBe(before.version + 1);
    expect(after.nextFileNumber).toBe(before.nextFileNumber);
    expect(after.lastSequence).toBe(before.lastSequence);
    await fixture.catalog.close();
  });
});

describe('the index must be building, with that id', () => {
  test('absent, another id, ready or dropping: ERR_CONFLICT and nothing changes', async () => {
    const fixture = await open();
    const { catalog } = fixture;
    const { id } = await createIndex(fixture, 'f');
    const change = async (state: 'dropping' | 'absent' | 'building') => {
      const snapshot = catalog.getSnapshot();
      const result = await new ChangeIndexState(snapshot, { name: 'f', state }).push().waitDone();
      snapshot.release();
      return result;
    };
    const refused = async (input: { name: string; id: number }, message: RegExp) => {
      const before = latest(fixture);
      const written = await outputs(fixture, [indexTable({ id, low: 1, high: 2, sizeBytes: 1 })]);
      const error = await expectStrataError(
        build(fixture, { ...input, outputs: written }),
        'ERR_CONFLICT',
      );
      expect(error.message).toMatch(message);
      expect(latest(fixture)).toBe(before);
      expect(await fixture.fs.stat(written[0]!.tempPath)).toBeDefined();
    };
    await refused({ name: 'g', id }, /index "g" does not exist/);
    await refused({ name: 'f', id: id + 7 }, new RegExp(`index "f" has id ${id}, not ${id + 7}`));
    await build(fixture, { name: 'f', id, outputs: [] });
    await refused({ name: 'f', id }, /index "f" is ready, not building/);
    await change('dropping');
    await refused({ name: 'f', id }, /index "f" is dropping, not building/);
    // Dropped and created again: the new index has a new id, and the old build does not fit.
    await change('absent');
    const again = await change('building');
    expect(again?.id).toBeGreaterThan(id);
    await refused({ name: 'f', id }, /has id \d+, not/);
    await catalog.close();
  });

  test('a build planned before the index was dropped conflicts when it applies', async () => {
    const fixture = await open();
    const { catalog } = fixture;
    const { id } = await createIndex(fixture, 'f');
    const written = await outputs(fixture, [indexTable({ id, low: 1, high: 2, sizeBytes: 1 })]);
    const planned = catalog.getSnapshot();
    const drop = new ChangeIndexState(planned, { name: 'f', state: 'dropping' }).push();
    const commit = new CommitIndexBuild(planned, { name: 'f', id, outputs: written }).push();
    planned.release();
    await drop.waitDone();
    await expectStrataError(commit.waitDone(), 'ERR_CONFLICT');
    await catalog.close();
  });
});

describe('input checks (ERR_INVALID_ARGUMENT before anything is queued)', () => {
  test.each([
    {
      problem: 'outputs that overlap each other',
      outputs: [
        indexTable({ id: 1, low: 1, high: 5, sizeBytes: 1 }),
        indexTable({ id: 1, low: 5, high: 9, sizeBytes: 1 }),
      ],
      message: /outputs\[0\] and outputs\[1\] overlap in user keys/,
    },
    {
      problem: 'outputs that overlap each other, listed out of order',
      outputs: [
        indexTable({ id: 1, low: 6, high: 9, sizeBytes: 1 }),
        indexTable({ id: 1, low: 1, high: 7, sizeBytes: 1 }),
      ],
      message: /outputs\[1\] and outputs\[0\] overlap in user keys/,
    },
    {
      problem: 'a key too short for an internal key',
      outputs: [{ ...indexTable({ id: 1, low: 1, high: 2, sizeBytes: 1 }), largest: bytesOf('k') }],
      message: /outputs\[0\]\.table\.largest is shorter than an internal key's trailer/,
    },
    {
      problem: 'a table whose smallest user key is after its largest',
      outputs: [indexTable({ id: 1, low: 9, high: 2, sizeBytes: 1 })],
      message: /outputs\[0\]\.table\.smallest has a user key after its largest's/,
    },
    {
      problem: 'a table with seqMin > seqMax',
      outputs: [{ ...indexTable({ id: 1, low: 1, high: 2, sizeBytes: 1 }), seqMin: 3, seqMax: 2 }],
      message: /seqMin is greater than seqMax/,
    },
  ])('$problem', async ({ outputs: tables, message }) => {
    const fixture = await open();
    const snapshot = fixture.catalog.getSnapshot();
    const input = {
      name: 'f',
      id: 1,
      outputs: tables.map((table, position) => ({ tempPath: `/db/t${position}.tmp`, table })),
    };
    expect(() => new CommitIndexBuild(snapshot, input)).toThrow(message);
    snapshot.release();
    await fixture.catalog.close();
  });

  test('names and ids', async () => {
    const fixture = await open();
    const snapshot = fixture.catalog.getSnapshot();
    for (const [input, message] of [
      [{ name: '', id: 1 }, /name must be a non-empty, well-formed string/],
      [{ name: 'f', id: 0 }, /id must be an integer index id in \[1, 4294967295\]/],
      [{ name: 'f', id: 2 ** 32 }, /id must be an integer index id/],
      [{ name: 'f', id: 1.5 }, /id must be an integer index id/],
    ] as const) {
      expect(() => new CommitIndexBuild(snapshot, { ...input, outputs: [] })).toThrow(message);
    }
    snapshot.release();
    await fixture.catalog.close();
  });
});

/*
 * The level rule on its own (testdata/ingest-level). Commands:
 *   ingest low=N high=N      the build's user keys [N, N] (one byte each); input lines
 *                            `L<level> <low> <high>` are the tables there. Output: the level, or
 *                            `conflict` when none is free.
 */
test('testdata/ingest-level', () => {
  runDataDriven(join(TESTDATA, 'ingest-level'), (testCase) => {
    const levels: FileMeta[][] = Array.from({ length: 7 }, () => []);
    for (const [position, line] of testCase.input.split('\n').filter(Boolean).entries()) {
      const match = /^L(\d) (\d+) (\d+)$/.exec(line);
      if (match === null) throw new Error(`${testCase.path}:${testCase.line}: bad line ${line}`);
      const [level, low, high] = match.slice(1).map(Number) as [number, number, number];
      const table = internalTable({ low, high, sizeBytes: 1 });
      levels[level]!.push({ ...table, level, fileNumber: position + 1 });
    }
    const state = deepFreeze({ ...emptyState(), levels });
    const range = {
      smallest: Uint8Array.of(caseIntArg(testCase, 'low', 0)),
      largest: Uint8Array.of(caseIntArg(testCase, 'high', 0)),
    };
    const level = ingestLevel(state, range);
    return level === null ? 'conflict' : `L${level}`;
  });
});

// Keeps the fixture's key layout honest: user key, then an 8-byte trailer.
test('fixture tables hold internal keys', () => {
  const table = internalTable({ low: 3, high: 4, seqMin: 2, seqMax: 6, sizeBytes: 1 });
  expect(table.smallest).toEqual(encodeInternalKey(Uint8Array.of(3), 6, KIND_VALUE));
  expect(table.largest).toEqual(encodeInternalKey(Uint8Array.of(4), 2, KIND_VALUE));
});
