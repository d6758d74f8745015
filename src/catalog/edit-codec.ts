/**
 * Binary encoding of edits (manifest records) and whole states (checkpoint records). Layouts and
 * tag numbers: FORMAT.md "Edit payload" and "Checkpoint payload". Decoding checks shapes (lengths,
 * tags, enum values, levels); whether the content makes sense is for `applyEdit` and `checkState`.
 *
 * Encoders write CATALOG_FORMAT_VERSION. Decoders take the version from the file's header: a
 * version-1 index entry had no id, and since no released version wrote indexes, a version-1
 * payload that holds any index entry is refused as corrupt (FORMAT.md "Version history").
 *
 *   edit:        version u64 | tag u8, body | tag u8, body | ...            (to the record's end)
 *   checkpoint:  version u64 | nextFileNumber u64 | nextMemtableId u64 | lastSequence u64 |
 *                count u32, memtables | count u32, tables | count u32, blobs | count u32, indexes
 *   index entry: name string | id u32 | state u8                        (version 1: no indexes)
 */
import { assert } from '../assert.js';
import { ByteReader, type ReaderSource } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { type BlobGarbage, type CatalogEdit, type MemtableAdd, makeEdit } from './catalog-edit.js';
import {
  type BlobFileMeta,
  type CatalogState,
  deepFreeze,
  type FileMeta,
  type FileRef,
  type IndexMeta,
  type IndexState,
  LEVEL_COUNT,
  type MemtableMeta,
  type MemtableState,
} from './catalog-state.js';
import { CATALOG_FORMAT_VERSION } from './record-file.js';

/** Edit entry tags. On disk: never renumber, never reuse. */
export const EditTag = {
  memtableAdd: 1,
  memtableFreeze: 2,
  memtableRemove: 3,
  fileAdd: 4,
  fileRemove: 5,
  blobAdd: 6,
  blobRemove: 7,
  blobGarbage: 8,
  indexSet: 9,
  indexRemove: 10,
  nextFileNumber: 11,
  nextMemtableId: 12,
  lastSequence: 13,
} as const;

/** On disk: never renumber. */
const MEMTABLE_STATE_CODES: Readonly<Record<MemtableState, number>> = { mutable: 1, immutable: 2 };
const INDEX_STATE_CODES: Readonly<Record<IndexState, number>> = {
  building: 1,
  ready: 2,
  dropping: 3,
};
const COUNT_MAX = 0xffffffff;
/** The first format version whose index entries carry an id; version-1 files hold no indexes. */
const INDEX_ID_FORMAT_VERSION = 2;
/** Bytes of the smallest index entry: an empty name (u16 length), id u32, state u8. */
const INDEX_ENTRY_BYTES_MIN = 2 + 4 + 1;

export function encodeEdit(edit: CatalogEdit): Uint8Array {
  const writer = new ByteWriter().u64(edit.version);
  for (const id of edit.memtablesFrozen) writer.u8(EditTag.memtableFreeze).u64(id);
  for (const id of edit.memtablesRemoved) writer.u8(EditTag.memtableRemove).u64(id);
  for (const added of edit.memtablesAdded) {
    writer.u8(EditTag.memtableAdd).u64(added.id).u64(added.locator);
  }
  for (const ref of edit.filesRemoved)
    writer.u8(EditTag.fileRemove).u8(ref.level).u64(ref.fileNumber);
  for (const file of edit.filesAdded) writeFileMeta(writer.u8(EditTag.fileAdd), file);
  for (const fileNumber of edit.blobFilesRemoved) writer.u8(EditTag.blobRemove).u64(fileNumber);
  for (const blob of edit.blobFilesAdded) writeBlobMeta(writer.u8(EditTag.blobAdd), blob);
  for (const garbage of edit.blobGarbage) {
    writer.u8(EditTag.blobGarbage).u64(garbage.fileNumber).u64(garbage.garbageBytes);
  }
  for (const name of edit.indexesRemoved) writer.u8(EditTag.indexRemove).string(name);
  for (const index of edit.indexesSet) writeIndexMeta(writer.u8(EditTag.indexSet), index);
  if (edit.nextFileNumber !== undefined) writer.u8(EditTag.nextFileNumber).u64(edit.nextFileNumber);
  if (edit.nextMemtableId !== undefined) writer.u8(EditTag.nextMemtableId).u64(edit.nextMemtableId);
  if (edit.lastSequence !== undefined) writer.u8(EditTag.lastSequence).u64(edit.lastSequence);
  return writer.finish();
}

/** Requires: `formatVersion` is the version in the header of the file the payload came from. */
export function decodeEdit(
  payload: Uint8Array,
  source: ReaderSource,
  formatVersion: number,
): CatalogEdit {
  assertReadableVersion(formatVersion);
  const reader = new ByteReader(payload, source);
  const version = reader.u64('edit version');
  const memtablesAdded: MemtableAdd[] = [];
  const memtablesFrozen: number[] = [];
  const memtablesRemoved: number[] = [];
  const filesRemoved: FileRef[] = [];
  const filesAdded: FileMeta[] = [];
  const blobFilesRemoved: number[] = [];
  const blobFilesAdded: BlobFileMeta[] = [];
  const blobGarbage: BlobGarbage[] = [];
  const indexesRemoved: string[] = [];
  const indexesSet: IndexMeta[] = [];
  const counters: { nextFileNumber?: number; nextMemtableId?: number; lastSequence?: number } = {};
  while (reader.remaining > 0) {
    const tag = reader.u8('edit tag');
    switch (tag) {
      case EditTag.memtableAdd:
        memtablesAdded.push({ id: reader.u64('memtable id'), locator: reader.u64('locator') });
        break;
      case EditTag.memtableFreeze:
        memtablesFrozen.push(reader.u64('memtable id'));
        break;
      case EditTag.memtableRemove:
        memtablesRemoved.push(reader.u64('memtable id'));
        break;
      case EditTag.fileAdd:
        filesAdded.push(readFileMeta(reader));
        break;
      case EditTag.fileRemove:
        filesRemoved.push({ level: readLevel(reader), fileNumber: reader.u64('file number') });
        break;
      case EditTag.blobAdd:
        blobFilesAdded.push(readBlobMeta(reader));
        break;
      case EditTag.blobRemove:
        blobFilesRemoved.push(reader.u64('blob file number'));
        break;
      case EditTag.blobGarbage:
        blobGarbage.push({
          fileNumber: reader.u64('blob file number'),
          garbageBytes: reader.u64('garbage bytes'),
        });
        break;
      case EditTag.indexRemove:
        refuseVersion1Index(reader, formatVersion);
        indexesRemoved.push(reader.string('index name'));
        break;
      case EditTag.indexSet:
        refuseVersion1Index(reader, formatVersion);
        indexesSet.push(readIndexMeta(reader));
        break;
      case EditTag.nextFileNumber:
        counters.nextFileNumber = reader.u64('nextFileNumber');
        break;
      case EditTag.nextMemtableId:
        counters.nextMemtableId = reader.u64('nextMemtableId');
        break;
      case EditTag.lastSequence:
        counters.lastSequence = reader.u64('lastSequence');
        break;
      default:
        throw reader.corrupt(`unknown edit tag ${tag}`);
    }
  }
  return makeEdit(version, {
    ...{ memtablesAdded, memtablesFrozen, memtablesRemoved, filesRemoved, filesAdded },
    ...{ blobFilesRemoved, blobFilesAdded, blobGarbage, indexesRemoved, indexesSet },
    ...counters,
  });
}

export function encodeState(state: CatalogState): Uint8Array {
  const writer = new ByteWriter()
    .u64(state.version)
    .u64(state.nextFileNumber)
    .u64(state.nextMemtableId)
    .u64(state.lastSequence);
  writer.u32(state.memtables.length);
  for (const memtable of state.memtables) {
    writer.u64(memtable.id).u8(MEMTABLE_STATE_CODES[memtable.state]).u64(memtable.locator);
  }
  const files = state.levels.flat();
  assert(files.length <= COUNT_MAX);
  writer.u32(files.length);
  for (const file of files) writeFileMeta(writer, file);
  writer.u32(state.blobFiles.length);
  for (const blob of state.blobFiles) writeBlobMeta(writer, blob);
  writer.u32(state.indexes.length);
  for (const index of state.indexes) writeIndexMeta(writer, index);
  return writer.finish();
}

/**
 * Tables keep the order they were stored in, level by level; `checkState` verifies it.
 * Requires: `formatVersion` is the version in the header of the file the payload came from.
 */
export function decodeState(
  payload: Uint8Array,
  source: ReaderSource,
  formatVersion: number,
): CatalogState {
  assertReadableVersion(formatVersion);
  const reader = new ByteReader(payload, source);
  const version = reader.u64('version');
  const nextFileNumber = reader.u64('nextFileNumber');
  const nextMemtableId = reader.u64('nextMemtableId');
  const lastSequence = reader.u64('lastSequence');
  const memtables: MemtableMeta[] = [];
  for (let count = readCount(reader, 17), index = 0; index < count; index++) {
    const id = reader.u64('memtable id');
    const state = decodeEnum(reader, MEMTABLE_STATE_CODES, 'memtable state');
    memtables.push({ id, state, locator: reader.u64('locator') });
  }
  const levels: FileMeta[][] = Array.from({ length: LEVEL_COUNT }, () => []);
  for (let count = readCount(reader, 49), index = 0; index < count; index++) {
    const file = readFileMeta(reader);
    levels[file.level]!.push(file);
  }
  const blobFiles: BlobFileMeta[] = [];
  for (let count = readCount(reader, 24), index = 0; index < count; index++) {
    blobFiles.push(readBlobMeta(reader));
  }
  const indexes: IndexMeta[] = [];
  const indexCount = readCount(reader, INDEX_ENTRY_BYTES_MIN);
  if (indexCount > 0) refuseVersion1Index(reader, formatVersion);
  for (let index = 0; index < indexCount; index++) indexes.push(readIndexMeta(reader));
  if (reader.remaining > 0) throw reader.corrupt('unexpected bytes after the checkpoint state');
  const state = { version, nextFileNumber, nextMemtableId, lastSequence, memtables, levels };
  return deepFreeze({ ...state, blobFiles, indexes });
}

/*
 * Table entry (FORMAT.md "Table entry"):
 *   level u8 | fileNumber u64 | sizeBytes u64 | entryCount u64 | seqMin u64 | seqMax u64 |
 *   smallest: length u32, bytes | largest: length u32, bytes
 */
function writeFileMeta(writer: ByteWriter, file: FileMeta): void {
  assert(file.level < LEVEL_COUNT);
  writer.u8(file.level).u64(file.fileNumber).u64(file.sizeBytes).u64(file.entryCount);
  writer.u64(file.seqMin).u64(file.seqMax);
  writer.bytesWithLength(file.smallest).bytesWithLength(file.largest);
}

function readFileMeta(reader: ByteReader): FileMeta {
  const level = readLevel(reader);
  const fileNumber = reader.u64('file number');
  const sizeBytes = reader.u64('sizeBytes');
  const entryCount = reader.u64('entryCount');
  const seqMin = reader.u64('seqMin');
  const seqMax = reader.u64('seqMax');
  const smallest = reader.bytesWithLength('smallest key');
  const largest = reader.bytesWithLength('largest key');
  return { fileNumber, level, sizeBytes, entryCount, smallest, largest, seqMin, seqMax };
}

function writeBlobMeta(writer: ByteWriter, blob: BlobFileMeta): void {
  writer.u64(blob.fileNumber).u64(blob.sizeBytes).u64(blob.garbageBytes);
}

function readBlobMeta(reader: ByteReader): BlobFileMeta {
  const fileNumber = reader.u64('blob file number');
  const sizeBytes = reader.u64('blob sizeBytes');
  return { fileNumber, sizeBytes, garbageBytes: reader.u64('blob garbageBytes') };
}

/*
 * Index entry (FORMAT.md "Entries"; version 2 and later):
 *   name: length u16, UTF-8 | id u32 | state u8
 */
function writeIndexMeta(writer: ByteWriter, index: IndexMeta): void {
  writer.string(index.name).u32(index.id).u8(INDEX_STATE_CODES[index.state]);
}

function readIndexMeta(reader: ByteReader): IndexMeta {
  const name = reader.string('index name');
  const id = reader.u32('index id');
  return { name, id, state: decodeEnum(reader, INDEX_STATE_CODES, 'index state') };
}

/** A version-1 file with an index entry: its layout had no id, and no release wrote one. */
function refuseVersion1Index(reader: ByteReader, formatVersion: number): void {
  if (formatVersion >= INDEX_ID_FORMAT_VERSION) return;
  throw reader.corrupt(
    `index entry in a version-${formatVersion} catalog file (version-1 catalogs cannot hold ` +
      'indexes: no release wrote them)',
  );
}

function assertReadableVersion(formatVersion: number): void {
  assert(Number.isInteger(formatVersion), 'format version must be an integer');
  assert(formatVersion >= 1 && formatVersion <= CATALOG_FORMAT_VERSION, 'unreadable version');
}

function readLevel(reader: ByteReader): number {
  const level = reader.u8('level');
  if (level >= LEVEL_COUNT) throw reader.corrupt(`level ${level} is not below ${LEVEL_COUNT}`);
  return level;
}

/** A u32 count, refused when even the smallest entries could not fit in what is left. */
function readCount(reader: ByteReader, entryBytesMin: number): number {
  const count = reader.u32('count');
  if (count * entryBytesMin > reader.remaining) throw reader.corrupt(`count ${count} is too large`);
  return count;
}

function decodeEnum<Name extends string>(
  reader: ByteReader,
  codes: Readonly<Record<Name, number>>,
  what: string,
): Name {
  const code = reader.u8(what);
  for (const [name, value] of Object.entries(codes) as [Name, number][]) {
    if (value === code) return name;
  }
  throw reader.corrupt(`${what} ${code} is unknown`);
}
