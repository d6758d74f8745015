/**
 * Undoing a batch whose commit mark never landed: its records (found from the batch intent by
 * walking the arena from the committed tail) are unlinked from every skiplist level and the hash
 * entries they replaced are restored, newest record first. Every step is idempotent, so a crash
 * during the undo is repaired by running it again; the intent is cleared last. Recovery and a
 * batch that failed in its link step both use it. FORMAT.md, "Recovery".
 */
import { StrataError } from '../errors.js';
import { runNext, runStart, usableEnd } from './arena.js';
import type { MemtableCore } from './core.js';
import {
  H_INTENT,
  headerWord,
  R_BYTES,
  R_HEADER_WORDS,
  R_PREV_SAME_HASH,
  RUN_HEADER_BYTES,
} from './layout.js';
import { nodeHeight, nodeKeyLength, nodeKeyStart, nodeSeq, unlinkNodeLocked } from './skiplist.js';

export interface InFlightBatch {
  readonly startTail: number;
  readonly count: number;
  /** The run that holds `startTail`. */
  readonly startRun: number;
}

/** Requires: caller holds the write mutex, or is opening the memtable. */
export function rollBackBatchLocked(core: MemtableCore, batch: InFlightBatch): void {
  const addresses = walkBatch(core, batch);
  for (let index = addresses.length - 1; index >= 0; index--) {
    const address = addresses[index]!;
    const keyStart = nodeKeyStart(core.words, address);
    const keyEnd = keyStart + nodeKeyLength(core.words, address);
    const target = {
      bytes: core.bytes,
      start: keyStart,
      end: keyEnd,
      seq: nodeSeq(core.words, address),
    };
    unlinkNodeLocked(core.view, address, target, core.persistIndexWord);
    restoreHashLocked(core, address, core.bytes.subarray(keyStart, keyEnd));
  }
  const intentWord = headerWord(core.headerPage, H_INTENT);
  Atomics.store(core.words64, intentWord >>> 1, 0n);
  core.indexImage.persist(intentWord * 4, 8);
}

/** Points the hash back at the record this one replaced, if it still points here. */
function restoreHashLocked(core: MemtableCore, address: number, key: Uint8Array): void {
  core.keyHash(key, core.hashOut);
  const hashHigh = core.hashOut[1]!;
  const hashLow = core.hashOut[0]!;
  if (!core.hash.searchWords(hashHigh, hashLow, core.valueOut)) return;
  if (core.valueOut[0] !== address || core.valueOut[1] !== 0) return;
  const previous = core.words[(address >>> 2) + R_PREV_SAME_HASH]!;
  if (previous === 0) core.hash.removeWords(hashHigh, hashLow);
  else core.hash.updateWords(hashHigh, hashLow, 0, previous);
}

/**
 * The addresses of the batch's records, in order: from the start tail, skipping to the next run
 * at a 0 record-bytes word or at the run's end, as the writer placed them.
 */
function walkBatch(core: MemtableCore, batch: InFlightBatch): number[] {
  const words = core.words;
  const addresses: number[] = [];
  let run = batch.startRun;
  let tail = batch.startTail;
  for (let index = 0; index < batch.count; index++) {
    if (tail + 8 > usableEnd(words, run) || words[(tail >>> 2) + R_BYTES] === 0) {
      run = runNext(words, run);
      if (run === 0) throw corrupt(core, tail, 'the in-flight batch runs past the arena chain');
      tail = runStart(run) + RUN_HEADER_BYTES;
    }
    const size = words[(tail >>> 2) + R_BYTES]!;
    if (size < 4 * (R_HEADER_WORDS + 1) || size % 8 !== 0 || tail + size > usableEnd(words, run)) {
      throw corrupt(core, tail, `record bytes ${size} do not fit its run`);
    }
    const height = nodeHeight(words, tail);
    const keyEnd = nodeKeyStart(words, tail) + nodeKeyLength(words, tail);
    if (height < 1 || keyEnd > tail + size) throw corrupt(core, tail, 'bad height or key length');
    addresses.push(tail);
    tail += size;
  }
  return addresses;
}

function corrupt(core: MemtableCore, address: number, what: string): StrataError {
  return new StrataError(
    'ERR_CORRUPT',
    `memtable ${core.headerPage} in ${core.image.path}: ${what} at byte ${address}`,
  );
}
