/**
 * Reading and rebuilding the page table (FORMAT.md, "Page table"). A run of pages is allocated
 * exactly when its first page's commit word (descriptor bytes 0..7) holds a non-free kind without
 * the continuation flag; the run then covers `runLength` pages. Everything else, including
 * continuation descriptors that no committed run covers (left by a crash inside allocPages or by
 * freePages), means "free". So open needs no undo log: it walks the commit words below the
 * high-water mark, rebuilds the free map and clears stale descriptors in memory.
 */
import { StrataError } from '../src/errors.js';
import { markPagesLocked } from './free-map.js';
import {
  D_KIND_FLAGS_WORD,
  D_OWNER_WORD,
  D_RUN_WORD,
  DESCRIPTOR_WORDS,
  descriptorOffsetBytes,
  descriptorWordIndex,
  FLAG_CONTINUATION,
  FLAGS_KNOWN,
  type ImageGeometry,
  type U16,
  type U32,
} from './layout.js';
import { PageKind } from './types.js';

export interface ScanResult {
  readonly pagesAllocated: number;
}

/** The commit word of a descriptor: kind | flags << 16 in the low half, runLength in the high. */
export function commitWordValue(kind: U16, flags: U16, runLength: U32): bigint {
  return BigInt((kind | (flags << 16)) >>> 0) | (BigInt(runLength) << 32n);
}

/** Index of a page's commit word in a BigUint64Array over the image. */
export function commitWordIndex(geometry: ImageGeometry, pageIndex: number): number {
  return descriptorOffsetBytes(geometry, pageIndex) / 8;
}

/**
 * Rebuilds the free map from the descriptors of pages [dataFirstPage, pagesHighWater) and zeroes
 * stale commit words in memory (not persisted: on disk they already mean "free").
 * Requires: the image is not yet shared with other threads; `freeMap` is all zero.
 */
export function scanPageTable(
  image: { readonly words: Uint32Array; readonly words64: BigUint64Array },
  geometry: ImageGeometry,
  scan: { readonly path: string; readonly pagesHighWater: number; readonly freeMap: Int32Array },
): ScanResult {
  const { words, words64 } = image;
  const { path, pagesHighWater, freeMap } = scan;
  checkMetadataDescriptors(words, geometry, path);
  markPagesLocked(
    freeMap,
    geometry.dataFirstPage,
    geometry.pageCountMax - geometry.dataFirstPage,
    true,
  );
  let pagesAllocated = 0;
  let page = geometry.dataFirstPage;
  while (page < pagesHighWater) {
    const wordIndex = descriptorWordIndex(geometry, page);
    const kindFlags = words[wordIndex + D_KIND_FLAGS_WORD]!;
    const kind = kindFlags & 0xffff;
    const flags = kindFlags >>> 16;
    if (kind === PageKind.free || (flags & FLAG_CONTINUATION) !== 0) {
      if (kindFlags !== 0 || words[wordIndex + D_RUN_WORD] !== 0) {
        words64[commitWordIndex(geometry, page)] = 0n;
      }
      page++;
      continue;
    }
    const runLength = words[wordIndex + D_RUN_WORD]!;
    checkRun({ path, geometry, page, kind, flags, runLength, pagesHighWater });
    markPagesLocked(freeMap, page, runLength, false);
    pagesAllocated += runLength;
    page += runLength;
  }
  return { pagesAllocated };
}

/**
 * Visits the first page of every committed run of `kind` (and `owner`) below the high-water mark.
 * Requires: caller holds the allocator mutex, or no other thread allocates.
 */
export function collectRunsLocked(
  words: Uint32Array,
  geometry: ImageGeometry,
  query: {
    readonly pagesHighWater: number;
    readonly kind: number;
    readonly owner: number | undefined;
  },
): number[] {
  const found: number[] = [];
  let page = geometry.dataFirstPage;
  while (page < query.pagesHighWater) {
    const wordIndex = descriptorWordIndex(geometry, page);
    // Plain loads: the caller holds the allocator mutex, so no descriptor changes under us, and
    // recovery runs this loop cold, where every Atomics call costs a builtin call.
    const kindFlags = words[wordIndex + D_KIND_FLAGS_WORD]!;
    const kind = kindFlags & 0xffff;
    if (kind === PageKind.free || ((kindFlags >>> 16) & FLAG_CONTINUATION) !== 0) {
      page++;
      continue;
    }
    const owner = words[wordIndex + D_OWNER_WORD];
    if (kind === query.kind && (query.owner === undefined || owner === query.owner))
      found.push(page);
    page += Math.max(1, words[wordIndex + D_RUN_WORD]!);
  }
  return found;
}

function checkRun(run: {
  readonly path: string;
  readonly geometry: ImageGeometry;
  readonly page: number;
  readonly kind: number;
  readonly flags: number;
  readonly runLength: number;
  readonly pagesHighWater: number;
}): void {
  const offset = descriptorOffsetBytes(run.geometry, run.page);
  const corrupt = (what: string): StrataError =>
    new StrataError(
      'ERR_CORRUPT',
      `page table of ${run.path} at byte ${offset} (page ${run.page}): ${what}`,
    );
  if ((run.flags & ~FLAGS_KNOWN) !== 0)
    throw corrupt(`unknown descriptor flags 0x${run.flags.toString(16)}`);
  if (run.kind === PageKind.superblock || run.kind === PageKind.pageTable) {
    throw corrupt(`data page has metadata kind ${run.kind}`);
  }
  if (run.runLength === 0) throw corrupt('allocated run of length 0');
  if (run.page + run.runLength > run.pagesHighWater) {
    throw corrupt(`run of ${run.runLength} pages ends beyond pagesHighWater ${run.pagesHighWater}`);
  }
}

function checkMetadataDescriptors(words: Uint32Array, geometry: ImageGeometry, path: string): void {
  const expected: readonly (readonly [number, number, number])[] = [
    [0, PageKind.superblock, 1],
    [geometry.pageTableFirstPage, PageKind.pageTable, geometry.pageTablePageCount],
  ];
  for (const [page, kind, runLength] of expected) {
    const wordIndex = descriptorWordIndex(geometry, page);
    if (
      words[wordIndex + D_KIND_FLAGS_WORD] !== kind ||
      words[wordIndex + D_RUN_WORD] !== runLength
    ) {
      throw new StrataError(
        'ERR_CORRUPT',
        `page table of ${path} at byte ${descriptorOffsetBytes(geometry, page)}: descriptor of ` +
          `page ${page} should record kind ${kind} over ${runLength} pages`,
      );
    }
  }
}

/** Descriptor words for the metadata pages, written once when an image is created. */
export function encodeMetadataDescriptors(
  descriptorWords: Uint32Array,
  geometry: ImageGeometry,
): void {
  const put = (page: number, kind: number, flags: number, runLength: number): void => {
    const base = page * DESCRIPTOR_WORDS;
    descriptorWords[base + D_KIND_FLAGS_WORD] = (kind | (flags << 16)) >>> 0;
    descriptorWords[base + D_RUN_WORD] = runLength;
  };
  put(0, PageKind.superblock, 0, 1);
  put(geometry.pageTableFirstPage, PageKind.pageTable, 0, geometry.pageTablePageCount);
  for (let distance = 1; distance < geometry.pageTablePageCount; distance++) {
    put(geometry.pageTableFirstPage + distance, PageKind.pageTable, FLAG_CONTINUATION, distance);
  }
}
