/**
 * Sorted-table micro-benchmarks on one thread: point get with every block in the block cache,
 * seek + 100 next over a warm cache, and table build throughput (no fsync, page cache only).
 * Keys are 16-byte ids, values 100 bytes, as in the YCSB-style runs.
 *
 *   node dist/bench/sst.js                (after `npm run build`)
 *   STRATA_BENCH_QUICK=1 node dist/bench/sst.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import { BlockCache } from '../src/sst/block-cache.js';
import { encodeInternalKey, KIND_VALUE, lookupKey } from '../src/sst/internal-key.js';
import { TableReader } from '../src/sst/table-reader.js';
import { TableWriter } from '../src/sst/table-writer.js';

export interface SstBenchResult {
  name: string;
  opsPerSecond: number;
  /** Build only: key and value bytes added per second, in MB (10^6 bytes). */
  megabytesPerSecond?: number;
}

const VALUE_BYTES = 100;
/**
 * Reads draw from a pool of key objects spread over the whole table. The pool stays in the CPU
 * cache, as a caller's key would; drawing from all 100 000 key objects would add ~200 ns of cache
 * misses per read that belong to the benchmark, not to the table.
 */
const KEY_POOL_SIZE = 4_096;
/** Operations per timed task call, so that tinybench's per-call overhead is amortised. */
const GETS_PER_CALL = 1_000;
const SEEKS_PER_CALL = 20;
const NEXTS_PER_SEEK = 100;

export async function runSstBench(options: { quick?: boolean } = {}): Promise<SstBenchResult[]> {
  const quick = options.quick ?? process.env['STRATA_BENCH_QUICK'] === '1';
  const entryCount = quick ? 10_000 : 100_000;
  const buildEntryCount = quick ? 5_000 : 20_000;
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-sst-'));
  try {
    const userKeys = Array.from({ length: entryCount }, (_, index) => userKeyOf(index));
    const value = new Uint8Array(VALUE_BYTES).fill(0x5a);
    const keys = userKeys.map((userKey) => encodeInternalKey(userKey, 1, KIND_VALUE));
    writeTable(join(dir, 'read.sst'), keys, value);
    const cache = new BlockCache({ capacityBytes: 256 << 20 }); // holds every block
    const reader = TableReader.open(join(dir, 'read.sst'), { fileNumber: 1, cache });
    for (const userKey of userKeys) reader.get(userKey, 1); // warm the cache
    const pool = Array.from({ length: KEY_POOL_SIZE }, (_, index) => {
      const userKey = userKeys[(index * 7_919) % (entryCount - NEXTS_PER_SEEK)]!;
      return { userKey, target: lookupKey(userKey, 1) };
    });
    const buildKeys = keys.slice(0, buildEntryCount);
    const buildBytes = buildKeys.reduce((sum, key) => sum + key.length + VALUE_BYTES, 0);
    let cursor = 0;
    let buildCount = 0;
    let sink = 0;
    const bench = new Bench({
      time: quick ? 200 : 1_000,
      warmup: true,
      warmupTime: quick ? 50 : 200,
    });
    bench
      .add('point get (cache hit)', () => {
        for (let op = 0; op < GETS_PER_CALL; op++) {
          cursor = (cursor + 1) & (KEY_POOL_SIZE - 1);
          sink += reader.get(pool[cursor]!.userKey, 1)!.value.length;
        }
      })
      .add(`seek + ${NEXTS_PER_SEEK} next`, () => {
        const iterator = reader.iterator();
        for (let op = 0; op < SEEKS_PER_CALL; op++) {
          cursor = (cursor + 1) & (KEY_POOL_SIZE - 1);
          iterator.seek(pool[cursor]!.target);
          for (let step = 0; step < NEXTS_PER_SEEK && iterator.valid(); step++) {
            sink += iterator.value().length;
            iterator.next();
          }
        }
      })
      .add('table build', () => {
        const path = join(dir, `build-${buildCount++}.sst`);
        writeTable(path, buildKeys, value);
        rmSync(path);
      });
    await bench.run();
    reader.close();
    if (sink === -1) console.log('unreachable'); // keeps the reads observable
    return bench.tasks.map((task) => {
      const result = task.result;
      if (result.state === 'errored') throw result.error;
      if (result.state !== 'completed') throw new Error(`bench task ${task.name}: ${result.state}`);
      // period is the mean milliseconds per task call.
      const callsPerSecond = 1_000 / result.period;
      if (task.name === 'table build') {
        return {
          name: `table build (${buildEntryCount} entries/table)`,
          opsPerSecond: callsPerSecond * buildEntryCount,
          megabytesPerSecond: (callsPerSecond * buildBytes) / 1e6,
        };
      }
      const opsPerCall = task.name.startsWith('seek') ? SEEKS_PER_CALL : GETS_PER_CALL;
      return { name: task.name, opsPerSecond: callsPerSecond * opsPerCall };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function userKeyOf(index: number): Uint8Array {
  return new TextEncoder().encode(`user${String(index).padStart(12, '0')}`);
}

function writeTable(path: string, keys: readonly Uint8Array[], value: Uint8Array): void {
  const writer = new TableWriter(path, { sync: false });
  for (const key of keys) writer.add(key, value);
  writer.finish();
}

async function main(): Promise<void> {
  const results = await runSstBench();
  console.log(`sst, one thread, 16-byte keys, ${VALUE_BYTES}-byte values, Node ${process.version}`);
  console.table(
    results.map((result) => ({
      operation: result.name,
      'ops/s': Math.round(result.opsPerSecond).toLocaleString('en-US'),
      'us/op': (1e6 / result.opsPerSecond).toFixed(2),
      'MB/s': result.megabytesPerSecond?.toFixed(1) ?? '',
    })),
  );
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) await main();
