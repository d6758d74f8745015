/**
 * Appending 3 KiB at a time to 100 KiB values: Strata's in-place `append` against read-modify-
 * write (get + concatenate + put) on Strata itself, classic-level and lmdb-js (noSync), all in
 * this process. Every store loads the same values, then runs the same appends (same keys, same
 * bytes) in interleaved rounds; the median round counts. Besides appends/s it reports the bytes
 * each store wrote per byte appended: Strata's from its stats, everyone's from /proc/self/io.
 * Stores: append-stores.ts; the write counter: append-io.ts.
 *
 *   node dist/bench/append.js                   (after `npm run build`; prints the tables)
 *   node dist/bench/append.js --write-results   (also replaces its section of bench/RESULTS.md)
 *   STRATA_BENCH_QUICK=1 node dist/bench/append.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { crc32 } from 'node:zlib';
import { packageRoot } from '../src/package-root.js';
import { Prng } from '../src/ycsb/prng.js';
import { collectGarbage, readWriteChars, waitUntilWritesSettle } from './append-io.js';
import { renderAppendReport } from './append-report.js';
import {
  APPENDER_NAMES,
  type Appender,
  type AppenderName,
  countersDelta,
  openAppender,
  type StrataWriteCounters,
} from './append-stores.js';
import { keyOf } from './engine.js';
import { spliceSection } from './results-section.js';

export interface AppendBenchSizes {
  readonly keyCount: number;
  readonly valueBytes: number;
  readonly chunkBytes: number;
  /** Every store runs this many rounds, interleaved in rotating order. */
  readonly rounds: number;
  readonly appendsPerRound: number;
  /** Untimed appends to `warmUpKeys` keys of their own before the rounds (see warmUp). */
  readonly warmUpAppends: number;
  readonly warmUpKeys: number;
  /** Appends in flight at once, each on its own key (1: one awaited at a time). */
  readonly inFlight: number;
}

/**
 * Full: 9,000 appends over 360 keys, 25 to each (in a shuffled order per pass over the keys), so
 * every value grows from 100 KiB by 75 KiB: "appending to 100 KiB values", inside the default
 * reserve (as large as the value). What longer growth costs is the rewrite every time a reserve
 * runs out: see the notes. 9 rounds rather than 5: an in-place round of 1,000 appends takes
 * ~15 ms, so one collector pause moves it a lot, and the median of 5 moved by ±25% run to run.
 */
export function appendBenchSizes(quick: boolean, inFlight = 1): AppendBenchSizes {
  return {
    keyCount: quick ? 20 : 360,
    valueBytes: 100 * 1024,
    chunkBytes: 3 * 1024,
    rounds: quick ? 2 : 9,
    appendsPerRound: quick ? 100 : 1_000,
    warmUpAppends: quick ? 40 : 3_000,
    warmUpKeys: quick ? 20 : 100,
    inFlight,
  };
}

/** One store's figures for one round. */
export interface RoundSample {
  readonly ops: number;
  readonly elapsedMs: number;
  readonly opsPerSecond: number;
  /** /proc/self/io wchar delta, background work that the round started included. */
  readonly writeChars: number | undefined;
  readonly counters: StrataWriteCounters | undefined;
}

export interface AppenderFigures {
  readonly name: AppenderName;
  readonly label: string;
  readonly rounds: readonly RoundSample[];
}

export interface AppendBenchResult {
  readonly quick: boolean;
  readonly sizes: AppendBenchSizes;
  readonly figures: readonly AppenderFigures[];
  readonly loadAtStart: readonly number[];
  readonly cores: number;
  readonly elapsedSeconds: number;
  /** CRC-32 of every final value, folded in key order; equal for every store. */
  readonly checksum: string;
}

export const SECTION_BEGIN = '<!-- bench/append.ts: begin -->';
export const SECTION_END = '<!-- bench/append.ts: end -->';

const POOL_BYTES = 1 << 20;
/** The second pass: appends to this many keys at once (many writers appending to their feeds). */
const APPENDS_IN_FLIGHT = 16;
/** Warm-up keys sit far above the measured ones. */
const WARM_UP_KEY_BASE = 1_000_000;

export async function runAppendBench(options: {
  readonly quick: boolean;
  readonly inFlight?: number;
  readonly markers?: { readonly begin: string; readonly end: string };
  readonly log?: (line: string) => void;
}): Promise<{ text: string; markdown: string; result: AppendBenchResult }> {
  const log = options.log ?? (() => {});
  const sizes = appendBenchSizes(options.quick, options.inFlight ?? 1);
  const loadAtStart = loadavg();
  const startedMs = performance.now();
  const dirs = APPENDER_NAMES.map((name) => mkdtempSync(join(tmpdir(), `strata-bench-${name}-`)));
  const appenders: Appender[] = [];
  try {
    for (const [index, name] of APPENDER_NAMES.entries()) {
      appenders.push(await openAppender(name, dirs[index]!));
    }
    const keys = Array.from({ length: sizes.keyCount }, (_, index) => keyOf(index));
    for (const appender of appenders) {
      log(`append: ${appender.label}, loading ${sizes.keyCount} values of ${sizes.valueBytes} B`);
      for (const [index, key] of keys.entries()) {
        await appender.load(key, POOL.slice(...initialRange(index, sizes)));
      }
      await warmUp(appender, sizes);
      await waitUntilWritesSettle(() => appender.busy());
    }
    const keyIndexes = keyIndexesOf(sizes);
    const samples = appenders.map((): RoundSample[] => []);
    for (let round = 0; round < sizes.rounds; round++) {
      log(`append: round ${round + 1} of ${sizes.rounds}`);
      for (let turn = 0; turn < appenders.length; turn++) {
        const index = (turn + round) % appenders.length;
        const context = { keys, keyIndexes, sizes, round };
        samples[index]!.push(await runRound(appenders[index]!, context));
      }
    }
    log('append: checking that every store holds the same values');
    const checksum = checkSameValues(appenders, keys, expectedLengths(keyIndexes, sizes));
    const result: AppendBenchResult = {
      quick: options.quick,
      sizes,
      figures: appenders.map((appender, index) => ({
        name: appender.name,
        label: appender.label,
        rounds: samples[index]!,
      })),
      loadAtStart,
      cores: cpus().length,
      elapsedSeconds: (performance.now() - startedMs) / 1000,
      checksum,
    };
    const markers = options.markers ?? { begin: SECTION_BEGIN, end: SECTION_END };
    return { ...renderAppendReport(result, markers), result };
  } finally {
    for (const appender of appenders) await appender.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One round of one store: its share of the appends, one awaited at a time. The write figures
 * are taken once the process is quiet again, so a flush or compaction the round started counts.
 */
async function runRound(
  appender: Appender,
  context: {
    readonly keys: readonly Uint8Array[];
    readonly keyIndexes: Uint32Array;
    readonly sizes: AppendBenchSizes;
    readonly round: number;
  },
): Promise<RoundSample> {
  const { keys, keyIndexes, sizes, round } = context;
  await waitUntilWritesSettle();
  collectGarbage();
  const charsBefore = readWriteChars();
  const countersBefore = appender.counters();
  const first = round * sizes.appendsPerRound;
  const end = first + sizes.appendsPerRound;
  // Lane `lane` takes the ops whose key % inFlight is lane, in order: never two at once on one
  // key, so read-modify-write stays correct and every store runs the same appends per key.
  const lane = async (laneIndex: number): Promise<void> => {
    for (let op = first; op < end; op++) {
      const keyIndex = keyIndexes[op]!;
      if (keyIndex % sizes.inFlight !== laneIndex) continue;
      await appender.append(keys[keyIndex]!, POOL.subarray(...chunkRange(op, sizes)));
    }
  };
  const startedMs = performance.now();
  await Promise.all(Array.from({ length: sizes.inFlight }, (_, laneIndex) => lane(laneIndex)));
  const elapsedMs = performance.now() - startedMs;
  await waitUntilWritesSettle(() => appender.busy());
  const charsAfter = readWriteChars();
  const countersAfter = appender.counters();
  return {
    ops: sizes.appendsPerRound,
    elapsedMs,
    opsPerSecond: (sizes.appendsPerRound * 1000) / elapsedMs,
    writeChars:
      charsBefore === undefined || charsAfter === undefined ? undefined : charsAfter - charsBefore,
    counters:
      countersBefore === undefined || countersAfter === undefined
        ? undefined
        : countersDelta(countersBefore, countersAfter),
  };
}

/**
 * Loads `sizes.warmUpKeys` keys of their own and appends to them round robin, untimed: without it the
 * first store's first round also measures V8 compiling its append path (in place: ~5k/s cold,
 * ~15–25k/s warm here). 600 warm-up appends were too few: the in-place rounds still climbed from
 * ~25k/s in the first to ~80k/s in the fifth; 3,000 (30 per key, inside each reserve) settle it.
 */
async function warmUp(appender: Appender, sizes: AppendBenchSizes): Promise<void> {
  const keys = Array.from({ length: sizes.warmUpKeys }, (_, index) =>
    keyOf(WARM_UP_KEY_BASE + index),
  );
  for (const [index, key] of keys.entries()) {
    await appender.load(key, POOL.slice(...initialRange(index, sizes)));
  }
  for (let op = 0; op < sizes.warmUpAppends; op++) {
    await appender.append(keys[op % keys.length]!, POOL.subarray(...chunkRange(op, sizes)));
  }
}

/**
 * The key of every append, the same for every store: each pass over the keys is a fresh
 * shuffle, so every key gets the same number of appends (± 1) in a random order.
 */
function keyIndexesOf(sizes: AppendBenchSizes): Uint32Array {
  const prng = new Prng(7);
  const indexes = new Uint32Array(sizes.rounds * sizes.appendsPerRound);
  const pass = Array.from({ length: sizes.keyCount }, (_, index) => index);
  for (let op = 0; op < indexes.length; op++) {
    const position = op % sizes.keyCount;
    if (position === 0) {
      for (let index = pass.length - 1; index > 0; index--) {
        const other = prng.nextBelow(index + 1);
        [pass[index], pass[other]] = [pass[other]!, pass[index]!];
      }
    }
    indexes[op] = pass[position]!;
  }
  return indexes;
}

function expectedLengths(keyIndexes: Uint32Array, sizes: AppendBenchSizes): number[] {
  const lengths = new Array<number>(sizes.keyCount).fill(sizes.valueBytes);
  for (const index of keyIndexes) lengths[index]! += sizes.chunkBytes;
  return lengths;
}

/** Every store must end with the lengths the appends imply and the same bytes; throws if not. */
function checkSameValues(
  appenders: readonly Appender[],
  keys: readonly Uint8Array[],
  lengths: readonly number[],
): string {
  let reference: number[] | undefined;
  for (const appender of appenders) {
    const crcs = keys.map((key, index) => {
      const value = appender.get(key);
      if (value === undefined || value.length !== lengths[index]) {
        throw new Error(
          `${appender.label}: key ${index} holds ${value?.length} bytes, expected ${lengths[index]}`,
        );
      }
      return crc32(value.subarray(0, value.length)); // lmdb: see concat in append-stores.ts
    });
    reference ??= crcs;
    if (crcs.some((crc, index) => crc !== reference![index])) {
      throw new Error(`${appender.label}: the final values differ from the first store's`);
    }
  }
  const folded = (reference ?? []).reduce((fold, crc) => crc32(String(crc), fold), 0);
  return folded.toString(16).padStart(8, '0');
}

/** Incompressible bytes that values and chunks are cut from (LevelDB compresses with Snappy). */
const POOL = ((): Uint8Array => {
  const prng = new Prng(3);
  const bytes = new Uint8Array(POOL_BYTES);
  for (let index = 0; index < bytes.length; index++) bytes[index] = prng.nextU32() & 0xff;
  return bytes;
})();

function initialRange(keyIndex: number, sizes: AppendBenchSizes): [number, number] {
  const start = (keyIndex * 104_729) % (POOL_BYTES - sizes.valueBytes);
  return [start, start + sizes.valueBytes];
}

function chunkRange(op: number, sizes: AppendBenchSizes): [number, number] {
  const start = (op * 4_099) % (POOL_BYTES - sizes.chunkBytes);
  return [start, start + sizes.chunkBytes];
}

/** Both passes (one at a time, then APPENDS_IN_FLIGHT), on fresh databases each: one section. */
export async function runAppendPasses(options: {
  readonly quick: boolean;
  readonly log?: (line: string) => void;
}): Promise<{ text: string; markdown: string }> {
  const serial = await runAppendBench({ ...options, markers: { begin: SECTION_BEGIN, end: '' } });
  const parallel = await runAppendBench({
    ...options,
    inFlight: APPENDS_IN_FLIGHT,
    markers: { begin: '', end: SECTION_END },
  });
  return {
    text: `${serial.text}\n\n${parallel.text}`,
    markdown: `${serial.markdown}\n\n${parallel.markdown}`,
  };
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const quick = process.env['STRATA_BENCH_QUICK'] === '1';
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const report = await runAppendPasses({ quick, log });
  process.stdout.write(`${report.text}\n`);
  if (process.argv.includes('--write-results')) {
    if (quick) throw new Error('--write-results refuses a quick run');
    const path = join(packageRoot(), 'bench', 'RESULTS.md');
    spliceSection(path, { begin: SECTION_BEGIN, end: SECTION_END }, report.markdown);
    process.stderr.write(`replaced the bench/append.ts section of ${path}\n`);
  }
}
