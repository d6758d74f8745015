/**
 * The blob GC job: copies the values still referenced (chosen by the engine) out of old blob
 * files into one new file, each with a fresh reserve, so that the old files can be deleted once
 * the engine has committed the new refs and no snapshot reads the old ones. It runs on a Piscina
 * worker (workers/blob-gc.ts) or on any thread; it only reads its inputs and writes its output
 * path, so a failure or crash leaves at most that temp file, and on a failure it is removed.
 *
 * A copied value keeps its bytes, hence its CRC; its ref starts again at version 1.
 *
 * Thread model: the job opens its own readers and its writer and closes them all before it
 * returns. The inputs may be appended to in place at the same time (by the main thread), which
 * never touches the used bytes of the refs the job was given; the engine must check when it
 * commits that each key's ref is still the one it passed (see README.md).
 */
import { rmSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { BlobFileReader } from './blob-file-reader.js';
import { BlobFileWriter, type BlobRecordInput } from './blob-file-writer.js';
import { FILE_HEADER_BYTES, RECORD_HEADER_BYTES } from './blob-format.js';
import type { BlobRef } from './blob-ref.js';
import { capacityFor, checkReservePolicy, type ReservePolicy } from './reserve-policy.js';

export interface BlobGcTask {
  /** fileNumber -> path of each input blob file. */
  readonly inputPaths: Readonly<Record<number, string>>;
  /** Values still referenced, chosen by the engine. */
  readonly live: readonly { readonly key: Uint8Array; readonly ref: BlobRef }[];
  /** A temp path, which must not exist. */
  readonly outputPath: string;
  readonly outputFileNumber: number;
  /** Capacity of each copied value: capacityFor(used, reserve). */
  readonly reserve: ReservePolicy;
}

export interface BlobGcResult {
  /** Same order as `live`, in the new file. */
  readonly refs: BlobRef[];
  /** The output file's size. */
  readonly sizeBytes: number;
  /** Value bytes read from the inputs. */
  readonly bytesRead: number;
  /** Bytes written to the output: header, record headers, keys and values (never reserves). */
  readonly bytesWritten: number;
}

/** Values are handed to the writer in batches of about this many bytes, bounding memory. */
const BATCH_BYTES_MAX = 8 << 20;

/** The compiled worker entry as a file URL, for `new Piscina({ filename })`. */
export function blobGcWorkerUrl(): string {
  return pathToFileURL(`${packageRoot()}/dist/workers/blob-gc.js`).href;
}

/**
 * Reads each live value (CRC-checked), writes it to the output with a fresh reserve and
 * fdatasyncs the output. On any error the output is removed and the error rethrown.
 */
export function rewriteBlobs(task: BlobGcTask): BlobGcResult {
  const reserve = checkReservePolicy(task.reserve, 'blob gc reserve');
  const readers = new Map<number, BlobFileReader>();
  let writer: BlobFileWriter | undefined;
  try {
    writer = BlobFileWriter.create(task.outputPath, task.outputFileNumber);
    const result = copyLive(task, reserve, writer, readers);
    writer.sync();
    writer.close();
    return result;
  } catch (error) {
    writer?.close();
    if (writer !== undefined) rmSync(task.outputPath, { force: true });
    throw error;
  } finally {
    for (const reader of readers.values()) reader.close();
  }
}

function copyLive(
  task: BlobGcTask,
  reserve: ReservePolicy,
  writer: BlobFileWriter,
  readers: Map<number, BlobFileReader>,
): BlobGcResult {
  const refs: BlobRef[] = [];
  let batch: BlobRecordInput[] = [];
  let batchBytes = 0;
  let bytesRead = 0;
  let bytesWritten = FILE_HEADER_BYTES;
  const flush = (): void => {
    refs.push(...writer.appendRecords(batch));
    batch = [];
    batchBytes = 0;
  };
  for (const { key, ref } of task.live) {
    const value = readerFor(task, readers, ref.fileNumber).read(ref);
    bytesRead += value.length;
    batch.push({ key, value, capacity: capacityFor(value.length, reserve) });
    batchBytes += value.length + key.length;
    bytesWritten += RECORD_HEADER_BYTES + key.length + value.length;
    if (batchBytes >= BATCH_BYTES_MAX) flush();
  }
  flush();
  assert(refs.length === task.live.length);
  for (let index = 0; index < refs.length; index++) {
    assert(refs[index]!.crc === task.live[index]!.ref.crc, 'a copied value keeps its crc');
    assert(refs[index]!.used === task.live[index]!.ref.used);
  }
  return { refs, sizeBytes: writer.endOffset, bytesRead, bytesWritten };
}

function readerFor(
  task: BlobGcTask,
  readers: Map<number, BlobFileReader>,
  fileNumber: number,
): BlobFileReader {
  let reader = readers.get(fileNumber);
  if (reader !== undefined) return reader;
  const path = task.inputPaths[fileNumber];
  if (path === undefined) {
    throw new StrataError('ERR_INVALID_ARGUMENT', `blob gc: no input path for file ${fileNumber}`);
  }
  reader = BlobFileReader.open(path, fileNumber);
  readers.set(fileNumber, reader);
  return reader;
}
