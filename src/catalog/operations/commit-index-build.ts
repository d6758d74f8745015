/**
 * Commits a secondary-index build (issue 6) in one edit: the index, still `building` with the
 * id the build used, becomes `ready`, and the build's sorted tables (its entries, older than any
 * the write path added meanwhile) are ingested at the one level that keeps them below every
 * newer entry of their key range.
 *
 * Ingest level. While the index was building, the write path kept adding entries of the index
 * to memtables, and flushes and compactions carried them into L0..L6. The build's entries are
 * older, so a reader must find those newer ones first: every table whose user-key range
 * overlaps the build's range must sit above the ingested tables. The outputs go to
 *
 *   L6,                                  if no table of L1..L6 overlaps the build's range;
 *   (the deepest level with such a table) + 1, if that is at most L6;
 *   nowhere (ERR_CONFLICT),              if L6 holds one.
 *
 * L0 never matters (it is above every level). The chosen level holds no overlapping table, so
 * the outputs fit in it. A conflict is retryable: once a compaction has moved the newer entries
 * out of the way, a later commit of the same outputs may find a level.
 *
 * Keys are internal keys (src/sst/); the level rule compares their user keys, since a newer
 * entry of the same user key must come first whatever its trailer. Outputs are temp files
 * renamed to `NNNNNN.sst` with fresh file numbers, as in CommitCompaction.
 */
import { assert } from '../../assert.js';
import { compareUserKeys, TRAILER_BYTES, userKeyOf } from '../../sst/internal-key.js';
import type { CatalogSnapshot } from '../catalog-snapshot.js';
import {
  type CatalogState,
  type FileMeta,
  findIndex,
  type IndexMeta,
  LEVEL_COUNT,
} from '../catalog-state.js';
import { checkIndexId, checkIndexName } from './index-input.js';
import { type ApplyContext, CatalogOperation } from './operation.js';
import {
  checkTempPath,
  copyTableProperties,
  invalid,
  type TableProperties,
  tableInstalls,
  tableMeta,
} from './table-properties.js';

export interface IndexBuildOutput {
  /** The written and fsynced table, named by `catalog.newTempPath()`. */
  readonly tempPath: string;
  readonly table: TableProperties;
}

export interface CommitIndexBuildInput {
  /** The index, as ChangeIndexState created it. */
  readonly name: string;
  readonly id: number;
  /** Tables of the build's entries; their user-key ranges must not overlap each other. */
  readonly outputs: readonly IndexBuildOutput[];
}

export interface CommitIndexBuildResult {
  /** The index, now ready. */
  readonly index: IndexMeta;
  /** Where the outputs went; undefined when there were none. */
  readonly level: number | undefined;
  /** The ingested tables with their file numbers, in the order of `outputs`. */
  readonly filesAdded: readonly FileMeta[];
}

/** An inclusive range of user keys. */
export interface UserRange {
  readonly smallest: Uint8Array;
  readonly largest: Uint8Array;
}

export class CommitIndexBuild extends CatalogOperation<CommitIndexBuildResult> {
  readonly #input: CommitIndexBuildInput;
  /** The union of the outputs' user-key ranges; undefined without outputs. */
  readonly #range: UserRange | undefined;

  constructor(snapshot: CatalogSnapshot, input: CommitIndexBuildInput) {
    super(snapshot);
    checkIndexName(input.name, 'name');
    checkIndexId(input.id, 'id');
    if (!Array.isArray(input.outputs)) invalid('outputs must be an array');
    const outputs = input.outputs.map((output, position) => {
      checkTempPath(output.tempPath, `outputs[${position}].tempPath`);
      const table = copyTableProperties(output.table, `outputs[${position}].table`);
      for (const bound of ['smallest', 'largest'] as const) {
        if (table[bound].length < TRAILER_BYTES) {
          invalid(`outputs[${position}].table.${bound} is shorter than an internal key's trailer`);
        }
      }
      if (compareUserKeys(userKeyOf(table.smallest), userKeyOf(table.largest)) > 0) {
        invalid(`outputs[${position}].table.smallest has a user key after its largest's`);
      }
      return Object.freeze({ tempPath: output.tempPath, table });
    });
    this.#input = Object.freeze({ name: input.name, id: input.id, outputs });
    this.#range = outputsRange(outputs.map((output) => output.table));
  }

  get name(): string {
    return 'CommitIndexBuild';
  }

  protected async apply(context: ApplyContext): Promise<CommitIndexBuildResult> {
    const { latest } = context;
    const { name, id, outputs } = this.#input;
    const label = `index ${JSON.stringify(name)}`;
    const index = findIndex(latest, name);
    if (index === undefined) throw context.conflict(`${label} does not exist (dropped?)`);
    if (index.id !== id) {
      throw context.conflict(`${label} has id ${index.id}, not ${id} (dropped and recreated?)`);
    }
    if (index.state !== 'building') {
      throw context.conflict(`${label} is ${index.state}, not building`);
    }
    const level = this.#range === undefined ? undefined : ingestLevel(latest, this.#range);
    if (level === null) {
      throw context.conflict(
        `no level below the index's newer entries is free: a table in L${LEVEL_COUNT - 1} ` +
          `overlaps the build's key range`,
      );
    }
    assert((level === undefined) === (outputs.length === 0));
    const filesAdded = outputs.map((output, position) => {
      if (context.compareKeys(output.table.smallest, output.table.largest) > 0) {
        invalid(`outputs[${position}].table.smallest sorts after its largest key`);
      }
      const where = { level: level ?? 0, fileNumber: latest.nextFileNumber + position };
      return tableMeta(output.table, where);
    });
    const ready: IndexMeta = Object.freeze({ name, id, state: 'ready' });
    const prepared = context.prepare({
      filesAdded,
      indexesSet: [ready],
      ...(filesAdded.length === 0
        ? {}
        : {
            nextFileNumber: latest.nextFileNumber + filesAdded.length,
            lastSequence: Math.max(latest.lastSequence, ...filesAdded.map((file) => file.seqMax)),
          }),
    });
    await context.installFiles(tableInstalls(outputs, filesAdded));
    await context.commit(prepared);
    return { index: ready, level, filesAdded };
  }
}

/**
 * The level the outputs go to (see the file comment), or null when L6 holds a table that
 * overlaps `range`.
 */
export function ingestLevel(state: CatalogState, range: UserRange): number | null {
  const deepest = LEVEL_COUNT - 1;
  for (let level = deepest; level >= 1; level--) {
    const files = state.levels[level] ?? [];
    if (files.some((file) => userRangesOverlap(userRangeOf(file), range))) {
      return level === deepest ? null : level + 1;
    }
  }
  return deepest;
}

/** The union of the tables' user-key ranges; ERR_INVALID_ARGUMENT if two of them overlap. */
function outputsRange(tables: readonly TableProperties[]): UserRange | undefined {
  const ranges = tables
    .map((table, position) => ({ ...userRangeOf(table), position }))
    .sort((left, right) => compareUserKeys(left.smallest, right.smallest));
  for (let position = 1; position < ranges.length; position++) {
    const before = ranges[position - 1]!;
    const after = ranges[position]!;
    if (compareUserKeys(before.largest, after.smallest) >= 0) {
      invalid(`outputs[${before.position}] and outputs[${after.position}] overlap in user keys`);
    }
  }
  // Sorted and disjoint, so the last range ends the union.
  const first = ranges[0];
  const last = ranges[ranges.length - 1];
  if (first === undefined || last === undefined) return undefined;
  return { smallest: first.smallest, largest: last.largest };
}

function userRangeOf(table: {
  readonly smallest: Uint8Array;
  readonly largest: Uint8Array;
}): UserRange {
  return { smallest: userKeyOf(table.smallest), largest: userKeyOf(table.largest) };
}

function userRangesOverlap(left: UserRange, right: UserRange): boolean {
  return (
    compareUserKeys(left.smallest, right.largest) <= 0 &&
    compareUserKeys(right.smallest, left.largest) <= 0
  );
}
