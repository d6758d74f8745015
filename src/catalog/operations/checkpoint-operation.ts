/**
 * Writes the latest state as a checkpoint and starts an empty manifest (a new generation). The
 * catalog also does this on its own every `checkpointEveryEdits` edits; pushing it is for
 * callers that want a short manifest now (before a backup, in tests). The state does not change,
 * so no version is published.
 */
import type { CatalogSnapshot } from '../catalog-snapshot.js';
import { type ApplyContext, CatalogOperation } from './operation.js';

export interface CheckpointResult {
  /** The new generation: `CATALOG-<generation>` and `MANIFEST-<generation>`. */
  readonly generation: number;
}

export class Checkpoint extends CatalogOperation<CheckpointResult> {
  constructor(snapshot: CatalogSnapshot) {
    super(snapshot);
  }

  get name(): string {
    return 'Checkpoint';
  }

  protected async apply(context: ApplyContext): Promise<CheckpointResult> {
    return { generation: await context.checkpoint() };
  }
}
