import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StrataError } from '../errors.js';

/**
 * One adapter interface for u64 → u64 engines. Keys and values cross it as unsigned 32-bit
 * (hi, lo) halves so the hot loop never allocates a BigInt. Semantics every adapter keeps:
 * insert fails (false) when the key exists, update and remove fail when it does not, read fills
 * `out[0] = valueLo, out[1] = valueHi` and returns whether the key was found.
 *
 * Synchronous engines (ehash, map, lmdb) implement `SyncU64Engine`; classic-level and strata
 * have asynchronous writes and implement `AsyncU64Engine`. The driver keeps one loop per kind so
 * that sync engines never pay for an `await`.
 */
export type EngineName = 'ehash' | 'strata' | 'map' | 'lmdb' | 'lmdb-nosync' | 'classic-level';
export const ENGINE_NAMES: readonly EngineName[] = [
  'ehash',
  'strata',
  'map',
  'lmdb',
  'lmdb-nosync',
  'classic-level',
];

export type EhashBackend = 'mapped' | 'emulated';

export interface EngineOptions {
  /** Work in this directory and keep it; default: a fresh temp directory removed on close. */
  readonly dir?: string;
  /** ehash and strata only. Default: 'mapped' for ehash, 'auto' for strata. */
  readonly backend?: EhashBackend;
}

/** Sums the values a scan returns into the driver's checksum. */
export interface ValueSink {
  add(hi: number, lo: number): void;
}

/** Table shape figures; only ehash reports them. */
export interface EngineStats {
  readonly globalDepth: number;
  readonly buckets: number;
  readonly pages: number;
  readonly loadFactor: number;
  readonly keys: number;
  readonly imageBytes: number;
  readonly directoryEntries: number;
  readonly backend: string;
}

interface EngineCommon {
  readonly name: EngineName;
  /** Name plus variant, e.g. `ehash (mapped)`. */
  readonly label: string;
  readonly dir: string;
  /** Whether `scan` exists: only engines with ordered keys can run SCAN lines. */
  readonly supportsScan: boolean;
  stats(): EngineStats | undefined;
  /** Closes the engine and removes its directory unless it was given explicitly. */
  close(): Promise<void>;
}

export interface SyncU64Engine extends EngineCommon {
  readonly mode: 'sync';
  insert(keyHi: number, keyLo: number, valueHi: number, valueLo: number): boolean;
  read(keyHi: number, keyLo: number, out: Uint32Array): boolean;
  update(keyHi: number, keyLo: number, valueHi: number, valueLo: number): boolean;
  remove(keyHi: number, keyLo: number): boolean;
  /** Visits up to `count` records with key >= the given key in key order; returns how many. */
  scan?(keyHi: number, keyLo: number, count: number, sink: ValueSink): number;
}

export interface AsyncU64Engine extends EngineCommon {
  readonly mode: 'async';
  insert(keyHi: number, keyLo: number, valueHi: number, valueLo: number): Promise<boolean>;
  read(keyHi: number, keyLo: number, out: Uint32Array): Promise<boolean>;
  update(keyHi: number, keyLo: number, valueHi: number, valueLo: number): Promise<boolean>;
  remove(keyHi: number, keyLo: number): Promise<boolean>;
  scan?(keyHi: number, keyLo: number, count: number, sink: ValueSink): Promise<number>;
}

export type U64Engine = SyncU64Engine | AsyncU64Engine;

/** Engines with ordered keys, which can run SCAN lines. */
export function engineSupportsScan(name: EngineName): boolean {
  return name === 'strata' || name === 'lmdb' || name === 'lmdb-nosync' || name === 'classic-level';
}

export function isEngineName(name: string): name is EngineName {
  return (ENGINE_NAMES as readonly string[]).includes(name);
}

/** Opens an engine by name. Peer engines (lmdb, classic-level) are imported only here. */
export async function openEngine(
  name: EngineName,
  options: EngineOptions = {},
): Promise<U64Engine> {
  if (options.backend !== undefined && name !== 'ehash' && name !== 'strata') {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `--backend applies to the ehash and strata engines only`,
    );
  }
  const directory = EngineDirectory.create(name, options.dir);
  try {
    switch (name) {
      case 'ehash': {
        const { openEhashEngine } = await import('./engine-ehash.js');
        return openEhashEngine(directory, options.backend ?? 'mapped');
      }
      case 'strata': {
        const { openStrataEngine } = await import('./engine-strata.js');
        return await openStrataEngine(directory, options.backend);
      }
      case 'map': {
        const { openMapEngine } = await import('./engine-map.js');
        return openMapEngine(directory);
      }
      case 'lmdb':
      case 'lmdb-nosync': {
        const { openLmdbEngine } = await import('./engine-lmdb.js');
        return await openLmdbEngine(directory, { noSync: name === 'lmdb-nosync' });
      }
      case 'classic-level': {
        const { openClassicLevelEngine } = await import('./engine-classic-level.js');
        return await openClassicLevelEngine(directory);
      }
    }
  } catch (error) {
    directory.release();
    throw error;
  }
}

/** The directory an engine works in: given (kept) or a fresh temp directory (removed). */
export class EngineDirectory {
  private constructor(
    readonly path: string,
    private readonly owned: boolean,
  ) {}

  static create(engine: string, explicitPath: string | undefined): EngineDirectory {
    try {
      if (explicitPath !== undefined) {
        mkdirSync(explicitPath, { recursive: true });
        return new EngineDirectory(explicitPath, false);
      }
      return new EngineDirectory(mkdtempSync(join(tmpdir(), `strata-ycsb-${engine}-`)), true);
    } catch (error) {
      throw new StrataError('ERR_IO', `cannot create the ${engine} directory: ${String(error)}`, {
        cause: error,
      });
    }
  }

  /** Removes the directory if this process created it. */
  release(): void {
    if (this.owned) rmSync(this.path, { recursive: true, force: true });
  }
}

/** Imports an optional peer dependency, or explains how to install it. */
export async function importPeer<T>(
  engine: string,
  load: () => Promise<T>,
  name: string,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new StrataError(
        'ERR_INVALID_ARGUMENT',
        `the ${engine} engine needs the optional package "${name}"; install it with: npm install ${name}`,
        { cause: error },
      );
    }
    throw new StrataError('ERR_IO', `cannot load the package "${name}": ${String(error)}`, {
      cause: error,
    });
  }
}

export const TWO_POW_32 = 4294967296;
/** 2^53 / 2^32: keys with keyHi below this are exact as one JS number. */
export const KEY_HI_SAFE_LIMIT = 2097152;

/** Writes (hi, lo) big-endian so byte order equals numeric order (ordered engines need it). */
export function writeU64BigEndian(target: Uint8Array, hi: number, lo: number): void {
  target[0] = hi >>> 24;
  target[1] = (hi >>> 16) & 0xff;
  target[2] = (hi >>> 8) & 0xff;
  target[3] = hi & 0xff;
  target[4] = lo >>> 24;
  target[5] = (lo >>> 16) & 0xff;
  target[6] = (lo >>> 8) & 0xff;
  target[7] = lo & 0xff;
}

export function readU64BigEndianHi(source: Uint8Array): number {
  return ((source[0]! << 24) | (source[1]! << 16) | (source[2]! << 8) | source[3]!) >>> 0;
}

export function readU64BigEndianLo(source: Uint8Array): number {
  return ((source[4]! << 24) | (source[5]! << 16) | (source[6]! << 8) | source[7]!) >>> 0;
}
