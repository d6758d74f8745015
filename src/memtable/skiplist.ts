/**
 * The ordered index: a skiplist whose nodes are the arena records themselves, ordered by user key
 * ascending, then seq descending (the internal-key order of src/sst/internal-key.ts). The head is a
 * pseudo-record in the header page (layout.ts, H_HEAD_NODE) that is never compared.
 *
 * Thread model: one writer (holding the memtable's write mutex) links and unlinks nodes; any
 * number of threads read without a lock. A node's own fields and forward pointers are written
 * with plain stores before the node is published with an `Atomics.store` into its predecessor,
 * and readers load forward pointers with `Atomics.load`, so a reader that reaches a node sees it
 * whole. Level 0 is linked first: a node is in the list once it is in level 0.
 */
import { assert } from '../assert.js';
import { compareBytes, type Seq } from '../sst/internal-key.js';
import {
  HEIGHT_MAX,
  nextWord,
  R_KEY_LENGTH,
  R_KIND_HEIGHT,
  R_NEXT,
  R_SEQ_HIGH,
  R_SEQ_LOW,
} from './layout.js';

/** Bound on nodes passed per level: every node visited is a distinct record of a ≤ 4 GiB image. */
const STEPS_MAX = 2 ** 29;

export interface SkiplistView {
  readonly words: Uint32Array;
  readonly bytes: Uint8Array;
  readonly head: number;
}

export function nodeHeight(words: Uint32Array, node: number): number {
  return (words[(node >>> 2) + R_KIND_HEIGHT]! >>> 8) & 0xff;
}

export function nodeKind(words: Uint32Array, node: number): number {
  return words[(node >>> 2) + R_KIND_HEIGHT]! & 0xff;
}

export function nodeSeq(words: Uint32Array, node: number): Seq {
  const base = node >>> 2;
  return words[base + R_SEQ_HIGH]! * 2 ** 32 + words[base + R_SEQ_LOW]!;
}

export function nodeKeyStart(words: Uint32Array, node: number): number {
  return node + 4 * (R_NEXT + nodeHeight(words, node));
}

export function nodeKeyLength(words: Uint32Array, node: number): number {
  return words[(node >>> 2) + R_KEY_LENGTH]!;
}

/** A user key and seq to compare nodes with: `key[start, end)` at `seq`. */
export interface SkiplistTarget {
  bytes: Uint8Array;
  start: number;
  end: number;
  seq: Seq;
}

/** Negative when `node` sorts before the target: smaller user key, or equal key and newer seq. */
export function compareNode(view: SkiplistView, node: number, target: SkiplistTarget): number {
  const keyStart = nodeKeyStart(view.words, node);
  const keyEnd = keyStart + nodeKeyLength(view.words, node);
  const byKey = compareBytes(view.bytes, keyStart, keyEnd, target.bytes, target.start, target.end);
  if (byKey !== 0) return byKey;
  const seq = nodeSeq(view.words, node);
  if (seq === target.seq) return 0;
  return seq > target.seq ? -1 : 1;
}

/** Fills preds[level] with the last node at that level that sorts before the target. */
export function findPredecessors(
  view: SkiplistView,
  target: SkiplistTarget,
  preds: Uint32Array,
): void {
  let node = view.head;
  for (let level = HEIGHT_MAX - 1; level >= 0; level--) {
    node = advanceWhileBefore(view, node, level, target);
    preds[level] = node;
  }
}

/** The first node that does not sort before the target, or 0. */
export function seekGreaterOrEqual(view: SkiplistView, target: SkiplistTarget): number {
  let node = view.head;
  for (let level = HEIGHT_MAX - 1; level >= 0; level--) {
    node = advanceWhileBefore(view, node, level, target);
  }
  return Atomics.load(view.words, nextWord(node, 0));
}

/** The last node that sorts before the target, or 0 when there is none. */
export function seekLessThan(view: SkiplistView, target: SkiplistTarget): number {
  let node = view.head;
  for (let level = HEIGHT_MAX - 1; level >= 0; level--) {
    node = advanceWhileBefore(view, node, level, target);
  }
  return node === view.head ? 0 : node;
}

/** The last node of the list, or 0 when it is empty. */
export function seekLast(view: SkiplistView): number {
  let node = view.head;
  for (let level = HEIGHT_MAX - 1; level >= 0; level--) {
    for (let step = 0; step < STEPS_MAX; step++) {
      const next = Atomics.load(view.words, nextWord(node, level));
      if (next === 0) break;
      node = next;
    }
  }
  return node === view.head ? 0 : node;
}

/**
 * Points the forward pointers of `node` at its successors; the caller persists them before
 * `publishNodeLocked`. Requires: caller holds the write mutex; preds from `findPredecessors`.
 */
export function prepareNodeLocked(view: SkiplistView, node: number, preds: Uint32Array): void {
  const words = view.words;
  const height = nodeHeight(words, node);
  assert(height >= 1, 'node height below 1');
  assert(height <= HEIGHT_MAX, 'node height above the maximum');
  for (let level = 0; level < height; level++) {
    words[nextWord(node, level)] = Atomics.load(words, nextWord(preds[level]!, level));
  }
}

/**
 * Links `node` into each level's predecessor, level 0 first (the link point), each store
 * persisted before the next. Requires: caller holds the write mutex; `prepareNodeLocked` ran and
 * no node with the same key and seq is linked.
 */
export function publishNodeLocked(
  view: SkiplistView,
  node: number,
  preds: Uint32Array,
  persistWord: (wordIndex: number) => void,
): void {
  const height = nodeHeight(view.words, node);
  for (let level = 0; level < height; level++) {
    const predWord = nextWord(preds[level]!, level);
    Atomics.store(view.words, predWord, node);
    persistWord(predWord);
  }
}

/**
 * Removes `node` from every level it is linked in, top level first so that it stays reachable
 * at level 0 until last. Idempotent: a level that does not hold the node is left alone.
 * Requires: caller holds the write mutex (or is recovering, with no readers).
 */
export function unlinkNodeLocked(
  view: SkiplistView,
  node: number,
  target: SkiplistTarget,
  persistWord: (wordIndex: number) => void,
): void {
  const words = view.words;
  const preds = new Uint32Array(HEIGHT_MAX);
  findPredecessors(view, target, preds);
  for (let level = nodeHeight(words, node) - 1; level >= 0; level--) {
    const predWord = nextWord(preds[level]!, level);
    if (Atomics.load(words, predWord) !== node) continue;
    Atomics.store(words, predWord, words[nextWord(node, level)]!);
    persistWord(predWord);
  }
}

function advanceWhileBefore(
  view: SkiplistView,
  from: number,
  level: number,
  target: SkiplistTarget,
): number {
  let node = from;
  for (let step = 0; step < STEPS_MAX; step++) {
    const next = Atomics.load(view.words, nextWord(node, level));
    if (next === 0 || compareNode(view, next, target) >= 0) return node;
    node = next;
  }
  assert(false, 'skiplist level longer than the image could hold');
}
