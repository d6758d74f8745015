/**
 * The arena: a chain of page runs (kind memtableArena, owner = the header page) that records are
 * appended to, 8-byte aligned, addressed by u32 byte offsets into the image. The committed tail
 * lives in the header's commit word; the run that holds it is `RT_CURRENT_RUN`.
 *
 *   run  +0 next run page (0 = last) | +4 page count | +8 records ... | 0 word: rest unused
 *
 * A record that does not fit in the rest of its run goes to the next run of the chain (or to a
 * new one, at least as large as the record); the writer then stores a 0 record-bytes word at the
 * old position when there is room for one, so recovery can walk an in-flight batch. FORMAT.md,
 * "Arena runs".
 */
import type { NvmImage } from '../../nvm/image.js';
import { PageKind } from '../../nvm/types.js';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { PAGE_BYTES, R_BYTES, RUN_HEADER_BYTES, RUN_NEXT_WORD, RUN_PAGES_WORD } from './layout.js';

/** Bound on the runs of one chain: each run is at least a page of a ≤ 4 GiB image. */
const RUNS_MAX = 2 ** 20;
/** A tail must stay a u32 even in a run that ends exactly at 4 GiB. */
export const TAIL_LIMIT = 2 ** 32 - 8;

export interface ArenaPosition {
  /** Byte address of the next free byte. */
  tail: number;
  /** Page of the run that holds `tail`. */
  run: number;
}

/** One contiguous range of the arena written by a batch, persisted as one range. */
export interface ArenaSegment {
  start: number;
  end: number;
}

export function runStart(run: number): number {
  return run * PAGE_BYTES;
}

export function runEnd(words: Uint32Array, run: number): number {
  return (run + runPages(words, run)) * PAGE_BYTES;
}

/** The end of the bytes records may use in `run`. */
export function usableEnd(words: Uint32Array, run: number): number {
  return Math.min(runEnd(words, run), TAIL_LIMIT);
}

export function runPages(words: Uint32Array, run: number): number {
  return words[((run * PAGE_BYTES) >>> 2) + RUN_PAGES_WORD]!;
}

export function runNext(words: Uint32Array, run: number): number {
  return words[((run * PAGE_BYTES) >>> 2) + RUN_NEXT_WORD]!;
}

/**
 * Allocates a run of `pages` for the memtable at `headerPage` and persists its run header.
 * ERR_NVM_FULL propagates with nothing changed but, at worst, an unchained run that the next
 * unclean open frees.
 */
export function allocateRun(
  image: NvmImage,
  headerPage: number,
  pages: number,
  next: number,
): number {
  const run = image.allocPages(pages, PageKind.memtableArena, headerPage);
  const base = (run * PAGE_BYTES) >>> 2;
  image.words[base + RUN_NEXT_WORD] = next;
  image.words[base + RUN_PAGES_WORD] = pages;
  image.persist(run * PAGE_BYTES, RUN_HEADER_BYTES);
  return run;
}

/**
 * Moves `position` to where a record of `size` bytes can start, chaining a new run when the
 * chain has no room. Returns the bytes skipped at the end of the old run (0 if none).
 * Requires: caller holds the write mutex.
 */
export function placeRecordLocked(
  image: NvmImage,
  headerPage: number,
  position: ArenaPosition,
  size: number,
  runPagesDefault: number,
): number {
  const words = image.words;
  const end = Math.min(runEnd(words, position.run), TAIL_LIMIT);
  if (position.tail + size <= end) return 0;
  const skipped = end - position.tail;
  if (skipped > 0) words[(position.tail >>> 2) + R_BYTES] = 0; // "rest of this run unused"
  const needPages = Math.ceil((RUN_HEADER_BYTES + size) / PAGE_BYTES);
  const next = runNext(words, position.run);
  let run = next;
  if (next === 0 || runPages(words, next) < needPages) {
    // Chain a new run after the current one; a too-small existing next run stays after it.
    run = allocateRun(image, headerPage, Math.max(runPagesDefault, needPages), next);
    Atomics.store(words, ((position.run * PAGE_BYTES) >>> 2) + RUN_NEXT_WORD, run);
    image.persist(position.run * PAGE_BYTES + RUN_NEXT_WORD * 4, 4);
  }
  position.run = run;
  position.tail = runStart(run) + RUN_HEADER_BYTES;
  assert(position.tail + size <= Math.min(runEnd(words, run), TAIL_LIMIT), 'record misfits');
  return skipped;
}

/** Where the chain stands: the run holding `tail`, the runs, and the bytes consumed up to `tail`. */
export interface ChainSummary {
  readonly currentRun: number;
  readonly runs: readonly number[];
  readonly arenaBytes: number;
}

/** Walks the chain from `firstRun` to find the run holding `tail` (O(runs), never records). */
export function summarizeChain(
  image: NvmImage,
  firstRun: number,
  tail: number,
  headerPage: number,
): ChainSummary {
  const words = image.words;
  const runs: number[] = [];
  let currentRun = 0;
  let arenaBytes = 0;
  for (let run = firstRun; run !== 0; run = runNext(words, run)) {
    if (runs.length >= RUNS_MAX || image.pageKind(run) !== PageKind.memtableArena) {
      throw new StrataError(
        'ERR_CORRUPT',
        `memtable ${headerPage} in ${image.path}: arena chain names page ${run} at byte ${run * PAGE_BYTES}, not an arena run`,
      );
    }
    runs.push(run);
    if (currentRun !== 0) continue;
    // Run headers do not count, as in the writer's running total (batch-writer.ts).
    const first = runStart(run) + RUN_HEADER_BYTES;
    if (tail >= first && tail <= usableEnd(words, run)) {
      currentRun = run;
      arenaBytes += tail - first;
    } else {
      arenaBytes += usableEnd(words, run) - first;
    }
  }
  if (currentRun === 0) {
    throw new StrataError(
      'ERR_CORRUPT',
      `memtable ${headerPage} in ${image.path}: committed tail ${tail} lies in no arena run`,
    );
  }
  return { currentRun, runs, arenaBytes };
}
