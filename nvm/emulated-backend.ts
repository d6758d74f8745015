/**
 * The emulated backend: the image lives in a private SharedArrayBuffer and persist() writes the
 * range to the file with pwrite (plus fdatasync for durability 'power'), so only persisted bytes
 * survive a crash. It is the fallback where the addon cannot load, and the backend crash tests
 * use: with `crashAtPersist` (kept in the runtime buffer, so every thread counts together) the
 * chosen persist writes nothing, or a seeded subset of its 8-byte words, and every later one is
 * dropped; each of them throws ERR_CRASH_INJECTED.
 *
 * Thread model: every attached thread writes through the same fd number (fds are per process).
 * The runtime's CLOSED word is checked before each write, so a thread does not write to an fd the
 * owner has closed (and the OS may have reused); the owner closes only after attached threads
 * stopped, which callers ensure.
 */
import { fdatasyncSync, readSync, writeSync } from 'node:fs';
import { assert } from '../src/assert.js';
import { StrataError } from '../src/errors.js';
import type { ImageBackend } from './backend.js';
import { type ImageGeometry, PAGE_SIZE_BYTES } from './layout.js';
import {
  RT_CLOSED,
  RT_CRASH_AT,
  RT_CRASHED,
  RT_TEAR_ENABLED,
  RT_TEAR_SEED,
} from './runtime-layout.js';
import type { NvmDurability } from './types.js';

const READ_CHUNK_BYTES = 64 << 20;

/** Where durable writes go, and the runtime words that say whether to crash. */
export interface DurableFile {
  readonly path: string;
  readonly fd: number;
  readonly syncData: boolean;
  readonly runtimeWords: Int32Array;
}

export class EmulatedBackend implements ImageBackend {
  readonly kind = 'emulated' as const;
  readonly persistWrites = true;
  private readonly file: DurableFile;

  constructor(
    private readonly bytes: Uint8Array,
    target: {
      readonly path: string;
      readonly fd: number;
      readonly durability: NvmDurability;
      readonly runtimeWords: Int32Array;
    },
  ) {
    this.file = {
      path: target.path,
      fd: target.fd,
      syncData: target.durability === 'power',
      runtimeWords: target.runtimeWords,
    };
  }

  /** Private memory: nothing to prefault that the first store would not do as cheaply. */
  prefault(_offsetBytes: number, _lengthBytes: number): void {}

  persist(offsetBytes: number, lengthBytes: number, persistNumber: number): void {
    if (Atomics.load(this.file.runtimeWords, RT_CLOSED) !== 0) {
      throw new StrataError('ERR_CLOSED', `NVM image ${this.file.path} is closed`);
    }
    writeDurably(this.file, persistNumber, {
      source: this.bytes,
      sourceOffset: offsetBytes,
      length: lengthBytes,
      position: offsetBytes,
    });
  }
}

/**
 * Writes `length` bytes of `source` at file `position` as persist number `persistNumber`, or
 * simulates a crash there (see the file comment). Used by persist and by image creation.
 */
export function writeDurably(
  file: DurableFile,
  persistNumber: number,
  range: {
    readonly source: Uint8Array;
    readonly sourceOffset: number;
    readonly length: number;
    readonly position: number;
  },
): void {
  const words = file.runtimeWords;
  const crashAt = Atomics.load(words, RT_CRASH_AT);
  if (Atomics.load(words, RT_CRASHED) !== 0 || (crashAt !== 0 && persistNumber >= crashAt)) {
    const first = Atomics.exchange(words, RT_CRASHED, 1) === 0;
    if (first && persistNumber === crashAt && Atomics.load(words, RT_TEAR_ENABLED) !== 0) {
      writeTorn(file, range, Atomics.load(words, RT_TEAR_SEED) ^ persistNumber);
    }
    throw new StrataError(
      'ERR_CRASH_INJECTED',
      `simulated crash at persist ${persistNumber} of ${file.path} (crashAtPersist ${crashAt})`,
    );
  }
  writeFully(file, range);
  if (file.syncData) {
    try {
      fdatasyncSync(file.fd);
    } catch (error) {
      throw new StrataError('ERR_IO', `fdatasync of ${file.path} failed`, { cause: error });
    }
  }
}

/**
 * Fills the image buffer from the file: the superblock, the descriptors of pages below the
 * high-water mark and the data pages below it. The rest of the buffer stays zero, as the file is.
 */
export function readUsedRange(
  file: { readonly path: string; readonly fd: number },
  bytes: Uint8Array,
  layout: { readonly geometry: ImageGeometry; readonly pagesHighWater: number },
): void {
  const { geometry, pagesHighWater } = layout;
  const descriptorBytes = Math.ceil((pagesHighWater * 16) / PAGE_SIZE_BYTES) * PAGE_SIZE_BYTES;
  readRange(file, bytes, 0, PAGE_SIZE_BYTES);
  readRange(file, bytes, geometry.pageTableOffsetBytes, descriptorBytes);
  const dataStart = geometry.dataFirstPage * PAGE_SIZE_BYTES;
  readRange(file, bytes, dataStart, pagesHighWater * PAGE_SIZE_BYTES - dataStart);
}

function readRange(
  file: { readonly path: string; readonly fd: number },
  bytes: Uint8Array,
  start: number,
  length: number,
): void {
  assert(start + length <= bytes.length);
  let done = 0;
  for (let iteration = 0; done < length; iteration++) {
    assert(iteration <= length / READ_CHUNK_BYTES + 16, 'reads make progress');
    let count: number;
    try {
      count = readSync(
        file.fd,
        bytes,
        start + done,
        Math.min(READ_CHUNK_BYTES, length - done),
        start + done,
      );
    } catch (error) {
      throw new StrataError('ERR_IO', `reading ${file.path} at byte ${start + done} failed`, {
        cause: error,
      });
    }
    if (count === 0) {
      throw new StrataError(
        'ERR_NVM_TRUNCATED',
        `${file.path} ended at byte ${start + done} while reading`,
      );
    }
    done += count;
  }
}

function writeFully(
  file: DurableFile,
  range: {
    readonly source: Uint8Array;
    readonly sourceOffset: number;
    readonly length: number;
    readonly position: number;
  },
): void {
  let done = 0;
  for (let iteration = 0; done < range.length; iteration++) {
    assert(iteration <= range.length, 'writes make progress');
    try {
      done += writeSync(
        file.fd,
        range.source,
        range.sourceOffset + done,
        range.length - done,
        range.position + done,
      );
    } catch (error) {
      throw new StrataError(
        'ERR_IO',
        `writing ${file.path} bytes [${range.position}, ${range.position + range.length}) failed`,
        { cause: error },
      );
    }
  }
}

/** Writes a seeded-random subset of the 8-byte aligned words that overlap the range. */
function writeTorn(
  file: DurableFile,
  range: {
    readonly source: Uint8Array;
    readonly sourceOffset: number;
    readonly length: number;
    readonly position: number;
  },
  seed: number,
): void {
  const random = mulberry32(seed);
  const end = range.position + range.length;
  for (let word = range.position - (range.position % 8); word < end; word += 8) {
    const start = Math.max(word, range.position);
    const stop = Math.min(word + 8, end);
    if (random() < 0.5) continue;
    writeFully(file, {
      source: range.source,
      sourceOffset: range.sourceOffset + (start - range.position),
      length: stop - start,
      position: start,
    });
  }
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}
