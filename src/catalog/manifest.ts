/**
 * The manifest: the log of edits since the live checkpoint (FORMAT.md "Manifest"). An edit is
 * acknowledged only after its record was appended and fsynced; a crash during the append leaves
 * a torn tail, which open drops (the operation that wrote it never resolved) and truncates away
 * so that later appends follow the last whole record.
 */
import { assert } from '../assert.js';
import type { CatalogEdit } from './catalog-edit.js';
import type { CatalogFs } from './catalog-fs.js';
import { decodeEdit, encodeEdit } from './edit-codec.js';
import {
  CATALOG_FORMAT_VERSION,
  encodeFileHeader,
  FILE_HEADER_BYTES,
  FileMagic,
  frameRecord,
  RECORD_HEADER_BYTES,
  RecordType,
  scanRecordFile,
} from './record-file.js';

/** Appends edits to one manifest file. Main thread only, driven by the catalog's executor. */
export class ManifestWriter {
  constructor(
    private readonly fs: CatalogFs,
    readonly path: string,
    private lengthBytes: number,
    private editCount: number,
    /** From the file's header. Appends need CATALOG_FORMAT_VERSION (the executor checks). */
    readonly formatVersion: number,
  ) {}

  /** Edits in this manifest: the catalog checkpoints when it reaches the configured count. */
  get recordCount(): number {
    return this.editCount;
  }

  get sizeBytes(): number {
    return this.lengthBytes;
  }

  /** Durable when it resolves. On rejection the file may hold a torn tail. */
  async append(edit: CatalogEdit): Promise<void> {
    // Records follow their file's layout; an older file is replaced by a new generation first.
    assert(this.formatVersion === CATALOG_FORMAT_VERSION, 'append to an older-format manifest');
    const record = frameRecord(RecordType.edit, encodeEdit(edit));
    await this.fs.appendFile(this.path, record);
    await this.fs.fsyncFile(this.path);
    this.lengthBytes += record.length;
    this.editCount++;
  }
}

/** Writes an empty manifest (header only) and fsyncs it; its name becomes durable later. */
export async function createManifestFile(fs: CatalogFs, path: string): Promise<ManifestWriter> {
  await fs.writeFile(path, encodeFileHeader(FileMagic.manifest));
  await fs.fsyncFile(path);
  return new ManifestWriter(fs, path, FILE_HEADER_BYTES, 0, CATALOG_FORMAT_VERSION);
}

export interface ManifestEdit {
  readonly edit: CatalogEdit;
  /** Offset of the edit's record in the manifest, for error messages. */
  readonly offset: number;
}

export interface ManifestContents {
  readonly formatVersion: number;
  readonly edits: readonly ManifestEdit[];
  readonly validLengthBytes: number;
  readonly tornTailOffset?: number;
}

/** Reads every whole edit; a corrupt record before the tail is ERR_CORRUPT. */
export async function readManifestFile(
  fs: CatalogFs,
  path: string,
  fileName: string,
): Promise<ManifestContents> {
  const bytes = await fs.readFile(path);
  const scan = scanRecordFile(bytes, {
    file: fileName,
    magic: FileMagic.manifest,
    types: [RecordType.edit],
    allowTornTail: true,
  });
  const edits = scan.records.map((record) => ({
    edit: decodeEdit(
      record.payload,
      { file: fileName, baseOffset: record.offset + RECORD_HEADER_BYTES },
      scan.formatVersion,
    ),
    offset: record.offset,
  }));
  return {
    formatVersion: scan.formatVersion,
    edits,
    validLengthBytes: scan.validLengthBytes,
    ...(scan.tornTailOffset === undefined ? {} : { tornTailOffset: scan.tornTailOffset }),
  };
}
