/**
 * The views one thread holds on one table: the image's words, the header's position, the lock
 * words and the volatile runtime words. Structural code (structure.ts, recovery.ts) takes this
 * instead of the public class so that it has no access to the per-handle state.
 */

import type { NvmImageApi } from '../../nvm/types.js';
import { assert } from '../assert.js';
import type { BucketAllocator } from './bucket-allocator.js';
import {
  BUCKET_BYTES,
  BUCKET_WORDS,
  H_INTENTS,
  INTENT_A,
  INTENT_B,
  INTENT_BYTES,
  INTENT_DEPTH,
  INTENT_FIELDS_BYTES,
  INTENT_OP,
  INTENT_PATTERN,
  INTENT_SLOTS,
  IntentOp,
  PAGE_BYTES,
} from './layout.js';

export interface HashCore {
  readonly image: NvmImageApi;
  readonly words: Uint32Array;
  /** Int32 view of the image: word `bucketId * 64 + 1` is a bucket's seq-mutex. */
  readonly bucketLocks: Int32Array;
  readonly runtime: Int32Array;
  readonly allocator: BucketAllocator;
  /** The header page; also the owner id of every page of this table. */
  readonly headerPage: number;
  /** Word index of the header's first word in `words`. */
  readonly headerWord: number;
  /** Word index of the DIR commit word. */
  readonly dirWordIndex: number;
  /** This handle's intent record (its handle slot). */
  readonly intentSlot: number;
  /** Runtime word of this handle's count of buckets at global depth (runtime-layout.ts). */
  readonly atGlobalDepthCounter: number;
}

export function headerWordIndex(core: HashCore, byteOffset: number): number {
  return core.headerWord + byteOffset / 4;
}

export function persistHeader(core: HashCore, byteOffset: number, lengthBytes: number): void {
  core.image.persist(core.headerPage * PAGE_BYTES + byteOffset, lengthBytes);
}

export function persistBucketState(core: HashCore, bucketId: number): void {
  core.image.persist(bucketId * BUCKET_BYTES, 4);
}

export function bucketBase(bucketId: number): number {
  return bucketId * BUCKET_WORDS;
}

export type IntentOpValue = (typeof IntentOp)[keyof typeof IntentOp];

export interface Intent {
  readonly op: IntentOpValue;
  readonly bucketA: number;
  readonly bucketB: number;
  readonly depth: number;
  readonly pattern: number;
}

function intentOffset(slot: number): number {
  assert(slot >= 0 && slot < INTENT_SLOTS, `intent slot ${slot} out of range`);
  return H_INTENTS + slot * INTENT_BYTES;
}

/**
 * Logs a structural change in this handle's intent record before it touches shared structure:
 * fields first, persisted, then the op word as the commit point.
 * Requires: caller holds the directory lock (read side) and this handle has no intent in flight.
 */
export function writeIntentLocked(core: HashCore, intent: Intent): void {
  const words = core.words;
  const offset = intentOffset(core.intentSlot);
  assert(
    words[headerWordIndex(core, offset + INTENT_OP)] === IntentOp.none,
    'one intent per handle',
  );
  words[headerWordIndex(core, offset + INTENT_A)] = intent.bucketA;
  words[headerWordIndex(core, offset + INTENT_B)] = intent.bucketB;
  words[headerWordIndex(core, offset + INTENT_DEPTH)] = intent.depth;
  words[headerWordIndex(core, offset + INTENT_PATTERN)] = intent.pattern;
  persistHeader(core, offset + INTENT_A, INTENT_FIELDS_BYTES - 4);
  Atomics.store(words, headerWordIndex(core, offset + INTENT_OP), intent.op);
  persistHeader(core, offset + INTENT_OP, 4);
}

export function clearIntentLocked(core: HashCore, slot: number = core.intentSlot): void {
  const offset = intentOffset(slot);
  Atomics.store(core.words, headerWordIndex(core, offset + INTENT_OP), IntentOp.none);
  persistHeader(core, offset + INTENT_OP, 4);
}

export function readIntent(core: HashCore, slot: number): Intent {
  const words = core.words;
  const offset = intentOffset(slot);
  return {
    op: words[headerWordIndex(core, offset + INTENT_OP)]! as IntentOpValue,
    bucketA: words[headerWordIndex(core, offset + INTENT_A)]!,
    bucketB: words[headerWordIndex(core, offset + INTENT_B)]!,
    depth: words[headerWordIndex(core, offset + INTENT_DEPTH)]!,
    pattern: words[headerWordIndex(core, offset + INTENT_PATTERN)]!,
  };
}
