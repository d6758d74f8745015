/**
 * Open-time recovery: O(in-flight batch), never O(records). Reads the commit word; if the batch
 * intent names a batch starting at the committed tail, that batch's commit mark never landed and
 * it is rolled back (rollback.ts). Then the volatile runtime words are rebuilt: visibleSeq from
 * the applied seq, the entry count from the intent words, the current run and arena bytes from
 * the run chain. After an unclean shutdown, arena runs this memtable owns but never chained are
 * freed. FORMAT.md, "Recovery".
 */
import { PageKind } from '../../nvm/types.js';
import { summarizeChain } from './arena.js';
import { commitWordIndex, type MemtableCore } from './core.js';
import {
  H_INTENT,
  H_INTENT_BEFORE,
  headerWord,
  RT_ARENA_BYTES,
  RT_CURRENT_RUN,
  RT_ENTRY_COUNT,
  RT_RANDOM,
  RT_VISIBLE_OFFSET,
} from './layout.js';
import { rollBackBatchLocked } from './rollback.js';

/** Requires: no other thread uses the memtable yet (it is being opened). */
export function recoverOnOpen(core: MemtableCore, heightSeed: number): void {
  const words = core.words;
  const commitWord = commitWordIndex(core);
  const tail = words[commitWord]!;
  const appliedOffset = words[commitWord + 1]!;
  const beforeWord = headerWord(core.headerPage, H_INTENT_BEFORE);
  const intentWord = headerWord(core.headerPage, H_INTENT);
  const countBefore = words[beforeWord]!;
  const beforeStart = words[beforeWord + 1]!;
  const intentStart = words[intentWord]!;
  const intentCount = words[intentWord + 1]!;
  const chain = summarizeChain(core.image, core.firstRun, tail, core.headerPage);
  let entryCount = countBefore;
  if (beforeStart === intentStart) {
    if (intentStart === tail && intentCount > 0) {
      rollBackBatchLocked(core, {
        startTail: tail,
        count: intentCount,
        startRun: chain.currentRun,
      });
    } else {
      entryCount += intentCount; // the intent names the last committed batch
    }
  }
  if (!core.image.wasCleanShutdown) freeUnchainedRuns(core, chain.runs);
  const runtime = core.runtime;
  runtime[RT_CURRENT_RUN] = chain.currentRun;
  runtime[RT_ENTRY_COUNT] = entryCount | 0;
  runtime[RT_ARENA_BYTES] = chain.arenaBytes | 0;
  runtime[RT_RANDOM] = (heightSeed ^ Math.imul(core.headerPage, 0x9e3779b1)) | 1;
  Atomics.store(runtime, RT_VISIBLE_OFFSET, appliedOffset | 0);
}

/** A run allocated for a batch whose chaining store never landed belongs to nobody. */
function freeUnchainedRuns(core: MemtableCore, chained: readonly number[]): void {
  const keep = new Set(chained);
  const stray: number[] = [];
  core.image.forEachPage(PageKind.memtableArena, core.headerPage, (run) => {
    if (!keep.has(run)) stray.push(run);
  });
  for (const run of stray) core.image.freePages(run, core.image.pageRunLength(run));
}
