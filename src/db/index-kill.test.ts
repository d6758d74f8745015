/**
 * kill -9 of a child that writes field records, raw values and deletes while it creates and
 * drops secondary indexes (default backend; flushes, compactions and index builds on their
 * pools, each build in two slices merged by a compaction task). The child
 * (testing/index-kill-child.ts, compiled in dist) keeps one write per key in flight, many keys
 * at once, and reports each write before it is issued ("t") and once acknowledged ("a"), each
 * index operation before ("i") and once resolved ("I"), and a creation once it is durable
 * ("b"). The parent's oracle is exact: after a reopen a key holds its value after every
 * acknowledged write, or after those and the one in flight.
 *
 * Each round kills the same database three times: a few writes after the child said a new index
 * is listed as building (in its build), a few after a drop resolved (in the background removal
 * of its entries), and at a random moment; each later child works on what the recovery left.
 * After each kill the parent reopens (the same pools), checks every key through get and the
 * iterator, and requires that the database lists exactly the indexes the killed catalog holds
 * (not dropping), the acknowledged set or that set after the index operation in flight (with a
 * durable creation present), and that every listed index (waited for when the open builds it
 * again) agrees with a brute force over the data (testing/index-crash-check.ts). After the close
 * the folder holds only the files the catalog lists, and the catalog no index left building or
 * dropping. STRATA_SLOW=1: more rounds.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { Prng } from '../ehash/testing/prng.js';
import { encodeFields } from '../fields/field-codec.js';
import { Strata } from './strata.js';
import {
  catalogIndexes,
  expectIndexesAgree,
  letResumedRemovalsFinish,
} from './testing/index-crash-check.js';
import {
  INDEX_KILL_AUTHORS,
  INDEX_KILL_KEY_COUNT,
  INDEX_KILL_YEARS,
  indexKillKey,
  indexKillOptions,
  killFields,
  rawValue,
} from './testing/index-kill-child.js';
import { refuseStaleBuild, runChildUntilKilled } from './testing/kill-harness.js';
import { expectOnlyListedFiles, readCatalogFolder } from './testing/leftover-files.js';

const CHILD = fileURLToPath(
  new URL('../../dist/src/db/testing/index-kill-child.js', import.meta.url),
);
/** The child and the workers run from dist: pairs of a source and what it compiles to. */
const COMPILED = [
  ['./testing/index-kill-child.ts', '../../dist/src/db/testing/index-kill-child.js'],
  ['./testing/kill-harness.ts', '../../dist/src/db/testing/kill-harness.js'],
  ['./strata.ts', '../../dist/src/db/strata.js'],
  ['./index-manager.ts', '../../dist/src/db/index-manager.js'],
  ['./index-maintenance.ts', '../../dist/src/db/index-maintenance.js'],
  ['../fields/index-build-job.ts', '../../dist/workers/index-build.js'],
  ['../lsm/flush-job.ts', '../../dist/workers/flush.js'],
  ['../lsm/compaction-job.ts', '../../dist/workers/compaction.js'],
] as const;
const SLOW = process.env['STRATA_SLOW'] === '1';
const ROUNDS = SLOW ? 10 : 3;
/**
 * Each round kills the same database in these moments, in order: a few writes after a creation
 * became durable (in its build), a few after a drop became durable (in the removal of its
 * entries), and at a random moment.
 */
const KILL_MODES = ['build', 'removal', 'random'] as const;
type KillMode = (typeof KILL_MODES)[number];
const PROBES = [...INDEX_KILL_AUTHORS, ...INDEX_KILL_YEARS, 'absent', 'x\u0000\u0000'];

type KillOp =
  | { readonly kind: 'f'; readonly author: number; readonly year: number; readonly tag: string }
  | { readonly kind: 'r'; readonly tag: string }
  | { readonly kind: 'd' };

interface IndexOp {
  readonly kind: 'c' | 'd';
  readonly field: string;
  /** A creation the child saw listed as building: durable. */
  durable: boolean;
}

/** The parent's view of one database across its kills. */
interface Oracle {
  /** Per key: the value bytes (latin1) after every write known to be in the database. */
  readonly values: Map<string, string | undefined>;
  /** Per key: the write the running child tried and has not acknowledged (at most one). */
  readonly pending: Map<string, KillOp>;
  /** The indexes whose creation resolved and whose drop has not started. */
  readonly indexes: Set<string>;
  indexOp: IndexOp | undefined;
  acked: number;
  /** Acknowledged writes when the child last said an index is building. */
  ackedAtBuilding: number | undefined;
  /** Acknowledged writes when the last drop resolved, until the next index operation starts. */
  ackedAtDropped: number | undefined;
  indexOpsDone: number;
}

/** Over all rounds: the kills must have landed amid builds and drops. */
const totals = {
  kills: 0,
  duringCreate: 0,
  duringDrop: 0,
  buildingAtKill: 0,
  droppingAtKill: 0,
  indexOpsDone: 0,
  kept: 0,
};

describe('kill -9 of a child writing while it creates and drops indexes', () => {
  test.each(Array.from({ length: ROUNDS }, (_, index) => index + 1))(
    'round %i: acknowledged writes survive and every listed index matches the data',
    async (round) => {
      refuseStaleBuild(import.meta.url, COMPILED);
      const temp = makeTempFolder('index-kill');
      const oracle: Oracle = {
        values: new Map(),
        pending: new Map(),
        indexes: new Set(),
        indexOp: undefined,
        acked: 0,
        ackedAtBuilding: undefined,
        ackedAtDropped: undefined,
        indexOpsDone: 0,
      };
      const prng = new Prng(round * 15_485_863);
      try {
        for (const [kill, mode] of KILL_MODES.entries()) {
          const context = `round=${round} kill=${kill} (${mode})`;
          const armed = oracle.acked + 500 + prng.below(mode === 'random' ? 20_000 : 6000);
          const after = prng.below(mode === 'removal' ? 5 : 60);
          await runChildUntilKilled({
            script: CHILD,
            args: [temp.path, String(round * 100 + kill)],
            onLine: (line) => record(line, oracle),
            killNow: () => oracle.acked >= armed && shouldKill(oracle, mode, after),
          });
          await checkRecovered(temp.path, oracle, context);
        }
        totals.indexOpsDone += oracle.indexOpsDone;
      } finally {
        temp.remove();
      }
    },
  );

  test('the kills landed amid index builds and drops', () => {
    console.log(`index kill totals: ${JSON.stringify(totals)}`);
    expect(totals.kills).toBe(KILL_MODES.length * ROUNDS);
    expect(totals.duringCreate, 'kills during a createIndex').toBeGreaterThanOrEqual(ROUNDS);
    expect(totals.buildingAtKill, 'kills that left an index building').toBeGreaterThan(0);
    expect(totals.droppingAtKill, 'kills that left an index dropping').toBeGreaterThan(0);
    expect(totals.indexOpsDone, 'index operations the children finished').toBeGreaterThan(ROUNDS);
  });
});

/** Whether `mode`'s moment has come, `after` acknowledged writes past its event. */
function shouldKill(oracle: Oracle, mode: KillMode, after: number): boolean {
  if (mode === 'random') return true;
  if (mode === 'build') {
    const building = oracle.indexOp?.kind === 'c' && oracle.indexOp.durable;
    return building && oracle.acked >= oracle.ackedAtBuilding! + after;
  }
  return oracle.ackedAtDropped !== undefined && oracle.acked >= oracle.ackedAtDropped + after;
}

async function checkRecovered(dir: string, oracle: Oracle, context: string): Promise<void> {
  const atKill = await catalogIndexes(dir);
  totals.kills++;
  if (oracle.indexOp?.kind === 'c') totals.duringCreate++;
  if (oracle.indexOp?.kind === 'd') totals.duringDrop++;
  if (atKill.some((meta) => meta.state === 'building')) totals.buildingAtKill++;
  if (atKill.some((meta) => meta.state === 'dropping')) totals.droppingAtKill++;
  const db = await Strata.open(dir, indexKillOptions());
  let listed: string[];
  try {
    expectIndexSet(
      db.listIndexes().map((info) => info.field),
      atKill.filter((meta) => meta.state !== 'dropping').map((meta) => meta.name),
      oracle,
      context,
    );
    settleKeys(db, oracle, context);
    expectData(db, oracle, context);
    listed = (await expectIndexesAgree(db, PROBES, context)).map((info) => info.field);
    await letResumedRemovalsFinish(db, atKill);
    console.log(
      `${context}: ${oracle.acked} writes acknowledged; index in flight ` +
        `${JSON.stringify(oracle.indexOp)}; killed catalog ` +
        `${atKill.map((meta) => `${meta.name}:${meta.state}`).join(' ') || '(none)'}`,
    );
  } finally {
    await db.close();
  }
  oracle.indexes.clear();
  for (const field of listed) oracle.indexes.add(field);
  oracle.indexOp = undefined;
  oracle.ackedAtBuilding = undefined;
  oracle.ackedAtDropped = undefined;
  const folder = await readCatalogFolder(dir);
  expectOnlyListedFiles(folder, context);
  const closed = await catalogIndexes(dir);
  expect(
    closed.map((meta) => `${meta.name}:${meta.state}`),
    `${context}: catalog after close`,
  ).toEqual(listed.map((field) => `${field}:ready`));
}

/**
 * The reopen lists what the killed catalog holds (not dropping): the acknowledged set, or that
 * set after the index operation in flight; a creation the child saw durable is there.
 */
function expectIndexSet(
  listed: readonly string[],
  durable: readonly string[],
  oracle: Oracle,
  context: string,
): void {
  expect(listed, `${context}: listed vs the killed catalog`).toEqual(durable);
  const acked = [...oracle.indexes].sort();
  const op = oracle.indexOp;
  // Without an operation in flight the acknowledged set; a durable creation is there for sure.
  const allowed = op?.kind === 'c' && op.durable ? [] : [acked];
  if (op?.kind === 'c') allowed.push([...acked, op.field].sort());
  if (op?.kind === 'd') allowed.push(acked.filter((field) => field !== op.field));
  const message = `${context}: indexes ${JSON.stringify(listed)}, acknowledged ${JSON.stringify(
    acked,
  )}, in flight ${JSON.stringify(op)}`;
  expect(
    allowed.some((set) => set.join('\n') === listed.join('\n')),
    message,
  ).toBe(true);
}

/** Each key holds its acknowledged value, or that after its write in flight (then kept). */
function settleKeys(db: Strata, oracle: Oracle, context: string): void {
  for (let index = 0; index < INDEX_KILL_KEY_COUNT; index++) {
    const key = indexKillKey(index);
    const found = read(db, key, context);
    const acked = oracle.values.get(key);
    const pending = oracle.pending.get(key);
    const withPending = pending === undefined ? acked : valueAfter(pending);
    if (found === acked) continue;
    expect(found, `${context}: ${JSON.stringify(key)} neither acknowledged nor in flight`).toBe(
      withPending,
    );
    oracle.values.set(key, withPending);
    totals.kept++;
  }
  oracle.pending.clear();
}

/** get of every key and the whole iterator against the settled oracle. */
function expectData(db: Strata, oracle: Oracle, context: string): void {
  let present = 0;
  for (let index = 0; index < INDEX_KILL_KEY_COUNT; index++) {
    const key = indexKillKey(index);
    expect(read(db, key, context), `${context}: get ${JSON.stringify(key)}`).toBe(
      oracle.values.get(key),
    );
    if (oracle.values.get(key) !== undefined) present++;
  }
  const scanned = [...db.iterator()].map(([key, value]) => [latin1(key), latin1(value)] as const);
  expect(scanned.length, `${context}: iterator count`).toBe(present);
  for (const [key, value] of scanned) {
    expect(value, `${context}: iterator ${JSON.stringify(key)}`).toBe(oracle.values.get(key));
  }
}

function valueAfter(op: KillOp): string | undefined {
  if (op.kind === 'd') return undefined;
  if (op.kind === 'r') return latin1(new TextEncoder().encode(rawValue(op.tag)));
  return latin1(encodeFields(killFields(op.author, op.year, op.tag)));
}

function read(db: Strata, key: string, context: string): string | undefined {
  try {
    const bytes = db.get(key);
    return bytes === undefined ? undefined : latin1(bytes);
  } catch (error) {
    throw new Error(`${context}: get ${JSON.stringify(key)} failed`, { cause: error });
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

function record(line: string, oracle: Oracle): void {
  const [kind, first, ...rest] = line.split(' ');
  if (first === undefined) throw new Error(`bad child line ${JSON.stringify(line)}`);
  if (kind === 'i' || kind === 'I') {
    const field = rest[0]!;
    if (kind === 'i') {
      if (oracle.indexOp !== undefined) throw new Error(`a second index operation: ${line}`);
      oracle.indexOp = { kind: first === 'c' ? 'c' : 'd', field, durable: false };
      oracle.ackedAtDropped = undefined;
      return;
    }
    if (oracle.indexOp?.field !== field) throw new Error(`resolved an unknown one: ${line}`);
    if (first === 'c') oracle.indexes.add(field);
    else oracle.indexes.delete(field);
    if (first === 'd') oracle.ackedAtDropped = oracle.acked;
    oracle.indexOp = undefined;
    oracle.indexOpsDone++;
  } else if (kind === 'b') {
    if (oracle.indexOp?.field !== first) throw new Error(`building, not created: ${line}`);
    oracle.indexOp.durable = true;
    oracle.ackedAtBuilding = oracle.acked;
  } else if (kind === 't') {
    const key = first; // keys hold no space or newline
    if (oracle.pending.has(key)) throw new Error(`child tried a second write to ${key}: ${line}`);
    const [what, ...args] = rest;
    const op: KillOp =
      what === 'f'
        ? { kind: 'f', author: Number(args[0]), year: Number(args[1]), tag: args[2]! }
        : what === 'r'
          ? { kind: 'r', tag: args[0]! }
          : { kind: 'd' };
    oracle.pending.set(key, op);
  } else if (kind === 'a') {
    const key = first; // keys hold no space or newline
    const op = oracle.pending.get(key);
    if (op === undefined) throw new Error(`child acknowledged a write to ${key} it never tried`);
    oracle.values.set(key, valueAfter(op));
    oracle.pending.delete(key);
    oracle.acked++;
  } else {
    throw new Error(`bad child line ${JSON.stringify(line)}`);
  }
}
