/**
 * NvmImage: a SharedArrayBuffer that stands for persistent memory, backed by an image file.
 * Byte layout: FORMAT.md. Contract: types.ts. Start reading here, then open-image.ts (open,
 * recovery, attach), page-allocator.ts (what makes an allocation durable) and page-table.ts.
 *
 * Thread model: the opening thread owns the image (the fd, the lock, the clean-shutdown mark).
 * Any thread may call `NvmImage.attach(image.handle())` and gets an image over the same memory
 * and runtime buffer. allocPages, freePages and forEachPage serialise on the allocator mutex in
 * the runtime buffer; setPageAux, setRoot and persist need no lock (single atomic stores; each
 * page's aux and each root belongs to one structure, which orders its own writers). Closing an
 * attached image only detaches it; the owner closes last, after attached threads stopped.
 */
import { closeSync } from 'node:fs';
import { assert, invariantsEnabled } from '../src/assert.js';
import { StrataError } from '../src/errors.js';
import type { ImageBackend } from './backend.js';
import { destroyImageFile } from './image-file.js';
import {
  D_AUX_WORD,
  D_KIND_FLAGS_WORD,
  D_OWNER_WORD,
  D_RUN_WORD,
  DESCRIPTOR_WORDS,
  type ImageGeometry,
  PAGE_SIZE_BYTES,
  ROOT_COUNT,
  ROOT_OFFSET,
  SB_CLEAN_SHUTDOWN,
} from './layout.js';
import { attachImageParts, type ImageParts, openImageParts } from './open-image.js';
import { PAGES_HIGH_WATER_WORD, PageAllocator } from './page-allocator.js';
import {
  nextPersistNumber,
  persistCount,
  RT_CLOSED,
  RT_CRASHED,
  RT_PAGES_ALLOCATED,
  runtimeViews,
} from './runtime-layout.js';
import {
  type NvmBackendKind,
  type NvmDurability,
  type NvmHandle,
  type NvmImageApi,
  type NvmOpenOptions,
  type NvmStats,
  PageKind,
  type PageKindValue,
} from './types.js';

// Checks on hot paths build their failure message only when they fail: `if (bad) assert(false, ...)`.
const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;

export class NvmImage implements NvmImageApi {
  readonly path: string;
  readonly backend: NvmBackendKind;
  readonly durability: NvmDurability;
  readonly buffer: SharedArrayBuffer;
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  readonly words64: BigUint64Array;
  readonly pageSizeBytes = PAGE_SIZE_BYTES;
  readonly pageCountMax: number;
  readonly lockWords: Int32Array;
  readonly wasCleanShutdown: boolean;
  readonly rootCount = ROOT_COUNT;

  private readonly geometry: ImageGeometry;
  private readonly store: ImageBackend;
  private readonly persistWrites: boolean;
  private readonly runtime: SharedArrayBuffer;
  private readonly runtimeWords: Int32Array;
  private readonly allocator: PageAllocator;
  private readonly fd: number;
  private readonly owner: boolean;
  private readonly sizeMaxBytes: number;
  private closed = false;
  private persistsUnshared = 0;

  /** Opens (creating unless `create: false`) the image at `path`. See NvmOpenOptions. */
  static open(path: string, options: NvmOpenOptions = {}): NvmImage {
    return new NvmImage(openImageParts(path, options));
  }

  /** An image over the same memory as the one that made `handle`; does not own the file. */
  static attach(handle: NvmHandle): NvmImage {
    return new NvmImage(attachImageParts(handle));
  }

  /** Deletes the image file. Requires: no process has it open. Missing files are fine. */
  static destroy(path: string): void {
    destroyImageFile(path);
  }

  private constructor(parts: ImageParts) {
    this.path = parts.path;
    this.backend = parts.backendKind;
    this.durability = parts.durability;
    this.buffer = parts.buffer;
    this.bytes = new Uint8Array(parts.buffer);
    this.words = new Uint32Array(parts.buffer);
    this.words64 = new BigUint64Array(parts.buffer);
    this.geometry = parts.geometry;
    this.pageCountMax = parts.geometry.pageCountMax;
    this.sizeMaxBytes = parts.geometry.sizeMaxBytes;
    this.store = parts.backend;
    this.persistWrites = parts.backend.persistWrites;
    this.runtime = parts.runtime;
    const views = runtimeViews(parts.runtime, parts.geometry);
    this.runtimeWords = views.words;
    this.lockWords = views.lockWords;
    this.allocator = new PageAllocator(
      {
        path: this.path,
        bytes: this.bytes,
        words: this.words,
        words64: this.words64,
        geometry: this.geometry,
        persist: (offsetBytes, lengthBytes) => this.persist(offsetBytes, lengthBytes),
      },
      views,
    );
    this.fd = parts.fd;
    this.owner = parts.owner;
    this.wasCleanShutdown = parts.wasCleanShutdown;
  }

  persist(offsetBytes: number, lengthBytes: number): void {
    if (this.closed) throw this.closedError();
    if (!this.persistWrites) {
      // Mapped with process durability: the stores are already in the page cache. Count locally;
      // a shared counter here would bounce one cache line between all writing threads.
      if (invariantsEnabled) this.checkPersistRange(offsetBytes, lengthBytes);
      this.persistsUnshared++;
      return;
    }
    this.checkPersistRange(offsetBytes, lengthBytes);
    const persistNumber = nextPersistNumber(this.runtimeWords);
    if (this.persistWrites) this.store.persist(offsetBytes, lengthBytes, persistNumber);
  }

  /**
   * The same image, except that `persist` (and the persist inside `setPageAux` and
   * `updatePageAux`) only checks its range: stores through it reach the file when the OS writes
   * the pages back, in no particular order. For a structure that is rebuilt from data persisted
   * through the real image after a power loss, so that it need not pay for ordered persists
   * (the memtable's volatile index). Page allocation stays durable.
   */
  volatileView(): NvmImage {
    const view = Object.create(this) as NvmImage;
    const check = (offsetBytes: number, lengthBytes: number): void => {
      if (this.closed) throw this.closedError();
      if (invariantsEnabled) this.checkPersistRange(offsetBytes, lengthBytes);
    };
    Object.defineProperty(view, 'persist', { value: check });
    return view;
  }

  prefault(offsetBytes: number, lengthBytes: number): void {
    this.checkOpen();
    if (invariantsEnabled) this.checkPersistRange(offsetBytes, lengthBytes);
    this.store.prefault(offsetBytes, lengthBytes);
  }

  allocPages(count: number, kind: PageKindValue, owner: number): number {
    if (!(Number.isInteger(count) && count >= 1))
      assert(false, `allocPages count ${count} is not positive`);
    checkDataKind(kind);
    if (!(Number.isInteger(owner) && owner >= 0 && owner <= U32_MAX))
      assert(false, `owner ${owner} not a u32`);
    this.checkOpen();
    return this.allocator.allocate({ count, kind, owner });
  }

  freePages(pageIndex: number, count: number): void {
    this.checkPageIndex(pageIndex);
    this.checkOpen();
    this.allocator.free(pageIndex, count);
  }

  pageKind(pageIndex: number): number {
    this.checkPageIndex(pageIndex);
    return Atomics.load(this.words, this.descriptorWord(pageIndex) + D_KIND_FLAGS_WORD) & 0xffff;
  }

  pageOwner(pageIndex: number): number {
    this.checkPageIndex(pageIndex);
    return Atomics.load(this.words, this.descriptorWord(pageIndex) + D_OWNER_WORD);
  }

  /** The run's page count when `pageIndex` is the first page of an allocated run, else 0. */
  pageRunLength(pageIndex: number): number {
    this.checkPageIndex(pageIndex);
    const wordIndex = this.descriptorWord(pageIndex);
    const kindFlags = Atomics.load(this.words, wordIndex + D_KIND_FLAGS_WORD);
    if ((kindFlags & 0xffff) === PageKind.free || kindFlags >>> 16 !== 0) return 0;
    return Atomics.load(this.words, wordIndex + D_RUN_WORD);
  }

  pageAux(pageIndex: number): number {
    this.checkPageIndex(pageIndex);
    return Atomics.load(this.words, this.descriptorWord(pageIndex) + D_AUX_WORD);
  }

  setPageAux(pageIndex: number, value: number): void {
    this.checkPageIndex(pageIndex);
    if (!(Number.isInteger(value) && value >= 0 && value <= U32_MAX))
      assert(false, `aux ${value} is not a u32`);
    const wordIndex = this.descriptorWord(pageIndex);
    if ((Atomics.load(this.words, wordIndex) & 0xffff) === PageKind.free)
      assert(false, `page ${pageIndex} is free`);
    Atomics.store(this.words, wordIndex + D_AUX_WORD, value);
    this.persist((wordIndex + D_AUX_WORD) * 4, 4);
  }

  updatePageAux(pageIndex: number, setBits: number, clearBits: number): number {
    this.checkPageIndex(pageIndex);
    const wordIndex = this.descriptorWord(pageIndex);
    if ((Atomics.load(this.words, wordIndex) & 0xffff) === PageKind.free)
      assert(false, `page ${pageIndex} is free`);
    const auxIndex = wordIndex + D_AUX_WORD;
    for (;;) {
      const previous = Atomics.load(this.words, auxIndex);
      const next = ((previous | setBits) & ~clearBits) >>> 0;
      if (Atomics.compareExchange(this.words, auxIndex, previous, next) !== previous) continue;
      this.persist(auxIndex * 4, 4);
      return previous;
    }
  }

  forEachPage(
    kind: PageKindValue,
    owner: number | undefined,
    visit: (pageIndex: number) => void,
  ): void {
    this.checkOpen();
    // Visit outside the allocator mutex, so a visitor may allocate or free.
    for (const pageIndex of this.allocator.collectRuns(kind, owner)) visit(pageIndex);
  }

  root(index: number): bigint {
    if (!(Number.isInteger(index) && index >= 0 && index < ROOT_COUNT))
      assert(false, `root index ${index}`);
    return Atomics.load(this.words64, ROOT_OFFSET / 8 + index);
  }

  setRoot(index: number, value: bigint): void {
    if (!(Number.isInteger(index) && index >= 0 && index < ROOT_COUNT))
      assert(false, `root index ${index}`);
    if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) {
      throw new StrataError(
        'ERR_VALUE_RANGE',
        `root ${index} of ${this.path}: ${String(value)} is not a u64`,
      );
    }
    Atomics.store(this.words64, ROOT_OFFSET / 8 + index, value);
    this.persist(ROOT_OFFSET + index * 8, 8);
  }

  stats(): NvmStats {
    const pagesHighWater = Atomics.load(this.words, PAGES_HIGH_WATER_WORD);
    const pagesAllocated = Atomics.load(this.runtimeWords, RT_PAGES_ALLOCATED);
    return {
      backend: this.backend,
      pageSizeBytes: PAGE_SIZE_BYTES,
      pageCountMax: this.pageCountMax,
      pagesHighWater,
      pagesAllocated,
      pagesFree: this.pageCountMax - this.geometry.dataFirstPage - pagesAllocated,
      imageBytesUsed: pagesHighWater * PAGE_SIZE_BYTES,
      persistCount: persistCount(this.runtimeWords) + this.persistsUnshared,
    };
  }

  handle(): NvmHandle {
    this.checkOpen();
    return {
      path: this.path,
      backend: this.backend,
      durability: this.durability,
      fd: this.fd,
      buffer: this.buffer,
      runtime: this.runtime,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.owner) return;
    try {
      if (Atomics.load(this.runtimeWords, RT_CRASHED) === 0) {
        Atomics.store(this.words, SB_CLEAN_SHUTDOWN / 4, 1);
        const persistNumber = nextPersistNumber(this.runtimeWords);
        if (this.persistWrites) this.store.persist(SB_CLEAN_SHUTDOWN, 8, persistNumber);
      }
    } finally {
      Atomics.store(this.runtimeWords, RT_CLOSED, 1);
      closeSync(this.fd);
    }
  }

  private checkPersistRange(offsetBytes: number, lengthBytes: number): void {
    assert(offsetBytes >= 0, 'persist offset is negative');
    assert(lengthBytes >= 0, 'persist length is negative');
    assert(offsetBytes + lengthBytes <= this.sizeMaxBytes, 'persist range ends beyond the image');
  }

  private descriptorWord(pageIndex: number): number {
    return this.geometry.pageTableOffsetBytes / 4 + pageIndex * DESCRIPTOR_WORDS;
  }

  private checkPageIndex(pageIndex: number): void {
    if (!Number.isInteger(pageIndex)) assert(false, `page index ${pageIndex} is not an integer`);
    if (pageIndex < this.geometry.dataFirstPage)
      assert(false, `page ${pageIndex} is not a data page`);
    if (pageIndex >= this.pageCountMax)
      assert(false, `page ${pageIndex} is beyond pageCountMax ${this.pageCountMax}`);
  }

  private checkOpen(): void {
    if (this.closed || Atomics.load(this.runtimeWords, RT_CLOSED) !== 0) throw this.closedError();
  }

  private closedError(): StrataError {
    return new StrataError('ERR_CLOSED', `NVM image ${this.path} is closed`);
  }
}

function checkDataKind(kind: number): void {
  if (!(Number.isInteger(kind) && kind > 0 && kind <= 0xffff))
    assert(false, `page kind ${kind} is not a u16 above 0`);
  if (kind === PageKind.superblock || kind === PageKind.pageTable)
    assert(false, `page kind ${kind} is reserved`);
}
