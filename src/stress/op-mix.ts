/**
 * What a stress thread does next, drawn from its seeded PRNG: the operation kind (weighted; each
 * kind also runs once at a random place among a thread's first COVERAGE_OPS), and each
 * operation's arguments — keys, value and append sizes (some past minBlobSize, so they become
 * blobs), batch parts, scan bounds, index query values.
 */
import type { Prng } from '../ehash/testing/prng.js';
import type { BatchPart, ThreadState, WriteOp } from './expected-state.js';
import type { ScanRequest } from './read-checks.js';
import type { OpKind } from './stress-config.js';
import { isFieldKey, stressKey } from './stress-values.js';

/** Relative weights; createIndex and dropIndex only for the threads that own index fields. */
const WEIGHTS: Readonly<Record<OpKind, number>> = {
  put: 140,
  del: 40,
  batch: 60,
  append: 100,
  putFields: 100,
  get: 140,
  getFields: 50,
  iterate: 70,
  snapshot: 12,
  snapshotRead: 50,
  queryByIndex: 45,
  queryRangeByIndex: 35,
  listIndexes: 8,
  createIndex: 1.5,
  dropIndex: 1.2,
  flush: 1,
  compactRange: 0.4,
  collectBlobGarbage: 1,
};

/** Every kind runs once among a thread's first this many ops (so short runs cover them all). */
const COVERAGE_OPS = 40;

/** An append to a value this long becomes a put: values stay bounded. */
export const APPEND_VALUE_BYTES_MAX = 24 * 1024;

export class OpMix {
  readonly #prng: Prng;
  readonly #kinds: readonly OpKind[];
  readonly #totalWeight: number;
  /** Op positions among the first COVERAGE_OPS at which each kind runs once. */
  readonly #forced = new Map<number, OpKind>();
  #opIndex = 0;

  constructor(prng: Prng, options: { readonly ownsIndexes: boolean }) {
    this.#prng = prng;
    this.#kinds = (Object.keys(WEIGHTS) as OpKind[]).filter(
      (kind) => options.ownsIndexes || (kind !== 'createIndex' && kind !== 'dropIndex'),
    );
    this.#totalWeight = this.#kinds.reduce((total, kind) => total + WEIGHTS[kind], 0);
    for (const kind of this.#kinds) {
      let position = prng.below(COVERAGE_OPS);
      while (this.#forced.has(position)) position = (position + 1) % COVERAGE_OPS;
      this.#forced.set(position, kind);
    }
  }

  nextKind(): OpKind {
    const forced = this.#forced.get(this.#opIndex++);
    if (forced !== undefined) return forced;
    let roll = (this.#prng.nextU32() / 2 ** 32) * this.#totalWeight;
    for (const kind of this.#kinds) {
      roll -= WEIGHTS[kind];
      if (roll < 0) return kind;
    }
    return this.#kinds.at(-1)!;
  }

  /** A key index of this thread: a field key or a raw one. */
  ownIndex(keysPerThread: number, field: boolean): number {
    const pairs = Math.ceil(keysPerThread / 2);
    for (;;) {
      const index = 2 * this.#prng.below(pairs) + (field ? 1 : 0);
      if (index < keysPerThread) return index;
    }
  }

  put(keysPerThread: number): WriteOp {
    // Mostly raw keys; now and then a raw value replaces a field record (its index entries go).
    const index = this.ownIndex(keysPerThread, this.#prng.below(100) < 12);
    return { kind: 'put', index, fillerBytes: this.valueBytes() };
  }

  del(keysPerThread: number): WriteOp {
    return { kind: 'del', index: this.#prng.below(keysPerThread) };
  }

  /** An append, or a put when the value is already long. */
  append(keysPerThread: number, state: ThreadState): WriteOp {
    const index = this.ownIndex(keysPerThread, false);
    if ((state.get(index)?.bytes.length ?? 0) > APPEND_VALUE_BYTES_MAX) {
      return { kind: 'put', index, fillerBytes: this.valueBytes() };
    }
    const roll = this.#prng.below(100);
    const fillerBytes =
      roll < 70
        ? 4 + this.#prng.below(60)
        : roll < 95
          ? 100 + this.#prng.below(600)
          : 1000 + this.#prng.below(2500);
    return { kind: 'append', index, fillerBytes };
  }

  putFields(keysPerThread: number): WriteOp {
    return { kind: 'putFields', index: this.ownIndex(keysPerThread, true) };
  }

  batch(keysPerThread: number): WriteOp {
    const parts: BatchPart[] = [];
    const count = 2 + this.#prng.below(7);
    for (let part = 0; part < count; part++) {
      const roll = this.#prng.below(100);
      if (roll < 45) {
        const index = this.ownIndex(keysPerThread, this.#prng.below(100) < 10);
        parts.push({ type: 'p', index, fillerBytes: this.valueBytes() });
      } else if (roll < 65) {
        parts.push({ type: 'd', index: this.#prng.below(keysPerThread) });
      } else {
        parts.push({ type: 'f', index: this.ownIndex(keysPerThread, true) });
      }
    }
    return { kind: 'batch', parts };
  }

  /** Filler bytes of a put: mostly small and inline, a third past minBlobSize (256). */
  valueBytes(): number {
    const roll = this.#prng.below(100);
    if (roll < 67) return this.#prng.below(150);
    if (roll < 97) return 250 + this.#prng.below(2000);
    return 4000 + this.#prng.below(8000);
  }

  /** Any thread's key index (own or another's), as thread and index. */
  anyKey(threads: number, keysPerThread: number, own: number): { thread: number; index: number } {
    const thread = this.#prng.below(100) < 55 ? own : this.#prng.below(threads);
    return { thread, index: this.#prng.below(keysPerThread) };
  }

  /**
   * A bounded scan: over the own keys, another thread's or across threads; gte/gt/none and
   * lt/lte/none, sometimes bounds that are not keys (a thread's prefix); a limit half the time.
   */
  scan(threads: number, keysPerThread: number, own: number): ScanRequest {
    const prng = this.#prng;
    const roll = prng.below(10);
    const startThread = roll < 5 ? own : prng.below(threads);
    const endThread = roll < 8 ? startThread : Math.min(threads - 1, startThread + prng.below(2));
    const start = prng.below(keysPerThread);
    const end = Math.min(keysPerThread - 1, start + prng.below(60));
    let low = this.#bound(startThread, start);
    let high = this.#bound(endThread, endThread === startThread ? end : prng.below(keysPerThread));
    if (low > high) [low, high] = [high, low];
    const request: { -readonly [K in keyof ScanRequest]: ScanRequest[K] } = {
      reverse: prng.below(10) < 3,
    };
    const lowKind = prng.below(10);
    if (lowKind < 6) request.gte = low;
    else if (lowKind < 9) request.gt = low;
    const highKind = prng.below(10);
    if (highKind < 6) request.lt = high;
    else if (highKind < 9) request.lte = high;
    if (prng.below(2) === 0) request.limit = 1 + prng.below(25);
    return request;
  }

  #bound(thread: number, index: number): string {
    const key = stressKey(thread, index);
    const roll = this.#prng.below(10);
    if (roll === 0) return key.slice(0, 4); // "sNN-": before all of the thread's keys
    if (roll === 1) return `${key.slice(0, 5)}`; // "sNN-r" / "sNN-f"
    return key;
  }

  /** An own sub-range for a read through a snapshot. */
  ownScan(thread: number, keysPerThread: number): ScanRequest {
    const start = this.#prng.below(keysPerThread);
    const end = Math.min(keysPerThread - 1, start + 1 + this.#prng.below(40));
    // Raw and field keys sort apart ("f" before "r"): order the two bounds.
    const [low, high] = [stressKey(thread, start), stressKey(thread, end)].sort();
    return { gte: low!, lte: high!, reverse: this.#prng.below(4) === 0 };
  }

  chance(percent: number): boolean {
    return this.#prng.below(100) < percent;
  }

  below(bound: number): number {
    return this.#prng.below(bound);
  }

  isField(index: number): boolean {
    return isFieldKey(index);
  }
}
