/**
 * The catalog's operation flow: each operation's effect, push order under concurrent callers,
 * conflicts against the latest snapshot, pinned snapshots holding files on disk, consistency
 * checks on temp files, automatic checkpoints, and a catalog stopping after a failed write.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { makeTempFolder, type TempFolder } from '../../nvm/testing/temp-folder.js';
import { isStrataError } from '../errors.js';
import {
  AddBlobFile,
  Catalog,
  ChangeIndexState,
  type ChangeIndexStateInput,
  Checkpoint,
  CommitCompaction,
  CommitFlush,
  CommitIndexBuild,
  CreateMemtable,
  FreezeMemtable,
  INDEX_ID_MAX,
} from './catalog.js';
import { type CatalogFs, nodeCatalogFs } from './catalog-fs.js';
import { emptyState } from './catalog-state.js';
import { switchGeneration } from './checkpoint.js';
import { CrashingCatalogFs } from './testing/crashing-fs.js';
import { bytesOf, describeState, table, writeTemp } from './testing/fixtures.js';
import { MemoryCatalogFs } from './testing/memory-fs.js';

const DIR = '/db';

let temp: TempFolder;
beforeEach(() => {
  temp = makeTempFolder('catalog');
});
afterEach(() => temp.remove());

async function expectCode(promise: Promise<unknown>, code: string): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isStrataError(error), String(error)).toBe(true);
  expect((error as { code: string }).code, String(error)).toBe(code);
  return error as Error;
}

/** Creates the first memtable, freezes it (memtable 2 becomes mutable) and flushes it to L0. */
async function flushOne(
  catalog: Catalog,
  fs: CatalogFs,
  options: { low: number; high: number; seq: number },
): Promise<number> {
  let snapshot = catalog.getSnapshot();
  let mutable = snapshot.mutableMemtable();
  snapshot.release();
  if (mutable === undefined) {
    snapshot = catalog.getSnapshot();
    mutable = await new CreateMemtable(snapshot, { locator: 100 }).push().waitDone();
    snapshot.release();
  }
  snapshot = catalog.getSnapshot();
  const freeze = new FreezeMemtable(snapshot, { memtableId: mutable.id, nextLocator: 200 });
  snapshot.release();
  const { frozen } = await freeze.push().waitDone();
  const bytes = bytesOf(`table ${options.low}-${options.high}`);
  const tempPath = await writeTemp(catalog, fs, bytes);
  snapshot = catalog.getSnapshot();
  const flush = new CommitFlush(snapshot, {
    memtableId: frozen.id,
    tempPath,
    table: table({ ...options, seqMin: options.seq, seqMax: options.seq, sizeBytes: bytes.length }),
  });
  snapshot.release();
  const result = await flush.push().waitDone();
  return result.file.fileNumber;
}

describe('operations', () => {
  test('a new catalog is empty, and create → freeze → flush installs a table in L0', async () => {
    const catalog = await Catalog.open(temp.path);
    expect(readdirSync(temp.path).sort()).toEqual(['CATALOG-000001', 'CURRENT', 'MANIFEST-000001']);
    const empty = catalog.getSnapshot();
    expect(empty.version).toBe(0);
    expect(empty.memtables).toEqual([]);
    expect(Object.isFrozen(empty)).toBe(true);
    expect(Object.isFrozen(empty.state.levels[0])).toBe(true);

    const created = await new CreateMemtable(empty, { locator: 7 }).push().waitDone();
    expect(created).toEqual({ id: 1, state: 'mutable', locator: 7 });
    const planned = catalog.getSnapshot();
    const froze = await new FreezeMemtable(planned, { memtableId: 1, nextLocator: 8 })
      .push()
      .waitDone();
    expect(froze.frozen).toEqual({ id: 1, state: 'immutable', locator: 7 });
    expect(froze.created).toEqual({ id: 2, state: 'mutable', locator: 8 });

    const bytes = bytesOf('a dummy table');
    const tempPath = await writeTemp(catalog, nodeCatalogFs, bytes);
    const flush = new CommitFlush(planned, {
      memtableId: 1,
      tempPath,
      table: table({ low: 1, high: 9, seqMin: 1, seqMax: 40, sizeBytes: bytes.length }),
    });
    const flushed = await flush.push().waitDone();
    expect(flushed.file.fileNumber).toBe(1);
    expect(flushed.memtable.locator).toBe(7);
    expect(existsSync(tempPath)).toBe(false);
    expect(existsSync(join(temp.path, '000001.sst'))).toBe(true);

    const latest = catalog.getSnapshot();
    expect(latest.version).toBe(3);
    expect(latest.memtables).toEqual([{ id: 2, state: 'mutable', locator: 8 }]);
    expect(latest.levels[0]?.map((file) => file.fileNumber)).toEqual([1]);
    expect(latest.state.lastSequence).toBe(40);
    // The planning snapshot still shows memtable 1, so its pages stay in use until released.
    let unpinned = false;
    void flushed.memtableUnpinned.then(() => (unpinned = true));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(unpinned).toBe(false);
    planned.release();
    await flushed.memtableUnpinned;
    empty.release();

    const before = describeState(latest.state);
    latest.release();
    await catalog.close();
    const reopened = await Catalog.open(temp.path);
    const after = reopened.getSnapshot();
    expect(describeState(after.state)).toBe(before);
    after.release();
    await reopened.close();
  });

  test('there is at most one mutable memtable', async () => {
    const catalog = await Catalog.open(DIR, { fs: new MemoryCatalogFs() });
    const snapshot = catalog.getSnapshot();
    await new CreateMemtable(snapshot, { locator: 1 }).push().waitDone();
    const second = new CreateMemtable(snapshot, { locator: 2 }).push();
    const error = await expectCode(second.waitDone(), 'ERR_CONFLICT');
    expect(error.message).toMatch(/memtable 1 is already mutable/);
    expect(error.message).toMatch(/planned on version 0 .* at version 1/);
    snapshot.release();
    await catalog.close();
  });

  test('blob files and index states', async () => {
    const fs = new MemoryCatalogFs();
    const catalog = await Catalog.open(DIR, { fs });
    const snapshot = catalog.getSnapshot();
    const tempPath = await writeTemp(catalog, fs, bytesOf('blob header'));
    const blob = await new AddBlobFile(snapshot, { tempPath, sizeBytes: 11 }).push().waitDone();
    expect(blob).toEqual({ fileNumber: 1, sizeBytes: 11, garbageBytes: 0 });
    expect((await fs.readdir(DIR))?.includes('000001.blob')).toBe(true);

    const change = (name: string, state: 'building' | 'dropping' | 'absent') =>
      new ChangeIndexState(snapshot, { name, state }).push().waitDone();
    // A new index takes the next file number as its id; the edit consumes it.
    expect(await change('author', 'building')).toEqual({
      name: 'author',
      id: 2,
      state: 'building',
    });
    await expectCode(change('author', 'building'), 'ERR_CONFLICT');
    const ready = new CommitIndexBuild(snapshot, { name: 'author', id: 2, outputs: [] }).push();
    expect(await ready.waitDone()).toEqual({
      index: { name: 'author', id: 2, state: 'ready' },
      level: undefined,
      filesAdded: [],
    });
    expect(await change('title', 'building')).toEqual({ name: 'title', id: 3, state: 'building' });
    await expectCode(change('title', 'absent'), 'ERR_CONFLICT');
    await expectCode(change('subject', 'dropping'), 'ERR_CONFLICT');
    expect(await change('author', 'dropping')).toEqual({
      name: 'author',
      id: 2,
      state: 'dropping',
    });
    expect(await change('author', 'absent')).toBeUndefined();
    // Ids are never reused, not even for the same name.
    expect(await change('author', 'building')).toEqual({
      name: 'author',
      id: 4,
      state: 'building',
    });
    expect(await change('title', 'dropping')).toEqual({ name: 'title', id: 3, state: 'dropping' });
    const latest = catalog.getSnapshot();
    expect(latest.indexes).toEqual([
      { name: 'author', id: 4, state: 'building' },
      { name: 'title', id: 3, state: 'dropping' },
    ]);
    expect(latest.state.nextFileNumber).toBe(5);
    expect(latest.blobFiles).toEqual([blob]);
    latest.release();
    snapshot.release();
    await catalog.close();
    const reopened = await Catalog.open(DIR, { fs });
    const replayed = reopened.getSnapshot();
    expect(replayed.indexes).toEqual(latest.indexes);
    replayed.release();
    await reopened.close();
  });

  test('index names and states are checked; ready is only for CommitIndexBuild', async () => {
    const catalog = await Catalog.open(DIR, { fs: new MemoryCatalogFs() });
    const snapshot = catalog.getSnapshot();
    const cases: [ChangeIndexStateInput, RegExp][] = [
      [{ name: '', state: 'building' }, /non-empty, well-formed string/],
      [{ name: '\ud800', state: 'building' }, /non-empty, well-formed string/],
      [{ name: 'x'.repeat(0x10000), state: 'building' }, /longer than 65535 UTF-8 bytes/],
      [{ name: 'f', state: 'ready' }, /ready through CommitIndexBuild/],
      [{ name: 'f', state: 'gone' as 'absent' }, /must be one of building, dropping, absent/],
    ];
    for (const [input, message] of cases) {
      expect(() => new ChangeIndexState(snapshot, input)).toThrow(message);
    }
    snapshot.release();
    await catalog.close();
  });

  test('index ids are u32: creation past 0xFFFFFFFF is refused', async () => {
    const fs = new MemoryCatalogFs();
    await fs.mkdir(DIR);
    const state = { ...emptyState(), nextFileNumber: INDEX_ID_MAX };
    await switchGeneration(fs, { dir: DIR, state, generation: 1 });
    const catalog = await Catalog.open(DIR, { fs });
    const snapshot = catalog.getSnapshot();
    const last = await new ChangeIndexState(snapshot, { name: 'last', state: 'building' })
      .push()
      .waitDone();
    expect(last).toEqual({ name: 'last', id: INDEX_ID_MAX, state: 'building' });
    const next = new ChangeIndexState(snapshot, { name: 'next', state: 'building' }).push();
    const error = await expectCode(next.waitDone(), 'ERR_INVALID_ARGUMENT');
    expect(error.message).toMatch(/index ids are exhausted/);
    // Files still get numbers; only index ids are u32.
    const tempPath = await writeTemp(catalog, fs, bytesOf('blob'));
    const blob = await new AddBlobFile(snapshot, { tempPath, sizeBytes: 4 }).push().waitDone();
    expect(blob.fileNumber).toBe(INDEX_ID_MAX + 1);
    snapshot.release();
    await catalog.close();
  });
});

describe('the queue', () => {
  test('operations apply one at a time, in push order, whatever the callers do', async () => {
    const base = new MemoryCatalogFs();
    let active = 0;
    let activeMax = 0;
    const slow: CatalogFs = {
      ...bindAll(base),
      // A rename that yields to the event loop: any overlap between operations would show here.
      rename: async (from, to) => {
        active++;
        activeMax = Math.max(activeMax, active);
        await new Promise((resolve) => setTimeout(resolve, 1));
        await base.rename(from, to);
        active--;
      },
    };
    const catalog = await Catalog.open(DIR, { fs: slow });
    const callerCount = 40;
    const pushOrder: number[] = [];
    const results = await Promise.all(
      Array.from({ length: callerCount }, async (_unused, caller) => {
        await new Promise((resolve) => setTimeout(resolve, (caller * 7) % 13));
        const bytes = bytesOf(`blob of caller ${caller}`);
        const tempPath = await writeTemp(catalog, base, bytes);
        const snapshot = catalog.getSnapshot();
        const op = new AddBlobFile(snapshot, { tempPath, sizeBytes: bytes.length });
        snapshot.release();
        pushOrder.push(caller);
        op.push();
        return { caller, blob: await op.waitDone() };
      }),
    );
    expect(activeMax).toBe(1);
    const numberByCaller = new Map(
      results.map((result) => [result.caller, result.blob.fileNumber]),
    );
    expect(pushOrder.map((caller) => numberByCaller.get(caller))).toEqual(
      Array.from({ length: callerCount }, (_unused, index) => index + 1),
    );
    await catalog.close();
  });

  test('operations pushed in one synchronous block are all planned on one snapshot', async () => {
    const catalog = await Catalog.open(DIR, { fs: new MemoryCatalogFs() });
    const snapshot = catalog.getSnapshot();
    const first = new CreateMemtable(snapshot, { locator: 1 }).push();
    const second = new CreateMemtable(snapshot, { locator: 2 }).push();
    expect((await first.waitDone()).id).toBe(1);
    await expectCode(second.waitDone(), 'ERR_CONFLICT');
    snapshot.release();
    await catalog.close();
  });
});

describe('conflicts with the latest snapshot', () => {
  test('a stale freeze, a repeated flush and a consumed compaction input change nothing', async () => {
    const fs = new MemoryCatalogFs();
    const catalog = await Catalog.open(DIR, { fs });
    const first = await flushOne(catalog, fs, { low: 1, high: 5, seq: 1 });
    const second = await flushOne(catalog, fs, { low: 6, high: 9, seq: 2 });
    const stale = catalog.getSnapshot();
    const mutableId = stale.mutableMemtable()?.id ?? 0;
    await new FreezeMemtable(stale, { memtableId: mutableId, nextLocator: 1 }).push().waitDone();
    const compactionBytes = bytesOf('merged');
    const mergedPath = await writeTemp(catalog, fs, compactionBytes);
    const compaction = (tempPath: string) =>
      new CommitCompaction(stale, {
        inputs: [
          { level: 0, fileNumber: first },
          { level: 0, fileNumber: second },
        ],
        outputs: [{ tempPath, level: 1, table: table({ low: 1, high: 9, sizeBytes: 6 }) }],
      });
    await compaction(mergedPath).push().waitDone();

    const before = catalog.getSnapshot();
    const filesBefore = fs.files(DIR);
    const retryPath = await writeTemp(catalog, fs, compactionBytes);
    const errors = [
      await expectCode(
        new FreezeMemtable(stale, { memtableId: mutableId, nextLocator: 2 }).push().waitDone(),
        'ERR_CONFLICT',
      ),
      await expectCode(compaction(retryPath).push().waitDone(), 'ERR_CONFLICT'),
      await expectCode(
        new CommitFlush(stale, {
          memtableId: 1,
          tempPath: retryPath,
          table: table({ low: 1, high: 2, sizeBytes: 6 }),
        })
          .push()
          .waitDone(),
        'ERR_CONFLICT',
      ),
    ];
    expect(errors.map((error) => error.message)).toEqual([
      expect.stringMatching(/memtable \d+ is not mutable \(already frozen\)/),
      expect.stringMatching(/input table 1 is no longer live in L0/),
      expect.stringMatching(/memtable 1 was already flushed/),
    ]);
    const after = catalog.getSnapshot();
    expect(after.version).toBe(before.version);
    expect(describeState(after.state)).toBe(describeState(before.state));
    const filesAfter = fs.files(DIR);
    filesAfter.delete(retryPath.slice(DIR.length + 1));
    expect(filesAfter).toEqual(filesBefore);
    for (const snapshot of [stale, before, after]) snapshot.release();
    await catalog.close();
  });

  test('outputs may not overlap a table that stays in their level', async () => {
    const fs = new MemoryCatalogFs();
    const catalog = await Catalog.open(DIR, { fs });
    const snapshot = catalog.getSnapshot();
    const output = async (low: number, high: number) => ({
      tempPath: await writeTemp(catalog, fs, bytesOf('xy')),
      level: 2,
      table: table({ low, high, sizeBytes: 2 }),
    });
    const ingest = async (low: number, high: number) =>
      new CommitCompaction(snapshot, { inputs: [], outputs: [await output(low, high)] })
        .push()
        .waitDone();
    await ingest(10, 20);
    await ingest(30, 40);
    const error = await expectCode(ingest(15, 25), 'ERR_CONFLICT');
    expect(error.message).toMatch(/overlap in L2/);
    const latest = catalog.getSnapshot();
    expect(latest.levels[2]?.map((file) => file.smallest[0])).toEqual([10, 30]);
    latest.release();
    snapshot.release();
    await catalog.close();
  });
});

describe('snapshots pin files', () => {
  test('compaction inputs stay on disk until the last snapshot listing them is released', async () => {
    const catalog = await Catalog.open(temp.path);
    const first = await flushOne(catalog, nodeCatalogFs, { low: 1, high: 5, seq: 1 });
    const second = await flushOne(catalog, nodeCatalogFs, { low: 3, high: 8, seq: 2 });
    const reader = catalog.getSnapshot();
    const otherReader = catalog.getSnapshot();
    const tempPath = await writeTemp(catalog, nodeCatalogFs, bytesOf('compacted'));
    await new CommitCompaction(reader, {
      inputs: [
        { level: 0, fileNumber: first },
        { level: 0, fileNumber: second },
      ],
      outputs: [{ tempPath, level: 1, table: table({ low: 1, high: 8, seqMax: 2, sizeBytes: 9 }) }],
    })
      .push()
      .waitDone();
    await catalog.whenIdle();
    const onDisk = () =>
      readdirSync(temp.path)
        .filter((name) => name.endsWith('.sst'))
        .sort();
    expect(onDisk()).toEqual(['000001.sst', '000002.sst', '000003.sst']);
    reader.release();
    await catalog.whenIdle();
    expect(onDisk()).toEqual(['000001.sst', '000002.sst', '000003.sst']);
    otherReader.release();
    await catalog.whenIdle();
    expect(onDisk()).toEqual(['000003.sst']);
    expect(() => reader.release()).toThrow(/released twice/);
    await catalog.close();
  });

  test('files a snapshot still pinned at close are removed by the next open', async () => {
    const catalog = await Catalog.open(temp.path);
    const first = await flushOne(catalog, nodeCatalogFs, { low: 1, high: 5, seq: 1 });
    const reader = catalog.getSnapshot();
    await new CommitCompaction(reader, { inputs: [{ level: 0, fileNumber: first }], outputs: [] })
      .push()
      .waitDone();
    await catalog.close();
    reader.release();
    expect(existsSync(join(temp.path, '000001.sst'))).toBe(true);
    const reopened = await Catalog.open(temp.path);
    expect(existsSync(join(temp.path, '000001.sst'))).toBe(false);
    await reopened.close();
  });
});

describe('consistency checks and lifecycle', () => {
  test('a temp file that is missing, the wrong size or outside the directory is refused', async () => {
    const fs = new MemoryCatalogFs();
    const catalog = await Catalog.open(DIR, { fs });
    const snapshot = catalog.getSnapshot();
    const add = (tempPath: string, sizeBytes: number) =>
      new AddBlobFile(snapshot, { tempPath, sizeBytes }).push().waitDone();
    const tempPath = await writeTemp(catalog, fs, bytesOf('12345'));
    const wrongSize = await expectCode(add(tempPath, 6), 'ERR_CORRUPT');
    expect(wrongSize.message).toContain(tempPath);
    await expectCode(add(catalog.newTempPath(), 5), 'ERR_INVALID_ARGUMENT');
    await expectCode(add('/elsewhere/x.tmp', 5), 'ERR_INVALID_ARGUMENT');
    expect(() => new AddBlobFile(snapshot, { tempPath, sizeBytes: -1 })).toThrow(/sizeBytes/);
    expect((await add(tempPath, 5)).fileNumber).toBe(1);
    snapshot.release();
    await catalog.close();
  });

  test('a closed catalog refuses operations and snapshots', async () => {
    const catalog = await Catalog.open(DIR, { fs: new MemoryCatalogFs() });
    const snapshot = catalog.getSnapshot();
    const queued = new CreateMemtable(snapshot, { locator: 1 }).push();
    const closing = catalog.close();
    const late = new CreateMemtable(snapshot, { locator: 2 }).push();
    await closing;
    expect((await queued.waitDone()).id).toBe(1);
    await expectCode(late.waitDone(), 'ERR_CLOSED');
    expect(() => catalog.getSnapshot()).toThrow(/closed/);
    snapshot.release();
  });

  test('every N edits the catalog checkpoints on its own; reopen sees the same state', async () => {
    const fs = new MemoryCatalogFs();
    const catalog = await Catalog.open(DIR, { fs, checkpointEveryEdits: 3 });
    for (let index = 0; index < 4; index++) {
      await flushOne(catalog, fs, { low: index * 10, high: index * 10 + 5, seq: index + 1 });
    }
    await catalog.whenIdle();
    // 1 create + 4 × (freeze + flush) = 9 edits: generations 1 → 4.
    expect(await fs.readdir(DIR)).toEqual([
      '000001.sst',
      '000002.sst',
      '000003.sst',
      '000004.sst',
      'CATALOG-000004',
      'CURRENT',
      'MANIFEST-000004',
    ]);
    const snapshot = catalog.getSnapshot();
    const generation = await new Checkpoint(snapshot).push().waitDone();
    expect(generation).toEqual({ generation: 5 });
    const before = describeState(snapshot.state);
    snapshot.release();
    await catalog.close();
    const reopened = await Catalog.open(DIR, { fs });
    const after = reopened.getSnapshot();
    expect(describeState(after.state)).toBe(before);
    after.release();
    await reopened.close();
  });

  test('after a failed write the catalog stops, and reopen recovers the durable state', async () => {
    const memory = new MemoryCatalogFs();
    const setup = await Catalog.open(DIR, { fs: memory });
    const snapshot = setup.getSnapshot();
    await new CreateMemtable(snapshot, { locator: 1 }).push().waitDone();
    snapshot.release();
    await setup.close();

    const fs = new CrashingCatalogFs(memory, { crashAtCall: 2 });
    const stopping = await Catalog.open(DIR, { fs });
    const planned = stopping.getSnapshot();
    // Call 1 is the manifest append; call 2, its fsync, crashes.
    const freeze = new FreezeMemtable(planned, { memtableId: 1, nextLocator: 2 }).push();
    const next = new ChangeIndexState(planned, { name: 'a', state: 'building' }).push();
    await expectCode(freeze.waitDone(), 'ERR_CRASH_INJECTED');
    const refused = await expectCode(next.waitDone(), 'ERR_CRASH_INJECTED');
    expect(refused.message).toMatch(/stopped after a failed write/);
    await expectCode(stopping.close(), 'ERR_CRASH_INJECTED');
    planned.release();
    memory.powerLoss();
    const recovered = await Catalog.open(DIR, { fs: memory });
    const state = recovered.getSnapshot();
    expect(state.memtables).toEqual([{ id: 1, state: 'mutable', locator: 1 }]);
    state.release();
    await recovered.close();
  });
});

function bindAll(fs: CatalogFs): CatalogFs {
  return {
    readFile: (path) => fs.readFile(path),
    readdir: (dir) => fs.readdir(dir),
    stat: (path) => fs.stat(path),
    mkdir: (dir) => fs.mkdir(dir),
    writeFile: (path, bytes) => fs.writeFile(path, bytes),
    appendFile: (path, bytes) => fs.appendFile(path, bytes),
    truncate: (path, lengthBytes) => fs.truncate(path, lengthBytes),
    fsyncFile: (path) => fs.fsyncFile(path),
    rename: (from, to) => fs.rename(from, to),
    unlink: (path) => fs.unlink(path),
    fsyncDir: (dir) => fs.fsyncDir(dir),
  };
}
