/**
 * The runtime SharedArrayBuffer: volatile state of one open image, shared by every thread that
 * attached it and zeroed on each open (it is never written to the file). Int32 word offsets.
 *
 *   words 0..15          control words (below)
 *   words 16..16+B       free map: one bit per page, 1 = free (B = ceil(pageCountMax / 32))
 *   aligned to 64 bytes  lock words: one Int32 per 256-byte unit of the image
 */
import { assert } from '../src/assert.js';
import { type ImageGeometry, LOCK_UNIT_BYTES } from './layout.js';

/** Allocator mutex (src/sync/mutex.ts): 0 free, 1 held, 2 held with waiters. Every allocating thread. */
export const RT_ALLOC_MUTEX = 0;
/** Persist counter, low and high halves; every thread adds with Atomics.add on persist. */
export const RT_PERSIST_COUNT_LOW = 1;
export const RT_PERSIST_COUNT_HIGH = 2;
/** Emulated crash injection: the 1-based persist number that crashes; 0 = never. Set at open. */
export const RT_CRASH_AT = 3;
/** 1 once the injected crash happened; every later persist throws. Written by the crashing thread. */
export const RT_CRASHED = 4;
/** 1 when the crashing persist writes a seeded subset of its 8-byte words. Set at open. */
export const RT_TEAR_ENABLED = 5;
export const RT_TEAR_SEED = 6;
/** 1 after the owner closed the image; attached images refuse work from then on. */
export const RT_CLOSED = 7;
/** Data pages in allocated runs. Written under the allocator mutex. */
export const RT_PAGES_ALLOCATED = 8;
/** Lowest free-map word that may hold a free bit. Written under the allocator mutex. */
export const RT_FREE_HINT_WORD = 9;
/** Whether the previous opener shut down cleanly (1) or not (0). Set at open, read by attach. */
export const RT_WAS_CLEAN_SHUTDOWN = 10;
/** RUNTIME_MAGIC, so attach can reject a buffer that is not a runtime. Set at open. */
export const RT_MAGIC = 11;
export const RT_CONTROL_WORDS = 16;
export const RUNTIME_MAGIC = 0x4e565254; // 'TRVN'

export interface RuntimeViews {
  readonly words: Int32Array;
  readonly freeMap: Int32Array;
  readonly lockWords: Int32Array;
}

export function runtimeSizeBytes(geometry: ImageGeometry): number {
  return lockWordsOffsetBytes(geometry) + (geometry.sizeMaxBytes / LOCK_UNIT_BYTES) * 4;
}

export function createRuntime(geometry: ImageGeometry): SharedArrayBuffer {
  const runtime = new SharedArrayBuffer(runtimeSizeBytes(geometry));
  const words = new Int32Array(runtime, 0, RT_CONTROL_WORDS);
  words[RT_MAGIC] = RUNTIME_MAGIC;
  return runtime;
}

export function runtimeViews(runtime: SharedArrayBuffer, geometry: ImageGeometry): RuntimeViews {
  assert(runtime.byteLength === runtimeSizeBytes(geometry), 'runtime buffer matches the image');
  const freeMapWordCount = Math.ceil(geometry.pageCountMax / 32);
  return {
    words: new Int32Array(runtime, 0, RT_CONTROL_WORDS),
    freeMap: new Int32Array(runtime, RT_CONTROL_WORDS * 4, freeMapWordCount),
    lockWords: new Int32Array(
      runtime,
      lockWordsOffsetBytes(geometry),
      geometry.sizeMaxBytes / LOCK_UNIT_BYTES,
    ),
  };
}

function lockWordsOffsetBytes(geometry: ImageGeometry): number {
  const freeMapEndBytes = (RT_CONTROL_WORDS + Math.ceil(geometry.pageCountMax / 32)) * 4;
  return Math.ceil(freeMapEndBytes / 64) * 64;
}

/** Counts one persist and returns its 1-based number (modulo 2^32). Any thread. */
export function nextPersistNumber(words: Int32Array): number {
  const low = Atomics.add(words, RT_PERSIST_COUNT_LOW, 1);
  if (low === -1) Atomics.add(words, RT_PERSIST_COUNT_HIGH, 1);
  return (low + 1) >>> 0;
}

/** Persists counted so far. A read racing a carry may be 2^32 short, which stats tolerate. */
export function persistCount(words: Int32Array): number {
  const high = Atomics.load(words, RT_PERSIST_COUNT_HIGH) >>> 0;
  const low = Atomics.load(words, RT_PERSIST_COUNT_LOW) >>> 0;
  return high * 2 ** 32 + low;
}
