/**
 * Rebuilding the volatile index of a memtable (FLAG_VOLATILE_INDEX) after a power loss. Only the
 * records and the commit mark were persisted in order; the skiplist links, the hash and the
 * batch intent may hold any mix of old and new stores. The rebuild trusts only what was
 * persisted in order: it creates a fresh hash, points the header at it, frees the old one, then
 * links every record below the committed tail, in arena (= seq) order, exactly as the write path
 * would. A record past the tail (a batch whose commit mark never landed) is never linked. A crash
 * during the rebuild leaves the boot tag unchanged, so the next open rebuilds again (every step
 * is safe to repeat). FORMAT.md, "Volatile index".
 *
 * Thread model: runs inside `Memtable.open`, before any other thread can see the memtable.
 */
import type { NvmImage } from '../../nvm/image.js';
import { PmEHash } from '../ehash/pm-ehash.js';
import { StrataError } from '../errors.js';
import { runNext, runStart, usableEnd } from './arena.js';
import { linkRecordLocked } from './batch-writer.js';
import { commitWordIndex, type MemtableCore } from './core.js';
import {
  H_BOOT_TAG,
  H_HASH_PAGE,
  H_INTENT,
  H_INTENT_BEFORE,
  HEIGHT_MAX,
  headerWord,
  headNode,
  nextWord,
  R_BYTES,
  R_HEADER_WORDS,
  RUN_HEADER_BYTES,
} from './layout.js';

/**
 * Step 1, before the hash is opened: a fresh, empty hash becomes the header's, then the old one
 * is freed. Returns the new hash's header page.
 */
export function replaceHashForRebuild(image: NvmImage, headerPage: number): number {
  const hashWord = headerWord(headerPage, H_HASH_PAGE);
  const oldHashPage = image.words[hashWord]!;
  const newHashPage = PmEHash.createIn(image);
  Atomics.store(image.words, hashWord, newHashPage);
  image.persist(hashWord * 4, 4);
  // A crash before this drop leaves the old hash unreferenced: reclaimOrphans frees it.
  PmEHash.dropIn(image, oldHashPage);
  return newHashPage;
}

/**
 * Step 2, on the core over the new hash: empty skiplist, every committed record linked, the
 * batch intent rewritten to name no batch in flight. Returns how many records were linked.
 */
export function relinkCommittedRecords(core: MemtableCore): number {
  const words = core.words;
  const head = headNode(core.headerPage);
  words.fill(0, nextWord(head, 0), nextWord(head, HEIGHT_MAX));
  const tail = words[commitWordIndex(core)]!;
  let count = 0;
  forEachCommittedRecord(core, tail, (address) => {
    linkRecordLocked(core, address);
    count++;
  });
  const beforeWord = headerWord(core.headerPage, H_INTENT_BEFORE);
  const intentWord = headerWord(core.headerPage, H_INTENT);
  Atomics.store(core.words64, beforeWord >>> 1, BigInt(count) | (BigInt(tail) << 32n));
  Atomics.store(core.words64, intentWord >>> 1, BigInt(tail));
  return count;
}

/** Step 3, last: records this boot, durably, so that later opens in it skip the rebuild. */
export function recordBootTag(image: NvmImage, headerPage: number, bootTag: number): void {
  const tagWord = headerWord(headerPage, H_BOOT_TAG);
  Atomics.store(image.words, tagWord, bootTag);
  image.persist(tagWord * 4, 4);
}

/**
 * Visits the record addresses from the first run's start up to `tail`, moving to the next run at
 * a 0 record-bytes word or at the run's end, as the writer placed them.
 */
function forEachCommittedRecord(
  core: MemtableCore,
  tail: number,
  visit: (address: number) => void,
): void {
  const words = core.words;
  let run = core.firstRun;
  let position = runStart(run) + RUN_HEADER_BYTES;
  // Each step advances by at least one 8-byte record or one run: bounded by the image size.
  const stepsMax = core.image.pageCountMax * (4096 / 8) + 1;
  for (let step = 0; position !== tail; step++) {
    if (step >= stepsMax) throw corrupt(core, position, 'the arena walk does not reach the tail');
    const end = usableEnd(words, run);
    if (position + 8 > end || words[(position >>> 2) + R_BYTES] === 0) {
      run = runNext(words, run);
      if (run === 0) throw corrupt(core, position, 'the committed tail is past the arena chain');
      position = runStart(run) + RUN_HEADER_BYTES;
      continue;
    }
    const size = words[(position >>> 2) + R_BYTES]!;
    if (size < 4 * (R_HEADER_WORDS + 1) || size % 8 !== 0 || position + size > end) {
      throw corrupt(core, position, `record bytes ${size} do not fit its run`);
    }
    visit(position);
    position += size;
  }
}

function corrupt(core: MemtableCore, address: number, what: string): StrataError {
  return new StrataError(
    'ERR_CORRUPT',
    `memtable ${core.headerPage} of ${core.image.path}: ${what} at byte ${address}`,
  );
}
