/**
 * Moves a secondary index (issue 6) through its life: absent → building → ready → dropping →
 * absent (building may also go straight to dropping). Any other step, such as creating an index
 * that exists, is ERR_CONFLICT. The index's tables are ingested by CommitCompaction.
 */

import type { CatalogSnapshot } from '../catalog-snapshot.js';
import { findIndex, type IndexMeta, type IndexState } from '../catalog-state.js';
import { type ApplyContext, CatalogOperation } from './operation.js';
import { invalid } from './table-properties.js';

const INDEX_NAME_BYTES_MAX = 0xffff;
const STATES: readonly (IndexState | 'absent')[] = ['building', 'ready', 'dropping', 'absent'];

export interface ChangeIndexStateInput {
  readonly name: string;
  /** The state to move to; 'absent' removes an index that is being dropped. */
  readonly state: IndexState | 'absent';
}

/** Resolves with the index as it now is, or undefined once removed. */
export class ChangeIndexState extends CatalogOperation<IndexMeta | undefined> {
  readonly #input: ChangeIndexStateInput;

  constructor(snapshot: CatalogSnapshot, input: ChangeIndexStateInput) {
    super(snapshot);
    if (typeof input.name !== 'string' || input.name.length === 0 || !input.name.isWellFormed()) {
      invalid('index name must be a non-empty, well-formed string');
    }
    if (Buffer.byteLength(input.name, 'utf8') > INDEX_NAME_BYTES_MAX) {
      invalid(`index name is longer than ${INDEX_NAME_BYTES_MAX} UTF-8 bytes`);
    }
    if (!STATES.includes(input.state)) invalid(`index state must be one of ${STATES.join(', ')}`);
    this.#input = { name: input.name, state: input.state };
  }

  get name(): string {
    return 'ChangeIndexState';
  }

  protected async apply(context: ApplyContext): Promise<IndexMeta | undefined> {
    const { name, state } = this.#input;
    const prepared = context.prepare(
      state === 'absent' ? { indexesRemoved: [name] } : { indexesSet: [{ name, state }] },
    );
    await context.commit(prepared);
    return findIndex(prepared.state, name);
  }
}
