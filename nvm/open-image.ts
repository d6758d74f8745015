/**
 * Opening an image file (with creation and recovery) and attaching to an open one. Both produce
 * the `ImageParts` that NvmImage wraps. Recovery is a page-table scan: allocation and free commit
 * through one 8-byte store each (FORMAT.md, "Commit points"), so the scan only rebuilds the
 * volatile free map and needs no undo log.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { StrataError } from '../src/errors.js';
import type { ImageBackend } from './backend.js';
import { EmulatedBackend, readUsedRange } from './emulated-backend.js';
import { createImageFile, removeStaleTempFiles } from './image-file.js';
import {
  computeGeometry,
  type ImageGeometry,
  PAGE_SIZE_BYTES,
  SB_CLEAN_SHUTDOWN,
  SB_DYNAMIC_END,
  SB_OPEN_GENERATION,
  SB_PAGES_HIGH_WATER,
} from './layout.js';
import { MappedBackend, requireNativeAddon } from './mapped-backend.js';
import { loadNativeAddon } from './native-addon.js';
import { type ResolvedOpenOptions, resolveOpenOptions } from './open-options.js';
import { scanPageTable } from './page-table.js';
import {
  createRuntime,
  nextPersistNumber,
  RT_CLOSED,
  RT_CONTROL_WORDS,
  RT_CRASH_AT,
  RT_FREE_HINT_WORD,
  RT_MAGIC,
  RT_PAGES_ALLOCATED,
  RT_TEAR_ENABLED,
  RT_TEAR_SEED,
  RT_WAS_CLEAN_SHUTDOWN,
  RUNTIME_MAGIC,
  runtimeSizeBytes,
  runtimeViews,
} from './runtime-layout.js';
import { decodeSuperblock, type SuperblockState } from './superblock.js';
import type { NvmBackendKind, NvmDurability, NvmHandle, NvmOpenOptions } from './types.js';

/** Everything an NvmImage is built from. `owner` is false for attached images. */
export interface ImageParts {
  readonly path: string;
  readonly backendKind: NvmBackendKind;
  readonly durability: NvmDurability;
  readonly fd: number;
  readonly buffer: SharedArrayBuffer;
  readonly runtime: SharedArrayBuffer;
  readonly geometry: ImageGeometry;
  readonly backend: ImageBackend;
  readonly owner: boolean;
  readonly wasCleanShutdown: boolean;
}

export function openImageParts(path: string, options: NvmOpenOptions): ImageParts {
  const settings = resolveOpenOptions(path, options);
  removeStaleTempFiles(path);
  let runtime: SharedArrayBuffer | undefined;
  if (!existsSync(path)) {
    if (!settings.create) {
      throw new StrataError(
        'ERR_INVALID_ARGUMENT',
        `NVM image ${path} does not exist and create is false`,
      );
    }
    const geometry = computeGeometry(settings.sizeMaxBytes);
    runtime = armedRuntime(geometry, settings);
    createImageFile(path, {
      geometry,
      syncData: settings.durability === 'power',
      runtimeWords: runtimeViews(runtime, geometry).words,
    });
  }
  const fd = openFile(path);
  try {
    lockFile(fd, path);
    const state = readSuperblock(fd, path);
    const { geometry } = state;
    if (runtime === undefined || runtime.byteLength !== runtimeSizeBytes(geometry)) {
      runtime = armedRuntime(geometry, settings);
    }
    const buffer =
      settings.backend === 'mapped' ? mapFile(path, geometry) : loadFile(fd, path, state);
    const parts = assemble({
      path,
      settings,
      fd,
      buffer,
      runtime,
      geometry,
      wasClean: state.cleanShutdown,
    });
    recover(parts, state);
    return parts;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

export function attachImageParts(handle: NvmHandle): ImageParts {
  checkHandleShape(handle);
  const { path, buffer, runtime } = handle;
  const control = new Int32Array(runtime, 0, RT_CONTROL_WORDS);
  if (control[RT_MAGIC] !== RUNTIME_MAGIC) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `handle for ${path} carries no NVM runtime buffer`,
    );
  }
  if (Atomics.load(control, RT_CLOSED) !== 0) {
    throw new StrataError('ERR_CLOSED', `NVM image ${path} was closed by its owner`);
  }
  const state = decodeSuperblock(new Uint8Array(buffer, 0, PAGE_SIZE_BYTES), {
    path,
    fileSizeBytes: buffer.byteLength,
  });
  const { geometry } = state;
  if (
    buffer.byteLength !== geometry.sizeMaxBytes ||
    runtime.byteLength !== runtimeSizeBytes(geometry)
  ) {
    throw new StrataError(
      'ERR_INVALID_ARGUMENT',
      `handle for ${path} has buffers of the wrong size`,
    );
  }
  const backend: ImageBackend =
    handle.backend === 'mapped'
      ? new MappedBackend(buffer, { path, durability: handle.durability })
      : new EmulatedBackend(new Uint8Array(buffer), {
          path,
          fd: handle.fd,
          durability: handle.durability,
          runtimeWords: runtimeViews(runtime, geometry).words,
        });
  return {
    path,
    backendKind: handle.backend,
    durability: handle.durability,
    fd: handle.fd,
    buffer,
    runtime,
    geometry,
    backend,
    owner: false,
    wasCleanShutdown: Atomics.load(control, RT_WAS_CLEAN_SHUTDOWN) === 1,
  };
}

function assemble(pieces: {
  readonly path: string;
  readonly settings: ResolvedOpenOptions;
  readonly fd: number;
  readonly buffer: SharedArrayBuffer;
  readonly runtime: SharedArrayBuffer;
  readonly geometry: ImageGeometry;
  readonly wasClean: boolean;
}): ImageParts {
  const { path, settings, fd, buffer, runtime, geometry } = pieces;
  const { durability } = settings;
  const backend: ImageBackend =
    settings.backend === 'mapped'
      ? new MappedBackend(buffer, { path, durability })
      : new EmulatedBackend(new Uint8Array(buffer), {
          path,
          fd,
          durability,
          runtimeWords: runtimeViews(runtime, geometry).words,
        });
  return {
    path,
    backendKind: settings.backend,
    durability,
    fd,
    buffer,
    runtime,
    geometry,
    backend,
    owner: true,
    wasCleanShutdown: pieces.wasClean,
  };
}

/**
 * Rebuilds the free map, then marks the image open (clean-shutdown 0, generation + 1) with one
 * persist. Requires: no other thread has the image yet.
 */
function recover(parts: ImageParts, state: SuperblockState): void {
  const words = new Uint32Array(parts.buffer);
  const words64 = new BigUint64Array(parts.buffer);
  const runtime = runtimeViews(parts.runtime, parts.geometry);
  const scan = scanPageTable({ words, words64 }, parts.geometry, {
    path: parts.path,
    pagesHighWater: state.pagesHighWater,
    freeMap: runtime.freeMap,
  });
  Atomics.store(runtime.words, RT_PAGES_ALLOCATED, scan.pagesAllocated);
  Atomics.store(runtime.words, RT_FREE_HINT_WORD, parts.geometry.dataFirstPage >>> 5);
  Atomics.store(runtime.words, RT_WAS_CLEAN_SHUTDOWN, state.cleanShutdown ? 1 : 0);
  Atomics.store(words, SB_CLEAN_SHUTDOWN / 4, 0);
  Atomics.store(words64, SB_OPEN_GENERATION / 8, state.openGeneration + 1n);
  const persistNumber = nextPersistNumber(runtime.words);
  if (parts.backend.persistWrites) {
    parts.backend.persist(SB_PAGES_HIGH_WATER, SB_DYNAMIC_END - SB_PAGES_HIGH_WATER, persistNumber);
  }
}

function armedRuntime(geometry: ImageGeometry, settings: ResolvedOpenOptions): SharedArrayBuffer {
  const runtime = createRuntime(geometry);
  const words = runtimeViews(runtime, geometry).words;
  if (settings.crashAtPersist !== undefined)
    Atomics.store(words, RT_CRASH_AT, settings.crashAtPersist);
  if (settings.tearSeed !== undefined) {
    Atomics.store(words, RT_TEAR_ENABLED, 1);
    Atomics.store(words, RT_TEAR_SEED, settings.tearSeed);
  }
  return runtime;
}

function openFile(path: string): number {
  try {
    return openSync(path, 'r+');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const errorCode = code === 'ENOENT' || code === 'EISDIR' ? 'ERR_INVALID_ARGUMENT' : 'ERR_IO';
    throw new StrataError(
      errorCode,
      `opening NVM image ${path} failed: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/** Takes the advisory lock when the addon is there; without it the image is unguarded. */
function lockFile(fd: number, path: string): void {
  const load = loadNativeAddon();
  if (!load.ok) return;
  let locked: boolean;
  try {
    locked = load.addon.lock(fd);
  } catch (error) {
    throw new StrataError('ERR_IO', `locking NVM image ${path} failed`, { cause: error });
  }
  if (!locked) {
    throw new StrataError(
      'ERR_LOCKED',
      `NVM image ${path} is open in another process (or elsewhere in this one)`,
    );
  }
}

function readSuperblock(fd: number, path: string): SuperblockState {
  const page = new Uint8Array(PAGE_SIZE_BYTES);
  let length: number;
  let fileSizeBytes: number;
  try {
    length = readSync(fd, page, 0, PAGE_SIZE_BYTES, 0);
    fileSizeBytes = fstatSync(fd).size;
  } catch (error) {
    throw new StrataError('ERR_IO', `reading the superblock of ${path} failed`, { cause: error });
  }
  return decodeSuperblock(page.subarray(0, length), { path, fileSizeBytes });
}

/**
 * Maps the image through a second, short-lived fd. The mapping keeps its open file description
 * alive until the buffer is collected; were that the locked one, the flock would outlive close().
 */
function mapFile(path: string, geometry: ImageGeometry): SharedArrayBuffer {
  const addon = requireNativeAddon(path);
  const mapFd = openFile(path);
  try {
    return addon.map(mapFd, geometry.sizeMaxBytes);
  } catch (error) {
    throw new StrataError('ERR_IO', `mapping NVM image ${path} failed`, { cause: error });
  } finally {
    closeSync(mapFd);
  }
}

function loadFile(fd: number, path: string, state: SuperblockState): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(state.geometry.sizeMaxBytes);
  readUsedRange({ path, fd }, new Uint8Array(buffer), {
    geometry: state.geometry,
    pagesHighWater: state.pagesHighWater,
  });
  return buffer;
}

function checkHandleShape(handle: NvmHandle): void {
  const ok =
    typeof handle === 'object' &&
    handle !== null &&
    typeof handle.path === 'string' &&
    (handle.backend === 'mapped' || handle.backend === 'emulated') &&
    (handle.durability === 'process' || handle.durability === 'power') &&
    Number.isInteger(handle.fd) &&
    handle.buffer instanceof SharedArrayBuffer &&
    handle.runtime instanceof SharedArrayBuffer &&
    handle.runtime.byteLength >= RT_CONTROL_WORDS * 4;
  if (!ok)
    throw new StrataError('ERR_INVALID_ARGUMENT', 'not an NVM handle (from NvmImage.handle())');
}
