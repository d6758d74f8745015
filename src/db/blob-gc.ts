/**
 * Blob garbage collection (issue 5). Compactions account the blob bytes that dropped versions
 * were the last to reference (src/lsm/compaction-job.ts); once a blob file's garbage passes
 * `blobGcGarbageRatio` of its size, or blob space amplification passes its cap, one round:
 *
 *   1. retire the picked files for appends (an append falls back to rewriting), then find their
 *      live values: each record whose key's current reference still names that record;
 *   2. a pool task copies the live values into a new blob file (src/blob/blob-gc-job.ts);
 *   3. AddBlobFile registers it; the moved references are written through the write path with a
 *      `select` that keeps only keys whose reference is still the one read (a value written or
 *      appended meanwhile is not resurrected, and its copy becomes the new file's garbage);
 *   4. once no snapshot or iterator older than that commit remains, CommitBlobGc removes the old
 *      files and records the new file's garbage; the catalog deletes them when unpinned.
 *
 * A marker file `BLOBGC-<new>-<old>…` (foreign to the catalog, so never touched by it) is written
 * before step 3 and removed after step 4. Open reconciles the files a marker names: it counts
 * their live bytes against the tree, removes inputs nothing refers to any more and records the
 * garbage of the rest, so a crash anywhere in a round loses nothing, resurrects nothing and
 * leaves no file unaccounted.
 *
 * Thread model: main thread only; the copy runs on the pool (or inline without one).
 */
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RECORD_HEADER_BYTES } from '../blob/blob-file.js';
import type { BlobGcResult, BlobGcTask } from '../blob/blob-gc-job.js';
import { type BlobRef, encodeBlobRef, sameBlobLocation } from '../blob/blob-ref.js';
import type { ReservePolicy } from '../blob/reserve-policy.js';
import { type Catalog, CommitBlobGc } from '../catalog/catalog.js';
import type { BlobFileMeta } from '../catalog/catalog-state.js';
import { StrataError } from '../errors.js';
import { KIND_BLOB_REFERENCE } from '../sst/internal-key.js';
import type { EncodedOp, WriteOp } from '../write/write-op.js';
import { registerBlobFile } from './blob-register.js';
import type { BlobStore } from './blob-store.js';

export interface StoredValue {
  readonly kind: number;
  readonly value: Uint8Array;
}

export interface BlobGcHost {
  readonly dir: string;
  readonly catalog: Catalog;
  readonly blobs: BlobStore;
  readonly garbageRatio: number;
  readonly maxSpaceAmplification: number;
  readonly reserve: ReservePolicy;
  /** Bytes of input files one round takes at most (one output file's worth). */
  readonly roundBytesMax: number;
  readStored(key: Uint8Array): StoredValue | undefined;
  /** The key holds exactly `expected` now (kind and bytes). */
  storedIs(key: Uint8Array, expected: StoredValue): boolean;
  writeRefs(
    ops: WriteOp[],
    select: (ops: readonly EncodedOp[]) => readonly EncodedOp[],
  ): Promise<void>;
  lastSeq(): number;
  /** Resolves once no snapshot or iterator reads at a seq below `seq`. */
  whenNoReaderBelow(seq: number): Promise<void>;
  runTask(task: BlobGcTask): Promise<BlobGcResult>;
}

export interface BlobGcStats {
  readonly blobGcRuns: number;
  readonly blobGcFilesRemoved: number;
  readonly blobGcBytesRewritten: number;
  /** Moved values whose reference changed during the round (kept where the tree pointed). */
  readonly blobGcSkipped: number;
  readonly blobGcErrors: number;
}

const MARKER_PREFIX = 'BLOBGC-';
/** Yield to the event loop every this many liveness lookups. */
const LOOKUPS_PER_TURN = 256;

export class BlobGc {
  readonly #host: BlobGcHost;
  #running: Promise<number> | undefined;
  #counters = {
    blobGcRuns: 0,
    blobGcFilesRemoved: 0,
    blobGcBytesRewritten: 0,
    blobGcSkipped: 0,
    blobGcErrors: 0,
  };
  #lastError: unknown;
  /** Files a round failed on (a damaged record, an I/O error): left alone until the next open. */
  readonly #failed = new Set<number>();

  constructor(host: BlobGcHost) {
    this.#host = host;
  }

  stats(): BlobGcStats {
    return { ...this.#counters };
  }

  get lastError(): unknown {
    return this.#lastError;
  }

  /** Starts a round in the background if some file qualifies and none runs. */
  schedule(): void {
    if (this.#running !== undefined || this.#pick().length === 0) return;
    void this.collect().catch(() => undefined);
  }

  /** Runs rounds until no file qualifies (or one fails); resolves with the files removed. */
  collect(): Promise<number> {
    this.#running ??= this.#collectAll().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  whenIdle(): Promise<unknown> {
    return (this.#running ?? Promise.resolve()).catch(() => undefined);
  }

  /**
   * After a crash in a round: settles the files named by leftover markers (see the file
   * comment). Run once at open, before writes start.
   */
  async recover(): Promise<void> {
    const markers = readdirSync(this.#host.dir).filter((name) => name.startsWith(MARKER_PREFIX));
    for (const marker of markers) {
      const numbers = marker.slice(MARKER_PREFIX.length).split('-').map(Number);
      const live = new Set(this.#liveBlobFiles().map((meta) => meta.fileNumber));
      const remove: number[] = [];
      const garbage: { fileNumber: number; garbageBytes: number }[] = [];
      let settled = true;
      for (const fileNumber of numbers) {
        if (!Number.isSafeInteger(fileNumber) || !live.has(fileNumber)) continue;
        let scan: { live: unknown[]; deadBytes: number };
        try {
          scan = await this.#scanLiveness([fileNumber]);
        } catch (error) {
          // A record walk that fails (a header torn by a power loss in an input that was the
          // active file) must not keep the database from opening: the file stays as it is.
          this.#counters.blobGcErrors++;
          this.#lastError = error;
          this.#failed.add(fileNumber);
          settled = false;
          continue;
        }
        if (scan.live.length === 0) {
          remove.push(fileNumber);
          continue;
        }
        const meta = this.#liveBlobFiles().find((blob) => blob.fileNumber === fileNumber)!;
        const unaccounted = scan.deadBytes - meta.garbageBytes;
        if (unaccounted > 0) garbage.push({ fileNumber, garbageBytes: unaccounted });
      }
      await this.#commitGc(remove, garbage);
      // Kept when a file could not be scanned, so a later open tries again.
      if (settled) rmSync(join(this.#host.dir, marker), { force: true });
    }
  }

  async #collectAll(): Promise<number> {
    let removed = 0;
    for (;;) {
      const picked = this.#pick();
      if (picked.length === 0) return removed;
      try {
        removed += await this.#round(picked);
      } catch (error) {
        this.#counters.blobGcErrors++;
        this.#lastError = error;
        for (const meta of picked) this.#failed.add(meta.fileNumber);
        throw error;
      }
    }
  }

  /** Files worth a round: over the garbage ratio, or the most garbage-ridden over the cap. */
  #pick(): BlobFileMeta[] {
    const blobs = this.#host.blobs;
    const files = this.#liveBlobFiles().filter(
      (meta) =>
        meta.fileNumber !== blobs.activeFileNumber &&
        blobs.isAppendable(meta.fileNumber) &&
        !this.#failed.has(meta.fileNumber),
    );
    const sizeOf = (meta: BlobFileMeta): number =>
      blobs.fileSize(meta.fileNumber) ?? meta.sizeBytes;
    const garbageOf = (meta: BlobFileMeta): number =>
      blobs.garbageOf(meta.fileNumber, meta.garbageBytes);
    const ratioOf = (meta: BlobFileMeta): number => garbageOf(meta) / Math.max(1, sizeOf(meta));
    const ranked = files
      .filter((meta) => garbageOf(meta) > 0)
      .sort((a, b) => ratioOf(b) - ratioOf(a));
    const stats = blobs.stats();
    const overCap =
      stats.blobLiveBytes > 0 &&
      stats.blobBytes / stats.blobLiveBytes > this.#host.maxSpaceAmplification;
    const picked: BlobFileMeta[] = [];
    let bytes = 0;
    // A round is bounded by the live bytes it copies (one output file's worth), so several
    // half-empty files merge into one.
    for (const meta of ranked) {
      if (ratioOf(meta) < this.#host.garbageRatio && !(overCap && picked.length === 0)) break;
      const liveBytes = Math.max(0, sizeOf(meta) - garbageOf(meta));
      if (picked.length > 0 && bytes + liveBytes > this.#host.roundBytesMax) break;
      picked.push(meta);
      bytes += liveBytes;
    }
    return picked;
  }

  /** One round over `picked`; resolves with the number of files removed. */
  async #round(picked: readonly BlobFileMeta[]): Promise<number> {
    const host = this.#host;
    const inputs = picked.map((meta) => meta.fileNumber);
    // From here appends to these files' values rewrite them instead of writing in place.
    for (const fileNumber of inputs) host.blobs.retire(fileNumber, true);
    this.#counters.blobGcRuns++;
    let outputNumber: number | undefined;
    let skippedBytes = 0;
    let marker: string;
    try {
      const scan = await this.#scanLiveness(inputs);
      if (scan.live.length > 0) {
        // The marker names the output's number before AddBlobFile can list it (a number that
        // never got listed is skipped by open), so a listed output is always settled.
        let named: string | undefined;
        const nameOutput = (fileNumber: number): void => {
          const next = join(host.dir, `${MARKER_PREFIX}${[...inputs, fileNumber].join('-')}`);
          writeFileSync(next, '', { flush: true });
          if (named !== undefined && named !== next) rmSync(named, { force: true });
          named = next;
        };
        const moved = await this.#rewriteAndRegister(inputs, scan.live, nameOutput);
        outputNumber = moved.fileNumber;
        marker = named!;
        skippedBytes = await this.#commitRefs(scan.live, moved.refs);
        this.#counters.blobGcBytesRewritten += moved.bytesWritten;
      } else {
        marker = join(host.dir, `${MARKER_PREFIX}${inputs.join('-')}`);
        writeFileSync(marker, '', { flush: true });
      }
    } catch (error) {
      // Nothing moved for sure (a marker left behind is settled by the next open): appendable again.
      for (const fileNumber of inputs) host.blobs.retire(fileNumber, false);
      throw error;
    }
    await host.whenNoReaderBelow(host.lastSeq() + 1);
    const garbage =
      outputNumber !== undefined && skippedBytes > 0
        ? [{ fileNumber: outputNumber, garbageBytes: skippedBytes }]
        : [];
    await this.#commitGc(inputs, garbage);
    rmSync(marker, { force: true });
    this.#counters.blobGcFilesRemoved += inputs.length;
    return inputs.length;
  }

  /** The live values of `fileNumbers`: records whose key's reference still names them. */
  async #scanLiveness(fileNumbers: readonly number[]): Promise<{
    live: { key: Uint8Array; ref: BlobRef }[];
    deadBytes: number;
  }> {
    const host = this.#host;
    const live: { key: Uint8Array; ref: BlobRef }[] = [];
    let deadBytes = 0;
    let lookups = 0;
    for (const fileNumber of fileNumbers) {
      for (const record of host.blobs.records(fileNumber)) {
        if (++lookups % LOOKUPS_PER_TURN === 0) await new Promise((done) => setImmediate(done));
        const stored = host.readStored(record.key);
        const ref =
          stored?.kind === KIND_BLOB_REFERENCE ? host.blobs.decode(stored.value) : undefined;
        const at = { fileNumber, valueOffset: record.valueOffset } as BlobRef;
        if (ref !== undefined && sameBlobLocation(ref, at)) live.push({ key: record.key, ref });
        else deadBytes += RECORD_HEADER_BYTES + record.key.length + record.capacity;
      }
    }
    return { live, deadBytes };
  }

  /** Copies the live values into a new file (on the pool) and registers it. */
  async #rewriteAndRegister(
    inputs: readonly number[],
    live: readonly { key: Uint8Array; ref: BlobRef }[],
    beforeCommit: (fileNumber: number) => void,
  ): Promise<BlobGcResult & { fileNumber: number }> {
    const host = this.#host;
    const inputPaths: Record<number, string> = {};
    for (const fileNumber of inputs) inputPaths[fileNumber] = host.blobs.pathOf(fileNumber);
    const tempPath = host.catalog.newTempPath();
    // Numbered 0 until registration stamps the number the catalog hands out.
    const result = await host.runTask({
      inputPaths,
      live,
      outputPath: tempPath,
      outputFileNumber: 0,
      reserve: host.reserve,
    });
    let fileNumber: number;
    try {
      fileNumber = await registerBlobFile(host.catalog, tempPath, result.sizeBytes, beforeCommit);
    } catch (error) {
      rmSync(tempPath, { force: true });
      throw error;
    }
    host.blobs.adopt(fileNumber);
    const refs = result.refs.map((ref) => ({ ...ref, fileNumber }));
    return { ...result, refs, fileNumber };
  }

  /** Writes the moved references where the tree still holds the old ones; returns skipped bytes. */
  async #commitRefs(
    live: readonly { key: Uint8Array; ref: BlobRef }[],
    refs: readonly BlobRef[],
  ): Promise<number> {
    const host = this.#host;
    const ops: WriteOp[] = live.map(({ key }, index) => ({
      type: 'blobRef',
      key,
      value: encodeBlobRef(refs[index]!),
    }));
    let skippedBytes = 0;
    // The encoded ops come in the order of `ops`, so position `index` is live[index]'s key.
    const select = (encoded: readonly EncodedOp[]): readonly EncodedOp[] =>
      encoded.filter((op, index) => {
        const old = { kind: KIND_BLOB_REFERENCE, value: encodeBlobRef(live[index]!.ref) };
        const still = host.storedIs(op.userKey, old);
        if (!still) {
          skippedBytes += RECORD_HEADER_BYTES + op.userKey.length + refs[index]!.capacity;
          this.#counters.blobGcSkipped++;
        }
        return still;
      });
    try {
      await host.writeRefs(ops, select);
    } catch (error) {
      // Every value changed meanwhile: nothing to move, the whole copy is garbage.
      if (!(error instanceof StrataError && error.code === 'ERR_CONFLICT')) throw error;
    }
    return skippedBytes;
  }

  async #commitGc(
    removed: readonly number[],
    garbage: readonly { fileNumber: number; garbageBytes: number }[],
  ): Promise<void> {
    if (removed.length === 0 && garbage.length === 0) return;
    const snapshot = this.#host.catalog.getSnapshot();
    try {
      await new CommitBlobGc(snapshot, { removed, garbage }).push().waitDone();
    } finally {
      snapshot.release();
    }
    this.#host.blobs.forget(removed);
  }

  #liveBlobFiles(): readonly BlobFileMeta[] {
    const snapshot = this.#host.catalog.getSnapshot();
    try {
      return snapshot.state.blobFiles;
    } finally {
      snapshot.release();
    }
  }
}
