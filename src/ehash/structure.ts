/**
 * Structural changes of the extendible hash: bucket split, directory doubling, bucket merge and
 * directory halving. Each is ordered so that a crash between any two persists leaves either the
 * old structure, or an intent record that recovery (recovery.ts) redoes to the new one:
 *
 *   split B (depth d) -> B + N (depth d+1)      merge E (empty, depth d) into buddy M
 *   1. write N's slots and state, persist N     1. log intent {merge, E, M, d, pattern}
 *   2. log intent {split, B, N, d, pattern}     2. point E's entries at M, persist
 *   3. mark N used in its page bitmap           3. M.depth = d-1 (one state store), persist
 *   4. point half of B's entries at N, persist  4. mark E free in its page bitmap
 *   5. B.state = kept bits, d+1; persist        5. clear intent
 *   6. clear intent
 *
 * Doubling and halving build the new directory in fresh pages and commit it with one store of the
 * DIR word; the old directory is freed afterwards (a crash in between leaks pages that recovery
 * reclaims by kind and owner).
 *
 * Thread model: every function here requires its caller to hold the bucket lock named in its
 * `Requires:` line. Splits and merges of different buckets run at once: they take DIR_LOCK's read
 * side (they change disjoint directory entries), each logs to its own handle's intent record, and
 * each counts its changes to "buckets at global depth" in its own counter. Doubling and halving
 * take the write side. Lock order: bucket, then DIR_LOCK, then ALLOC_MUTEX, then the image's page
 * mutex; a thread never waits for the write side while holding the read side, and a second bucket
 * is only ever try-locked. Readers never lock: they re-check the DIR word and their directory
 * entry after reading a bucket.
 */

import { PageKind } from '../../nvm/types.js';
import { assert, invariantsEnabled } from '../assert.js';
import { StrataError } from '../errors.js';
import { rwReadLock, rwReadUnlock, rwWriteLock, rwWriteUnlock } from '../sync/rwlock.js';
import { seqMutexLock, seqMutexTryLock, seqMutexUnlock } from '../sync/seq-mutex.js';
import {
  bucketBase,
  clearIntentLocked,
  type HashCore,
  persistBucketState,
  persistHeader,
  writeIntentLocked,
} from './hash-core.js';
import { hashKey } from './key-words.js';
import {
  BUCKET_BYTES,
  BUCKET_HEADER_WORDS,
  DIRECTORY_ENTRIES_PER_PAGE,
  DIRECTORY_PAGE_LIMIT,
  directoryPages,
  dirWordDepth,
  dirWordPage,
  encodeDirWord,
  GLOBAL_DEPTH_MAX,
  H_DIR,
  INITIAL_GLOBAL_DEPTH,
  IntentOp,
  lockWordOf,
  PAGE_BYTES,
  SLOT_WORDS,
  SLOTS_PER_BUCKET,
  stateBitmap,
  stateDepth,
  stateWord,
} from './layout.js';
import {
  AT_GLOBAL_DEPTH,
  COUNTER_AT_GLOBAL_DEPTH,
  COUNTER_STRIDE,
  COUNTERS,
  DERIVED_KNOWN,
  DIR_LOCK,
  HANDLE_SLOT_COUNT,
} from './runtime-layout.js';

/**
 * Splits a full bucket in two, doubling the directory first if the bucket is at global depth.
 * The new bucket is reserved and filled before DIR_LOCK is taken; under its read side, splits of
 * other buckets publish at the same time.
 * Requires: caller holds the lock of `bucketId`, which its directory entry for `hash` names.
 */
export function splitBucketLocked(core: HashCore, bucketId: number, hash: number): void {
  const depth = stateDepth(core.words[bucketBase(bucketId)]!);
  if (depth >= GLOBAL_DEPTH_MAX) {
    throw new StrataError(
      'ERR_NVM_FULL',
      `bucket ${bucketId} cannot split: ${SLOTS_PER_BUCKET + 1} keys share all ${depth} hash bits used`,
    );
  }
  const pattern = hash & ((1 << depth) - 1);
  const newId = core.allocator.reserve();
  let committed = false;
  seqMutexLock(core.bucketLocks, lockWordOf(newId));
  try {
    const kept = fillSplitBucket(core, bucketId, newId, depth);
    readLockWithRoomFor(core, depth);
    try {
      writeIntentLocked(core, {
        op: IntentOp.split,
        bucketA: bucketId,
        bucketB: newId,
        depth,
        pattern,
      });
      core.allocator.commit(newId);
      committed = true;
      pointEntriesLocked(core, pattern | (1 << depth), depth + 1, newId);
      Atomics.store(core.words, bucketBase(bucketId), stateWord(kept, depth + 1));
      persistBucketState(core, bucketId);
      clearIntentLocked(core);
      const globalDepth = dirWordDepth(Atomics.load(core.words, core.dirWordIndex));
      if (depth + 1 === globalDepth) countAtGlobalDepthLocked(core, 2);
    } finally {
      rwReadUnlock(core.runtime, DIR_LOCK);
    }
  } finally {
    seqMutexUnlock(core.bucketLocks, lockWordOf(newId));
    if (!committed) core.allocator.unreserve(newId);
  }
}

/**
 * Takes DIR_LOCK's read side with the directory deeper than `depth`, doubling it first if needed
 * (never waiting for the write side while holding the read side). The new directory's pages are
 * allocated and prefaulted before the write side is taken, so the stop-the-world part of a
 * doubling is only the copy. Only halving shrinks the directory, so the loop ends after at most
 * a few rounds.
 */
function readLockWithRoomFor(core: HashCore, depth: number): void {
  for (let round = 0; round < GLOBAL_DEPTH_MAX * 2; round++) {
    rwReadLock(core.runtime, DIR_LOCK);
    const globalDepth = dirWordDepth(Atomics.load(core.words, core.dirWordIndex));
    if (depth < globalDepth) return;
    rwReadUnlock(core.runtime, DIR_LOCK);
    if (globalDepth >= GLOBAL_DEPTH_MAX) {
      throw new StrataError(
        'ERR_NVM_FULL',
        `the directory reached its limit of 2^${GLOBAL_DEPTH_MAX} entries`,
      );
    }
    const newPage = allocateDirectory(core, globalDepth + 1);
    core.image.prefault(newPage * PAGE_BYTES, directoryPages(globalDepth + 1) * PAGE_BYTES);
    let used = false;
    rwWriteLock(core.runtime, DIR_LOCK);
    try {
      if (dirWordDepth(Atomics.load(core.words, core.dirWordIndex)) === globalDepth) {
        doubleDirectoryLocked(core, newPage);
        used = true;
      }
    } finally {
      rwWriteUnlock(core.runtime, DIR_LOCK);
      if (!used) core.image.freePages(newPage, directoryPages(globalDepth + 1));
    }
  }
  throw new StrataError('ERR_BUSY', 'the directory kept shrinking under a split');
}

/**
 * Adds to this handle's share of "buckets at global depth", if that count is being kept.
 * Requires: DIR_LOCK read side held (the base only changes under the write side).
 */
function countAtGlobalDepthLocked(core: HashCore, delta: number): void {
  if (core.runtime[DERIVED_KNOWN] !== 1) return;
  core.runtime[core.atGlobalDepthCounter]! += delta;
}

/**
 * Copies the slots of `bucketId` whose hash has bit `depth` set into the fresh bucket `newId`,
 * persists it, and returns the bitmap of the slots `bucketId` keeps. Touches only `newId`.
 */
function fillSplitBucket(core: HashCore, bucketId: number, newId: number, depth: number): number {
  const words = core.words;
  const oldBase = bucketBase(bucketId);
  const newBase = bucketBase(newId);
  let kept = stateBitmap(words[oldBase]!);
  let moved = 0;
  let target = 0;
  for (let slot = 0; slot < SLOTS_PER_BUCKET; slot++) {
    if ((kept & (1 << slot)) === 0) continue;
    const from = oldBase + BUCKET_HEADER_WORDS + slot * SLOT_WORDS;
    if (((hashKey(words[from + 1]!, words[from]!) >>> depth) & 1) === 0) continue;
    const to = newBase + BUCKET_HEADER_WORDS + target * SLOT_WORDS;
    words.copyWithin(to, from, from + SLOT_WORDS);
    moved |= 1 << target;
    target++;
    kept &= ~(1 << slot);
  }
  // Word 1 is the new bucket's lock word, which the caller holds: leave it alone.
  words[newBase + 2] = 0;
  words[newBase + 3] = 0;
  words[newBase] = stateWord(moved, depth + 1);
  core.image.persist(newId * BUCKET_BYTES, BUCKET_BYTES);
  return kept;
}

/**
 * Points every directory entry whose low `patternBits` bits equal `pattern` at `bucketId`, then
 * persists the span written. Requires: DIR_LOCK held (either side), and the bucket locks of the
 * buckets whose entries these are.
 */
export function pointEntriesLocked(
  core: HashCore,
  pattern: number,
  patternBits: number,
  bucketId: number,
): void {
  const dirWord = Atomics.load(core.words, core.dirWordIndex);
  const globalDepth = dirWordDepth(dirWord);
  assert(patternBits <= globalDepth, 'a bucket is never deeper than the directory');
  const base = dirWordPage(dirWord) * DIRECTORY_ENTRIES_PER_PAGE;
  const count = 2 ** (globalDepth - patternBits);
  const stride = 2 ** patternBits;
  for (let index = 0; index < count; index++) {
    Atomics.store(core.words, base + pattern + index * stride, bucketId);
  }
  // One persist of the span, or one per entry when the entries are few and far apart: on the
  // emulated backend a persist is a pwrite, and the span of a shallow bucket's entries can cover
  // the whole directory (megabytes) for a handful of changed words.
  const firstByte = (base + pattern) * 4;
  const spanBytes = ((count - 1) * stride + 1) * 4;
  if (count * PERSIST_SPAN_BREAK_EVEN_BYTES < spanBytes) {
    for (let index = 0; index < count; index++)
      core.image.persist(firstByte + index * stride * 4, 4);
  } else {
    core.image.persist(firstByte, spanBytes);
  }
}

/** Bytes a pwrite can carry in about the fixed cost of one more pwrite (~2 µs here). */
const PERSIST_SPAN_BREAK_EVEN_BYTES = 4096;

/**
 * Copies the directory into the run at `newPage` (2^(G+1) entries, allocated by the caller) and
 * commits it. Requires: DIR_LOCK write side.
 */
function doubleDirectoryLocked(core: HashCore, newPage: number): void {
  const dirWord = Atomics.load(core.words, core.dirWordIndex);
  const globalDepth = dirWordDepth(dirWord);
  const oldPage = dirWordPage(dirWord);
  const entries = 2 ** globalDepth;
  const oldBase = oldPage * DIRECTORY_ENTRIES_PER_PAGE;
  const newBase = newPage * DIRECTORY_ENTRIES_PER_PAGE;
  core.words.copyWithin(newBase, oldBase, oldBase + entries);
  core.words.copyWithin(newBase + entries, oldBase, oldBase + entries);
  core.image.persist(newPage * PAGE_BYTES, entries * 2 * 4);
  commitDirectoryLocked(core, newPage, globalDepth + 1);
  core.image.freePages(oldPage, directoryPages(globalDepth));
  resetAtGlobalDepthLocked(core, 0);
}

/** Requires: DIR_LOCK write side (no split or merge is counting). */
function resetAtGlobalDepthLocked(core: HashCore, count: number): void {
  for (let slot = 0; slot < HANDLE_SLOT_COUNT; slot++) {
    core.runtime[COUNTERS + slot * COUNTER_STRIDE + COUNTER_AT_GLOBAL_DEPTH] = 0;
  }
  core.runtime[AT_GLOBAL_DEPTH] = count;
  core.runtime[DERIVED_KNOWN] = 1;
}

/**
 * Merges the empty bucket `emptyId` into its buddy when the buddy has the same local depth and
 * its lock is free at once; otherwise leaves things as they are (a later remove tries again).
 * Then halves the directory while no bucket uses its full depth.
 * Requires: caller holds the lock of `emptyId`, which its directory entry for `hash` names.
 */
export function tryMergeLocked(core: HashCore, emptyId: number, hash: number): void {
  let mergedAtGlobalDepth = false;
  rwReadLock(core.runtime, DIR_LOCK);
  try {
    const state = core.words[bucketBase(emptyId)]!;
    const depth = stateDepth(state);
    if (stateBitmap(state) !== 0 || depth === 0) return;
    const dirWord = Atomics.load(core.words, core.dirWordIndex);
    const base = dirWordPage(dirWord) * DIRECTORY_ENTRIES_PER_PAGE;
    const pattern = hash & ((1 << depth) - 1);
    const buddyId = Atomics.load(core.words, base + (pattern ^ (1 << (depth - 1))));
    assert(buddyId !== emptyId, 'buddies at the same depth are different buckets');
    if (stateDepth(Atomics.load(core.words, bucketBase(buddyId))) !== depth) return;
    if (!seqMutexTryLock(core.bucketLocks, lockWordOf(buddyId))) return;
    try {
      const buddyState = core.words[bucketBase(buddyId)]!;
      if (stateDepth(buddyState) !== depth) return;
      writeIntentLocked(core, {
        op: IntentOp.merge,
        bucketA: emptyId,
        bucketB: buddyId,
        depth,
        pattern,
      });
      pointEntriesLocked(core, pattern, depth, buddyId);
      Atomics.store(core.words, bucketBase(buddyId), stateWord(stateBitmap(buddyState), depth - 1));
      persistBucketState(core, buddyId);
      core.allocator.release(emptyId);
      clearIntentLocked(core);
    } finally {
      seqMutexUnlock(core.bucketLocks, lockWordOf(buddyId));
    }
    if (depth === dirWordDepth(dirWord)) {
      countAtGlobalDepthLocked(core, -2);
      mergedAtGlobalDepth = true;
    }
  } finally {
    rwReadUnlock(core.runtime, DIR_LOCK);
  }
  // Only a merge of two buckets at global depth can make halving possible.
  if (!mergedAtGlobalDepth) return;
  rwWriteLock(core.runtime, DIR_LOCK);
  try {
    halveWhilePossibleLocked(core);
  } finally {
    rwWriteUnlock(core.runtime, DIR_LOCK);
  }
}

/** Requires: DIR_LOCK write side. Halving is an optimisation: out of pages, it simply stops. */
function halveWhilePossibleLocked(core: HashCore): void {
  for (let round = 0; round < GLOBAL_DEPTH_MAX; round++) {
    const dirWord = Atomics.load(core.words, core.dirWordIndex);
    const globalDepth = dirWordDepth(dirWord);
    if (globalDepth <= INITIAL_GLOBAL_DEPTH) return;
    if (countBucketsAtGlobalDepthLocked(core) !== 0) return;
    let newPage: number;
    try {
      newPage = allocateDirectory(core, globalDepth - 1);
    } catch (error) {
      if (error instanceof StrataError && error.code === 'ERR_NVM_FULL') return;
      throw error;
    }
    const oldPage = dirWordPage(dirWord);
    const entries = 2 ** (globalDepth - 1);
    const newBase = newPage * DIRECTORY_ENTRIES_PER_PAGE;
    core.words.copyWithin(
      newBase,
      oldPage * DIRECTORY_ENTRIES_PER_PAGE,
      oldPage * DIRECTORY_ENTRIES_PER_PAGE + entries,
    );
    core.image.persist(newPage * PAGE_BYTES, entries * 4);
    commitDirectoryLocked(core, newPage, globalDepth - 1);
    core.image.freePages(oldPage, directoryPages(globalDepth));
    core.runtime[DERIVED_KNOWN] = 0;
  }
}

/**
 * The number of buckets whose local depth equals the global depth: each has exactly one entry,
 * whose sibling entry (top bit flipped) names another bucket. Kept as a base plus per-handle
 * deltas by split, merge and doubling; computed by one directory pass when unknown.
 * Requires: DIR_LOCK write side.
 */
export function countBucketsAtGlobalDepthLocked(core: HashCore): number {
  if (core.runtime[DERIVED_KNOWN] === 1) {
    let count = core.runtime[AT_GLOBAL_DEPTH]!;
    for (let slot = 0; slot < HANDLE_SLOT_COUNT; slot++) {
      count += core.runtime[COUNTERS + slot * COUNTER_STRIDE + COUNTER_AT_GLOBAL_DEPTH]!;
    }
    if (invariantsEnabled) assert(count === scanAtGlobalDepth(core), 'buckets at global depth');
    return count;
  }
  const count = scanAtGlobalDepth(core);
  resetAtGlobalDepthLocked(core, count);
  return count;
}

function scanAtGlobalDepth(core: HashCore): number {
  const dirWord = Atomics.load(core.words, core.dirWordIndex);
  const globalDepth = dirWordDepth(dirWord);
  if (globalDepth === 0) return 1;
  const base = dirWordPage(dirWord) * DIRECTORY_ENTRIES_PER_PAGE;
  const half = 2 ** (globalDepth - 1);
  let count = 0;
  for (let index = 0; index < half; index++) {
    if (core.words[base + index] !== core.words[base + index + half]) count += 2;
  }
  return count;
}

function allocateDirectory(core: HashCore, globalDepth: number): number {
  const pages = directoryPages(globalDepth);
  const firstPage = core.image.allocPages(pages, PageKind.ehashDirectory, core.headerPage);
  if (firstPage >= DIRECTORY_PAGE_LIMIT) {
    core.image.freePages(firstPage, pages);
    throw new StrataError('ERR_NVM_FULL', 'the directory must start below page 2^27 (512 GiB)');
  }
  return firstPage;
}

function commitDirectoryLocked(core: HashCore, firstPage: number, globalDepth: number): void {
  Atomics.store(core.words, core.dirWordIndex, encodeDirWord(firstPage, globalDepth));
  persistHeader(core, H_DIR, 4);
}
