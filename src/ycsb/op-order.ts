import { performance } from 'node:perf_hooks';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { CONTROL_ABORT, nextScanWord, nextWriteWord, ORDER_NONE } from './parallel-layout.js';

/** Bounds one wait on another thread's order word; the loop re-checks ABORT after each. */
const ORDER_WAIT_MS = 100;
/** Ten minutes of waits: longer means the other thread is stuck, not slow. */
const ORDER_WAITS_MAX = 6_000;

/**
 * Thrown by a worker that gives up because the phase was aborted (another thread failed); the
 * runner reports the other thread's error instead.
 */
export class PhaseAborted extends Error {
  constructor() {
    super('the phase was aborted');
    this.name = 'PhaseAborted';
  }
}

/**
 * Keeps a partitioned phase's results equal to a single-threaded run's when it has scans as well
 * as writes. Partitioning by key keeps each key's operations in order on one thread, which is
 * enough for point operations; a scan reads other threads' keys too. So a scan at phase op
 * index i waits until every other thread has finished its writes before i, and a write at index
 * j waits until every other thread has finished its scans before j. A scan then sees exactly
 * the writes before it, as on one thread. No deadlock: the pending operation with the lowest
 * index only waits for lower indices, which are all done.
 *
 * Thread model: one per worker and phase. It stores its own thread's NEXT_WRITE and NEXT_SCAN
 * words (parallel-layout.ts) and only reads the others'.
 */
export class OpOrder {
  /** Time spent waiting for other threads, over the phase. */
  waitedMs = 0;
  private writeCursor = 0;
  private scanCursor = 0;

  /**
   * Requires: `writes` and `scans` are the phase op indices of this thread's writes and scans,
   * ascending, each below ORDER_NONE.
   */
  constructor(
    private readonly control: Int32Array,
    private readonly place: { readonly threads: number; readonly thread: number },
    private readonly writes: Uint32Array,
    private readonly scans: Uint32Array,
  ) {
    assert(place.thread >= 0 && place.thread < place.threads);
    for (const list of [writes, scans]) {
      for (let index = 1; index < list.length; index++) assert(list[index - 1]! < list[index]!);
      assert(list.length === 0 || list[list.length - 1]! < ORDER_NONE);
    }
  }

  /** Stores this thread's first write and scan; before READY, so every thread sees them. */
  publishStart(): void {
    this.store(nextWriteWord(this.place.threads, this.place.thread), this.writes, 0);
    this.store(nextScanWord(this.place.threads, this.place.thread), this.scans, 0);
  }

  /** Requires: `opIndex` is this thread's next scan. Returns once it may run. */
  beforeScan(opIndex: number): void {
    assert(this.scans[this.scanCursor] === opIndex);
    this.waitPast((thread) => nextWriteWord(this.place.threads, thread), opIndex);
  }

  /** Requires: `opIndex` is this thread's next write. Returns once it may run. */
  beforeWrite(opIndex: number): void {
    assert(this.writes[this.writeCursor] === opIndex);
    this.waitPast((thread) => nextScanWord(this.place.threads, thread), opIndex);
  }

  afterScan(): void {
    this.scanCursor++;
    const word = nextScanWord(this.place.threads, this.place.thread);
    this.store(word, this.scans, this.scanCursor);
    Atomics.notify(this.control, word);
  }

  afterWrite(): void {
    this.writeCursor++;
    const word = nextWriteWord(this.place.threads, this.place.thread);
    this.store(word, this.writes, this.writeCursor);
    Atomics.notify(this.control, word);
  }

  private store(word: number, list: Uint32Array, cursor: number): void {
    Atomics.store(this.control, word, cursor < list.length ? list[cursor]! : ORDER_NONE);
  }

  /** Waits until every other thread's word (a next op index, never `opIndex`) is above it. */
  private waitPast(wordOf: (thread: number) => number, opIndex: number): void {
    for (let thread = 0; thread < this.place.threads; thread++) {
      if (thread === this.place.thread) continue;
      const word = wordOf(thread);
      let next = Atomics.load(this.control, word);
      if (next > opIndex) continue;
      const startedMs = performance.now();
      for (let waits = 0; next < opIndex; waits++) {
        if (Atomics.load(this.control, CONTROL_ABORT) !== 0) throw new PhaseAborted();
        if (waits === ORDER_WAITS_MAX) {
          throw new StrataError(
            'ERR_BUSY',
            `YCSB thread ${this.place.thread} waited ten minutes for thread ${thread} to pass op ${opIndex}`,
          );
        }
        Atomics.wait(this.control, word, next, ORDER_WAIT_MS);
        next = Atomics.load(this.control, word);
      }
      assert(next !== opIndex, 'an op index belongs to one thread');
      this.waitedMs += performance.now() - startedMs;
    }
  }
}

/** The op indices of a thread's writes and scans, from its kinds and phase op indices. */
export function orderPositions(
  count: number,
  kindOf: (position: number) => 'write' | 'scan' | 'other',
  opIndexOf: (position: number) => number,
): { writes: Uint32Array; scans: Uint32Array } {
  const writes: number[] = [];
  const scans: number[] = [];
  for (let position = 0; position < count; position++) {
    const kind = kindOf(position);
    if (kind === 'write') writes.push(opIndexOf(position));
    else if (kind === 'scan') scans.push(opIndexOf(position));
  }
  return { writes: Uint32Array.from(writes), scans: Uint32Array.from(scans) };
}
