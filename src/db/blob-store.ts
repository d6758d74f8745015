/**
 * The blob files of one database (key-value separation, issue 5): the file new blobs go to, a
 * reader per live file, in-place appends into a blob's reserved space, and the files blob GC has
 * retired. The group committer calls `separate` with each batch before it reaches the memtable:
 * every large value (or one the caller asked to keep as a blob) is written to the active blob
 * file in the same synchronous turn, durably first when a writer of the batch asked for `sync`,
 * and replaced by its reference, so the tree only ever holds references to bytes already written.
 *
 * A blob file is registered in the catalog (AddBlobFile) before any reference to it is written,
 * so a crash never leaves a reference to a file that open would remove as an orphan. Bytes of a
 * batch that crashed before its memtable commit are unreferenced: garbage nobody accounts, which
 * GC of that file reclaims with the rest (see src/blob/FORMAT.md).
 *
 * Thread model: main thread only. Workers (blob GC) get paths and references, never this object.
 */
import { join } from 'node:path';
import {
  BlobFileReader,
  BlobFileWriter,
  blobFileName,
  FILE_HEADER_BYTES,
  RECORD_HEADER_BYTES,
} from '../blob/blob-file.js';
import { type BlobRef, decodeBlobRef, encodeBlobRef } from '../blob/blob-ref.js';
import { capacityFor, type ReservePolicy } from '../blob/reserve-policy.js';
import type { Catalog } from '../catalog/catalog.js';
import { StrataError } from '../errors.js';
import { KIND_BLOB_REFERENCE, KIND_VALUE } from '../sst/internal-key.js';
import type { PendingRecord } from '../write/group-commit.js';
import { registerBlobFile } from './blob-register.js';

/** The stored value of a key right now (kind and bytes), for the garbage estimate. */
export type LookupStored = (key: Uint8Array) => { kind: number; value: Uint8Array } | undefined;

export interface BlobStoreOptions {
  /** Values of at least this many bytes go to blob files. */
  readonly minBlobSize: number;
  /** A new active file is started once the active one passes this size. */
  readonly blobFileSize: number;
  readonly reserve: ReservePolicy;
  /** Looks a key up at the latest seq (the engine's point read without resolving blobs). */
  readonly lookupStored: LookupStored;
}

export interface BlobStoreStats {
  readonly blobFiles: number;
  /** Bytes of every live blob file (their logical ends: reserves count). */
  readonly blobBytes: number;
  /** Of those, bytes still referenced: total minus accounted garbage. */
  readonly blobLiveBytes: number;
  readonly blobsWritten: number;
  /** Bytes written to blob files since open: records (header, key, value) and in-place appends. */
  readonly blobBytesWritten: number;
  readonly appendsInPlace: number;
  readonly appendsRewritten: number;
}

interface BlobFile {
  readonly fileNumber: number;
  reader: BlobFileReader;
  /** Open for records (the active file) or in-place appends; opened on first need. */
  writer: BlobFileWriter | undefined;
  /** Set while blob GC moves the file's values: appends must not write into it. */
  retired: boolean;
  /**
   * Its size when opened. Only a file with a writer grows (and then its `endOffset` is the size),
   * so this answers without an fstat per question.
   */
  readonly openedSizeBytes: number;
}

export class BlobStore {
  readonly #dir: string;
  readonly #catalog: Catalog;
  readonly #options: BlobStoreOptions;
  readonly #files = new Map<number, BlobFile>();
  #active: BlobFile | undefined;
  /** Created ahead (once the active file is 3/4 full); becomes active when that one is full. */
  #next: BlobFile | undefined;
  #creating: Promise<void> | undefined;
  /** The last creation's failure, reported by the next ensureActive(). */
  #creationError: unknown;
  /**
   * Garbage seen in the write path since open, per file: a blob written over a key whose value
   * was a blob makes the old one unreachable for new readers. Compactions count the same bytes
   * (persisted) only when they drop the old version, which an update-heavy blob workload with
   * small references may not cause for a long time; GC picks files by the larger of the two.
   * An estimate only: GC's own liveness scan decides what moves.
   */
  readonly #garbageSeen = new Map<number, number>();
  #garbageChanged = false;
  #counters = { blobsWritten: 0, blobBytesWritten: 0, appendsInPlace: 0, appendsRewritten: 0 };
  #closed = false;

  /** Opens a reader on every blob file the catalog lists (ERR_CORRUPT if one is damaged). */
  static open(dir: string, catalog: Catalog, options: BlobStoreOptions): BlobStore {
    const store = new BlobStore(dir, catalog, options);
    const snapshot = catalog.getSnapshot();
    try {
      for (const meta of snapshot.state.blobFiles) {
        store.#openFile(meta.fileNumber);
      }
      // A listed file that holds no record yet (created ahead, or just before a crash or close;
      // a GC output may have a higher number) becomes the active one again instead of lying
      // empty forever.
      for (const meta of [...snapshot.state.blobFiles].reverse()) {
        if (store.#adoptIfEmpty(meta.fileNumber)) break;
      }
    } catch (error) {
      store.close();
      throw error;
    } finally {
      snapshot.release();
    }
    return store;
  }

  private constructor(dir: string, catalog: Catalog, options: BlobStoreOptions) {
    this.#dir = dir;
    this.#catalog = catalog;
    this.#options = options;
  }

  get options(): BlobStoreOptions {
    return this.#options;
  }

  /** A file takes new blobs now (it may be past its size while its successor is created). */
  get hasActive(): boolean {
    return this.#active !== undefined;
  }

  /** Whether `separate` would turn this put into a blob. */
  wantsBlob(valueBytes: number, blobCapacity: number | undefined): boolean {
    return blobCapacity !== undefined || valueBytes >= this.#options.minBlobSize;
  }

  /**
   * An active file exists once this resolves (callers await it before a blob write). Rejects
   * with the creation's error (ERR_IO, a catalog failure) when there is no file to write to.
   */
  ensureActive(): Promise<void> {
    if (this.#active !== undefined) return Promise.resolve();
    this.#startCreating();
    return this.#creating!.then(() => {
      if (this.#active === undefined) {
        throw this.#creationError ?? new StrataError('ERR_CLOSED', 'blob store is closed');
      }
    });
  }

  /** Resolves once no file creation runs (close waits for it; it never rejects). */
  whenIdle(): Promise<void> {
    return this.#creating ?? Promise.resolve();
  }

  /**
   * Creates the next file in the background unless one is being made or waits already. The
   * promise never rejects: a failure is kept for ensureActive() and the next attempt retries.
   */
  #startCreating(): void {
    if (this.#creating !== undefined || this.#next !== undefined || this.#closed) return;
    this.#creating = this.#createFile()
      .then(
        (file) => {
          this.#creationError = undefined;
          if (this.#active === undefined || this.#activeFull()) this.#active = file;
          else this.#next = file;
        },
        (error: unknown) => {
          this.#creationError = error;
        },
      )
      .finally(() => {
        this.#creating = undefined;
      });
  }

  /**
   * The committer's hook: writes each large value of `records` to the active file and replaces
   * the record by its reference. Requires: ensureActive() resolved since the records' writers
   * queued (so a file exists). Throws StrataError (the batch fails, nothing is applied).
   */
  separate(records: PendingRecord[], sync: boolean): void {
    let positions: number[] | undefined;
    for (let index = 0; index < records.length; index++) {
      const record = records[index]!;
      if (record.kind !== KIND_VALUE) continue;
      if (!this.wantsBlob(record.value.length, record.blobCapacity)) continue;
      positions ??= [];
      positions.push(index);
    }
    if (positions === undefined) return;
    this.#checkOpen();
    if (this.#activeFull() && this.#next !== undefined) {
      this.#active = this.#next;
      this.#next = undefined;
    }
    const active = this.#active;
    if (active === undefined) {
      throw new StrataError('ERR_CLOSED', 'blob store: no active blob file (closed or failed)');
    }
    const writer = active.writer!;
    for (const position of positions) this.#noteReplaced(records[position]!.userKey);
    const inputs = positions.map((position) => {
      const record = records[position]!;
      const capacity =
        record.blobCapacity ?? capacityFor(record.value.length, this.#options.reserve);
      return { key: record.userKey, value: record.value, capacity };
    });
    const refs = writer.appendRecords(inputs);
    if (sync) writer.sync();
    positions.forEach((position, index) => {
      const record = records[position]!;
      records[position] = {
        kind: KIND_BLOB_REFERENCE,
        userKey: record.userKey,
        value: encodeBlobRef(refs[index]!),
        seq: record.seq,
      };
      this.#counters.blobsWritten++;
      this.#counters.blobBytesWritten +=
        RECORD_HEADER_BYTES + record.userKey.length + record.value.length;
    });
    // The successor is made ahead, so a full file hands over at once (a soft size limit: the
    // active file takes blobs until its successor is ready).
    if (this.#activeFull() && this.#next !== undefined) {
      this.#active = this.#next;
      this.#next = undefined;
    } else if (writer.endOffset >= (this.#options.blobFileSize * 3) / 4) {
      this.#startCreating();
    }
  }

  /** Counts the blob `key` holds now as garbage (it is about to be replaced). */
  #noteReplaced(key: Uint8Array): void {
    const stored = this.#options.lookupStored(key);
    if (stored === undefined || stored.kind !== KIND_BLOB_REFERENCE) return;
    const ref = decodeBlobRef(stored.value, `a blob reference in ${this.#dir}`);
    const bytes = RECORD_HEADER_BYTES + key.length + ref.capacity;
    this.#garbageSeen.set(ref.fileNumber, (this.#garbageSeen.get(ref.fileNumber) ?? 0) + bytes);
    this.#garbageChanged = true;
  }

  /** A file's garbage for GC picking: the catalog's count or the write path's, the larger. */
  garbageOf(fileNumber: number, accountedBytes: number): number {
    return Math.max(accountedBytes, this.#garbageSeen.get(fileNumber) ?? 0);
  }

  /** True once after the write path saw new garbage (the engine then schedules GC). */
  takeGarbageChanged(): boolean {
    const changed = this.#garbageChanged;
    this.#garbageChanged = false;
    return changed;
  }

  /** The whole value a stored reference names, crc-checked. */
  read(encodedRef: Uint8Array): Uint8Array {
    const ref = decodeBlobRef(encodedRef, `a blob reference in ${this.#dir}`);
    return this.#fileOf(ref).reader.read(ref);
  }

  readRange(encodedRef: Uint8Array, offset: number, length: number): Uint8Array {
    const ref = decodeBlobRef(encodedRef, `a blob reference in ${this.#dir}`);
    return this.#fileOf(ref).reader.readRange(ref, offset, length);
  }

  /** Decodes a stored reference (ERR_CORRUPT if it is not one). */
  decode(encodedRef: Uint8Array): BlobRef {
    return decodeBlobRef(encodedRef, `a blob reference in ${this.#dir}`);
  }

  get activeFileNumber(): number | undefined {
    return this.#active?.fileNumber;
  }

  /** The file's logical size (its end, reserves of the last record included), if it is open. */
  fileSize(fileNumber: number): number | undefined {
    const file = this.#files.get(fileNumber);
    if (file === undefined) return undefined;
    return file.writer?.endOffset ?? file.openedSizeBytes;
  }

  /** Blob GC: `true` stops appends into the file's reserves; `false` undoes it (a failed round). */
  retire(fileNumber: number, retired: boolean): void {
    const file = this.#files.get(fileNumber);
    if (file !== undefined) file.retired = retired;
  }

  /** The records of a live file, in file order (blob GC's liveness scan). */
  records(
    fileNumber: number,
  ): Iterable<{ key: Uint8Array; valueOffset: number; capacity: number }> {
    const file = this.#files.get(fileNumber);
    if (file === undefined)
      throw new StrataError('ERR_CORRUPT', `blob file ${fileNumber} is not open`);
    return file.reader.records();
  }

  /** Opens a reader on a file blob GC has just registered. */
  adopt(fileNumber: number): void {
    this.#checkOpen();
    if (!this.#files.has(fileNumber)) this.#openFile(fileNumber);
  }

  /** Closes files the catalog no longer lists (blob GC removed them). */
  forget(fileNumbers: readonly number[]): void {
    for (const fileNumber of fileNumbers) {
      const file = this.#files.get(fileNumber);
      if (file === undefined) continue;
      this.#files.delete(fileNumber);
      this.#garbageSeen.delete(fileNumber);
      if (this.#active === file) this.#active = undefined;
      if (this.#next === file) this.#next = undefined;
      file.writer?.close();
      file.reader.close();
    }
  }

  /** Live (listed, not retired by GC): an append may write into its blobs' reserve. */
  isAppendable(fileNumber: number): boolean {
    const file = this.#files.get(fileNumber);
    return file !== undefined && !file.retired;
  }

  /**
   * Writes `bytes` into the reserve after the ref's used bytes and returns the new reference
   * (not yet committed: the caller commits it through the write path). Requires: it fits and
   * `isAppendable(ref.fileNumber)`.
   */
  writeInPlace(ref: BlobRef, bytes: Uint8Array, sync: boolean): BlobRef {
    this.#checkOpen();
    const file = this.#fileOf(ref);
    // The file's size is its end (the writer extends it over each record's reserve): no walk.
    file.writer ??= BlobFileWriter.openForAppend(this.pathOf(file.fileNumber), file.fileNumber, {
      endOffset: file.openedSizeBytes,
    });
    const next = file.writer.writeInPlace(ref, bytes);
    if (sync) file.writer.sync();
    this.#counters.appendsInPlace++;
    this.#counters.blobBytesWritten += bytes.length;
    return next;
  }

  countRewrittenAppend(): void {
    this.#counters.appendsRewritten++;
  }

  stats(): BlobStoreStats {
    const snapshot = this.#catalog.getSnapshot();
    try {
      let blobBytes = 0;
      let garbageBytes = 0;
      for (const meta of snapshot.state.blobFiles) {
        blobBytes += this.fileSize(meta.fileNumber) ?? meta.sizeBytes;
        garbageBytes += this.garbageOf(meta.fileNumber, meta.garbageBytes);
      }
      return {
        blobFiles: snapshot.state.blobFiles.length,
        blobBytes,
        blobLiveBytes: Math.max(0, blobBytes - garbageBytes),
        ...this.#counters,
      };
    } finally {
      snapshot.release();
    }
  }

  /** Closes every file. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const file of this.#files.values()) {
      file.writer?.close();
      file.reader.close();
    }
    this.#files.clear();
    this.#active = undefined;
    this.#next = undefined;
  }

  /** A listed file with no record: reopened for appends and made the active file. */
  #adoptIfEmpty(fileNumber: number): boolean {
    const file = this.#files.get(fileNumber)!;
    if (file.openedSizeBytes !== FILE_HEADER_BYTES) return false;
    file.writer = BlobFileWriter.openForAppend(this.pathOf(fileNumber), fileNumber, {
      endOffset: FILE_HEADER_BYTES,
    });
    this.#active = file;
    return true;
  }

  async #createFile(): Promise<BlobFile> {
    this.#checkOpen();
    const tempPath = this.#catalog.newTempPath();
    let sizeBytes: number;
    const header = BlobFileWriter.create(tempPath, 0);
    try {
      header.sync();
      sizeBytes = header.endOffset;
    } finally {
      header.close();
    }
    const fileNumber = await registerBlobFile(this.#catalog, tempPath, sizeBytes);
    if (this.#closed) {
      // Listed but empty: the next open makes it the active file (#adoptIfEmpty).
      this.#checkOpen();
    }
    const file = this.#openFile(fileNumber);
    file.writer = BlobFileWriter.openForAppend(this.pathOf(fileNumber), fileNumber, {
      endOffset: sizeBytes,
    });
    return file;
  }

  /** Opens a reader on a listed file and records it (no writer yet). */
  #openFile(fileNumber: number): BlobFile {
    const reader = BlobFileReader.open(this.pathOf(fileNumber), fileNumber);
    const file: BlobFile = {
      fileNumber,
      reader,
      writer: undefined,
      retired: false,
      openedSizeBytes: reader.sizeBytes,
    };
    this.#files.set(fileNumber, file);
    return file;
  }

  #activeFull(): boolean {
    const writer = this.#active?.writer;
    return writer !== undefined && writer.endOffset >= this.#options.blobFileSize;
  }

  #fileOf(ref: BlobRef): BlobFile {
    const file = this.#files.get(ref.fileNumber);
    if (file === undefined) {
      throw new StrataError(
        'ERR_CORRUPT',
        `a value in ${this.#dir} refers to blob file ${blobFileName(ref.fileNumber)}, which is not live`,
      );
    }
    return file;
  }

  pathOf(fileNumber: number): string {
    return join(this.#dir, blobFileName(fileNumber));
  }

  #checkOpen(): void {
    if (this.#closed) throw new StrataError('ERR_CLOSED', `blob store of ${this.#dir} is closed`);
  }
}
