/**
 * Datadriven engine cases in testdata/ (format: src/sst/testing/datadriven.ts; this runner awaits
 * each case, see testing/datadriven-async.ts). Every file starts with an empty directory.
 *
 *   open [memtableSize=N] [backend=B]   open the database (closing it first if open); ok
 *   reopen                              close and open again with the same options; ok
 *   put KEY VALUE / del KEY             one write; ok
 *   batch                               lines `put KEY VALUE` / `del KEY`, one atomic batch; ok
 *   flush                               db.flush(); prints how many L0 tables exist
 *   snapshot NAME / release NAME        db.snapshot() under a name / its release(); ok
 *   get [snapshot=NAME] KEY...          KEY=VALUE or KEY=(absent), one per line
 *   iter [OPTS] [snapshot=NAME]         for…of over db.iterator (or snap.iterator): KEY=VALUE lines
 *   cursor [name=IT] [OPTS] [snapshot=NAME]
 *                                       a script of steps, one per line: first, last, seek KEY,
 *                                       next, prev, key, value, rest (for…of from here), close.
 *                                       Prints `step: KEY=VALUE`, `step: .` when not valid, or
 *                                       `step: error CODE`.
 *                                       Without name= the iterator is closed after the script;
 *                                       with it, it stays open for later cursor cases (name=IT
 *                                       again, options then ignored) until a `close` step.
 *
 * OPTS: gt= gte= lt= lte= KEY, reverse, limit=N. Keys and values are text with \xNN escapes and
 * `""` for empty (testing/key-text.ts). A StrataError prints as `error CODE`.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { isStrataError } from '../errors.js';
import { caseArg, type DataDrivenCase } from '../sst/testing/datadriven.js';
import type { StrataOptions } from './options.js';
import {
  type IteratorOptions,
  Strata,
  type StrataIterator,
  type StrataSnapshot,
} from './strata.js';
import { runDataDrivenAsync } from './testing/datadriven-async.js';
import { bytesToText, textToBytes } from './testing/key-text.js';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const temp = makeTempFolder('db-datadriven');
afterAll(() => temp.remove());

const files = readdirSync(TESTDATA);

test('the datadriven corpus is present', () => {
  expect(files).toEqual(expect.arrayContaining(['iterator', 'tombstones', 'snapshots']));
});

interface State {
  readonly dir: string;
  db: Strata | undefined;
  options: StrataOptions;
  readonly snapshots: Map<string, StrataSnapshot>;
  readonly cursors: Map<string, StrataIterator>;
}

test.each(files)('testdata/%s', async (name) => {
  const state: State = {
    dir: temp.file(name),
    db: undefined,
    options: {},
    snapshots: new Map(),
    cursors: new Map(),
  };
  try {
    await runDataDrivenAsync(join(TESTDATA, name), async (testCase) => {
      try {
        return await runCase(state, testCase);
      } catch (error) {
        if (isStrataError(error)) return `error ${error.code}`;
        throw error;
      }
    });
  } finally {
    for (const cursor of state.cursors.values()) cursor.close();
    await state.db?.close();
  }
});

async function runCase(state: State, testCase: DataDrivenCase): Promise<string> {
  const where = `${testCase.path}:${testCase.line}`;
  const db = (): Strata => {
    if (state.db === undefined) throw new Error(`${where}: run open first`);
    return state.db;
  };
  const [first = '', second = ''] = testCase.tokens;
  switch (testCase.command) {
    case 'open': {
      await state.db?.close();
      state.db = undefined;
      state.options = openOptions(testCase);
      state.db = await Strata.open(state.dir, state.options);
      return 'ok';
    }
    case 'reopen': {
      await db().close();
      state.db = undefined;
      state.db = await Strata.open(state.dir, state.options);
      return 'ok';
    }
    case 'put':
      await db().put(textToBytes(first), textToBytes(second));
      return 'ok';
    case 'del':
      await db().del(textToBytes(first));
      return 'ok';
    case 'batch':
      await db().batch(batchOps(testCase.input));
      return 'ok';
    case 'flush':
      await db().flush();
      return `l0=${db().stats().l0Files}`;
    case 'snapshot':
      state.snapshots.set(first, db().snapshot());
      return 'ok';
    case 'release':
      snapshotNamed(state, first, where).release(); // kept by name: later reads must refuse
      return 'ok';
    case 'get': {
      const source = readSource(state, testCase, db);
      return keyTokens(testCase)
        .map((token) => {
          const value = source.get(textToBytes(token));
          return `${token}=${value === undefined ? '(absent)' : bytesToText(value)}`;
        })
        .join('\n');
    }
    case 'iter': {
      const lines = [...readSource(state, testCase, db).iterator(iteratorOptions(testCase))].map(
        ([key, value]) => entryText(key, value),
      );
      return lines.length === 0 ? '(empty)' : lines.join('\n');
    }
    case 'cursor':
      return runCursor(state, testCase, db);
    default:
      throw new Error(`${where}: unknown command ${testCase.command}`);
  }
}

function runCursor(state: State, testCase: DataDrivenCase, db: () => Strata): string {
  const name = caseArg(testCase, 'name');
  let cursor = name === undefined ? undefined : state.cursors.get(name);
  if (cursor === undefined) {
    cursor = readSource(state, testCase, db).iterator(iteratorOptions(testCase));
    if (name !== undefined) state.cursors.set(name, cursor);
  }
  const it = cursor;
  try {
    return testCase.input
      .split('\n')
      .map((line) => `${line.trim()}: ${stepOrError(it, line.trim())}`)
      .join('\n');
  } finally {
    if (name === undefined) it.close();
    else if (it.closed) state.cursors.delete(name);
  }
}

function stepOrError(it: StrataIterator, line: string): string {
  try {
    return cursorStep(it, line);
  } catch (error) {
    if (isStrataError(error)) return `error ${error.code}`;
    throw error;
  }
}

function cursorStep(it: StrataIterator, line: string): string {
  const [step = '', key = ''] = line.split(/\s+/);
  const position = (): string => (it.valid() ? entryText(it.key(), it.value()) : '.');
  switch (step) {
    case 'first':
      it.seekFirst();
      return position();
    case 'last':
      it.seekLast();
      return position();
    case 'seek':
      it.seek(textToBytes(key));
      return position();
    case 'next':
      it.next();
      return position();
    case 'prev':
      it.prev();
      return position();
    case 'key':
      return bytesToText(it.key());
    case 'value':
      return bytesToText(it.value());
    case 'rest': {
      const lines = [...it].map(([k, v]) => entryText(k, v));
      return lines.length === 0 ? '(empty)' : lines.join(' ');
    }
    case 'close':
      it.close();
      return 'closed';
    default:
      throw new Error(`unknown cursor step ${line}`);
  }
}

interface ReadSource {
  get(key: Uint8Array): Uint8Array | undefined;
  iterator(options: IteratorOptions): StrataIterator;
}

function readSource(state: State, testCase: DataDrivenCase, db: () => Strata): ReadSource {
  const name = caseArg(testCase, 'snapshot');
  return name === undefined
    ? db()
    : snapshotNamed(state, name, `${testCase.path}:${testCase.line}`);
}

function snapshotNamed(state: State, name: string, where: string): StrataSnapshot {
  const snapshot = state.snapshots.get(name);
  if (snapshot === undefined) throw new Error(`${where}: no snapshot ${name}`);
  return snapshot;
}

function openOptions(testCase: DataDrivenCase): StrataOptions {
  const memtableSize = caseArg(testCase, 'memtableSize');
  const backend = caseArg(testCase, 'backend') ?? 'emulated';
  if (backend !== 'emulated' && backend !== 'mapped') throw new Error(`backend ${backend}`);
  return {
    flushThreads: 0,
    backend,
    sizeMaxBytes: 64 << 20,
    ...(memtableSize === undefined ? {} : { memtableSize: Number(memtableSize) }),
  };
}

function iteratorOptions(testCase: DataDrivenCase): IteratorOptions {
  const options: {
    gt?: Uint8Array;
    gte?: Uint8Array;
    lt?: Uint8Array;
    lte?: Uint8Array;
    reverse?: boolean;
    limit?: number;
  } = {};
  for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) {
    const text = caseArg(testCase, bound);
    if (text !== undefined) options[bound] = textToBytes(text);
  }
  if (testCase.tokens.includes('reverse')) options.reverse = true;
  const limit = caseArg(testCase, 'limit');
  if (limit !== undefined) options.limit = Number(limit);
  return options;
}

function keyTokens(testCase: DataDrivenCase): string[] {
  return testCase.tokens.filter((token) => !token.startsWith('snapshot='));
}

function batchOps(input: string): { type: 'put' | 'del'; key: Uint8Array; value?: Uint8Array }[] {
  return input.split('\n').map((line) => {
    const [verb = '', key = '', value = ''] = line.trim().split(/\s+/);
    if (verb === 'put') return { type: 'put', key: textToBytes(key), value: textToBytes(value) };
    if (verb === 'del') return { type: 'del', key: textToBytes(key) };
    throw new Error(`batch line ${line}`);
  });
}

function entryText(key: Uint8Array, value: Uint8Array): string {
  return `${bytesToText(key)}=${bytesToText(value)}`;
}
