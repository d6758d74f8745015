/**
 * Child process of the index kill -9 test (index-kill.test.ts; runs from dist/): opens the
 * database in `dir` (default backend; flushes, compactions and index builds on their pools, two
 * build slices merged by a compaction task) and forever keeps INDEX_KILL_IN_FLIGHT writes in
 * flight over INDEX_KILL_KEY_COUNT keys: putFields of records with `author` and `year` (values
 * with 00 bytes and separators; a record may lack either), raw puts and deletes. A key has at
 * most one write in flight, so its acknowledged writes are exactly the ones tried, in order, but
 * the last. Meanwhile it creates and drops indexes on `author` and `year`, one operation at a
 * time. Protocol on stdout, one line per event, each written with writeLine (kill-harness.ts)
 * before the next step happens:
 *
 *   t <key> f <author> <year> <tag>  before putFields(key, killFields(author, year, tag))
 *   t <key> r <tag>                  before put(key, rawValue(tag))
 *   t <key> d                        before del(key)
 *   a <key>                          the key's tried write was acknowledged
 *   i c|d <field>                    before createIndex / dropIndex(field)
 *   b <field>                        the index is listed as building: its creation is durable
 *   I c|d <field>                    createIndex / dropIndex(field) resolved
 *
 * `author` and `year` are positions in INDEX_KILL_AUTHORS / INDEX_KILL_YEARS, -1 for none.
 */
import { Prng } from '../../ehash/testing/prng.js';
import { Strata, type StrataOptions } from '../strata.js';
import { writeLine } from './kill-harness.js';

export const INDEX_KILL_KEY_COUNT = 96;
export const INDEX_KILL_IN_FLIGHT = 16;
export const INDEX_KILL_FIELDS = ['author', 'year'] as const;
export const INDEX_KILL_AUTHORS = ['', 'tolkien', 'x', 'x\u0000', 'x\u0000y', '\u0000', 'a;b=c'];
export const INDEX_KILL_YEARS = ['1954', '1969', '1969\u0000', '', '=\u0000='];
/** The pause before each index operation, up to this long. */
const INDEX_PAUSE_MS_MAX = 30;

export function indexKillOptions(): StrataOptions {
  return {
    // Small memtables and tables: flushes and compactions run all the time, also mid-build.
    memtableSize: 32 << 10,
    flushThreads: 1,
    compactionThreads: 1,
    indexBuildThreads: 2,
    l0CompactionTrigger: 2,
    targetFileSize: 16 << 10,
    maxBytesForLevelBase: 64 << 10,
    levelSizeMultiplier: 4,
  };
}

export function indexKillKey(index: number): string {
  const base = `key-${String(index).padStart(3, '0')}`;
  return index % 7 === 3 ? `${base}\u0000;=` : base;
}

/** The fields of a putFields line; `n` makes every record's bytes its own. */
export function killFields(author: number, year: number, tag: string): Record<string, string> {
  const fields: Record<string, string> = { n: tag };
  if (author >= 0) fields['author'] = INDEX_KILL_AUTHORS[author]!;
  if (year >= 0) fields['year'] = INDEX_KILL_YEARS[year]!;
  return fields;
}

export function rawValue(tag: string): string {
  return `raw\u0000${tag}`;
}

async function main(dir: string, run: number): Promise<void> {
  const db = await Strata.open(dir, indexKillOptions());
  const prng = new Prng(run * 7919 + 3);
  void changeIndexes(db, new Prng(run * 104_729 + 5)).catch((error: unknown) =>
    fail('index operation', error),
  );
  const busy = new Set<number>();
  let wake: (() => void) | undefined;
  for (let writeIndex = 0; writeIndex < 100_000_000; writeIndex++) {
    while (busy.size >= INDEX_KILL_IN_FLIGHT) await new Promise<void>((done) => (wake = done));
    let index = prng.below(INDEX_KILL_KEY_COUNT);
    while (busy.has(index)) index = (index + 1) % INDEX_KILL_KEY_COUNT;
    const key = indexKillKey(index);
    const tag = `${run}.${writeIndex}`;
    const roll = prng.below(100);
    let written: Promise<void>;
    if (roll < 75) {
      const author = prng.below(INDEX_KILL_AUTHORS.length + 1) - 1;
      const year = prng.below(INDEX_KILL_YEARS.length + 1) - 1;
      writeLine(`t ${key} f ${author} ${year} ${tag}\n`);
      written = db.putFields(key, killFields(author, year, tag));
    } else if (roll < 85) {
      writeLine(`t ${key} r ${tag}\n`);
      written = db.put(key, rawValue(tag));
    } else {
      writeLine(`t ${key} d\n`);
      written = db.del(key);
    }
    busy.add(index);
    written.then(
      () => {
        writeLine(`a ${key}\n`);
        busy.delete(index);
        wake?.();
      },
      (error: unknown) => fail(`write to ${key}`, error),
    );
    if (writeIndex % 8 === 7) await new Promise<void>((done) => setImmediate(done));
  }
}

/** Forever: after a pause, drops the index on a field if it has one, else creates it. */
async function changeIndexes(db: Strata, prng: Prng): Promise<void> {
  const indexed = new Set(db.listIndexes().map((info) => info.field));
  for (let round = 0; round < 100_000_000; round++) {
    await new Promise((done) => setTimeout(done, prng.below(INDEX_PAUSE_MS_MAX)));
    const field = INDEX_KILL_FIELDS[prng.below(INDEX_KILL_FIELDS.length)]!;
    if (indexed.has(field)) {
      writeLine(`i d ${field}\n`);
      await db.dropIndex(field);
      indexed.delete(field);
      writeLine(`I d ${field}\n`);
      continue;
    }
    writeLine(`i c ${field}\n`);
    let settled = false;
    const created = db.createIndex(field).finally(() => {
      settled = true;
    });
    // Once listed (building), the creation is durable: say so, for kills aimed at the build.
    for (let turn = 0; turn < 1_000_000 && !settled; turn++) {
      if (db.listIndexes().some((info) => info.field === field)) {
        writeLine(`b ${field}\n`);
        break;
      }
      await new Promise<void>((done) => setImmediate(done));
    }
    await created;
    indexed.add(field);
    writeLine(`I c ${field}\n`);
  }
}

function fail(what: string, error: unknown): void {
  process.stderr.write(`${what} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(2);
}

// Only as the child's entry script: tests import the helpers above.
const [dir, run] = process.argv.slice(2);
if (process.argv[1]?.endsWith('index-kill-child.js') === true && dir !== undefined) {
  void main(dir, Number(run ?? 1));
}
