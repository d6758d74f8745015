/**
 * Secondary indexes (issue 6), all in one run so the ratios compare like with like:
 *
 * 1. the books of one author among a million: Strata `queryByIndex` against a full scan of the
 *    same database, and against classic-level with a do-it-yourself index (index-query.ts);
 *    with the load and build cost of each (index-load.ts);
 * 2. `createIndex` throughput with `indexBuildThreads` 1 and 2 on the same files (index-build.ts);
 * 3. the write cost of each extra index, for Strata and the DIY peer (index-write.ts).
 *
 * Records: index-records.ts; the peer: index-diy.ts; the tables: index-report.ts.
 *
 *   node dist/bench/index.js                   (after `npm run build`; prints the tables)
 *   node dist/bench/index.js --write-results   (also replaces its section of bench/RESULTS.md)
 *   node dist/bench/index.js --quick           (or STRATA_BENCH_QUICK=1: ~20k records, seconds)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Strata } from '../src/db/strata.js';
import { encodeFields } from '../src/fields/field-codec.js';
import { packageRoot } from '../src/package-root.js';
import {
  type BuildSample,
  buildPhaseOptions,
  compactDown,
  openForBuilds,
  runBuildRounds,
  timeBuild,
} from './index-build.js';
import { CpuPhases, type PhaseCpu } from './index-cpu.js';
import { DiyIndexedLevel } from './index-diy.js';
import { type LoadFigures, loadDiyLevel, loadStrata } from './index-load.js';
import { type LatencyFigures, type QuerySizes, runQueries } from './index-query.js';
import { bookFields, bookKey } from './index-records.js';
import { renderIndexReport } from './index-report.js';
import { runWriteCost, type WriterFigures, type WriteSizes } from './index-write.js';
import { spliceSection } from './results-section.js';

export const SECTION_BEGIN = '<!-- bench/index.ts: begin -->';
export const SECTION_END = '<!-- bench/index.ts: end -->';

export interface IndexBenchSizes {
  readonly query: QuerySizes;
  readonly write: WriteSizes;
  /** Strata's targetFileSize in the query and build phases; undefined: the default (64 MiB). */
  readonly targetFileBytes: number | undefined;
}

/**
 * Full: 1,000,000 books by 10,000 authors (~100 each), 1,000 queries and 3 full scans, 100,000
 * writes per store. Quick keeps ~100 books per author and small tables, so a build still splits.
 */
export function indexBenchSizes(quick: boolean): IndexBenchSizes {
  const authorCount = quick ? 200 : 10_000;
  return {
    query: {
      recordCount: quick ? 20_000 : 1_000_000,
      authorCount,
      queryCount: quick ? 100 : 1_000,
      scanCount: quick ? 2 : 3,
      rounds: quick ? 2 : 5,
      warmUpQueries: quick ? 10 : 50,
    },
    write: {
      writeCount: quick ? 10_000 : 100_000,
      rounds: quick ? 2 : 5,
      inFlight: 64,
      authorCount,
    },
    targetFileBytes: quick ? 256 * 1024 : undefined,
  };
}

export interface IndexBenchResult {
  readonly quick: boolean;
  readonly sizes: IndexBenchSizes;
  readonly strataLoad: LoadFigures;
  readonly diyLoad: LoadFigures;
  readonly compactMs: number;
  readonly tableBytes: number;
  readonly builds: readonly BuildSample[];
  readonly authorBuild: BuildSample;
  readonly queries: readonly LatencyFigures[];
  readonly writes: readonly WriterFigures[];
  /** Which share of the machine this process and the others used, phase by phase. */
  readonly cpu: readonly PhaseCpu[];
  /** Mean key + field record bytes of a loaded book. */
  readonly recordBytes: number;
  readonly loadAtStart: readonly number[];
  readonly cores: number;
  readonly elapsedSeconds: number;
}

export async function runIndexBench(options: {
  readonly quick: boolean;
  readonly log?: (line: string) => void;
}): Promise<{ text: string; markdown: string; result: IndexBenchResult }> {
  const log = options.log ?? (() => {});
  const sizes = indexBenchSizes(options.quick);
  const loadAtStart = loadavg();
  const startedMs = performance.now();
  const root = mkdtempSync(join(tmpdir(), 'strata-bench-index-'));
  const baseDir = join(root, 'strata');
  const tableOptions = { targetFileBytes: sizes.targetFileBytes };
  const cpu = new CpuPhases();
  try {
    log(`index: loading ${sizes.query.recordCount} books into strata`);
    let db = await Strata.open(baseDir, buildPhaseOptions(1, tableOptions));
    const strataLoad = await loadStrata(db, sizes.query);
    const compactStartedMs = performance.now();
    await compactDown(db);
    const compactMs = performance.now() - compactStartedMs;
    const tableBytes = db.stats().tableBytes;
    await db.close();
    cpu.end('load and compaction');
    const workDir = join(root, 'strata-build');
    const builds = await runBuildRounds({ baseDir, workDir }, { ...tableOptions, log });
    cpu.end('builds');
    const opened = await openForBuilds(baseDir, 2, tableOptions);
    db = opened.db;
    let diy: DiyIndexedLevel | undefined;
    try {
      log('index: building the author index for the queries');
      const authorBuild = await timeBuild(db, { field: 'author', threads: 2, clock: opened.clock });
      log(`index: loading ${sizes.query.recordCount} books into classic-level with a DIY index`);
      diy = await DiyIndexedLevel.open(join(root, 'level'), ['author']);
      const diyLoad = await loadDiyLevel(diy, sizes.query);
      const queries = await runQueries({ db, diy }, sizes.query, log);
      cpu.end('author build, DIY load, queries');
      await diy.close();
      diy = undefined;
      await db.close();
      const writes = await runWriteCost(join(root, 'writes'), sizes.write, log);
      cpu.end('write cost');
      const result: IndexBenchResult = {
        quick: options.quick,
        sizes,
        strataLoad,
        diyLoad,
        compactMs,
        tableBytes,
        builds,
        authorBuild,
        queries,
        writes,
        cpu: cpu.phases,
        recordBytes: meanRecordBytes(sizes.query.authorCount),
        loadAtStart,
        cores: cpus().length,
        elapsedSeconds: (performance.now() - startedMs) / 1000,
      };
      return { ...renderIndexReport(result, { begin: SECTION_BEGIN, end: SECTION_END }), result };
    } finally {
      await diy?.close();
      await db.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function meanRecordBytes(authorCount: number): number {
  const sample = 1_000;
  let bytes = 0;
  for (let index = 0; index < sample; index++) {
    bytes += bookKey(index).length + encodeFields(bookFields(index, 0, authorCount)).length;
  }
  return Math.round(bytes / sample);
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const quick = process.argv.includes('--quick') || process.env['STRATA_BENCH_QUICK'] === '1';
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const report = await runIndexBench({ quick, log });
  process.stdout.write(`${report.text}\n`);
  if (process.argv.includes('--write-results')) {
    if (quick) throw new Error('--write-results refuses a quick run');
    const path = join(packageRoot(), 'bench', 'RESULTS.md');
    spliceSection(path, { begin: SECTION_BEGIN, end: SECTION_END }, report.markdown);
    process.stderr.write(`replaced the bench/index.ts section of ${path}\n`);
  }
}
