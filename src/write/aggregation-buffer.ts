/**
 * The aggregation buffer of the write path (Apache Traffic Server's agg buffer): the writers of
 * the open group copy their keys and values into one preallocated slab instead of allocating a
 * private array each, so a 1 KB put costs a memcpy rather than an ArrayBuffer allocation. When
 * the group closes it takes the slab with it (`detach`), writers that arrive meanwhile fill a
 * spare one, and the slab comes back (`recycle`) once the group was applied: the memtable has
 * copied every byte into the NVM arena by then, and nothing else keeps a view of it.
 *
 * A copy larger than a quarter of the slab gets an array of its own; a slab that fills up is
 * replaced by a fresh one (the full one lives on until its group is applied and dropped).
 *
 * Thread model: main thread only, owned by one GroupCommitter.
 */
import { assert } from '../assert.js';

export const AGGREGATION_SLAB_BYTES = 1 << 20;

export class AggregationBuffer {
  readonly #slabBytes: number;
  #slab: Uint8Array;
  #used = 0;
  #spare: Uint8Array | undefined;

  constructor(slabBytes = AGGREGATION_SLAB_BYTES) {
    assert(Number.isSafeInteger(slabBytes) && slabBytes >= 64, 'slab of at least 64 bytes');
    this.#slabBytes = slabBytes;
    this.#slab = new Uint8Array(slabBytes);
  }

  /** A private copy of `bytes`, valid until the group it was made for is recycled. */
  copy(bytes: Uint8Array): Uint8Array {
    const length = bytes.length;
    if (length > this.#slabBytes >>> 2) return bytes.slice();
    if (length > this.#slabBytes - this.#used) {
      this.#slab = new Uint8Array(this.#slabBytes);
      this.#used = 0;
    }
    const start = this.#used;
    this.#used = start + length;
    const view = this.#slab.subarray(start, this.#used);
    view.set(bytes);
    return view;
  }

  /** The closing group's slab; later copies go to a spare. Pass it to `recycle` when applied. */
  detach(): Uint8Array | undefined {
    if (this.#used === 0) return undefined;
    const detached = this.#slab;
    this.#slab = this.#spare ?? new Uint8Array(this.#slabBytes);
    this.#spare = undefined;
    this.#used = 0;
    return detached;
  }

  /** Requires: every copy in `slab` was applied and no view of it is used any more. */
  recycle(slab: Uint8Array | undefined): void {
    if (slab === undefined || slab.length !== this.#slabBytes) return;
    this.#spare = slab;
  }
}
