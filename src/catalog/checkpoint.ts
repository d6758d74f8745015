/**
 * Checkpoints and the CURRENT pointer (FORMAT.md "Checkpoint", "CURRENT", "Commit points").
 *
 * A checkpoint starts a new *generation* g: `CATALOG-g` holds the whole state, `MANIFEST-g` the
 * edits made since, and `CURRENT` names g. Switching generations writes both new files and makes
 * their names durable before CURRENT is replaced (temp + fsync + rename + directory fsync), so a
 * crash at any step leaves CURRENT naming a complete generation; the other one's files are then
 * leftovers that open removes.
 */
import { join } from 'node:path';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import type { CatalogFs } from './catalog-fs.js';
import type { CatalogState } from './catalog-state.js';
import { decodeState, encodeState } from './edit-codec.js';
import {
  CURRENT_FILE_NAME,
  checkpointFileName,
  manifestFileName,
  TEMP_SUFFIX,
} from './file-names.js';
import { createManifestFile, type ManifestWriter } from './manifest.js';
import {
  corrupt,
  encodeFileHeader,
  FileMagic,
  type FileMagicValue,
  frameRecord,
  RECORD_HEADER_BYTES,
  RecordType,
  type RecordTypeValue,
  scanRecordFile,
} from './record-file.js';

export interface GenerationSwitch {
  readonly dir: string;
  readonly state: CatalogState;
  readonly generation: number;
}

/**
 * Makes `generation` live with a checkpoint of `state` and an empty manifest, and returns the
 * writer for that manifest. When it resolves, CURRENT durably names the new generation.
 */
export async function switchGeneration(
  fs: CatalogFs,
  request: GenerationSwitch,
): Promise<ManifestWriter> {
  const { dir, generation } = request;
  const state = encodeState(request.state);
  const checkpoint = framedFile(FileMagic.checkpoint, RecordType.checkpoint, state);
  await writeDurably(fs, join(dir, checkpointFileName(generation)), checkpoint);
  const manifest = await createManifestFile(fs, join(dir, manifestFileName(generation)));
  await fs.fsyncDir(dir);
  const pointer = new ByteWriter().u64(generation).finish();
  await writeDurably(
    fs,
    join(dir, CURRENT_FILE_NAME),
    framedFile(FileMagic.current, RecordType.current, pointer),
  );
  await fs.fsyncDir(dir);
  return manifest;
}

/**
 * Removes a replaced generation's files. It only saves space: after a crash, open removes what
 * is left, so the removals need no fsync.
 */
export async function removeGeneration(
  fs: CatalogFs,
  dir: string,
  generation: number,
): Promise<void> {
  await fs.unlink(join(dir, checkpointFileName(generation)));
  await fs.unlink(join(dir, manifestFileName(generation)));
}

/** The generation CURRENT names, or undefined when there is no CURRENT. */
export async function readCurrentFile(fs: CatalogFs, dir: string): Promise<number | undefined> {
  const path = join(dir, CURRENT_FILE_NAME);
  if ((await fs.stat(path)) === undefined) return undefined;
  const payload = readSingleRecord(await fs.readFile(path), {
    file: CURRENT_FILE_NAME,
    magic: FileMagic.current,
    type: RecordType.current,
  });
  const reader = new ByteReader(payload.bytes, {
    file: CURRENT_FILE_NAME,
    baseOffset: payload.offset,
  });
  const generation = reader.u64('generation');
  if (reader.remaining !== 0 || generation === 0) throw reader.corrupt('bad generation record');
  return generation;
}

/** The state in `CATALOG-<generation>`, decoded but not yet checked (see checkState). */
export async function readCheckpointFile(
  fs: CatalogFs,
  dir: string,
  generation: number,
): Promise<CatalogState> {
  const file = checkpointFileName(generation);
  const payload = readSingleRecord(await fs.readFile(join(dir, file)), {
    file,
    magic: FileMagic.checkpoint,
    type: RecordType.checkpoint,
  });
  return decodeState(payload.bytes, { file, baseOffset: payload.offset }, payload.formatVersion);
}

/** Writes `bytes` to `<path>.tmp`, fsyncs it and renames it over `path` (name not yet durable). */
async function writeDurably(fs: CatalogFs, path: string, bytes: Uint8Array): Promise<void> {
  const tempPath = path + TEMP_SUFFIX;
  await fs.writeFile(tempPath, bytes);
  await fs.fsyncFile(tempPath);
  await fs.rename(tempPath, path);
}

function framedFile(magic: FileMagicValue, type: RecordTypeValue, payload: Uint8Array): Uint8Array {
  const header = encodeFileHeader(magic);
  const record = frameRecord(type, payload);
  const bytes = new Uint8Array(header.length + record.length);
  bytes.set(header, 0);
  bytes.set(record, header.length);
  return bytes;
}

/** The payload of a file that holds exactly one record; anything else is ERR_CORRUPT. */
function readSingleRecord(
  bytes: Uint8Array,
  spec: { readonly file: string; readonly magic: FileMagicValue; readonly type: RecordTypeValue },
): { readonly bytes: Uint8Array; readonly offset: number; readonly formatVersion: number } {
  const scan = scanRecordFile(bytes, {
    file: spec.file,
    magic: spec.magic,
    types: [spec.type],
    allowTornTail: false,
  });
  const [record, extra] = scan.records;
  if (record === undefined) throw corrupt('file holds no record', spec.file, bytes.length);
  if (extra !== undefined)
    throw corrupt('file holds more than one record', spec.file, extra.offset);
  return {
    bytes: record.payload,
    offset: record.offset + RECORD_HEADER_BYTES,
    formatVersion: scan.formatVersion,
  };
}
