/**
 * Turns the mutable memtable immutable (ready to flush) and, in the same edit, registers its
 * successor as the new mutable memtable, so there is never a version without one. The memtable
 * layer allocates the successor first and passes its locator; if the operation fails, the caller
 * frees that allocation (after a crash, memtables the catalog does not list are the memtable
 * layer's to reclaim).
 */
import { assert } from '../../assert.js';
import type { CatalogSnapshot } from '../catalog-snapshot.js';
import { findMemtable, type MemtableMeta } from '../catalog-state.js';
import { type ApplyContext, CatalogOperation } from './operation.js';
import { checkU64 } from './table-properties.js';

export interface FreezeMemtableInput {
  /** The memtable to freeze; it must still be the mutable one when the operation applies. */
  readonly memtableId: number;
  /** Locator of the successor memtable. */
  readonly nextLocator: number;
}

export interface FreezeMemtableResult {
  readonly frozen: MemtableMeta;
  readonly created: MemtableMeta;
}

export class FreezeMemtable extends CatalogOperation<FreezeMemtableResult> {
  readonly #input: FreezeMemtableInput;

  constructor(snapshot: CatalogSnapshot, input: FreezeMemtableInput) {
    super(snapshot);
    checkU64(input.memtableId, 'memtableId');
    checkU64(input.nextLocator, 'nextLocator');
    this.#input = { memtableId: input.memtableId, nextLocator: input.nextLocator };
  }

  get name(): string {
    return 'FreezeMemtable';
  }

  protected async apply(context: ApplyContext): Promise<FreezeMemtableResult> {
    const { memtableId, nextLocator } = this.#input;
    const memtable = context.latest.memtables.find((candidate) => candidate.id === memtableId);
    if (memtable === undefined) throw context.conflict(`memtable ${memtableId} is not live`);
    if (memtable.state !== 'mutable') {
      throw context.conflict(`memtable ${memtableId} is not mutable (already frozen)`);
    }
    const createdId = context.latest.nextMemtableId;
    const prepared = context.prepare({
      memtablesFrozen: [memtableId],
      memtablesAdded: [{ id: createdId, locator: nextLocator }],
      nextMemtableId: createdId + 1,
    });
    await context.commit(prepared);
    const frozen = findMemtable(prepared.state, memtableId);
    const created = findMemtable(prepared.state, createdId);
    assert(frozen?.state === 'immutable');
    assert(created?.state === 'mutable');
    return { frozen, created };
  }
}
