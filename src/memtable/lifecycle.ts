/**
 * Creating, checking, dropping and reclaiming memtables in an image. The caller (the engine's
 * catalog) records a header page durably after `createMemtable` returns it: that is the commit
 * point of a create. A create or drop cut short leaves pages that `reclaimOrphanMemtables` frees.
 * FORMAT.md, "Lifecycle".
 */
import type { NvmImage } from '../../nvm/image.js';
import { SB_DATA_FIRST_PAGE } from '../../nvm/layout.js';
import { PageKind } from '../../nvm/types.js';
import { assert } from '../assert.js';
import { PmEHash } from '../ehash/pm-ehash.js';
import { StrataError } from '../errors.js';
import { allocateRun } from './arena.js';
import { currentBootTag } from './boot-tag.js';
import {
  FLAG_VOLATILE_INDEX,
  H_BASE_SEQ_HIGH,
  H_BASE_SEQ_LOW,
  H_BOOT_TAG,
  H_COMMIT,
  H_FIRST_RUN,
  H_FLAGS,
  H_HASH_PAGE,
  H_MAGIC,
  H_RUN_BYTES,
  H_USED_BYTES,
  H_VERSION,
  headerWord,
  MEMTABLE_FORMAT_VERSION,
  MEMTABLE_MAGIC,
  PAGE_BYTES,
  RUN_BYTES_DEFAULT,
  RUN_HEADER_BYTES,
} from './layout.js';

export interface MemtableCreateOptions {
  /** Bytes of each arena run; a multiple of 4096. Default 1 MiB. */
  readonly runSizeBytes?: number;
  /** Every record's seq must exceed it, and stay below baseSeq + 2^32. Default 0. */
  readonly baseSeq?: number;
  /**
   * Persist only the records and the commit mark per batch; rebuild the index after a power loss
   * (FLAG_VOLATILE_INDEX). Only sound where a process crash keeps every store (the mapped
   * backend) or in tests that model a power loss at every crash. Default false.
   */
  readonly volatileIndex?: boolean;
}

/** Allocates and persists an empty memtable; returns its header page. */
export function createMemtable(image: NvmImage, options: MemtableCreateOptions = {}): number {
  const runBytes = options.runSizeBytes ?? RUN_BYTES_DEFAULT;
  const baseSeq = options.baseSeq ?? 0;
  if (!Number.isInteger(runBytes) || runBytes < PAGE_BYTES || runBytes % PAGE_BYTES !== 0) {
    throw new StrataError('ERR_INVALID_ARGUMENT', `runSizeBytes must be a multiple of 4096`);
  }
  if (runBytes > 2 ** 31) throw new StrataError('ERR_INVALID_ARGUMENT', 'runSizeBytes too large');
  if (!Number.isSafeInteger(baseSeq) || baseSeq < 0) {
    throw new StrataError('ERR_INVALID_ARGUMENT', `baseSeq must be a safe integer >= 0`);
  }
  const headerPage = image.allocPages(1, PageKind.memtableHeader, 0);
  try {
    const firstRun = allocateRun(image, headerPage, runBytes / PAGE_BYTES, 0);
    const hashPage = PmEHash.createIn(image);
    const words = image.words;
    words[headerWord(headerPage, H_MAGIC)] = MEMTABLE_MAGIC;
    words[headerWord(headerPage, H_VERSION)] = MEMTABLE_FORMAT_VERSION;
    words[headerWord(headerPage, H_HASH_PAGE)] = hashPage;
    words[headerWord(headerPage, H_RUN_BYTES)] = runBytes;
    words[headerWord(headerPage, H_BASE_SEQ_LOW)] = baseSeq % 2 ** 32;
    words[headerWord(headerPage, H_BASE_SEQ_HIGH)] = Math.floor(baseSeq / 2 ** 32);
    words[headerWord(headerPage, H_FIRST_RUN)] = firstRun;
    words[headerWord(headerPage, H_COMMIT)] = firstRun * PAGE_BYTES + RUN_HEADER_BYTES;
    words[headerWord(headerPage, H_FLAGS)] =
      options.volatileIndex === true ? FLAG_VOLATILE_INDEX : 0;
    words[headerWord(headerPage, H_BOOT_TAG)] =
      options.volatileIndex === true ? currentBootTag() : 0;
    image.persist(headerPage * PAGE_BYTES, H_USED_BYTES);
    return headerPage;
  } catch (error) {
    if (error instanceof StrataError && error.code === 'ERR_NVM_FULL') {
      dropMemtable(image, headerPage);
    }
    throw error;
  }
}

/** The fields open needs, after checking the header. ERR_CORRUPT / ERR_FORMAT_VERSION. */
export interface HeaderFields {
  /** FLAG_VOLATILE_INDEX is set (FORMAT.md, "Volatile index"). */
  readonly volatileIndex: boolean;
  /** The boot tag the header records (boot-tag.ts). */
  readonly bootTag: number;
  readonly hashPage: number;
  readonly runBytes: number;
  readonly baseSeq: number;
  readonly firstRun: number;
}

export function readHeader(image: NvmImage, headerPage: number): HeaderFields {
  const dataFirstPage = image.words[SB_DATA_FIRST_PAGE / 4]!;
  if (
    !Number.isInteger(headerPage) ||
    headerPage < dataFirstPage ||
    headerPage >= image.pageCountMax
  ) {
    throw new StrataError('ERR_INVALID_ARGUMENT', `${headerPage} is not a page of the image`);
  }
  const where = `memtable header page ${headerPage} of ${image.path}`;
  const at = (offset: number): string => `at byte ${headerPage * PAGE_BYTES + offset}`;
  if (image.pageKind(headerPage) !== PageKind.memtableHeader) {
    throw new StrataError('ERR_CORRUPT', `${where} is not a memtable header page ${at(0)}`);
  }
  const words = image.words;
  if (words[headerWord(headerPage, H_MAGIC)] !== MEMTABLE_MAGIC) {
    throw new StrataError('ERR_CORRUPT', `${where}: bad magic ${at(H_MAGIC)}`);
  }
  const version = words[headerWord(headerPage, H_VERSION)]!;
  if (version > MEMTABLE_FORMAT_VERSION) {
    throw new StrataError('ERR_FORMAT_VERSION', `${where}: format version ${version} is newer`);
  }
  if (version !== MEMTABLE_FORMAT_VERSION) {
    throw new StrataError('ERR_CORRUPT', `${where}: version ${version} ${at(H_VERSION)}`);
  }
  const hashPage = words[headerWord(headerPage, H_HASH_PAGE)]!;
  if (image.pageKind(hashPage) !== PageKind.ehashHeader) {
    throw new StrataError('ERR_CORRUPT', `${where}: no hash table ${at(H_HASH_PAGE)}`);
  }
  const runBytes = words[headerWord(headerPage, H_RUN_BYTES)]!;
  if (runBytes < PAGE_BYTES || runBytes % PAGE_BYTES !== 0) {
    throw new StrataError('ERR_CORRUPT', `${where}: run size ${runBytes} ${at(H_RUN_BYTES)}`);
  }
  const baseSeq =
    words[headerWord(headerPage, H_BASE_SEQ_HIGH)]! * 2 ** 32 +
    words[headerWord(headerPage, H_BASE_SEQ_LOW)]!;
  const firstRun = words[headerWord(headerPage, H_FIRST_RUN)]!;
  const flags = words[headerWord(headerPage, H_FLAGS)]!;
  if ((flags & ~FLAG_VOLATILE_INDEX) !== 0) {
    throw new StrataError(
      'ERR_CORRUPT',
      `${where}: unknown flags 0x${flags.toString(16)} ${at(H_FLAGS)}`,
    );
  }
  return {
    volatileIndex: (flags & FLAG_VOLATILE_INDEX) !== 0,
    bootTag: words[headerWord(headerPage, H_BOOT_TAG)]!,
    hashPage,
    runBytes,
    baseSeq,
    firstRun,
  };
}

/**
 * Frees the hash table, the arena runs and then the header, so a drop cut short leaves a header
 * that owns fewer pages and that dropping again (or reclaiming) finishes. Idempotent.
 * Requires: no thread uses the memtable any more.
 */
export function dropMemtable(image: NvmImage, headerPage: number): void {
  if (image.pageKind(headerPage) !== PageKind.memtableHeader) return;
  const hashPage = image.words[headerWord(headerPage, H_HASH_PAGE)]!;
  if (hashPage !== 0) PmEHash.dropIn(image, hashPage);
  const runs: number[] = [];
  image.forEachPage(PageKind.memtableArena, headerPage, (page) => runs.push(page));
  for (const run of runs) image.freePages(run, image.pageRunLength(run));
  image.freePages(headerPage, 1);
  assert(image.pageKind(headerPage) === PageKind.free);
}

export interface ReclaimOptions {
  /** Hash tables in the image that belong to other structures and must stay. */
  readonly keepHashHeaders?: ReadonlySet<number>;
}

/**
 * Frees every memtable whose header is not in `liveHeaders`, every hash table that no live
 * memtable (nor `keepHashHeaders`) names, and every arena run whose owner is no live header.
 * Call it once after an unclean shutdown, before opening the live memtables.
 */
export function reclaimOrphanMemtables(
  image: NvmImage,
  liveHeaders: ReadonlySet<number>,
  options: ReclaimOptions = {},
): void {
  const orphans: number[] = [];
  image.forEachPage(PageKind.memtableHeader, undefined, (page) => {
    if (!liveHeaders.has(page)) orphans.push(page);
  });
  for (const headerPage of orphans) dropMemtable(image, headerPage);
  const liveHashes = new Set(options.keepHashHeaders ?? []);
  for (const headerPage of liveHeaders) {
    if (image.pageKind(headerPage) !== PageKind.memtableHeader) continue;
    liveHashes.add(image.words[headerWord(headerPage, H_HASH_PAGE)]!);
  }
  PmEHash.reclaimOrphansIn(image, liveHashes);
  const strayRuns: number[] = [];
  image.forEachPage(PageKind.memtableArena, undefined, (run) => {
    const owner = image.pageOwner(run);
    if (!liveHeaders.has(owner) || image.pageKind(owner) !== PageKind.memtableHeader) {
      strayRuns.push(run);
    }
  });
  for (const run of strayRuns) image.freePages(run, image.pageRunLength(run));
}
