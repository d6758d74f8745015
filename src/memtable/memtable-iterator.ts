/**
 * An iterator over every version in a memtable that a snapshot may see: entries ordered by user
 * key ascending, then seq descending. Shadowed versions are included (the engine's merging
 * iterator hides them). The visibility limit is fixed when the iterator is made, so batches
 * committed later stay invisible to it.
 *
 * Thread model: any thread with an open or attached memtable may iterate while one writer links
 * new records; the iterator takes no lock (skiplist.ts explains why it never sees a torn node).
 * An iterator is not itself shared between threads.
 */
import { assert } from '../assert.js';
import { compareBytes, type Seq } from '../sst/internal-key.js';
import { nextWord, R_VALUE_LENGTH } from './layout.js';
import {
  nodeKeyLength,
  nodeKeyStart,
  nodeKind,
  nodeSeq,
  type SkiplistTarget,
  type SkiplistView,
  seekGreaterOrEqual,
  seekLast,
  seekLessThan,
} from './skiplist.js';

/** Bound on invisible nodes skipped in one move: distinct records of a ≤ 4 GiB image. */
const SKIP_MAX = 2 ** 29;

export class MemtableIterator {
  private readonly view: SkiplistView;
  /** Entries with a seq above this are invisible. */
  readonly limitSeq: Seq;
  private node = 0;

  constructor(view: SkiplistView, limitSeq: Seq) {
    this.view = view;
    this.limitSeq = limitSeq;
  }

  valid(): boolean {
    return this.node !== 0;
  }

  seekFirst(): void {
    this.node = Atomics.load(this.view.words, nextWord(this.view.head, 0));
    this.skipForward();
  }

  seekLast(): void {
    this.node = seekLast(this.view);
    this.skipBackward();
  }

  /** Lands on the newest visible version of the first user key at or after `userKey`. */
  seek(userKey: Uint8Array): void {
    const target = { bytes: userKey, start: 0, end: userKey.length, seq: this.limitSeq };
    this.node = seekGreaterOrEqual(this.view, target);
    this.skipForward();
  }

  /** Requires: valid(). */
  next(): void {
    assert(this.node !== 0, 'next() on an invalid memtable iterator');
    this.node = Atomics.load(this.view.words, nextWord(this.node, 0));
    this.skipForward();
  }

  /** Requires: valid(). */
  prev(): void {
    assert(this.node !== 0, 'prev() on an invalid memtable iterator');
    this.node = seekLessThan(this.view, this.targetOf(this.node));
    this.skipBackward();
  }

  /** A copy of the current user key. Requires: valid(). */
  key(): Uint8Array {
    return this.keyView().slice();
  }

  /** Requires: valid(). */
  seq(): Seq {
    return nodeSeq(this.view.words, this.currentNode());
  }

  /** KIND_VALUE or KIND_DELETION (src/sst/internal-key.ts). Requires: valid(). */
  kind(): number {
    return nodeKind(this.view.words, this.currentNode());
  }

  /**
   * A view of the current user key in the image: records never change once written, so it stays
   * correct while the memtable is alive (pinned by the caller). Requires: valid().
   */
  keyView(): Uint8Array {
    const start = nodeKeyStart(this.view.words, this.currentNode());
    return this.view.bytes.subarray(start, start + nodeKeyLength(this.view.words, this.node));
  }

  /** A view of the current value, on the terms of `keyView`. Requires: valid(). */
  valueView(): Uint8Array {
    const node = this.currentNode();
    const start = nodeKeyStart(this.view.words, node) + nodeKeyLength(this.view.words, node);
    const length = this.view.words[(node >>> 2) + R_VALUE_LENGTH]!;
    return this.view.bytes.subarray(start, start + length);
  }

  /** A copy of the current value (empty for a deletion). Requires: valid(). */
  value(): Uint8Array {
    return this.valueView().slice();
  }

  /** Whether the current entry's user key equals `userKey`. Requires: valid(). */
  keyEquals(userKey: Uint8Array): boolean {
    const start = nodeKeyStart(this.view.words, this.currentNode());
    const end = start + nodeKeyLength(this.view.words, this.node);
    return compareBytes(this.view.bytes, start, end, userKey, 0, userKey.length) === 0;
  }

  private currentNode(): number {
    assert(this.node !== 0, 'memtable iterator is not valid');
    return this.node;
  }

  private targetOf(node: number): SkiplistTarget {
    const start = nodeKeyStart(this.view.words, node);
    const end = start + nodeKeyLength(this.view.words, node);
    return { bytes: this.view.bytes, start, end, seq: nodeSeq(this.view.words, node) };
  }

  private skipForward(): void {
    for (let step = 0; step < SKIP_MAX && this.node !== 0; step++) {
      if (nodeSeq(this.view.words, this.node) <= this.limitSeq) return;
      this.node = Atomics.load(this.view.words, nextWord(this.node, 0));
    }
    assert(this.node === 0, 'skipped more nodes than the image holds');
  }

  private skipBackward(): void {
    for (let step = 0; step < SKIP_MAX && this.node !== 0; step++) {
      if (nodeSeq(this.view.words, this.node) <= this.limitSeq) return;
      this.node = seekLessThan(this.view, this.targetOf(this.node));
    }
    assert(this.node === 0, 'skipped more nodes than the image holds');
  }
}
