/**
 * kill -9 of a writing child on the default backend (mapped where the addon loads), flushes on
 * the Piscina pool and 64 KiB memtables, so freezes and flushes run all the time. The child
 * (testing/kill-child.ts, compiled in dist) keeps many puts and batches in flight and reports
 * each write before issuing it ("t") and after it resolved ("a"); the parent SIGKILLs it at a
 * random moment once enough writes were acknowledged, reopens, and checks every key: its value
 * is intact, its version is at least the newest acknowledged one, and it is a version the child
 * actually tried. Each round kills the same database several times, so later kills hit a
 * database that recovered (and flushed what it found frozen) before. STRATA_SLOW=1: more rounds.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { makeTempFolder } from '../../nvm/testing/temp-folder.js';
import { Catalog } from '../catalog/catalog.js';
import { tableFileName } from '../catalog/file-names.js';
import { Prng } from '../ehash/testing/prng.js';
import { compareInternalKeys } from '../sst/internal-key.js';
import { CATALOG_DIR_NAME, Strata } from './strata.js';
import {
  KILL_KEY_COUNT,
  killKey,
  killOptions,
  killValue,
  versionOf,
} from './testing/kill-child.js';
import { refuseStaleBuild, runChildUntilKilled } from './testing/kill-harness.js';

const CHILD = fileURLToPath(new URL('../../dist/src/db/testing/kill-child.js', import.meta.url));
/** The child and the flush worker run from dist: pairs of a source and what it compiles to. */
const COMPILED = [
  ['./testing/kill-child.ts', '../../dist/src/db/testing/kill-child.js'],
  ['./testing/kill-harness.ts', '../../dist/src/db/testing/kill-harness.js'],
  ['./strata.ts', '../../dist/src/db/strata.js'],
  ['../lsm/flush-job.ts', '../../dist/workers/flush.js'],
] as const;
const ROUNDS = process.env['STRATA_SLOW'] === '1' ? 12 : 3;
const KILLS_PER_ROUND = 2;
const decoder = new TextDecoder();
/** The deepest level any reopen found tables in: kills must have landed amid compactions. */
let deepestSeen = 0;

/** What the children reported for one database, across its kills. */
interface Reports {
  /** Per key: every version a child was about to write. */
  readonly tried: Map<string, Set<number>>;
  /** Per key: the newest acknowledged version. */
  readonly acked: Map<string, number>;
  ackedWrites: number;
}

describe('kill -9 of a writing child (default backend, flushes and compactions on their pools)', () => {
  // Every third round runs with sync: true: on the mapped backend its memtables keep a volatile
  // index (only records and commit marks are msynced), which a kill -9 must not disturb.
  test.each(
    Array.from({ length: ROUNDS }, (_, index) => ({ round: index + 1, sync: index % 3 === 2 })),
  )('round $round (sync $sync): every acknowledged write survives', async ({ round, sync }) => {
    refuseStaleBuild(import.meta.url, COMPILED);
    const temp = makeTempFolder('db-kill');
    const reports: Reports = { tried: new Map(), acked: new Map(), ackedWrites: 0 };
    const prng = new Prng(round * 7919);
    try {
      for (let kill = 0; kill < KILLS_PER_ROUND; kill++) {
        const context = `round=${round} sync=${sync} kill=${kill}`;
        const target = reports.ackedWrites + 2000 + prng.below(5000);
        await runChildUntil(temp.path, { seed: round * 100 + kill, sync }, target, reports);
        await checkRecovered(temp.path, { reports, sync }, context);
      }
    } finally {
      temp.remove();
    }
  });

  test('the kills landed while data was compacted into deeper levels', () => {
    expect(deepestSeen).toBeGreaterThanOrEqual(1);
  });
});

async function checkRecovered(
  dir: string,
  { reports, sync }: { reports: Reports; sync: boolean },
  context: string,
): Promise<void> {
  const db = await Strata.open(dir, killOptions(sync));
  try {
    let present = 0;
    for (let index = 0; index < KILL_KEY_COUNT; index++) {
      const key = killKey(index);
      const bytes = db.get(key);
      const acked = reports.acked.get(key);
      if (bytes === undefined) {
        expect(acked, `${context}: ${key} acknowledged at version ${acked} but missing`).toBe(
          undefined,
        );
        continue;
      }
      present++;
      const value = decoder.decode(bytes);
      const version = versionOf(value);
      expect(value, `${context}: ${key} value`).toBe(killValue(key, version));
      expect(
        reports.tried.get(key)?.has(version),
        `${context}: ${key}:${version} never tried`,
      ).toBe(true);
      expect(version, `${context}: ${key} older than acknowledged`).toBeGreaterThanOrEqual(
        acked ?? 0,
      );
    }
    const scanned = [...db.iterator()].map(([key, value]) => [
      decoder.decode(key),
      decoder.decode(value),
    ]);
    expect(scanned.length, `${context}: iterator count`).toBe(present);
    for (const [key, value] of scanned) {
      expect(decoder.decode(db.get(key!)!), `${context}: iterator ${key}`).toBe(value);
    }
    expect(present, `${context}: keys present`).toBeGreaterThan(KILL_KEY_COUNT / 2);
    const stats = db.stats();
    deepestSeen = Math.max(
      deepestSeen,
      stats.levels.findLastIndex((level) => level.files > 0),
    );
    // Flushes ran before the kill (or the reopen found frozen memtables to flush).
    expect(stats.l0Files + stats.frozenMemtables, `${context}: no flush happened`).toBeGreaterThan(
      0,
    );
    console.log(
      `${context}: ${reports.ackedWrites} writes acknowledged; reopened with ${stats.l0Files} L0 ` +
        `tables and ${stats.frozenMemtables} frozen memtables`,
    );
  } finally {
    await db.close();
  }
  await checkNoLeakedFiles(dir, context);
}

/** After a clean close: the catalog's own files and the tables it lists, nothing else. */
async function checkNoLeakedFiles(dir: string, context: string): Promise<void> {
  const catalogDir = join(dir, CATALOG_DIR_NAME);
  const catalog = await Catalog.open(catalogDir, { compareKeys: compareInternalKeys });
  const snapshot = catalog.getSnapshot();
  const listed = new Set(snapshot.levels.flat().map((file) => tableFileName(file.fileNumber)));
  snapshot.release();
  await catalog.close();
  const names = readdirSync(catalogDir);
  const extra = names.filter(
    (name) => !listed.has(name) && name !== 'CURRENT' && !/^(CATALOG|MANIFEST)-\d{6}$/.test(name),
  );
  expect(extra, `${context}: leaked files in ${names.join(' ')}`).toEqual([]);
  expect(
    names.filter((name) => name.startsWith('MANIFEST-')),
    context,
  ).toHaveLength(1);
  for (const name of listed) expect(names, `${context}: ${name} missing`).toContain(name);
}

/** Runs a child on `dir` and SIGKILLs it once `target` writes were acknowledged in total. */
function runChildUntil(
  dir: string,
  run: { seed: number; sync: boolean },
  target: number,
  reports: Reports,
): Promise<void> {
  return runChildUntilKilled({
    script: CHILD,
    args: [dir, String(run.seed), run.sync ? 'sync' : 'process'],
    onLine: (line) => record(line, reports),
    killNow: () => reports.ackedWrites >= target,
  });
}

function record(line: string, reports: Reports): void {
  const [kind, ...versions] = line.split(' ');
  for (const entry of versions) {
    const [key, text] = entry.split(':') as [string, string];
    const version = Number(text);
    if (kind === 't') {
      let tried = reports.tried.get(key);
      if (tried === undefined) reports.tried.set(key, (tried = new Set()));
      tried.add(version);
    } else if (kind === 'a') {
      reports.acked.set(key, Math.max(version, reports.acked.get(key) ?? -1));
    }
  }
  if (kind === 'a') reports.ackedWrites++;
}
