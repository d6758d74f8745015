/**
 * Options of `Strata.open` and the checks every public call applies to its input. Every
 * violation is a StrataError whose message names the argument: ERR_KEY_TOO_LARGE and
 * ERR_VALUE_TOO_LARGE for the size limits, ERR_INVALID_ARGUMENT for everything else.
 */
import type { NvmBackendKind } from '../../nvm/types.js';
import { RESERVE_POLICY_DEFAULT, type ReservePolicy } from '../blob/reserve-policy.js';
import { StrataError } from '../errors.js';
import { hasIndexKeyspacePrefix } from '../fields/index-key.js';

export interface StrataOptions {
  /** Freeze and flush the mutable memtable once its arena holds more bytes. Default 64 MiB. */
  readonly memtableSize?: number;
  /** Longest key in bytes (after UTF-8 encoding). Default 64 KiB. */
  readonly maxKeyBytes?: number;
  /** Longest value in bytes (after UTF-8 encoding). Default 16 MiB. */
  readonly maxValueBytes?: number;
  /** NVM image backend. Default 'auto' (mapped when the native addon loads, else emulated). */
  readonly backend?: NvmBackendKind | 'auto';
  /** Reserved size of the NVM image file, only used when it is created. Default 4 GiB. */
  readonly sizeMaxBytes?: number;
  /**
   * false (default): a write resolves once it survives a process crash (kill -9).
   * true: every persist also msyncs / fdatasyncs, so a write resolves once it survives power loss.
   */
  readonly sync?: boolean;
  /**
   * Capacity of the table block cache in bytes. Every database of a thread shares one cache,
   * which grows to the largest capacity any of them asked for. Default 32 MiB.
   */
  readonly blockCacheBytes?: number;
  /**
   * Worker threads of the flush pool (Piscina, running the compiled dist/workers/flush.js),
   * started at the first flush. 0 flushes on the main thread. Default 1.
   */
  readonly flushThreads?: number;
  /**
   * Frozen memtables that may wait for their flush at once. When that many wait and the mutable
   * memtable is full too, writes stall (without blocking the event loop) until a flush ends.
   * Default 2.
   */
  readonly maxFrozenMemtables?: number;
  /** Level-0 tables that trigger an L0 → L1 compaction. Default 4. */
  readonly l0CompactionTrigger?: number;
  /** Level-0 tables from which writes are slowed down (held ~1 ms per group). Default 20. */
  readonly l0SlowdownTrigger?: number;
  /** Level-0 tables from which writes stop until a compaction brings the count down. Default 36. */
  readonly l0StopTrigger?: number;
  /** Target size of level 1 in bytes; each deeper level is levelSizeMultiplier × larger. Default 256 MiB. */
  readonly maxBytesForLevelBase?: number;
  /** Default 10. */
  readonly levelSizeMultiplier?: number;
  /** Compaction outputs are cut near this size, in bytes. Default 64 MiB. */
  readonly targetFileSize?: number;
  /**
   * Worker threads of the compaction pool (dist/workers/compaction.js): compactions that run at
   * once. 0 compacts on the main thread (one at a time). Default 1.
   */
  readonly compactionThreads?: number;
  /**
   * Index builds scan the data in this many slices at once, each a task on the compaction pool
   * (which grows to this many workers), and merge the slices' entries. Default 1.
   */
  readonly indexBuildThreads?: number;
  /**
   * Values of at least this many bytes are stored in blob files, the tree keeping a small
   * reference (key-value separation). Default 16 KiB; `Infinity` keeps every value inline.
   */
  readonly minBlobSize?: number;
  /** A new blob file is started once the current one passes this many bytes. Default 256 MiB. */
  readonly blobFileSize?: number;
  /**
   * Free space reserved after each blob for in-place appends: `ratio` × its size, clamped to
   * [minBytes, maxBytes]. Default { ratio: 1, minBytes: 4 KiB, maxBytes: 64 MiB }: the reserve
   * is a hole in the file, so it costs no disk until appends fill it. A value an append moves
   * (its reserve ran out) gets `appendRatio` × its new size instead (default 3), so a value that
   * keeps growing is rewritten ever more rarely: about 1 + 1/appendRatio bytes written per byte
   * appended over its life.
   */
  readonly blobReserve?: {
    ratio?: number;
    minBytes?: number;
    maxBytes?: number;
    appendRatio?: number;
  };
  /** Blob GC rewrites a blob file once this share of its bytes is garbage. Default 0.5. */
  readonly blobGcGarbageRatio?: number;
  /**
   * Cap on blob space amplification (blob bytes ÷ live blob bytes): above it, GC also takes the
   * files with the most garbage below `blobGcGarbageRatio`. Default 2.
   */
  readonly maxBlobSpaceAmplification?: number;
}

export interface ResolvedOptions {
  readonly memtableSize: number;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  readonly backend: NvmBackendKind | 'auto';
  readonly sizeMaxBytes: number | undefined;
  readonly sync: boolean;
  readonly blockCacheBytes: number;
  readonly flushThreads: number;
  readonly maxFrozenMemtables: number;
  readonly l0CompactionTrigger: number;
  readonly l0SlowdownTrigger: number;
  readonly l0StopTrigger: number;
  readonly maxBytesForLevelBase: number;
  readonly levelSizeMultiplier: number;
  readonly targetFileSize: number;
  readonly compactionThreads: number;
  readonly indexBuildThreads: number;
  readonly minBlobSize: number;
  readonly blobFileSize: number;
  readonly blobReserve: ReservePolicy;
  readonly blobAppendReserveRatio: number;
  readonly blobGcGarbageRatio: number;
  readonly maxBlobSpaceAmplification: number;
}

export const MEMTABLE_SIZE_DEFAULT = 64 * 1024 * 1024;
export const MAX_KEY_BYTES_DEFAULT = 64 * 1024;
export const MAX_VALUE_BYTES_DEFAULT = 16 * 1024 * 1024;
export const BLOCK_CACHE_BYTES_DEFAULT = 32 * 1024 * 1024;
export const FLUSH_THREADS_DEFAULT = 1;
export const MAX_FROZEN_MEMTABLES_DEFAULT = 2;
export const MIN_BLOB_SIZE_DEFAULT = 16 * 1024;
export const BLOB_FILE_SIZE_DEFAULT = 256 * 1024 * 1024;
/** The reserve ratio of a value that an append moved to a new blob (see StrataOptions). */
const APPEND_RESERVE_RATIO = 3;
/** A memtable's seqs must stay below its base + 2^32; this bound keeps far away from that. */
const MEMTABLE_SIZE_MAX = 2 ** 32;

const utf8 = new TextEncoder();

export function invalid(message: string): StrataError {
  return new StrataError('ERR_INVALID_ARGUMENT', message);
}

export function resolveOptions(options: unknown): ResolvedOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) throw invalid('options must be an object');
  const given = options as Record<string, unknown>;
  const known = new Set([
    'memtableSize',
    'maxKeyBytes',
    'maxValueBytes',
    'backend',
    'sizeMaxBytes',
    'sync',
    'blockCacheBytes',
    'flushThreads',
    'maxFrozenMemtables',
    'l0CompactionTrigger',
    'l0SlowdownTrigger',
    'l0StopTrigger',
    'maxBytesForLevelBase',
    'levelSizeMultiplier',
    'targetFileSize',
    'compactionThreads',
    'indexBuildThreads',
    'minBlobSize',
    'blobFileSize',
    'blobReserve',
    'blobGcGarbageRatio',
    'maxBlobSpaceAmplification',
  ]);
  for (const name of Object.keys(given)) {
    if (!known.has(name)) throw invalid(`unknown option ${JSON.stringify(name)}`);
  }
  const backend = given.backend ?? 'auto';
  if (backend !== 'auto' && backend !== 'mapped' && backend !== 'emulated') {
    throw invalid("options.backend must be 'auto', 'mapped' or 'emulated'");
  }
  const sync = given.sync ?? false;
  if (typeof sync !== 'boolean') throw invalid('options.sync must be a boolean');
  const sizeMaxBytes = given.sizeMaxBytes;
  if (sizeMaxBytes !== undefined && !isIntegerIn(sizeMaxBytes, 4096, 2 ** 32)) {
    throw invalid('options.sizeMaxBytes must be an integer in [4096, 2^32]');
  }
  const l0CompactionTrigger = integerOption(given, 'l0CompactionTrigger', 4, 1, 1000);
  const l0SlowdownTrigger = integerOption(given, 'l0SlowdownTrigger', 20, 1, 1000);
  const l0StopTrigger = integerOption(given, 'l0StopTrigger', 36, 1, 1000);
  if (!(l0CompactionTrigger <= l0SlowdownTrigger && l0SlowdownTrigger <= l0StopTrigger)) {
    throw invalid(
      'options need l0CompactionTrigger <= l0SlowdownTrigger <= l0StopTrigger, got ' +
        `${l0CompactionTrigger}, ${l0SlowdownTrigger}, ${l0StopTrigger}`,
    );
  }
  const minBlobSize = given.minBlobSize ?? MIN_BLOB_SIZE_DEFAULT;
  if (minBlobSize !== Number.POSITIVE_INFINITY && !isIntegerIn(minBlobSize, 1, 2 ** 40)) {
    throw invalid('options.minBlobSize must be an integer >= 1 or Infinity');
  }
  const reserve = resolveReserve(given.blobReserve);
  return {
    ...reserve,
    minBlobSize: minBlobSize as number,
    blobFileSize: integerOption(given, 'blobFileSize', BLOB_FILE_SIZE_DEFAULT, 4096, 2 ** 40),
    blobGcGarbageRatio: ratioOption(given, 'blobGcGarbageRatio', 0.5, 0.01, 1),
    maxBlobSpaceAmplification: ratioOption(given, 'maxBlobSpaceAmplification', 2, 1.01, 1000),
    l0CompactionTrigger,
    l0SlowdownTrigger,
    l0StopTrigger,
    maxBytesForLevelBase: integerOption(given, 'maxBytesForLevelBase', 256 * 2 ** 20, 1, 2 ** 50),
    levelSizeMultiplier: integerOption(given, 'levelSizeMultiplier', 10, 2, 1000),
    targetFileSize: integerOption(given, 'targetFileSize', 64 * 2 ** 20, 1, 2 ** 40),
    compactionThreads: integerOption(given, 'compactionThreads', 1, 0, 64),
    indexBuildThreads: integerOption(given, 'indexBuildThreads', 1, 1, 64),
    memtableSize: integerOption(given, 'memtableSize', MEMTABLE_SIZE_DEFAULT, 1, MEMTABLE_SIZE_MAX),
    maxKeyBytes: integerOption(given, 'maxKeyBytes', MAX_KEY_BYTES_DEFAULT, 1, 2 ** 30),
    maxValueBytes: integerOption(given, 'maxValueBytes', MAX_VALUE_BYTES_DEFAULT, 0, 2 ** 30),
    backend,
    sizeMaxBytes: sizeMaxBytes as number | undefined,
    sync,
    blockCacheBytes: integerOption(given, 'blockCacheBytes', BLOCK_CACHE_BYTES_DEFAULT, 0, 2 ** 40),
    flushThreads: integerOption(given, 'flushThreads', FLUSH_THREADS_DEFAULT, 0, 64),
    maxFrozenMemtables: integerOption(
      given,
      'maxFrozenMemtables',
      MAX_FROZEN_MEMTABLES_DEFAULT,
      1,
      64,
    ),
  };
}

function resolveReserve(given: unknown): {
  blobReserve: ReservePolicy;
  blobAppendReserveRatio: number;
} {
  if (given === undefined) {
    return { blobReserve: RESERVE_POLICY_DEFAULT, blobAppendReserveRatio: APPEND_RESERVE_RATIO };
  }
  if (typeof given !== 'object' || given === null) {
    throw invalid('options.blobReserve must be an object');
  }
  const fields = given as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!['ratio', 'minBytes', 'maxBytes', 'appendRatio'].includes(name)) {
      throw invalid(`unknown option blobReserve.${name}`);
    }
  }
  const ratio = ratioOption(fields, 'ratio', RESERVE_POLICY_DEFAULT.ratio, 0, 100, 'blobReserve.');
  const minBytes = integerOption(
    fields,
    'minBytes',
    RESERVE_POLICY_DEFAULT.minBytes,
    0,
    2 ** 40,
    'blobReserve.',
  );
  const maxBytes = integerOption(
    fields,
    'maxBytes',
    RESERVE_POLICY_DEFAULT.maxBytes,
    0,
    2 ** 40,
    'blobReserve.',
  );
  if (minBytes > maxBytes) throw invalid('options.blobReserve needs minBytes <= maxBytes');
  return {
    blobReserve: { ratio, minBytes, maxBytes },
    blobAppendReserveRatio: ratioOption(
      fields,
      'appendRatio',
      APPEND_RESERVE_RATIO,
      0,
      100,
      'blobReserve.',
    ),
  };
}

/** A number option in [min, max] (an integer unless `fraction`), or `fallback` when absent. */
function numberOption(
  given: Record<string, unknown>,
  name: string,
  range: { fallback: number; min: number; max: number; fraction?: boolean; prefix?: string },
): number {
  const value = given[name] ?? range.fallback;
  const ok = range.fraction
    ? typeof value === 'number' &&
      Number.isFinite(value) &&
      value >= range.min &&
      value <= range.max
    : isIntegerIn(value, range.min, range.max);
  if (!ok) {
    const kind = range.fraction ? 'a number' : 'an integer';
    throw invalid(
      `options.${range.prefix ?? ''}${name} must be ${kind} in [${range.min}, ${range.max}]`,
    );
  }
  return value as number;
}

function ratioOption(
  given: Record<string, unknown>,
  name: string,
  fallback: number,
  min: number,
  max: number,
  prefix = '',
): number {
  return numberOption(given, name, { fallback, min, max, fraction: true, prefix });
}

function integerOption(
  given: Record<string, unknown>,
  name: string,
  fallback: number,
  min: number,
  max: number,
  prefix = '',
): number {
  return numberOption(given, name, { fallback, min, max, prefix });
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** A key as bytes: a string is UTF-8 encoded; non-empty and at most `maxKeyBytes`. */
export function encodeKey(key: unknown, maxKeyBytes: number, what = 'key'): Uint8Array {
  const bytes = toBytes(key, what);
  if (bytes.length === 0) throw invalid(`${what} must not be empty`);
  if (bytes[0] === 0xff && hasIndexKeyspacePrefix(bytes)) {
    // Secondary-index entries live there (src/fields/FORMAT.md, "The keyspace").
    throw invalid(
      `${what} starts with the bytes FF FF FF FF 69 78, which are reserved for index entries`,
    );
  }
  if (bytes.length > maxKeyBytes) {
    throw new StrataError(
      'ERR_KEY_TOO_LARGE',
      `${what} is ${bytes.length} bytes, above maxKeyBytes ${maxKeyBytes}`,
    );
  }
  return bytes;
}

/** A value as bytes: a string is UTF-8 encoded; at most `maxValueBytes`. */
export function encodeValue(value: unknown, maxValueBytes: number, what = 'value'): Uint8Array {
  const bytes = toBytes(value, what);
  if (bytes.length > maxValueBytes) {
    throw new StrataError(
      'ERR_VALUE_TOO_LARGE',
      `${what} is ${bytes.length} bytes, above maxValueBytes ${maxValueBytes}`,
    );
  }
  return bytes;
}

/** An iterator bound: bytes or a UTF-8 string, any length (empty allowed). */
export function encodeBound(bound: unknown, what: string): Uint8Array | undefined {
  if (bound === undefined) return undefined;
  return toBytes(bound, what);
}

function toBytes(thing: unknown, what: string): Uint8Array {
  if (typeof thing === 'string') return utf8.encode(thing);
  if (thing instanceof Uint8Array) return thing;
  throw invalid(`${what} must be a Uint8Array or a string`);
}
