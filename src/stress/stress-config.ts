/**
 * What a stress run is given and the fixed choices every part of it shares: the store's options
 * (small enough that flushes, compactions, blob files, appends and blob GC happen all the time),
 * the folder layout, the operation kinds and the indexed fields with the threads that own them.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StrataOptions } from '../db/strata.js';
import { StrataError } from '../errors.js';

/**
 * Engine bugs the harness found and that are not fixed yet. A run given
 * `tolerateKnownIssues` counts an error that matches one (`knownIssues` in the report)
 * instead of failing; without it (the default) they are failures like any other. Delete an
 * entry once its bug is fixed.
 */
export const KNOWN_ENGINE_ISSUES: readonly {
  readonly id: string;
  readonly summary: string;
  matches(error: unknown): boolean;
}[] = [
  // Fixed: 'blob-gc-attached-readers' (blob GC removed blob files an attached thread's snapshot
  // still read; it now waits for attached snapshots too, src/db/attach.test.ts).
];

export function knownIssueOf(error: unknown): string | undefined {
  return KNOWN_ENGINE_ISSUES.find((issue) => issue.matches(error))?.id;
}

export interface StressConfig {
  /** Holds the store (`store/`), the per-thread logs (`logs/`) and `stress.json`. */
  readonly dir: string;
  readonly threads: number;
  /** The run stops once this much time has passed (or each thread ran opsPerThread ops). */
  readonly seconds: number;
  readonly seed: number;
  readonly opsPerThread: number;
  readonly keysPerThread: number;
  /** Count errors of KNOWN_ENGINE_ISSUES instead of failing on them. */
  readonly tolerateKnownIssues?: boolean;
}

export const THREADS_MAX = 32;
export const KEYS_PER_THREAD_DEFAULT = 200;
export const KEYS_PER_THREAD_MAX = 99_999;

/** Every operation a stress thread (or its coordinator) runs; the report counts each. */
export const OP_KINDS = [
  'put',
  'del',
  'batch',
  'append',
  'putFields',
  'get',
  'getFields',
  'iterate',
  'snapshot',
  'snapshotRead',
  'queryByIndex',
  'queryRangeByIndex',
  'listIndexes',
  'createIndex',
  'dropIndex',
  'flush',
  'compactRange',
  'collectBlobGarbage',
] as const;
export type OpKind = (typeof OP_KINDS)[number];

/** What the checks compare, one counter each. */
export const CHECK_KINDS = [
  'ownRead', // a read of the thread's own key: exactly its expected value
  'foreignRead', // another thread's key: absent or a value that thread wrote, never older
  'scan', // a bounded scan: order, bounds, limit, own keys complete and exact
  'snapshotRead', // a read through a snapshot: the own state when it was taken
  'indexQuery', // own keys in a query result equal the own records that match
  'indexState', // the owner's idea of its indexes against listIndexes and errors
  'indexFull', // a whole index against a brute-force scan of the records
  'recoveredKey', // a key after reopen: the acknowledged state (or that plus the one in flight)
] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

/** Indexed fields; field `i` belongs to index thread `i % INDEX_THREADS` (only it creates and drops). */
export const INDEX_FIELDS = ['color', 'shape', 'tag'] as const;
export const INDEX_THREADS = 2;

export function ownedFields(thread: number, threads: number): string[] {
  const owners = Math.min(threads, INDEX_THREADS);
  return INDEX_FIELDS.filter((_, index) => index % owners === thread);
}

/**
 * Small memtables, tables and level targets so that flushes and compactions run every few
 * hundred writes; values from 256 bytes in blob files of 64 KiB with small reserves, so puts
 * make blobs, appends go in place or move, and blob GC rewrites files all the time.
 */
export function stressStoreOptions(): StrataOptions {
  return {
    memtableSize: 64 << 10,
    targetFileSize: 32 << 10,
    maxBytesForLevelBase: 128 << 10,
    levelSizeMultiplier: 4,
    l0CompactionTrigger: 2,
    flushThreads: 1,
    compactionThreads: 1,
    indexBuildThreads: 2,
    minBlobSize: 256,
    blobFileSize: 64 << 10,
    blobReserve: { ratio: 0.5, minBytes: 64, maxBytes: 2048, appendRatio: 1 },
    blobGcGarbageRatio: 0.2,
    maxBlobSpaceAmplification: 1.5,
  };
}

export interface StressLayout {
  readonly dir: string;
  readonly storeDir: string;
  readonly logDir: string;
}

/**
 * Creates the folders on first use and records the key count in `stress.json`: the logs name
 * keys by index, so a later run on the same folder must use the same count.
 */
export function prepareLayout(dir: string, keysPerThread: number): StressLayout {
  const layout = { dir, storeDir: join(dir, 'store'), logDir: join(dir, 'logs') };
  mkdirSync(layout.logDir, { recursive: true });
  const metaPath = join(dir, 'stress.json');
  if (existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { keysPerThread?: unknown };
    if (meta.keysPerThread !== keysPerThread) {
      throw new StrataError(
        'ERR_INVALID_ARGUMENT',
        `${dir} holds a stress store with --keys ${String(meta.keysPerThread)}; use that or a new --dir`,
      );
    }
  } else {
    writeFileSync(metaPath, `${JSON.stringify({ format: 1, keysPerThread })}\n`);
  }
  return layout;
}

export function logPath(layout: StressLayout, thread: number): string {
  return join(layout.logDir, `thread-${String(thread).padStart(2, '0')}.log`);
}
