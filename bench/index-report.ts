/**
 * The tables of bench/index.ts: query latency (index, do-it-yourself peer, full scan), load and
 * build, build throughput on one and two workers, and the write cost of each extra index.
 */
import { cpus, loadavg } from 'node:os';
import { packageRoot } from '../src/package-root.js';
import { formatCount, renderMarkdownTable, renderTable } from '../src/ycsb/text-table.js';
import { gitCommit } from './git-commit.js';
import type { IndexBenchResult } from './index.js';
import { BUILD_FIELD, type BuildSample, COMPACTION_THREADS } from './index-build.js';
import { LOAD_BATCH_RECORDS, LOAD_BATCHES_IN_FLIGHT } from './index-load.js';
import type { LatencyFigures, QueryMethod } from './index-query.js';
import { INDEXED_FIELDS } from './index-records.js';
import type { WriteRoundSample, WriterFigures } from './index-write.js';
import type { SectionMarkers } from './results-section.js';

interface Table {
  readonly headers: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

export function renderIndexReport(
  result: IndexBenchResult,
  markers: SectionMarkers,
): { text: string; markdown: string } {
  const tables = [queryTable(result), loadTable(result), buildTable(result), writeTable(result)];
  const captions = [
    'Books of one author (one query awaited at a time)',
    'Loading and indexing',
    `Index build throughput (createIndex('${BUILD_FIELD}'), same files every time)`,
    'Write cost of each extra index (putFields, fresh databases)',
  ];
  const summary = summaryLines(result);
  const notes = notesOf(result);
  const title = `### Secondary indexes: query, build and write cost (bench/index.ts)${result.quick ? ' — quick smoke run' : ''}`;
  const text = [
    title,
    ...tables.map(
      (table, index) => `${captions[index]}\n${renderTable(table.headers, table.rows)}`,
    ),
    summary.join('\n'),
    `Cores other processes used, by phase: ${cpuShareText(result)}.`,
  ].join('\n\n');
  const markdown = [
    markers.begin,
    title,
    '',
    notes.map((note) => `- ${note}`).join('\n'),
    ...tables.flatMap((table, index) => [
      '',
      `${captions[index]}:`,
      '',
      renderMarkdownTable(table.headers, table.rows),
    ]),
    '',
    summary.map((line) => `- ${line}`).join('\n'),
    markers.end,
  ].join('\n');
  return { text, markdown };
}

const METHOD_LABELS: Record<QueryMethod, string> = {
  index: 'strata queryByIndex (keys)',
  'index-get': 'strata queryByIndex + get of each book',
  diy: 'classic-level DIY index: prefix range (keys)',
  'diy-get': 'classic-level DIY index + getMany',
  scan: 'strata full scan, no index (iterator + fieldValue)',
};

function queryTable(result: IndexBenchResult): Table {
  const index = figuresOf(result, 'index');
  const rows = result.queries.map((figures) => [
    METHOD_LABELS[figures.method],
    formatCount(figures.queries),
    formatMs(figures.meanMs),
    formatMs(figures.p50Ms),
    formatMs(figures.p99Ms),
    figures.keysPerQuery.toFixed(1),
    `${(figures.meanMs / index.meanMs).toFixed(figures.method === 'scan' ? 0 : 2)}x`,
  ]);
  return {
    headers: ['method', 'queries', 'ms/query', 'p50 ms', 'p99 ms', 'books/query', '÷ strata index'],
    rows,
  };
}

function loadTable(result: IndexBenchResult): Table {
  const { strataLoad, diyLoad, authorBuild } = result;
  const strataTotal = strataLoad.elapsedMs + authorBuild.elapsedMs;
  return {
    headers: [
      'store',
      'load records/s',
      'load s',
      "createIndex('author') s",
      'loaded and indexed s',
      'wchar MiB (load)',
    ],
    rows: [
      [
        `strata, load, then createIndex (${authorBuild.threads} workers)`,
        formatCount(strataLoad.recordsPerSecond),
        seconds(strataLoad.elapsedMs),
        seconds(authorBuild.elapsedMs),
        seconds(strataTotal),
        mib(strataLoad.writeChars),
      ],
      [
        'classic-level, record + DIY index key per batch op',
        formatCount(diyLoad.recordsPerSecond),
        seconds(diyLoad.elapsedMs),
        '-',
        seconds(diyLoad.elapsedMs),
        mib(diyLoad.writeChars),
      ],
    ],
  };
}

function buildTable(result: IndexBenchResult): Table {
  const rows = [...result.builds, result.authorBuild].map((sample, position) => [
    position < result.builds.length ? `${position + 1}` : 'author index (for the queries)',
    sample.field,
    String(sample.threads),
    String(sample.slices),
    formatCount(sample.recordsScanned),
    seconds(sample.elapsedMs),
    seconds(sample.scanMs),
    sample.mergeMs === undefined ? '-' : seconds(sample.mergeMs),
    (sample.cpuMs / sample.elapsedMs).toFixed(2),
    formatCount(sample.recordsPerSecond),
  ]);
  return {
    headers: [
      'build',
      'field',
      'indexBuildThreads',
      'slices',
      'records',
      's',
      'scan s',
      'merge + ingest s',
      'CPU ÷ wall',
      'records/s',
    ],
    rows,
  };
}

function writeTable(result: IndexBenchResult): Table {
  const rows = result.writes.map((figures) => {
    const base = baseWriter(result, figures);
    const rate = medianRate(figures.rounds);
    const baseRate = medianRate(base.rounds);
    const user = sum(figures.rounds, (sample) => sample.userBytes);
    const memtable = optionalSum(figures.rounds, (sample) => sample.memtableBytes);
    const chars = optionalSum(figures.rounds, (sample) => sample.writeChars);
    return [
      figures.kind === 'strata' ? 'strata putFields' : 'classic-level DIY (get + batch)',
      figures.indexCount === 0 ? '0' : INDEXED_FIELDS.slice(0, figures.indexCount).join(' + '),
      formatCount(rate),
      formatCount(wholeRate(figures.rounds)),
      figures.indexCount === 0 ? '-' : `${(baseRate / rate).toFixed(2)}x`,
      figures.indexCount === 0
        ? '-'
        : ((1e6 / rate - 1e6 / baseRate) / figures.indexCount).toFixed(1),
      memtable === undefined ? '-' : (memtable / user).toFixed(2),
      chars === undefined ? '-' : (chars / user).toFixed(2),
      figures.rounds.map((sample) => formatCount(rateOf(sample))).join(' / '),
    ];
  });
  return {
    headers: [
      'store',
      'indexes',
      'writes/s (median round)',
      'writes/s (whole phase)',
      'slowdown ÷ 0 indexes',
      'µs added per write per index',
      'memtable bytes ÷ user byte',
      'wchar ÷ user byte',
      'writes/s per round',
    ],
    rows,
  };
}

function summaryLines(result: IndexBenchResult): string[] {
  const index = figuresOf(result, 'index');
  const scan = figuresOf(result, 'scan');
  const diy = figuresOf(result, 'diy');
  const indexGet = figuresOf(result, 'index-get');
  const diyGet = figuresOf(result, 'diy-get');
  const one = buildRate(result.builds, 1);
  const two = buildRate(result.builds, 2);
  const perIndex = (kind: 'strata' | 'diy') =>
    result.writes
      .filter((figures) => figures.kind === kind && figures.indexCount > 0)
      .map((figures) => {
        const ratio = medianRate(baseWriter(result, figures).rounds) / medianRate(figures.rounds);
        return `${figures.indexCount}: ${ratio.toFixed(2)}x`;
      })
      .join(', ');
  return [
    `Query by index vs full scan over ${formatCount(result.sizes.query.recordCount)} records: ${formatMs(index.meanMs)} ms against ${formatMs(scan.meanMs)} ms per query, **${formatCount(scan.meanMs / index.meanMs)}x** faster (${formatCount(index.keysPerQuery)} books per author).`,
    `Against classic-level's DIY index: keys ${formatMs(index.meanMs)} ms (strata) vs ${formatMs(diy.meanMs)} ms (DIY), strata ${(diy.meanMs / index.meanMs).toFixed(2)}x; with every book read, ${formatMs(indexGet.meanMs)} vs ${formatMs(diyGet.meanMs)} ms, ${(diyGet.meanMs / indexGet.meanMs).toFixed(2)}x.`,
    `Index build: ${formatCount(one)} records/s on one worker, ${formatCount(two)} on two: **${(two / one).toFixed(2)}x** (${cpus().length} cores; records over total build time per thread count).`,
    `Write slowdown vs 0 indexes (median rounds), by index count: strata ${perIndex('strata')}; classic-level DIY ${perIndex('diy')}.`,
  ];
}

function notesOf(result: IndexBenchResult): string[] {
  const { sizes } = result;
  const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' / ');
  return [
    `date: ${new Date().toISOString()}, node ${process.version}, commit ${gitCommit(packageRoot())}; ${result.cores} cores, load average (1/5/15 min) ${load(result.loadAtStart)} at the start, ${load(loadavg())} at the end; the whole bench took ${result.elapsedSeconds.toFixed(0)} s (cores shared with other work: numbers move ±2x between runs)${result.quick ? '. Quick run: sizes too small to mean anything.' : ''}`,
    `Cores other processes used on average, by phase (/proc/stat minus this process): ${cpuShareText(result)}.`,
    `Records: ${formatCount(sizes.query.recordCount)} books \`book:0000001\`…, each a field record \`{ author: one of ${formatCount(sizes.query.authorCount)} (author-00042), year: 1900–2024, title: 40 letters }\` (~${result.recordBytes} bytes of key + value), loaded in batches of ${LOAD_BATCH_RECORDS} records, ${LOAD_BATCHES_IN_FLIGHT} batches in flight, into Strata (\`compactionThreads: ${COMPACTION_THREADS}\`, other options default, no index during the load) and into classic-level (defaults) with one \`idx:author:<author>:<key>\` key per record in the same batch. Then Strata is compacted down (\`compactRange\`, ${seconds(result.compactMs)} s, untimed; tables ${formatCount(result.tableBytes / 2 ** 20)} MiB), closed and copied for each build.`,
    `Queries: ${formatCount(sizes.query.queryCount)} random authors (the same for every method), one query awaited at a time, in ${sizes.query.rounds} rounds with the methods in rotating order, after ${sizes.query.warmUpQueries} untimed warm-up queries each; the full scan runs for the first ${sizes.query.scanCount} of them. Every answer is checked: all methods return the same keys, as many as were loaded, and each scan equals the index's answer.`,
    `Builds: on a fresh copy of the compacted directory each, opened with \`indexBuildThreads\` 1 or 2 (compaction pool ${COMPACTION_THREADS}), in ABBA order; timed from \`createIndex\` until it resolves (flush, scan slices on the pool, merge of the slices' outputs, ingest). A build cuts at most one slice per worker at table boundaries of level 1 and below. \`scan s\` runs until the slices' outputs start merging (marked by Strata's \`beforeCompactionTask\` test hook; one slice needs no merge), \`merge + ingest s\` from there; \`CPU ÷ wall\` is the process's CPU time (every thread) over the build's wall time: near 2 means both cores worked.`,
    `Write cost: ${formatCount(sizes.write.writeCount)} writes per store, ${sizes.write.inFlight} in flight, half inserting a new book and half rewriting a book written before with new values in every field; ${sizes.write.rounds} rounds, eight fresh databases open at once in rotating order, median round. Strata: defaults, \`createIndex\` on the empty database first, then \`putFields\`. classic-level DIY: 0 indexes a plain \`put\`; otherwise \`get\` of the old record, then one \`batch\` of the record, a \`del\` of each changed field's old index key and a \`put\` of its new one. Bytes: Strata's memtableBytesWritten (records and index entries into the NVM memtable) and /proc/self/io wchar (LevelDB's log, flushes and compactions; Strata's tables) ÷ user bytes (key + field record), read after each round's background writes settled.`,
  ];
}

function cpuShareText(result: IndexBenchResult): string {
  return result.cpu
    .map(
      (phase) =>
        `${phase.phase} ${phase.otherCores === undefined ? '?' : phase.otherCores.toFixed(2)} (this process ${phase.ownCores.toFixed(2)}, ${seconds(phase.elapsedMs)} s)`,
    )
    .join('; ');
}

function figuresOf(result: IndexBenchResult, method: QueryMethod): LatencyFigures {
  const figures = result.queries.find((candidate) => candidate.method === method);
  if (figures === undefined) throw new Error(`no figures for ${method}`);
  return figures;
}

function baseWriter(result: IndexBenchResult, figures: WriterFigures): WriterFigures {
  const base = result.writes.find(
    (candidate) => candidate.kind === figures.kind && candidate.indexCount === 0,
  );
  if (base === undefined) throw new Error(`no 0-index figures for ${figures.kind}`);
  return base;
}

function buildRate(samples: readonly BuildSample[], threads: number): number {
  const chosen = samples.filter((sample) => sample.threads === threads);
  return (
    (sum(chosen, (sample) => sample.recordsScanned) * 1000) /
    sum(chosen, (sample) => sample.elapsedMs)
  );
}

function rateOf(sample: WriteRoundSample): number {
  return (sample.ops * 1000) / sample.elapsedMs;
}

function medianRate(samples: readonly WriteRoundSample[]): number {
  const rates = samples.map(rateOf).sort((left, right) => left - right);
  return rates[Math.floor((rates.length - 1) / 2)]!;
}

function wholeRate(samples: readonly WriteRoundSample[]): number {
  return (sum(samples, (sample) => sample.ops) * 1000) / sum(samples, (sample) => sample.elapsedMs);
}

function sum<T>(items: readonly T[], pick: (item: T) => number): number {
  return items.reduce((total, item) => total + pick(item), 0);
}

function optionalSum<T>(
  items: readonly T[],
  pick: (item: T) => number | undefined,
): number | undefined {
  let total = 0;
  for (const item of items) {
    const value = pick(item);
    if (value === undefined) return undefined;
    total += value;
  }
  return total;
}

function formatMs(ms: number): string {
  return ms >= 100 ? formatCount(ms) : ms.toFixed(ms >= 1 ? 2 : 3);
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '-' : (bytes / 2 ** 20).toFixed(0);
}
