/**
 * The user's view of a merged iterator at a snapshot (LevelDB's DBIter): versions with a seq above
 * the snapshot are invisible, each user key shows only its newest visible version, and a key
 * whose newest visible version is a tombstone is hidden. Bounds (gt/gte/lt/lte) are bytewise on
 * user keys; `reverse` and `limit` shape what the iterable yields.
 *
 * Forward, the inner iterator sits on the entry shown. Reverse, it sits just before every entry of
 * the key shown, which is saved in savedKey/savedValue: walking backward meets the oldest version
 * first, so the newest visible one is only known once the scan passes to a smaller user key.
 *
 *   inner (forward order):   a.7  a.5  b.9  b.4(del)  c.6  c.2
 *   snapshot 5:              a.5 shown; b.4 is a tombstone, so b is hidden; c.2 shown
 *
 * Thread model: owned by one caller on one thread, like its inner iterator.
 */
import { assert } from '../assert.js';
import {
  compareUserKeys,
  KIND_BLOB_REFERENCE,
  KIND_DELETION,
  KIND_VALUE,
  type Seq,
} from '../sst/internal-key.js';
import type { InternalIterator } from './internal-iterator.js';

export interface DbIteratorOptions {
  readonly gt?: Uint8Array;
  readonly gte?: Uint8Array;
  readonly lt?: Uint8Array;
  readonly lte?: Uint8Array;
  /** The iterable yields keys in descending order. Default false. */
  readonly reverse?: boolean;
  /** The most entries the iterable yields over the iterator's life. Default Infinity. */
  readonly limit?: number;
  /**
   * Keys starting with these bytes are never shown (the engine's own keyspace, such as
   * secondary-index entries); the iterator jumps over the whole range in one seek.
   */
  readonly hiddenPrefix?: Uint8Array;
}

type Direction = 'forward' | 'reverse';

interface Bound {
  readonly key: Uint8Array;
  readonly inclusive: boolean;
}

export class DbIterator implements Iterable<[Uint8Array, Uint8Array]> {
  private readonly inner: InternalIterator;
  private readonly snapshotSeq: Seq;
  private readonly lower: Bound | undefined;
  private readonly upper: Bound | undefined;
  private readonly reverse: boolean;
  private readonly limit: number;
  private readonly hiddenPrefix: Uint8Array | undefined;
  /** The first key after every key with hiddenPrefix; undefined when there is none (all FF). */
  private readonly hiddenEnd: Uint8Array | undefined;
  private direction: Direction = 'forward';
  private isValid = false;
  /** Reverse: the key and value shown. Forward: the key to skip past while stepping. */
  private savedKey: Uint8Array = new Uint8Array(0);
  private savedValue: Uint8Array = new Uint8Array(0);
  private savedKind: number = KIND_VALUE;
  private positioned = false;
  /** The iterable yielded the current entry and moves on before it yields again. */
  private stepPending = false;
  private yieldedCount = 0;

  constructor(inner: InternalIterator, snapshotSeq: Seq, options: DbIteratorOptions = {}) {
    assert(options.gt === undefined || options.gte === undefined, 'give gt or gte, not both');
    assert(options.lt === undefined || options.lte === undefined, 'give lt or lte, not both');
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    assert(limit === Number.POSITIVE_INFINITY || Number.isSafeInteger(limit), 'limit');
    assert(limit >= 0, 'limit must be >= 0');
    this.inner = inner;
    this.snapshotSeq = snapshotSeq;
    this.lower = boundOf(options.gt, options.gte);
    this.upper = boundOf(options.lt, options.lte);
    this.reverse = options.reverse === true;
    this.limit = limit;
    const hidden = options.hiddenPrefix;
    assert(hidden === undefined || hidden.length > 0, 'a hidden prefix is not empty');
    this.hiddenPrefix = hidden;
    this.hiddenEnd = hidden === undefined ? undefined : prefixEnd(hidden);
  }

  valid(): boolean {
    return this.isValid;
  }

  /** Requires: valid(). */
  key(): Uint8Array {
    assert(this.isValid, 'key() on an invalid db iterator');
    return this.direction === 'forward' ? this.inner.userKey() : this.savedKey;
  }

  /**
   * The value as stored: the user's bytes for KIND_VALUE, an encoded blob reference for
   * KIND_BLOB_REFERENCE (the caller resolves it; see `kind()`). Requires: valid().
   */
  value(): Uint8Array {
    assert(this.isValid, 'value() on an invalid db iterator');
    return this.direction === 'forward' ? this.inner.value() : this.savedValue;
  }

  /** KIND_VALUE or KIND_BLOB_REFERENCE. Requires: valid(). */
  kind(): number {
    assert(this.isValid, 'kind() on an invalid db iterator');
    return this.direction === 'forward' ? this.inner.kind() : this.savedKind;
  }

  /** Moves to the smallest visible key within the bounds. */
  seekFirst(): void {
    this.moved();
    this.direction = 'forward';
    if (this.lower === undefined) this.inner.seekFirst();
    else this.inner.seek(this.lower.key);
    if (this.lower !== undefined && !this.lower.inclusive) this.findNextUserEntry(this.lower.key);
    else this.findNextUserEntry(undefined);
  }

  /** Moves to the largest visible key within the bounds. */
  seekLast(): void {
    this.moved();
    if (this.upper === undefined) this.inner.seekLast();
    else this.seekInnerBefore(this.upper.key, this.upper.inclusive);
    this.direction = 'reverse';
    this.findPrevUserEntry();
  }

  /**
   * Moves to the first visible key >= userKey (the last one <= userKey when `reverse`), within
   * the bounds. The iterable goes on from there.
   */
  seek(userKey: Uint8Array): void {
    if (this.reverse) this.seekAtOrBefore(userKey);
    else this.seekAtOrAfter(userKey);
  }

  /** Requires: valid(). */
  next(): void {
    assert(this.isValid, 'next() on an invalid db iterator');
    this.moved();
    if (this.direction === 'reverse') {
      // The inner iterator sits just before the entries of savedKey: step into them, then skip.
      this.direction = 'forward';
      if (this.inner.valid()) this.inner.next();
      else this.inner.seekFirst();
    } else {
      this.savedKey = this.inner.userKey();
      this.inner.next();
    }
    this.findNextUserEntry(this.savedKey);
  }

  /** Requires: valid(). */
  prev(): void {
    assert(this.isValid, 'prev() on an invalid db iterator');
    this.moved();
    if (this.direction === 'forward') {
      // Step back over every version of the key shown, to the last entry of a smaller key.
      const shownKey = this.inner.userKey();
      this.inner.prev();
      while (this.inner.valid() && compareUserKeys(this.inner.userKey(), shownKey) >= 0) {
        this.inner.prev();
      }
      this.direction = 'reverse';
    }
    this.findPrevUserEntry();
  }

  /**
   * Yields from the current position (or from the first entry in iteration order, if nothing
   * positioned the iterator yet), stepping next() or prev() per `reverse`, until `limit`.
   */
  *[Symbol.iterator](): Iterator<[Uint8Array, Uint8Array]> {
    if (!this.positioned) {
      if (this.reverse) this.seekLast();
      else this.seekFirst();
    }
    for (;;) {
      if (this.stepPending && this.isValid) {
        if (this.reverse) this.prev();
        else this.next();
      }
      if (!this.isValid || this.yieldedCount >= this.limit) return;
      this.yieldedCount++;
      const entry: [Uint8Array, Uint8Array] = [this.key(), this.value()];
      this.stepPending = true;
      yield entry;
    }
  }

  private seekAtOrAfter(userKey: Uint8Array): void {
    if (this.lower !== undefined && compareUserKeys(userKey, this.lower.key) <= 0) {
      this.seekFirst();
      return;
    }
    this.moved();
    this.direction = 'forward';
    this.inner.seek(userKey);
    this.findNextUserEntry(undefined);
  }

  private seekAtOrBefore(userKey: Uint8Array): void {
    if (this.upper !== undefined && compareUserKeys(userKey, this.upper.key) >= 0) {
      this.seekLast();
      return;
    }
    this.moved();
    this.seekInnerBefore(userKey, true);
    this.direction = 'reverse';
    this.findPrevUserEntry();
  }

  /**
   * Puts the inner iterator on the last entry whose user key is < key (or <= key when inclusive).
   * Bytewise, the smallest user key above `key` is `key` followed by one zero byte.
   */
  private seekInnerBefore(key: Uint8Array, inclusive: boolean): void {
    if (inclusive) {
      const successor = new Uint8Array(key.length + 1);
      successor.set(key, 0);
      this.inner.seek(successor);
    } else {
      this.inner.seek(key);
    }
    if (this.inner.valid()) this.inner.prev();
    else this.inner.seekLast();
  }

  /** Any repositioning cancels the iterable's pending step. */
  private moved(): void {
    this.positioned = true;
    this.stepPending = false;
  }

  /**
   * Forward from the inner position to the newest visible version of the next user key that is
   * not deleted, skipping every entry whose user key is <= skipKey (when given).
   */
  private findNextUserEntry(skipKey: Uint8Array | undefined): void {
    let skip = skipKey;
    while (this.inner.valid()) {
      const userKey = this.inner.userKey();
      if (this.aboveUpper(userKey)) break;
      if (this.isHidden(userKey)) {
        if (this.hiddenEnd === undefined) break;
        this.inner.seek(this.hiddenEnd);
        continue;
      }
      if (
        this.inner.seq() > this.snapshotSeq ||
        (skip !== undefined && compareUserKeys(userKey, skip) <= 0)
      ) {
        this.inner.next();
        continue;
      }
      const kind = checkedKind(this.inner.kind());
      if (kind === KIND_DELETION) {
        skip = userKey; // older versions of a deleted key stay hidden
        this.inner.next();
        continue;
      }
      this.isValid = true;
      return;
    }
    this.isValid = false;
  }

  /**
   * Backward from the inner position: collects the newest visible version of the current user key
   * (the last one met) and stops on the first entry of a smaller key, or at the lower bound.
   * LevelDB's FindPrevUserEntry.
   */
  private findPrevUserEntry(): void {
    let kind: number = KIND_DELETION;
    while (this.inner.valid()) {
      const userKey = this.inner.userKey();
      if (this.belowLower(userKey)) break;
      if (this.isHidden(userKey)) {
        // Everything below the hidden range is smaller than a key already collected.
        if (kind !== KIND_DELETION) break;
        this.seekInnerBefore(this.hiddenPrefix!, false);
        continue;
      }
      if (this.inner.seq() > this.snapshotSeq) {
        this.inner.prev();
        continue;
      }
      if (kind !== KIND_DELETION && compareUserKeys(userKey, this.savedKey) < 0) break;
      kind = checkedKind(this.inner.kind());
      if (kind !== KIND_DELETION) {
        this.savedKey = userKey;
        this.savedValue = this.inner.value();
        this.savedKind = kind;
      }
      this.inner.prev();
    }
    this.isValid = kind !== KIND_DELETION;
    if (!this.isValid) this.direction = 'forward';
  }

  private isHidden(userKey: Uint8Array): boolean {
    const prefix = this.hiddenPrefix;
    if (prefix === undefined || userKey.length < prefix.length) return false;
    for (let index = 0; index < prefix.length; index++) {
      if (userKey[index] !== prefix[index]) return false;
    }
    return true;
  }

  private aboveUpper(userKey: Uint8Array): boolean {
    if (this.upper === undefined) return false;
    const order = compareUserKeys(userKey, this.upper.key);
    return this.upper.inclusive ? order > 0 : order >= 0;
  }

  private belowLower(userKey: Uint8Array): boolean {
    if (this.lower === undefined) return false;
    const order = compareUserKeys(userKey, this.lower.key);
    return this.lower.inclusive ? order < 0 : order <= 0;
  }
}

function boundOf(exclusive: Uint8Array | undefined, inclusive: Uint8Array | undefined) {
  if (exclusive !== undefined) return { key: exclusive, inclusive: false };
  if (inclusive !== undefined) return { key: inclusive, inclusive: true };
  return undefined;
}

/** The smallest key above every key that starts with `prefix`, or undefined if none is. */
function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  for (let index = prefix.length - 1; index >= 0; index--) {
    if (prefix[index]! < 0xff) {
      const end = prefix.slice(0, index + 1);
      end[index]! += 1;
      return end;
    }
  }
  return undefined;
}

/** Merge operands are a reserved kind that no writer produces yet. */
function checkedKind(kind: number): number {
  assert(
    kind === KIND_VALUE || kind === KIND_DELETION || kind === KIND_BLOB_REFERENCE,
    `kind ${kind} is not readable yet`,
  );
  return kind;
}
