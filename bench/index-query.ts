/**
 * The query phase of bench/index.ts: "the books of one author", answered four ways on the same
 * loaded records and the same random authors: Strata `queryByIndex('author', …)`, the same plus
 * a `get` of every record found, classic-level's do-it-yourself index (a prefix range of
 * `idx:author:<value>:` keys) and the same plus `getMany`; and Strata without its index, by a
 * full scan (`db.iterator()` over every record, `fieldValue(value, 'author')` compared), which
 * runs only a few times because each scan reads everything. Queries run one awaited at a time,
 * in rounds: every round gives each method the same slice of authors, methods in rotating order.
 * Every answer is checked: index and peer agree key for key, the count matches the load's, and
 * each scan equals the index's answer.
 */
import type { Strata } from '../src/db/strata.js';
import { fieldValue } from '../src/fields/field-codec.js';
import { Prng } from '../src/ycsb/prng.js';
import type { DiyIndexedLevel } from './index-diy.js';
import { authorName, bookAuthorIndex, bytesEqual, keysText } from './index-records.js';

export type QueryMethod = 'index' | 'index-get' | 'diy' | 'diy-get' | 'scan';
export const ROUND_METHODS: readonly QueryMethod[] = ['index', 'diy', 'index-get', 'diy-get'];

export interface QuerySizes {
  readonly recordCount: number;
  readonly authorCount: number;
  readonly queryCount: number;
  readonly scanCount: number;
  readonly rounds: number;
  /** Untimed queries per method (other authors) before the rounds. */
  readonly warmUpQueries: number;
}

export interface LatencyFigures {
  readonly method: QueryMethod;
  readonly queries: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly keysPerQuery: number;
}

const utf8 = new TextEncoder();
const QUERY_SEED = 11;
const WARM_UP_SEED = 12;

export async function runQueries(
  stores: { readonly db: Strata; readonly diy: DiyIndexedLevel },
  sizes: QuerySizes,
  log: (line: string) => void,
): Promise<LatencyFigures[]> {
  const expected = authorCounts(sizes);
  const authors = randomAuthors(QUERY_SEED, sizes.queryCount, sizes.authorCount);
  const warmUp = randomAuthors(WARM_UP_SEED, sizes.warmUpQueries, sizes.authorCount);
  for (const method of ROUND_METHODS) await timeQueries(stores, method, warmUp);
  const latencies = new Map<QueryMethod, number[]>(ROUND_METHODS.map((method) => [method, []]));
  const keyCounts = new Map<QueryMethod, number>(ROUND_METHODS.map((method) => [method, 0]));
  for (let round = 0; round < sizes.rounds; round++) {
    log(`index: query round ${round + 1} of ${sizes.rounds}`);
    const first = Math.floor((round * authors.length) / sizes.rounds);
    const slice = authors.slice(first, Math.floor(((round + 1) * authors.length) / sizes.rounds));
    const answers = new Map<QueryMethod, string[]>();
    for (let turn = 0; turn < ROUND_METHODS.length; turn++) {
      const method = ROUND_METHODS[(turn + round) % ROUND_METHODS.length]!;
      const timed = await timeQueries(stores, method, slice);
      latencies.get(method)!.push(...timed.latencies);
      keyCounts.set(method, keyCounts.get(method)! + timed.keyCount);
      answers.set(method, timed.answers);
    }
    checkAnswers(answers, slice, expected);
  }
  const figures = ROUND_METHODS.map((method) =>
    latencyFigures(method, latencies.get(method)!, keyCounts.get(method)!),
  );
  figures.push(await timeScans(stores.db, authors.slice(0, sizes.scanCount), log));
  return figures;
}

interface TimedQueries {
  readonly latencies: number[];
  readonly keyCount: number;
  /** The primary keys of each answer, as text. */
  readonly answers: string[];
}

async function timeQueries(
  stores: { readonly db: Strata; readonly diy: DiyIndexedLevel },
  method: QueryMethod,
  authors: readonly number[],
): Promise<TimedQueries> {
  const latencies: number[] = [];
  const answers: string[] = [];
  let keyCount = 0;
  for (const author of authors) {
    const startedMs = performance.now();
    const keys = await queryOnce(stores, method, authorName(author));
    latencies.push(performance.now() - startedMs);
    keyCount += keys.length;
    answers.push(keysText(keys));
  }
  return { latencies, keyCount, answers };
}

/** One query; the `-get` methods also read every record and fail on a missing one. */
async function queryOnce(
  stores: { readonly db: Strata; readonly diy: DiyIndexedLevel },
  method: QueryMethod,
  author: string,
): Promise<Uint8Array[]> {
  if (method === 'index' || method === 'index-get') {
    const keys = await stores.db.queryByIndex('author', author);
    if (method === 'index-get') {
      for (const key of keys) if (stores.db.get(key) === undefined) throw missing(method, key);
    }
    return keys;
  }
  const keys = await stores.diy.query('author', author);
  if (method === 'diy-get') {
    const values = await stores.diy.getMany(keys);
    const absent = values.indexOf(undefined);
    if (absent >= 0) throw missing(method, keys[absent]!);
  }
  return keys;
}

/** Full scans for the first authors, each checked against the index's answer. */
async function timeScans(
  db: Strata,
  authors: readonly number[],
  log: (line: string) => void,
): Promise<LatencyFigures> {
  const latencies: number[] = [];
  let keyCount = 0;
  for (const [scan, author] of authors.entries()) {
    log(`index: full scan ${scan + 1} of ${authors.length}`);
    const target = utf8.encode(authorName(author));
    const startedMs = performance.now();
    const keys: Uint8Array[] = [];
    for (const [key, value] of db.iterator()) {
      const field = fieldValue(value, 'author');
      if (field !== undefined && bytesEqual(field, target)) keys.push(key);
    }
    latencies.push(performance.now() - startedMs);
    keyCount += keys.length;
    const indexed = await db.queryByIndex('author', authorName(author));
    if (keysText(keys) !== keysText(indexed)) {
      throw new Error(`full scan for ${authorName(author)} differs from the index's answer`);
    }
  }
  return latencyFigures('scan', latencies, keyCount);
}

/** Every method gave the same keys for each author, as many as the load wrote. */
function checkAnswers(
  answers: ReadonlyMap<QueryMethod, readonly string[]>,
  authors: readonly number[],
  expected: Uint32Array,
): void {
  const reference = answers.get('index')!;
  for (const [method, texts] of answers) {
    for (const [position, text] of texts.entries()) {
      if (text !== reference[position]) {
        throw new Error(`${method} and index disagree on ${authorName(authors[position]!)}`);
      }
    }
  }
  for (const [position, author] of authors.entries()) {
    const count = reference[position]!.length === 0 ? 0 : reference[position]!.split(',').length;
    if (count !== expected[author]) {
      throw new Error(`${authorName(author)}: ${count} books found, ${expected[author]} loaded`);
    }
  }
}

function authorCounts(sizes: QuerySizes): Uint32Array {
  const counts = new Uint32Array(sizes.authorCount);
  for (let index = 0; index < sizes.recordCount; index++) {
    counts[bookAuthorIndex(index, 0, sizes.authorCount)]!++;
  }
  return counts;
}

function randomAuthors(seed: number, count: number, authorCount: number): number[] {
  const prng = new Prng(seed);
  return Array.from({ length: count }, () => prng.nextBelow(authorCount));
}

function latencyFigures(
  method: QueryMethod,
  latencies: readonly number[],
  keyCount: number,
): LatencyFigures {
  const sorted = [...latencies].sort((left, right) => left - right);
  const at = (share: number) => sorted[Math.floor(share * (sorted.length - 1))] ?? 0;
  const total = latencies.reduce((sum, latency) => sum + latency, 0);
  return {
    method,
    queries: latencies.length,
    meanMs: latencies.length === 0 ? 0 : total / latencies.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    keysPerQuery: latencies.length === 0 ? 0 : keyCount / latencies.length,
  };
}

function missing(method: QueryMethod, key: Uint8Array): Error {
  return new Error(`${method}: the record ${Buffer.from(key).toString()} is missing`);
}
