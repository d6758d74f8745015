/**
 * Creating a table and recovering one. Recovery rebuilds only volatile state (the free bucket
 * stack, counts, lock words start at zero) and finishes the one structural change an intent
 * record may name; it never reads every record. After an unclean shutdown it also reclaims pages
 * a crash leaked (a directory being doubled, a half-created table) and counts keys from the bucket
 * state words (one word per 256-byte bucket).
 */

import { type NvmImageApi, PageKind } from '../../nvm/types.js';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import {
  bucketBase,
  clearIntentLocked,
  type HashCore,
  headerWordIndex,
  persistBucketState,
  persistHeader,
  readIntent,
} from './hash-core.js';
import { hashKey } from './key-words.js';
import {
  BUCKET_BYTES,
  BUCKET_HEADER_WORDS,
  BUCKETS_PER_PAGE,
  DIRECTORY_ENTRIES_PER_PAGE,
  directoryPages,
  dirWordDepth,
  dirWordPage,
  encodeDirWord,
  H_BUCKET_BYTES,
  H_DIR,
  H_INITIAL_DEPTH,
  H_MAGIC,
  H_SIZE_HI,
  H_SIZE_LO,
  H_SIZE_VALID,
  H_SLOT_BYTES,
  H_SLOTS_PER_BUCKET,
  H_VERSION,
  HEADER_FORMAT_VERSION,
  HEADER_MAGIC,
  INITIAL_GLOBAL_DEPTH,
  INTENT_SLOTS,
  IntentOp,
  PAGE_BUCKETS_FULL,
  PAGE_BYTES,
  SLOT_BYTES,
  SLOT_WORDS,
  SLOTS_PER_BUCKET,
  stateBitmap,
  stateDepth,
  stateWord,
} from './layout.js';
import { pointEntriesLocked } from './structure.js';

/**
 * Builds a new empty table: header, one page of 16 buckets at depth 4, a 16-entry directory.
 * Returns the header page. The caller commits it by storing it in a root word; until then a
 * crash leaves only pages that `reclaimOrphanTables` frees.
 */
export function createTable(image: NvmImageApi): number {
  const headerPage = image.allocPages(1, PageKind.ehashHeader, 0);
  const bucketPage = image.allocPages(1, PageKind.ehashBuckets, headerPage);
  const dirPage = image.allocPages(
    directoryPages(INITIAL_GLOBAL_DEPTH),
    PageKind.ehashDirectory,
    headerPage,
  );
  const words = image.words;
  const initialBuckets = 2 ** INITIAL_GLOBAL_DEPTH;
  assert(initialBuckets === BUCKETS_PER_PAGE, 'the initial buckets fill exactly one page');
  for (let slot = 0; slot < initialBuckets; slot++) {
    const bucketId = bucketPage * BUCKETS_PER_PAGE + slot;
    words[bucketBase(bucketId)] = stateWord(0, INITIAL_GLOBAL_DEPTH);
    words[dirPage * DIRECTORY_ENTRIES_PER_PAGE + slot] = bucketId;
  }
  image.persist(bucketPage * PAGE_BYTES, PAGE_BYTES);
  image.persist(dirPage * PAGE_BYTES, initialBuckets * 4);
  image.setPageAux(bucketPage, PAGE_BUCKETS_FULL);
  const header = headerPage * (PAGE_BYTES / 4);
  words[header + H_MAGIC / 4] = HEADER_MAGIC;
  words[header + H_VERSION / 4] = HEADER_FORMAT_VERSION;
  words[header + H_SLOT_BYTES / 4] = SLOT_BYTES;
  words[header + H_SLOTS_PER_BUCKET / 4] = SLOTS_PER_BUCKET;
  words[header + H_BUCKET_BYTES / 4] = BUCKET_BYTES;
  words[header + H_INITIAL_DEPTH / 4] = INITIAL_GLOBAL_DEPTH;
  words[header + H_DIR / 4] = encodeDirWord(dirPage, INITIAL_GLOBAL_DEPTH);
  words[header + H_SIZE_VALID / 4] = 1;
  image.persist(headerPage * PAGE_BYTES, PAGE_BYTES);
  return headerPage;
}

/** Refuses a header that is not an extendible hash of a version and layout this code reads. */
export function checkHeader(image: NvmImageApi, headerPage: number): void {
  const where = `${image.path} at byte ${headerPage * PAGE_BYTES}`;
  if (
    headerPage <= 0 ||
    headerPage >= image.pageCountMax ||
    image.pageKind(headerPage) !== PageKind.ehashHeader
  ) {
    throw new StrataError(
      'ERR_CORRUPT',
      `the hash table root names page ${headerPage}, which is not a hash header (${image.path})`,
    );
  }
  const header = headerPage * (PAGE_BYTES / 4);
  const words = image.words;
  if (words[header + H_MAGIC / 4] !== HEADER_MAGIC) {
    throw new StrataError('ERR_CORRUPT', `bad hash table header magic in ${where}`);
  }
  const version = words[header + H_VERSION / 4]!;
  if (version > HEADER_FORMAT_VERSION) {
    throw new StrataError(
      'ERR_NVM_VERSION',
      `hash table format version ${version} in ${where} is newer than ${HEADER_FORMAT_VERSION}; upgrade strata-kv`,
    );
  }
  const layoutMatches =
    version === HEADER_FORMAT_VERSION &&
    words[header + H_SLOT_BYTES / 4] === SLOT_BYTES &&
    words[header + H_SLOTS_PER_BUCKET / 4] === SLOTS_PER_BUCKET &&
    words[header + H_BUCKET_BYTES / 4] === BUCKET_BYTES &&
    words[header + H_INITIAL_DEPTH / 4] === INITIAL_GLOBAL_DEPTH;
  if (!layoutMatches)
    throw new StrataError('ERR_CORRUPT', `unexpected hash table layout in ${where}`);
  const dirWord = words[header + H_DIR / 4]!;
  const dirPage = dirWordPage(dirWord);
  if (
    dirPage <= 0 ||
    dirPage >= image.pageCountMax ||
    image.pageKind(dirPage) !== PageKind.ehashDirectory
  ) {
    throw new StrataError(
      'ERR_CORRUPT',
      `hash table directory word ${dirWord} names no directory page in ${where}`,
    );
  }
  if (dirWordDepth(dirWord) < INITIAL_GLOBAL_DEPTH) {
    throw new StrataError(
      'ERR_CORRUPT',
      `hash table global depth ${dirWordDepth(dirWord)} is too small in ${where}`,
    );
  }
}

/**
 * Finishes the structural changes the intent records name (at most one per handle slot; they
 * touch disjoint buckets and entries, so their order does not matter). Runs at open, before any
 * other thread.
 */
export function redoIntents(core: HashCore): void {
  for (let slot = 0; slot < INTENT_SLOTS; slot++) redoIntent(core, slot);
}

function redoIntent(core: HashCore, slot: number): void {
  const intent = readIntent(core, slot);
  if (intent.op === IntentOp.none) return;
  const words = core.words;
  if (intent.op === IntentOp.split) {
    const { bucketA: oldId, bucketB: newId, depth, pattern } = intent;
    core.allocator.commit(newId);
    pointEntriesLocked(core, pattern | (2 ** depth), depth + 1, newId);
    let kept = stateBitmap(words[bucketBase(oldId)]!);
    for (let slot = 0; slot < SLOTS_PER_BUCKET; slot++) {
      if ((kept & (1 << slot)) === 0) continue;
      const at = bucketBase(oldId) + BUCKET_HEADER_WORDS + slot * SLOT_WORDS;
      if (((hashKey(words[at + 1]!, words[at]!) >>> depth) & 1) === 1) kept &= ~(1 << slot);
    }
    Atomics.store(words, bucketBase(oldId), stateWord(kept, depth + 1));
    persistBucketState(core, oldId);
  } else if (intent.op === IntentOp.merge) {
    const { bucketA: emptyId, bucketB: buddyId, depth, pattern } = intent;
    pointEntriesLocked(core, pattern, depth, buddyId);
    const buddyState = words[bucketBase(buddyId)]!;
    Atomics.store(words, bucketBase(buddyId), stateWord(stateBitmap(buddyState), depth - 1));
    persistBucketState(core, buddyId);
    core.allocator.release(emptyId);
  } else {
    throw new StrataError(
      'ERR_CORRUPT',
      `unknown hash table intent ${String(intent.op)} in ${core.image.path}`,
    );
  }
  clearIntentLocked(core, slot);
}

/** After an unclean shutdown: frees directory pages of this table other than the live directory. */
export function reclaimLeakedDirectories(core: HashCore): void {
  const dirWord = Atomics.load(core.words, core.dirWordIndex);
  const live = dirWordPage(dirWord);
  const leaked: number[] = [];
  core.image.forEachPage(PageKind.ehashDirectory, core.headerPage, (pageIndex) => {
    if (pageIndex !== live) leaked.push(pageIndex);
  });
  for (const pageIndex of leaked)
    core.image.freePages(pageIndex, core.image.pageRunLength(pageIndex));
  if (leaked.length === 0) return;
  assert(core.image.pageKind(live) === PageKind.ehashDirectory, 'the live directory survives');
}

/**
 * Frees every table whose header is not in `liveHeaders` (a crash during `createTable`, or
 * during `dropTable`), with all pages it owns.
 */
export function reclaimOrphanTables(image: NvmImageApi, liveHeaders: ReadonlySet<number>): void {
  const orphans: number[] = [];
  image.forEachPage(PageKind.ehashHeader, undefined, (pageIndex) => {
    if (!liveHeaders.has(pageIndex)) orphans.push(pageIndex);
  });
  for (const headerPage of orphans) dropTable(image, headerPage);
}

/**
 * Frees a table's bucket and directory pages, then its header. A crash part-way leaves a header
 * that owns fewer pages; dropping it again (or reclaiming it as an orphan) finishes the job.
 */
export function dropTable(image: NvmImageApi, headerPage: number): void {
  if (image.pageKind(headerPage) !== PageKind.ehashHeader) return;
  for (const kind of [PageKind.ehashBuckets, PageKind.ehashDirectory] as const) {
    const owned: number[] = [];
    image.forEachPage(kind, headerPage, (pageIndex) => owned.push(pageIndex));
    for (const pageIndex of owned) image.freePages(pageIndex, image.pageRunLength(pageIndex));
  }
  image.freePages(headerPage, 1);
}

export function readSavedSize(core: HashCore): number | undefined {
  const words = core.words;
  if (words[headerWordIndex(core, H_SIZE_VALID)] !== 1) return undefined;
  return (
    words[headerWordIndex(core, H_SIZE_HI)]! * 2 ** 32 + words[headerWordIndex(core, H_SIZE_LO)]!
  );
}

/** The saved size is valid only until the first write: open clears it, close writes it. */
export function writeSavedSize(core: HashCore, keys: number | undefined): void {
  const words = core.words;
  if (keys === undefined) {
    Atomics.store(words, headerWordIndex(core, H_SIZE_VALID), 0);
    persistHeader(core, H_SIZE_VALID, 4);
    return;
  }
  words[headerWordIndex(core, H_SIZE_LO)] = keys % 2 ** 32;
  words[headerWordIndex(core, H_SIZE_HI)] = Math.floor(keys / 2 ** 32);
  persistHeader(core, H_SIZE_LO, 8);
  Atomics.store(words, headerWordIndex(core, H_SIZE_VALID), 1);
  persistHeader(core, H_SIZE_VALID, 4);
}

export function checkDepths(core: HashCore): void {
  const dirWord = Atomics.load(core.words, core.dirWordIndex);
  const globalDepth = dirWordDepth(dirWord);
  const base = dirWordPage(dirWord) * DIRECTORY_ENTRIES_PER_PAGE;
  for (let index = 0; index < 2 ** globalDepth; index++) {
    const bucketId = core.words[base + index]!;
    const depth = stateDepth(core.words[bucketBase(bucketId)]!);
    assert(depth <= globalDepth, `bucket ${bucketId} deeper than the directory`);
    assert(
      core.words[base + (index & (2 ** depth - 1))] === bucketId,
      `entry ${index} disagrees with bucket ${bucketId}`,
    );
  }
}
