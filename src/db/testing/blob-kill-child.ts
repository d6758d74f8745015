/**
 * Child process of the blob kill -9 test (runs from dist/): opens the database in `dir` (default
 * backend, flushes and compactions on their pools, blob GC copies on the compaction pool, 64 KiB
 * blob files, a low GC garbage ratio) and keeps BLOB_KILL_IN_FLIGHT writes in flight forever:
 * appends (mostly small, in place; some too large for the reserve, rewritten), puts of large and
 * small values, and deletes, over BLOB_KILL_KEY_COUNT keys; it also runs collectBlobGarbage()
 * every BLOB_KILL_GC_EVERY_MS besides the automatic rounds. A key has at most one write in flight,
 * so its acknowledged writes are exactly the ones it tried, in order, but the last. Protocol on
 * stdout, one line per event, each written with a blocking writeSync before the next step (see
 * kill-harness.ts for why):
 *
 *   t <key> p <tag> <bytes>   before a put of putValue(key, tag, bytes)
 *   t <key> a <tag> <bytes>   before an append of appendBytes(key, tag, bytes)
 *   t <key> d                 before a delete
 *   a <key>                   the key's tried write was acknowledged
 *   g <json>                  blob and GC counters since open, every BLOB_KILL_STATS_EVERY_MS
 */
import { Prng } from '../../ehash/testing/prng.js';
import { Strata, type StrataOptions } from '../strata.js';
import { writeLine } from './kill-harness.js';

export const BLOB_KILL_KEY_COUNT = 48;
export const BLOB_KILL_IN_FLIGHT = 24;
export const BLOB_KILL_GC_EVERY_MS = 150;
export const BLOB_KILL_STATS_EVERY_MS = 50;

export function blobKillOptions(): StrataOptions {
  return {
    // Small memtables: flushes and compactions (which account blob garbage) run all the time.
    memtableSize: 16 << 10,
    flushThreads: 1,
    compactionThreads: 1,
    l0CompactionTrigger: 2,
    targetFileSize: 32 << 10,
    maxBytesForLevelBase: 64 << 10,
    levelSizeMultiplier: 4,
    minBlobSize: 512,
    blobFileSize: 64 << 10,
    blobReserve: { ratio: 0.25, minBytes: 128, maxBytes: 1024, appendRatio: 1 },
    blobGcGarbageRatio: 0.1,
    maxBlobSpaceAmplification: 1.5,
  };
}

export function blobKillKey(index: number): string {
  return `key-${String(index).padStart(3, '0')}`;
}

/** A put's value: key and tag, then a pattern, `bytes` long in all (or just the prefix). */
export function putValue(key: string, tag: string, bytes: number): string {
  return patterned(`${key}=${tag}:`, bytes);
}

/** An append's bytes: bracketed, so the records of a value can be told apart when one is off. */
export function appendBytes(key: string, tag: string, bytes: number): string {
  return `${patterned(`<${key}+${tag}:`, bytes - 1)}>`;
}

export type KillOp =
  | { readonly kind: 'p' | 'a'; readonly tag: string; readonly bytes: number }
  | { readonly kind: 'd' };

/** The value of `key` after `op`, applied to `value`. */
export function applyKillOp(
  key: string,
  value: string | undefined,
  op: KillOp,
): string | undefined {
  if (op.kind === 'd') return undefined;
  if (op.kind === 'p') return putValue(key, op.tag, op.bytes);
  return (value ?? '') + appendBytes(key, op.tag, op.bytes);
}

function patterned(prefix: string, bytes: number): string {
  let text = prefix;
  const alphabet = 'abcdefghijklmnopqrstuvwxyz';
  for (let index = text.length; index < bytes; index++) {
    text += alphabet[(index * 11 + prefix.length) % alphabet.length];
  }
  return text; // never cut: a short value keeps its whole prefix
}

function makeOp(prng: Prng, tag: string): KillOp {
  const roll = prng.below(100);
  if (roll < 55) return { kind: 'a', tag, bytes: 12 + prng.below(60) };
  if (roll < 65) return { kind: 'a', tag, bytes: 700 + prng.below(900) };
  if (roll < 90) return { kind: 'p', tag, bytes: 512 + prng.below(2500) };
  if (roll < 95) return { kind: 'p', tag, bytes: 20 + prng.below(200) };
  return { kind: 'd' };
}

async function main(dir: string, run: number): Promise<void> {
  const db = await Strata.open(dir, blobKillOptions());
  const prng = new Prng(run * 7919 + 1);
  const busy = new Set<number>();
  let wake: (() => void) | undefined;
  const collect = (): void => {
    db.collectBlobGarbage().then(
      () => setTimeout(collect, BLOB_KILL_GC_EVERY_MS),
      (error: unknown) => fail('collectBlobGarbage', error),
    );
  };
  setTimeout(collect, BLOB_KILL_GC_EVERY_MS);
  // The counters on a timer of their own: a kill often lands inside a long collect.
  setInterval(() => {
    const stats = db.stats();
    const counters = {
      blobGcRuns: stats.blobGcRuns,
      blobGcFilesRemoved: stats.blobGcFilesRemoved,
      blobGcSkipped: stats.blobGcSkipped,
      appendsInPlace: stats.appendsInPlace,
      appendsRewritten: stats.appendsRewritten,
    };
    writeLine(`g ${JSON.stringify(counters)}\n`);
  }, BLOB_KILL_STATS_EVERY_MS);
  for (let writeIndex = 0; writeIndex < 100_000_000; writeIndex++) {
    while (busy.size >= BLOB_KILL_IN_FLIGHT) await new Promise<void>((done) => (wake = done));
    let index = prng.below(BLOB_KILL_KEY_COUNT);
    while (busy.has(index)) index = (index + 1) % BLOB_KILL_KEY_COUNT;
    const key = blobKillKey(index);
    const op = makeOp(prng, `${run}.${writeIndex}`);
    writeLine(op.kind === 'd' ? `t ${key} d\n` : `t ${key} ${op.kind} ${op.tag} ${op.bytes}\n`);
    const written =
      op.kind === 'd'
        ? db.del(key)
        : op.kind === 'p'
          ? db.put(key, putValue(key, op.tag, op.bytes))
          : db.append(key, appendBytes(key, op.tag, op.bytes));
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

function fail(what: string, error: unknown): void {
  process.stderr.write(`${what} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(2);
}

// Only as the child's entry script: tests import the helpers above.
const [dir, run] = process.argv.slice(2);
if (process.argv[1]?.endsWith('blob-kill-child.js') === true && dir !== undefined) {
  void main(dir, Number(run ?? 1));
}
