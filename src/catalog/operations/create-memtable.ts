/**
 * Registers a new mutable memtable. Only valid when there is none: the first memtable of a new
 * database (or one whose memtables were all flushed). After that, FreezeMemtable creates each
 * next mutable memtable in the same edit that freezes the old one, so every published version
 * has exactly one mutable memtable and writers never find none.
 */
import { assert } from '../../assert.js';
import type { CatalogSnapshot } from '../catalog-snapshot.js';
import { findMemtable, type MemtableMeta } from '../catalog-state.js';
import { type ApplyContext, CatalogOperation } from './operation.js';
import { checkU64 } from './table-properties.js';

export interface CreateMemtableInput {
  /** Opaque to the catalog: where the memtable layer keeps the new memtable. */
  readonly locator: number;
}

export class CreateMemtable extends CatalogOperation<MemtableMeta> {
  readonly #locator: number;

  constructor(snapshot: CatalogSnapshot, input: CreateMemtableInput) {
    super(snapshot);
    checkU64(input.locator, 'locator');
    this.#locator = input.locator;
  }

  get name(): string {
    return 'CreateMemtable';
  }

  protected async apply(context: ApplyContext): Promise<MemtableMeta> {
    const current = context.latest.memtables.find((memtable) => memtable.state === 'mutable');
    if (current !== undefined) throw context.conflict(`memtable ${current.id} is already mutable`);
    const id = context.latest.nextMemtableId;
    const prepared = context.prepare({
      memtablesAdded: [{ id, locator: this.#locator }],
      nextMemtableId: id + 1,
    });
    await context.commit(prepared);
    const created = findMemtable(prepared.state, id);
    assert(created !== undefined);
    return created;
  }
}
