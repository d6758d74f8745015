/**
 * kill -9 of a child that appends to and puts blobs while blob GC runs (default backend; flushes,
 * compactions and GC copies on their pools; 64 KiB blob files and a 0.1 garbage ratio, so GC
 * rounds retire, copy and remove files all the time). The child (testing/blob-kill-child.ts,
 * compiled in dist) keeps one write per key in flight, many keys at once, and reports each write
 * before it is issued ("t") and once acknowledged ("a"). Per key, then, the acknowledged writes
 * are all the tried ones but at most the last, in order, and the parent's oracle is exact: after
 * a reopen the key's value must be the value after every acknowledged write, or after those and
 * the one in flight. For an appended key that means its value ends with every acknowledged
 * append's bytes, in order, behind its last acknowledged put, and nothing else (a lost append, a
 * reordered or doubled one, or one a GC move resurrected or dropped, all differ). The parent kills
 * at random moments, reopens, checks every key through get and the iterator, runs a GC pass,
 * checks again, and after the close requires exactly the tables and blob files the catalog lists,
 * no temp file and no BLOBGC- marker. Each round kills the same database twice, so the second
 * kill hits a database that recovered (and settled a GC round) before. STRATA_SLOW=1: more rounds.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { Prng } from '../ehash/testing/prng.js';
import { Strata } from './strata.js';
import {
  applyKillOp,
  BLOB_KILL_KEY_COUNT,
  blobKillKey,
  blobKillOptions,
  type KillOp,
} from './testing/blob-kill-child.js';
import { refuseStaleBuild, runChildUntilKilled } from './testing/kill-harness.js';
import {
  expectOnlyListedFiles,
  expectReportedFiles,
  readCatalogFolder,
  reportedFiles,
} from './testing/leftover-files.js';

const CHILD = fileURLToPath(
  new URL('../../dist/src/db/testing/blob-kill-child.js', import.meta.url),
);
/** The child and the workers run from dist: pairs of a source and what it compiles to. */
const COMPILED = [
  ['./testing/blob-kill-child.ts', '../../dist/src/db/testing/blob-kill-child.js'],
  ['./testing/kill-harness.ts', '../../dist/src/db/testing/kill-harness.js'],
  ['./strata.ts', '../../dist/src/db/strata.js'],
  ['./blob-gc.ts', '../../dist/src/db/blob-gc.js'],
  ['../blob/blob-gc-job.ts', '../../dist/workers/blob-gc.js'],
] as const;
const SLOW = process.env['STRATA_SLOW'] === '1';
const ROUNDS = SLOW ? 10 : 3;
const KILLS_PER_ROUND = 2;
const decoder = new TextDecoder();

/** The parent's view of one database across its kills. */
interface Oracle {
  /** Per key: the value after every write known to be in the database. */
  readonly values: Map<string, string | undefined>;
  /** Per key: the write the running child tried and has not acknowledged (at most one). */
  readonly pending: Map<string, KillOp>;
  acked: number;
  /** The latest counters a child reported, summed over the children so far. */
  gc: Record<string, number>;
  childGc: Record<string, number>;
}

/** Over all rounds: the kills must have landed while GC and appends were busy. */
const totals = { gcRuns: 0, filesRemoved: 0, appendsInPlace: 0, appendsRewritten: 0, kept: 0 };

describe('kill -9 of a child appending to blobs while blob GC runs', () => {
  test.each(Array.from({ length: ROUNDS }, (_, index) => index + 1))(
    'round %i: every acknowledged write and append survives, nothing else appears',
    async (round) => {
      refuseStaleBuild(import.meta.url, COMPILED);
      const temp = makeTempFolder('blob-kill');
      const oracle: Oracle = {
        values: new Map(),
        pending: new Map(),
        acked: 0,
        gc: {},
        childGc: {},
      };
      const prng = new Prng(round * 104_729);
      try {
        for (let kill = 0; kill < KILLS_PER_ROUND; kill++) {
          const context = `round=${round} kill=${kill}`;
          const target = oracle.acked + 3000 + prng.below(5000);
          const run = round * 100 + kill;
          await runChildUntil(temp.path, run, target, oracle);
          for (const [name, value] of Object.entries(oracle.childGc)) {
            oracle.gc[name] = (oracle.gc[name] ?? 0) + value;
          }
          oracle.childGc = {};
          await checkRecovered(temp.path, oracle, context);
        }
        totals.gcRuns += oracle.gc['blobGcRuns'] ?? 0;
        totals.filesRemoved += oracle.gc['blobGcFilesRemoved'] ?? 0;
        totals.appendsInPlace += oracle.gc['appendsInPlace'] ?? 0;
        totals.appendsRewritten += oracle.gc['appendsRewritten'] ?? 0;
      } finally {
        temp.remove();
      }
    },
  );

  test('the children ran GC rounds and appended both in place and by rewriting', () => {
    console.log(`blob kill totals: ${JSON.stringify(totals)}`);
    expect(totals.gcRuns).toBeGreaterThan(ROUNDS);
    expect(totals.filesRemoved).toBeGreaterThan(ROUNDS);
    expect(totals.appendsInPlace).toBeGreaterThan(100);
    expect(totals.appendsRewritten).toBeGreaterThan(10);
  });
});

async function checkRecovered(dir: string, oracle: Oracle, context: string): Promise<void> {
  const db = await Strata.open(dir, blobKillOptions());
  let kept = 0;
  try {
    // Settle each key: the acknowledged value, or that plus the write in flight.
    for (let index = 0; index < BLOB_KILL_KEY_COUNT; index++) {
      const key = blobKillKey(index);
      const found = read(db, key, `${context}: get`);
      const acked = oracle.values.get(key);
      const pending = oracle.pending.get(key);
      const withPending = pending === undefined ? acked : applyKillOp(key, acked, pending);
      if (found === acked) {
        // The in-flight write was lost (or there was none).
      } else if (found === withPending) {
        oracle.values.set(key, withPending);
        kept++;
      } else {
        expect(explain(key, found, acked, withPending), `${context}: ${key}`).toBe('');
      }
    }
    oracle.pending.clear();
    totals.kept += kept;
    expectAll(db, oracle, `${context}: after reopen`);
    await db.compactRange(); // accounts the garbage the kill left unaccounted, for the GC pass
    await db.collectBlobGarbage();
    expectAll(db, oracle, `${context}: after reopen + GC`);
    const stats = db.stats();
    expect(stats.blobGcErrors, `${context}: GC errors`).toBe(0);
    console.log(
      `${context}: ${oracle.acked} writes acknowledged, ${kept} in-flight kept; reopened with ` +
        `${stats.blobFiles} blob files, GC so far ${JSON.stringify(oracle.gc)}`,
    );
    const reported = reportedFiles(stats);
    await db.close();
    // After a clean close: the catalog's own files and the tables and blob files it lists.
    const folder = await readCatalogFolder(dir);
    expectOnlyListedFiles(folder, context);
    expectReportedFiles(folder, reported, context);
  } finally {
    await db.close();
  }
}

/** get of every key and the whole iterator against the settled oracle. */
function expectAll(db: Strata, oracle: Oracle, context: string): void {
  let present = 0;
  for (let index = 0; index < BLOB_KILL_KEY_COUNT; index++) {
    const key = blobKillKey(index);
    const expected = oracle.values.get(key);
    const found = read(db, key, context);
    if (found !== expected) expect(explain(key, found, expected, expected), context).toBe('');
    if (expected !== undefined) present++;
  }
  const scanned = [...db.iterator()].map(([key, value]) => [
    decoder.decode(key),
    decoder.decode(value),
  ]);
  expect(scanned.length, `${context}: iterator count`).toBe(present);
  for (const [key, value] of scanned) {
    expect(value === oracle.values.get(key!), `${context}: iterator ${key}`).toBe(true);
  }
}

function read(db: Strata, key: string, context: string): string | undefined {
  try {
    const bytes = db.get(key);
    return bytes === undefined ? undefined : decoder.decode(bytes);
  } catch (error) {
    throw new Error(`${context} ${key} failed`, { cause: error });
  }
}

/** Why `found` is neither candidate: lengths and where it first departs from each. */
function explain(
  key: string,
  found: string | undefined,
  acked: string | undefined,
  withPending: string | undefined,
): string {
  const departs = (expected: string | undefined): string => {
    if (found === undefined || expected === undefined) return `${expected?.length ?? 'absent'}`;
    let first = 0;
    while (first < found.length && found[first] === expected[first]) first++;
    return `${expected.length} bytes, first difference at ${first}`;
  };
  return (
    `${key} holds ${
      found === undefined
        ? 'nothing'
        : `${found.length} bytes ending ` + JSON.stringify(found.slice(-60))
    }; acknowledged: ${departs(acked)}; ` + `with the write in flight: ${departs(withPending)}`
  );
}

/** Runs a child on `dir` and SIGKILLs it once `target` writes were acknowledged in total. */
function runChildUntil(dir: string, run: number, target: number, oracle: Oracle): Promise<void> {
  return runChildUntilKilled({
    script: CHILD,
    args: [dir, String(run)],
    onLine: (line) => record(line, oracle),
    killNow: () => oracle.acked >= target,
  });
}

function record(line: string, oracle: Oracle): void {
  const [kind, key, what, tag, bytes] = line.split(' ');
  if (kind === 'g') {
    oracle.childGc = JSON.parse(line.slice(2)) as Record<string, number>;
    return;
  }
  if (key === undefined) throw new Error(`bad child line ${JSON.stringify(line)}`);
  if (kind === 't') {
    if (oracle.pending.has(key)) throw new Error(`child tried a second write to ${key}: ${line}`);
    const op: KillOp =
      what === 'd'
        ? { kind: 'd' }
        : { kind: what === 'p' ? 'p' : 'a', tag: tag!, bytes: Number(bytes) };
    oracle.pending.set(key, op);
  } else if (kind === 'a') {
    const op = oracle.pending.get(key);
    if (op === undefined) throw new Error(`child acknowledged a write to ${key} it never tried`);
    oracle.values.set(key, applyKillOp(key, oracle.values.get(key), op));
    oracle.pending.delete(key);
    oracle.acked++;
  } else {
    throw new Error(`bad child line ${JSON.stringify(line)}`);
  }
}
