/**
 * The tables of bench/append.ts: appends/s (median round and whole phase), in-place ÷ each store,
 * and bytes written per byte appended, plus the targets and Strata's write breakdown.
 */
import { loadavg } from 'node:os';
import { packageRoot } from '../src/package-root.js';
import { formatCount, renderMarkdownTable, renderTable } from '../src/ycsb/text-table.js';
import type { AppendBenchResult, AppenderFigures, RoundSample } from './append.js';
import { countersSum, type StrataWriteCounters, strataBytesWritten } from './append-stores.js';
import { gitCommit } from './git-commit.js';
import type { SectionMarkers } from './results-section.js';

const SPEED_TARGET = 20;
const BYTES_TARGET = 1.5;

export function renderAppendReport(
  result: AppendBenchResult,
  markers: SectionMarkers,
): { text: string; markdown: string } {
  const inPlace = figuresOf(result, 'strata-append');
  const rmw = figuresOf(result, 'strata-rmw');
  const headers = [
    'store',
    'appends/s (median round)',
    'appends/s (whole phase)',
    'in place ÷ this',
    'bytes written ÷ appended (stats)',
    'wchar ÷ appended',
    'appends/s per round',
  ];
  const rows = result.figures.map((figures) => {
    const appended = appendedBytes(figures, result);
    const counters = strataCounters(figures);
    const chars = writeChars(figures);
    return [
      figures.label,
      formatCount(median(figures.rounds).opsPerSecond),
      formatCount(wholePhaseOpsPerSecond(figures)),
      `${speedRatio(inPlace, figures).toFixed(2)}x`,
      counters === undefined ? '-' : (strataBytesWritten(counters) / appended).toFixed(2),
      chars === undefined ? '-' : (chars / appended).toFixed(2),
      figures.rounds.map((sample) => formatCount(sample.opsPerSecond)).join(' / '),
    ];
  });
  const counters = strataCounters(inPlace)!;
  const bytesPerByte = strataBytesWritten(counters) / appendedBytes(inPlace, result);
  const speed = speedRatio(inPlace, rmw);
  const targets = [
    `Target: in-place append ≥ ${SPEED_TARGET}x Strata's own read-modify-write: ${speed.toFixed(2)}x (median rounds), ${speed >= SPEED_TARGET ? 'met' : 'missed'}.`,
    `Target: ≤ ${BYTES_TARGET} bytes written per byte appended (in-place database, engine stats): ${bytesPerByte.toFixed(2)}, ${bytesPerByte <= BYTES_TARGET ? 'met' : 'missed'}; during the phase it ran ${counters.flushes} flush(es) and ${counters.compactions} compaction(s) (${counters.compactions === 0 ? 'so this is before any compaction' : 'compaction bytes are included'}).`,
  ];
  const breakdown = breakdownLines(inPlace, result);
  const notes = notesOf(result);
  const concurrency =
    result.sizes.inFlight === 1
      ? 'one append awaited at a time'
      : `${result.sizes.inFlight} appends in flight, each on its own key`;
  const title = `### Appending ${kib(result.sizes.chunkBytes)} at a time to ${kib(result.sizes.valueBytes)} values, ${concurrency} (bench/append.ts)${result.quick ? ' — quick smoke run' : ''}`;
  const markdown = [
    markers.begin,
    title,
    '',
    ...notes.map((note) => `- ${note}`),
    '',
    renderMarkdownTable(headers, rows),
    '',
    ...targets.map((line) => `- ${line}`),
    ...breakdown.map((line) => `- ${line}`),
    markers.end,
  ].join('\n');
  const text = [
    title.replace(/^### /, ''),
    renderTable(headers, rows),
    '',
    ...targets,
    ...breakdown,
    '',
    ...notes.slice(1),
  ].join('\n');
  return { text, markdown };
}

function breakdownLines(inPlace: AppenderFigures, result: AppendBenchResult): string[] {
  const counters = strataCounters(inPlace)!;
  const appended = appendedBytes(inPlace, result);
  const inPlaceBytes = counters.appendsInPlace * result.sizes.chunkBytes;
  const share = (bytes: number) => `${formatMiB(bytes)} (${(bytes / appended).toFixed(2)})`;
  const perRound = inPlace.rounds
    .map((sample) => {
      const round = sample.counters!;
      return (strataBytesWritten(round) / (sample.ops * result.sizes.chunkBytes)).toFixed(2);
    })
    .join(' / ');
  const chars = writeChars(inPlace);
  return [
    `Strata in place: ${formatCount(counters.appendsInPlace)} appends went in place, ${formatCount(counters.appendsRewritten)} were rewritten (read-modify-write into a new blob with a larger reserve).`,
    `Its bytes written per byte appended (${formatMiB(appended)} appended): in-place blob writes ${share(inPlaceBytes)}, blob rewrites ${share(counters.blobBytesWritten - inPlaceBytes)}, NVM memtable records ${share(counters.memtableBytesWritten)}, flushes ${share(counters.flushBytesWritten)}, compactions ${share(counters.compactionBytesWritten)}; per round ${perRound}; its wchar ${chars === undefined ? 'unavailable' : share(chars)}.`,
  ];
}

function notesOf(result: AppendBenchResult): string[] {
  const { sizes } = result;
  const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' / ');
  return [
    `date: ${new Date().toISOString()}, node ${process.version}, commit ${gitCommit(packageRoot())}; ${result.cores} cores, load average (1/5/15 min) ${load(result.loadAtStart)} at the start, ${load(loadavg())} at the end; the whole bench took ${result.elapsedSeconds.toFixed(0)} s (cores shared with other work: numbers move ±2x between runs)${result.quick ? '. Quick run: sizes too small to mean anything.' : ''}`,
    `${sizes.keyCount} keys (16 bytes), each loaded with a ${kib(sizes.valueBytes)} incompressible value by one put; then ${formatCount(sizes.rounds * sizes.appendsPerRound)} appends of ${kib(sizes.chunkBytes)}, the same number to every key in a shuffled order (${kib((sizes.rounds * sizes.appendsPerRound * sizes.chunkBytes) / sizes.keyCount)} per value), ${sizes.inFlight === 1 ? 'one awaited at a time' : `${sizes.inFlight} in flight (lane i takes the keys ≡ i mod ${sizes.inFlight}, so no key has two at once)`}, in ${sizes.rounds} rounds of ${formatCount(sizes.appendsPerRound)}, after ${formatCount(sizes.warmUpAppends)} untimed warm-up appends to ${sizes.warmUpKeys} other keys; the stores interleave in rotating order and run the same keys and bytes. Afterwards every store holds the same values (CRC-32 fold ${result.checksum}).`,
    'Stores: Strata with default options (values ≥ 16 KiB in blob files, reserve as large as the value — a hole in the file, no disk written until an append fills it; a value an append moves gets 3x its size, so over a long life a growing value costs about 1 + 1/3 bytes written per byte appended) doing `append`, and a second Strata database with the same options doing `get` + concatenate + `put`; classic-level (defaults) and lmdb-js (`noSync`), both `get` + concatenate + `put` through bench/engine-stores.ts. Durability: all survive a process crash, not power loss.',
    "Bytes written: for Strata the engine's counters (blob files, NVM memtable records, flushes, compactions); for everyone `wchar` from /proc/self/io, the bytes this process passed to write system calls, all threads. wchar is a different but comparable measure: it counts LevelDB's log, flushes and compactions and lmdb's page writes, but not Strata's NVM memtable, whose records are stores into a mapped file (hence its stats). Each round's figures are read once the process has stopped writing, so background work a round started is counted in it.",
  ];
}

function figuresOf(result: AppendBenchResult, name: AppenderFigures['name']): AppenderFigures {
  const found = result.figures.find((figures) => figures.name === name);
  if (found === undefined) throw new Error(`no figures for ${name}`);
  return found;
}

/** The middle round by ops/s (the lower middle for an even count). */
function median(samples: readonly RoundSample[]): RoundSample {
  const sorted = [...samples].sort((a, b) => a.opsPerSecond - b.opsPerSecond);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function speedRatio(numerator: AppenderFigures, denominator: AppenderFigures): number {
  return median(numerator.rounds).opsPerSecond / median(denominator.rounds).opsPerSecond;
}

function wholePhaseOpsPerSecond(figures: AppenderFigures): number {
  const ops = figures.rounds.reduce((sum, sample) => sum + sample.ops, 0);
  const elapsedMs = figures.rounds.reduce((sum, sample) => sum + sample.elapsedMs, 0);
  return (ops * 1000) / elapsedMs;
}

function appendedBytes(figures: AppenderFigures, result: AppendBenchResult): number {
  return figures.rounds.reduce((sum, sample) => sum + sample.ops, 0) * result.sizes.chunkBytes;
}

function strataCounters(figures: AppenderFigures): StrataWriteCounters | undefined {
  const all = figures.rounds.map((sample) => sample.counters);
  if (all.some((counters) => counters === undefined)) return undefined;
  return countersSum(all as StrataWriteCounters[]);
}

function writeChars(figures: AppenderFigures): number | undefined {
  let total = 0;
  for (const sample of figures.rounds) {
    if (sample.writeChars === undefined) return undefined;
    total += sample.writeChars;
  }
  return total;
}

function kib(bytes: number): string {
  return `${formatCount(bytes / 1024)} KiB`;
}

function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
