/**
 * One optimistic read of a seq-protected record and its tally; shared by the reader workers and
 * the main-thread reader of the seq stress tests. Test support only.
 */
import { seqReadBegin, seqReadValid } from '../seqlock.js';
import type { SeqReaderResult } from './protocol.js';
import { busyWork } from './worker-runtime.js';

/** Spin between two record loads, so a writer can enter in the middle of a read. */
const LOAD_SPIN = 4;

export class SeqReaderTally implements SeqReaderResult {
  accepted = 0;
  retries = 0;
  tornAccepted = 0;
  tornRejected = 0;
  wentBack = 0;
  private newest = 0;

  /** Reads the record once: a record is torn when its words differ, and validation decides. */
  readOnce(words: Int32Array, lockIndex: number, recordIndex: number, recordWords: number): void {
    const begin = seqReadBegin(words, lockIndex);
    const first = Atomics.load(words, recordIndex);
    let torn = false;
    for (let offset = 1; offset < recordWords; offset++) {
      busyWork(LOAD_SPIN);
      if (Atomics.load(words, recordIndex + offset) !== first) torn = true;
    }
    if (!seqReadValid(words, lockIndex, begin)) {
      this.retries++;
      if (torn) this.tornRejected++;
      return;
    }
    this.accepted++;
    if (torn) this.tornAccepted++;
    if (first < this.newest) this.wentBack++;
    this.newest = first;
  }

  toResult(): SeqReaderResult {
    const { accepted, retries, tornAccepted, tornRejected, wentBack } = this;
    return { accepted, retries, tornAccepted, tornRejected, wentBack };
  }
}
