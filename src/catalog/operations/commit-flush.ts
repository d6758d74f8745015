/**
 * Installs the table a flush wrote for an immutable memtable: L0 gains the table, the memtable
 * leaves the catalog. The flush worker wrote and fsynced the table to a temp file
 * (`catalog.newTempPath()`); this operation checks that the memtable is still immutable and live
 * and that the file exists with the reported size, renames it to `NNNNNN.sst`, makes the rename
 * durable, appends the edit, and publishes.
 *
 * The memtable's NVM pages must outlive every snapshot that still lists it (an iterator may be
 * reading it), so the result reports the memtable and a promise that resolves once no pinned
 * snapshot does; the memtable layer frees the pages then (and, after a crash, frees memtables
 * the catalog no longer lists). On failure the temp file is left to the caller (open removes it
 * otherwise).
 */
import { assert } from '../../assert.js';
import type { CatalogSnapshot } from '../catalog-snapshot.js';
import type { FileMeta, MemtableMeta } from '../catalog-state.js';
import { type ApplyContext, CatalogOperation } from './operation.js';
import {
  checkTempPath,
  checkU64,
  copyTableProperties,
  invalid,
  type TableProperties,
  tableMeta,
} from './table-properties.js';

export interface CommitFlushInput {
  readonly memtableId: number;
  /** The written and fsynced table, named by `catalog.newTempPath()`. */
  readonly tempPath: string;
  readonly table: TableProperties;
}

export interface CommitFlushResult {
  /** The installed table (level 0, its new file number). */
  readonly file: FileMeta;
  /** The flushed memtable, with its locator. */
  readonly memtable: MemtableMeta;
  /** Resolves when no pinned snapshot lists the memtable: its pages may be freed then. */
  readonly memtableUnpinned: Promise<void>;
}

export class CommitFlush extends CatalogOperation<CommitFlushResult> {
  readonly #memtableId: number;
  readonly #tempPath: string;
  readonly #table: TableProperties;

  constructor(snapshot: CatalogSnapshot, input: CommitFlushInput) {
    super(snapshot);
    checkU64(input.memtableId, 'memtableId');
    checkTempPath(input.tempPath, 'tempPath');
    this.#memtableId = input.memtableId;
    this.#tempPath = input.tempPath;
    this.#table = copyTableProperties(input.table, 'table');
  }

  get name(): string {
    return 'CommitFlush';
  }

  protected async apply(context: ApplyContext): Promise<CommitFlushResult> {
    const { latest } = context;
    const memtableId = this.#memtableId;
    const memtable = latest.memtables.find((candidate) => candidate.id === memtableId);
    if (memtable === undefined)
      throw context.conflict(`memtable ${memtableId} was already flushed`);
    if (memtable.state !== 'immutable') {
      throw context.conflict(`memtable ${memtableId} is still mutable (freeze it first)`);
    }
    if (context.compareKeys(this.#table.smallest, this.#table.largest) > 0) {
      invalid('table.smallest sorts after table.largest');
    }
    const fileNumber = latest.nextFileNumber;
    const file = tableMeta(this.#table, { level: 0, fileNumber });
    const prepared = context.prepare({
      memtablesRemoved: [memtableId],
      filesAdded: [file],
      nextFileNumber: fileNumber + 1,
      lastSequence: Math.max(latest.lastSequence, file.seqMax),
    });
    const install = {
      tempPath: this.#tempPath,
      kind: 'table',
      fileNumber,
      sizeBytes: file.sizeBytes,
    } as const;
    await context.installFiles([install]);
    await context.commit(prepared);
    assert(prepared.state.memtables.every((candidate) => candidate.id !== memtableId));
    return { file, memtable, memtableUnpinned: context.whenMemtableUnpinned(memtableId) };
  }
}
