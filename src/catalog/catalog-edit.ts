/**
 * An edit is the unit of change of the catalog: what one operation adds and removes, applied as a
 * whole to the latest state. The manifest stores one edit per record (FORMAT.md "Edit payload").
 *
 * `applyEdit` is the only function that derives a new state. It checks every rule a state obeys,
 * so it serves three callers: operations (a problem means their plan no longer fits the latest
 * state → ERR_CONFLICT), replay on open (a problem means the manifest is corrupt → ERR_CORRUPT)
 * and the assertion after a commit (a problem there is a bug).
 *
 * Parts apply in this fixed order, whatever order the record lists them in: memtable freezes,
 * memtable removals, memtable additions, table removals, table additions, blob removals, blob
 * additions, blob garbage, index removals, index changes, counters. A table that is removed and
 * added again in one edit is a move to another level.
 */
import {
  type BlobFileMeta,
  type CatalogState,
  type CompareKeys,
  deepFreeze,
  type FileMeta,
  type FileRef,
  INDEX_ID_MAX,
  type IndexMeta,
  type IndexState,
  type MemtableMeta,
  type U64,
} from './catalog-state.js';

export interface MemtableAdd {
  readonly id: U64;
  readonly locator: U64;
}

export interface BlobGarbage {
  readonly fileNumber: U64;
  /** Added to the blob file's garbageBytes. */
  readonly garbageBytes: U64;
}

export interface CatalogEdit {
  /** The version this edit produces: exactly one more than the state it applies to. */
  readonly version: U64;
  /** Added as mutable. */
  readonly memtablesAdded: readonly MemtableAdd[];
  readonly memtablesFrozen: readonly U64[];
  readonly memtablesRemoved: readonly U64[];
  readonly filesRemoved: readonly FileRef[];
  readonly filesAdded: readonly FileMeta[];
  readonly blobFilesRemoved: readonly U64[];
  readonly blobFilesAdded: readonly BlobFileMeta[];
  readonly blobGarbage: readonly BlobGarbage[];
  readonly indexesRemoved: readonly string[];
  /**
   * Creates an index (state building, with a fresh id in [old nextFileNumber, new
   * nextFileNumber)) or moves it to its next state (keeping its id).
   */
  readonly indexesSet: readonly IndexMeta[];
  /** Absent: unchanged. Counters only grow. */
  readonly nextFileNumber?: U64;
  readonly nextMemtableId?: U64;
  readonly lastSequence?: U64;
}

export type EditParts = Partial<Omit<CatalogEdit, 'version'>>;

export type EditOutcome =
  | { readonly ok: true; readonly state: CatalogState }
  | { readonly ok: false; readonly problem: string };

/** Index states an index may move to from each state; absence is `undefined`. */
const INDEX_TRANSITIONS: ReadonlyMap<IndexState | undefined, readonly IndexState[]> = new Map([
  [undefined, ['building']],
  ['building', ['ready', 'dropping']],
  ['ready', ['dropping']],
  ['dropping', []],
]);

export function makeEdit(version: U64, parts: EditParts): CatalogEdit {
  return deepFreeze({
    version,
    memtablesAdded: parts.memtablesAdded ?? [],
    memtablesFrozen: parts.memtablesFrozen ?? [],
    memtablesRemoved: parts.memtablesRemoved ?? [],
    filesRemoved: parts.filesRemoved ?? [],
    filesAdded: parts.filesAdded ?? [],
    blobFilesRemoved: parts.blobFilesRemoved ?? [],
    blobFilesAdded: parts.blobFilesAdded ?? [],
    blobGarbage: parts.blobGarbage ?? [],
    indexesRemoved: parts.indexesRemoved ?? [],
    indexesSet: parts.indexesSet ?? [],
    ...(parts.nextFileNumber === undefined ? {} : { nextFileNumber: parts.nextFileNumber }),
    ...(parts.nextMemtableId === undefined ? {} : { nextMemtableId: parts.nextMemtableId }),
    ...(parts.lastSequence === undefined ? {} : { lastSequence: parts.lastSequence }),
  });
}

/** The state after `edit`, or the first rule it breaks. Never throws on a bad edit. */
export function applyEdit(
  state: CatalogState,
  edit: CatalogEdit,
  compareKeys: CompareKeys,
): EditOutcome {
  if (edit.version !== state.version + 1) {
    return fail(`edit makes version ${edit.version} but the state is at ${state.version}`);
  }
  const nextFileNumber = edit.nextFileNumber ?? state.nextFileNumber;
  const nextMemtableId = edit.nextMemtableId ?? state.nextMemtableId;
  const lastSequence = edit.lastSequence ?? state.lastSequence;
  if (nextFileNumber < state.nextFileNumber) return fail('nextFileNumber moves backwards');
  if (nextMemtableId < state.nextMemtableId) return fail('nextMemtableId moves backwards');
  if (lastSequence < state.lastSequence) return fail('lastSequence moves backwards');

  const memtables = applyMemtables(state, edit, nextMemtableId);
  if (typeof memtables === 'string') return fail(memtables);
  const levels = applyFiles(state, edit, { nextFileNumber, lastSequence, compareKeys });
  if (typeof levels === 'string') return fail(levels);
  const blobFiles = applyBlobFiles(state, edit, { nextFileNumber, levels });
  if (typeof blobFiles === 'string') return fail(blobFiles);
  const indexes = applyIndexes(state, edit, { nextFileNumber, levels, blobFiles });
  if (typeof indexes === 'string') return fail(indexes);

  const next: CatalogState = {
    version: edit.version,
    nextFileNumber,
    nextMemtableId,
    lastSequence,
    memtables,
    levels,
    blobFiles,
    indexes,
  };
  return { ok: true, state: deepFreeze(next) };
}

function applyMemtables(
  state: CatalogState,
  edit: CatalogEdit,
  nextMemtableId: number,
): MemtableMeta[] | string {
  const byId = new Map(state.memtables.map((memtable) => [memtable.id, memtable]));
  for (const id of edit.memtablesFrozen) {
    const memtable = byId.get(id);
    if (memtable === undefined) return `memtable ${id} is not live (already flushed?)`;
    if (memtable.state !== 'mutable') return `memtable ${id} is not mutable (already frozen)`;
    byId.set(id, { ...memtable, state: 'immutable' });
  }
  for (const id of edit.memtablesRemoved) {
    const memtable = byId.get(id);
    if (memtable === undefined) return `memtable ${id} is not live (already flushed?)`;
    if (memtable.state !== 'immutable') return `memtable ${id} is still mutable`;
    byId.delete(id);
  }
  for (const added of edit.memtablesAdded) {
    if (added.id < state.nextMemtableId || added.id >= nextMemtableId) {
      return `memtable id ${added.id} is outside the fresh range [${state.nextMemtableId}, ${nextMemtableId})`;
    }
    if (byId.has(added.id)) return `memtable ${added.id} is added twice`;
    byId.set(added.id, { id: added.id, state: 'mutable', locator: added.locator });
  }
  const memtables = [...byId.values()].sort((left, right) => left.id - right.id);
  const mutableCount = memtables.filter((memtable) => memtable.state === 'mutable').length;
  if (mutableCount > 1) return `the edit leaves ${mutableCount} mutable memtables`;
  return memtables;
}

function applyFiles(
  state: CatalogState,
  edit: CatalogEdit,
  limits: {
    readonly nextFileNumber: number;
    readonly lastSequence: number;
    readonly compareKeys: CompareKeys;
  },
): FileMeta[][] | string {
  const levels = state.levels.map((level) => [...level]);
  const removed = new Set<number>();
  for (const ref of edit.filesRemoved) {
    const level = levels[ref.level];
    const position = level?.findIndex((file) => file.fileNumber === ref.fileNumber) ?? -1;
    if (level === undefined || position < 0) {
      return `table ${ref.fileNumber} is not live in L${ref.level}`;
    }
    level.splice(position, 1);
    removed.add(ref.fileNumber);
  }
  const live = new Set<number>(state.blobFiles.map((blob) => blob.fileNumber));
  for (const level of levels) for (const file of level) live.add(file.fileNumber);
  const touched = new Set<number>();
  for (const file of edit.filesAdded) {
    const level = levels[file.level];
    if (level === undefined) return `table ${file.fileNumber} names level ${file.level}`;
    if (live.has(file.fileNumber)) return `file number ${file.fileNumber} is already live`;
    const fresh =
      file.fileNumber >= state.nextFileNumber && file.fileNumber < limits.nextFileNumber;
    if (!fresh && !removed.has(file.fileNumber)) {
      return `table ${file.fileNumber} is neither fresh nor moved`;
    }
    if (limits.compareKeys(file.smallest, file.largest) > 0) {
      return `table ${file.fileNumber} has smallest key > largest key`;
    }
    if (file.seqMin > file.seqMax) return `table ${file.fileNumber} has seqMin > seqMax`;
    if (file.seqMax > limits.lastSequence) {
      return `table ${file.fileNumber} has seqMax above lastSequence ${limits.lastSequence}`;
    }
    level.push(file);
    live.add(file.fileNumber);
    touched.add(file.level);
  }
  for (const levelIndex of touched) {
    const problem = sortLevel(levels, levelIndex, limits.compareKeys);
    if (problem !== undefined) return problem;
  }
  return levels;
}

/** Sorts one level in place (see CatalogState.levels) and checks that L1+ ranges are disjoint. */
function sortLevel(
  levels: FileMeta[][],
  levelIndex: number,
  compareKeys: CompareKeys,
): string | undefined {
  const level = levels[levelIndex]!;
  if (levelIndex === 0) {
    level.sort((left, right) => left.seqMax - right.seqMax || left.fileNumber - right.fileNumber);
    return undefined;
  }
  level.sort((left, right) => compareKeys(left.smallest, right.smallest));
  for (let position = 1; position < level.length; position++) {
    const before = level[position - 1]!;
    const after = level[position]!;
    if (compareKeys(before.largest, after.smallest) >= 0) {
      return `tables ${before.fileNumber} and ${after.fileNumber} overlap in L${levelIndex}`;
    }
  }
  return undefined;
}

function applyBlobFiles(
  state: CatalogState,
  edit: CatalogEdit,
  context: { readonly nextFileNumber: number; readonly levels: readonly FileMeta[][] },
): BlobFileMeta[] | string {
  const byNumber = new Map(state.blobFiles.map((blob) => [blob.fileNumber, blob]));
  for (const fileNumber of edit.blobFilesRemoved) {
    if (!byNumber.delete(fileNumber)) return `blob file ${fileNumber} is not live`;
  }
  const tableNumbers = new Set<number>();
  for (const level of context.levels) for (const file of level) tableNumbers.add(file.fileNumber);
  for (const blob of edit.blobFilesAdded) {
    const fresh =
      blob.fileNumber >= state.nextFileNumber && blob.fileNumber < context.nextFileNumber;
    if (!fresh) return `blob file number ${blob.fileNumber} is not fresh`;
    if (byNumber.has(blob.fileNumber) || tableNumbers.has(blob.fileNumber)) {
      return `file number ${blob.fileNumber} is already live`;
    }
    byNumber.set(blob.fileNumber, blob);
  }
  for (const garbage of edit.blobGarbage) {
    const blob = byNumber.get(garbage.fileNumber);
    if (blob === undefined) return `blob file ${garbage.fileNumber} is not live`;
    const garbageBytes = blob.garbageBytes + garbage.garbageBytes;
    if (!Number.isSafeInteger(garbageBytes))
      return `blob file ${blob.fileNumber} garbage overflows`;
    byNumber.set(blob.fileNumber, { ...blob, garbageBytes });
  }
  return [...byNumber.values()].sort((left, right) => left.fileNumber - right.fileNumber);
}

function applyIndexes(
  state: CatalogState,
  edit: CatalogEdit,
  after: {
    readonly nextFileNumber: number;
    readonly levels: readonly FileMeta[][];
    readonly blobFiles: readonly BlobFileMeta[];
  },
): IndexMeta[] | string {
  const byName = new Map(state.indexes.map((index) => [index.name, index]));
  for (const name of edit.indexesRemoved) {
    const index = byName.get(name);
    if (index === undefined) return `index ${JSON.stringify(name)} does not exist`;
    if (index.state !== 'dropping') return `index ${JSON.stringify(name)} is not being dropped`;
    byName.delete(name);
  }
  const fileNumbers = new Set(after.blobFiles.map((blob) => blob.fileNumber));
  for (const level of after.levels) for (const file of level) fileNumbers.add(file.fileNumber);
  for (const change of edit.indexesSet) {
    const before = byName.get(change.name);
    const from = before?.state;
    const label = `index ${JSON.stringify(change.name)}`;
    if (!INDEX_TRANSITIONS.get(from)?.includes(change.state)) {
      return `${label} cannot go from ${from ?? 'absent'} to ${change.state}`;
    }
    if (before !== undefined && change.id !== before.id) {
      return `${label} has id ${before.id}, not ${change.id}`;
    }
    if (before === undefined) {
      // A new id is a fresh number, like a new file's, so ids and file numbers never collide.
      const fresh = change.id >= state.nextFileNumber && change.id < after.nextFileNumber;
      if (!fresh) {
        return `${label} id ${change.id} is outside the fresh range [${state.nextFileNumber}, ${after.nextFileNumber})`;
      }
      if (change.id > INDEX_ID_MAX) return `${label} id ${change.id} is above ${INDEX_ID_MAX}`;
      if (fileNumbers.has(change.id)) return `${label} id ${change.id} is a live file number`;
      for (const other of byName.values()) {
        if (other.id === change.id)
          return `${label} id ${change.id} is taken by ${JSON.stringify(other.name)}`;
      }
    }
    byName.set(change.name, change);
  }
  return [...byName.values()].sort((left, right) =>
    left.name < right.name ? -1 : left.name > right.name ? 1 : 0,
  );
}

function fail(problem: string): EditOutcome {
  return { ok: false, problem };
}
