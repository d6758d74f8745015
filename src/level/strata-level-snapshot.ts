/**
 * An explicit snapshot (`db.snapshot()`, abstract-level 3): one pinned StrataSnapshot. Reads that
 * pass it as `options.snapshot` go to it instead of the database. abstract-level counts the reads
 * in flight and calls `_close()` once, after the last one; iterators opened on the snapshot keep
 * reading after that, because a Strata snapshot iterator stays usable until it is closed itself.
 *
 * Thread model: main thread only, like the Strata database it pins.
 */
import { AbstractSnapshot } from 'abstract-level';
import type { StrataSnapshot } from '../db/strata.js';

/** The options abstract-level passes to `_snapshot()`: `owner` is the database that closes it. */
export interface SnapshotOptions {
  readonly owner: object;
}

// The published typings of AbstractSnapshot omit its constructor, which requires the options.
const SnapshotBase = AbstractSnapshot as unknown as new (
  options: SnapshotOptions,
) => AbstractSnapshot;

export class StrataLevelSnapshot extends SnapshotBase {
  /** The engine snapshot; its keys carry the adapter's tag byte (see key-space.ts). */
  readonly strata: StrataSnapshot;

  /** Internal: use `db.snapshot()`. */
  constructor(options: SnapshotOptions, strata: StrataSnapshot) {
    super(options);
    this.strata = strata;
  }

  async _close(): Promise<void> {
    this.strata.release();
  }
}
