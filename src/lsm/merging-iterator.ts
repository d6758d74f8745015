/**
 * Merges N internal iterators into one in internal-key order, forward and reverse (LevelDB's
 * MergingIterator). Every child stays positioned; the current child is the one holding the
 * smallest entry (forward) or the largest (reverse).
 *
 *   child 0:  a.9  b.4        d.7            forward: current = the child with the smallest
 *   child 1:  a.3       c.5   d.2                     entry; next() moves only that child
 *   merged:   a.9  a.3  b.4  c.5  d.7  d.2
 *
 * Direction switches: going forward, every other child sits on its first entry after the current
 * one; going backward, on its last entry before it. So prev() after next() (and the reverse)
 * first repositions every other child around the current entry, then steps the current child.
 *
 * Two children may hold an equal entry (same user key, seq and kind); the engine never writes one
 * twice, but the order stays total by breaking ties with the child index, lower first.
 *
 * Thread model: owned by one caller on one thread, like its children.
 */
import { assert } from '../assert.js';
import type { Seq } from '../sst/internal-key.js';
import { compareEntries, type InternalIterator } from './internal-iterator.js';

type Direction = 'forward' | 'reverse';

export class MergingIterator implements InternalIterator {
  private readonly children: readonly InternalIterator[];
  /** Index of the child holding the current entry; -1 when invalid. */
  private currentIndex = -1;
  private direction: Direction = 'forward';

  constructor(children: readonly InternalIterator[]) {
    this.children = children;
  }

  valid(): boolean {
    return this.currentIndex >= 0;
  }

  userKey(): Uint8Array {
    return this.current().userKey();
  }

  seq(): Seq {
    return this.current().seq();
  }

  kind(): number {
    return this.current().kind();
  }

  value(): Uint8Array {
    return this.current().value();
  }

  seekFirst(): void {
    for (const child of this.children) child.seekFirst();
    this.direction = 'forward';
    this.findSmallest();
  }

  seekLast(): void {
    for (const child of this.children) child.seekLast();
    this.direction = 'reverse';
    this.findLargest();
  }

  seek(userKey: Uint8Array): void {
    for (const child of this.children) child.seek(userKey);
    this.direction = 'forward';
    this.findSmallest();
  }

  /** Requires: valid(). */
  next(): void {
    const current = this.current();
    if (this.direction === 'reverse') {
      this.repositionOthers(current, 'forward');
      this.direction = 'forward';
    }
    current.next();
    this.findSmallest();
  }

  /** Requires: valid(). */
  prev(): void {
    const current = this.current();
    if (this.direction === 'forward') {
      this.repositionOthers(current, 'reverse');
      this.direction = 'reverse';
    }
    current.prev();
    this.findLargest();
  }

  private current(): InternalIterator {
    const child = this.children[this.currentIndex];
    assert(child !== undefined, 'merging iterator is not valid');
    assert(child.valid(), 'the current child must be valid');
    return child;
  }

  /**
   * Puts every child but the current one on its first entry after the current entry (forward)
   * or its last entry before it (reverse). A child seeks to the current user key, then steps
   * over the versions that precede the current entry: at most the versions of one user key.
   */
  private repositionOthers(current: InternalIterator, direction: Direction): void {
    const target = { userKey: current.userKey(), seq: current.seq(), kind: current.kind() };
    for (let index = 0; index < this.children.length; index++) {
      if (index === this.currentIndex) continue;
      const child = this.children[index]!;
      child.seek(target.userKey);
      while (child.valid() && this.precedes(child, index, target)) child.next();
      if (direction === 'forward') continue;
      if (child.valid()) child.prev();
      else child.seekLast();
    }
  }

  /** Whether child `index`'s entry sorts before the current entry, ties broken by child index. */
  private precedes(
    child: InternalIterator,
    index: number,
    target: { userKey: Uint8Array; seq: Seq; kind: number },
  ): boolean {
    const order = compareEntries(
      { userKey: child.userKey(), seq: child.seq(), kind: child.kind() },
      target,
    );
    return order < 0 || (order === 0 && index < this.currentIndex);
  }

  private findSmallest(): void {
    let smallest = -1;
    for (let index = 0; index < this.children.length; index++) {
      const child = this.children[index]!;
      if (!child.valid()) continue;
      if (smallest < 0 || this.compareChildren(index, smallest) < 0) smallest = index;
    }
    this.currentIndex = smallest;
  }

  /** Scans from the last child so that among equal entries the highest index wins. */
  private findLargest(): void {
    let largest = -1;
    for (let index = this.children.length - 1; index >= 0; index--) {
      const child = this.children[index]!;
      if (!child.valid()) continue;
      if (largest < 0 || this.compareChildren(index, largest) > 0) largest = index;
    }
    this.currentIndex = largest;
  }

  private compareChildren(aIndex: number, bIndex: number): number {
    const a = this.children[aIndex]!;
    const b = this.children[bIndex]!;
    return compareEntries(
      { userKey: a.userKey(), seq: a.seq(), kind: a.kind() },
      { userKey: b.userKey(), seq: b.seq(), kind: b.kind() },
    );
  }
}
