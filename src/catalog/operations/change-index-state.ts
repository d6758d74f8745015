/**
 * Moves a secondary index (issue 6) through its life: absent → building → ready → dropping →
 * absent (building may also go straight to dropping). Creation (absent → building) gives the
 * index its id, the next file number, which the edit consumes, so ids are never reused. Any
 * other step, such as creating an index that exists, is ERR_CONFLICT. Building → ready is
 * CommitIndexBuild's, which ingests the build's tables in the same edit; asking this operation
 * for it is ERR_INVALID_ARGUMENT.
 */

import { StrataError } from '../../errors.js';
import type { CatalogSnapshot } from '../catalog-snapshot.js';
import { findIndex, INDEX_ID_MAX, type IndexMeta, type IndexState } from '../catalog-state.js';
import { checkIndexName } from './index-input.js';
import { type ApplyContext, CatalogOperation, type PreparedEdit } from './operation.js';
import { invalid } from './table-properties.js';

const STATES: readonly (IndexState | 'absent')[] = ['building', 'dropping', 'absent'];

export interface ChangeIndexStateInput {
  readonly name: string;
  /**
   * The state to move to: 'building' creates the index, 'dropping' starts its removal, 'absent'
   * removes an index that is being dropped. ('ready' comes from CommitIndexBuild.)
   */
  readonly state: IndexState | 'absent';
}

/** Resolves with the index as it now is (a new one with its id), or undefined once removed. */
export class ChangeIndexState extends CatalogOperation<IndexMeta | undefined> {
  readonly #input: ChangeIndexStateInput;

  constructor(snapshot: CatalogSnapshot, input: ChangeIndexStateInput) {
    super(snapshot);
    checkIndexName(input.name, 'index name');
    if (input.state === 'ready') {
      invalid('an index becomes ready through CommitIndexBuild, which ingests its tables');
    }
    if (!STATES.includes(input.state)) invalid(`index state must be one of ${STATES.join(', ')}`);
    this.#input = { name: input.name, state: input.state };
  }

  get name(): string {
    return 'ChangeIndexState';
  }

  protected async apply(context: ApplyContext): Promise<IndexMeta | undefined> {
    const { name, state } = this.#input;
    const prepared =
      state === 'absent' ? context.prepare({ indexesRemoved: [name] }) : this.#set(context, state);
    await context.commit(prepared);
    return findIndex(prepared.state, name);
  }

  #set(context: ApplyContext, state: IndexState): PreparedEdit {
    const { latest } = context;
    const name = this.#input.name;
    const existing = findIndex(latest, name);
    if (existing !== undefined) {
      // Creating an existing index, or a step its state does not allow: applyEdit names it.
      return context.prepare({ indexesSet: [{ name, id: existing.id, state }] });
    }
    if (state !== 'building') {
      throw context.conflict(`index ${JSON.stringify(name)} cannot go from absent to ${state}`);
    }
    const id = latest.nextFileNumber;
    if (id > INDEX_ID_MAX) {
      throw new StrataError(
        'ERR_INVALID_ARGUMENT',
        `index ids are exhausted: the next one would be ${id}, above ${INDEX_ID_MAX}`,
      );
    }
    return context.prepare({ indexesSet: [{ name, id, state }], nextFileNumber: id + 1 });
  }
}
