/**
 * Every rule a catalog state obeys, checked in one pass. Open runs it on each checkpoint it loads
 * (a failure there is ERR_CORRUPT); with invariants enabled, the catalog also runs it on every
 * state it publishes (a failure there is a bug). `applyEdit` keeps the same rules edit by edit.
 */
import {
  type CatalogState,
  type CompareKeys,
  type FileMeta,
  INDEX_ID_MAX,
  isU64,
  LEVEL_COUNT,
} from './catalog-state.js';

/** The first rule the state breaks, or undefined. */
export function checkState(state: CatalogState, compareKeys: CompareKeys): string | undefined {
  if (state.levels.length !== LEVEL_COUNT) return `state has ${state.levels.length} levels`;
  return checkMemtables(state) ?? checkFiles(state, compareKeys) ?? checkIndexes(state);
}

function checkMemtables(state: CatalogState): string | undefined {
  let mutableCount = 0;
  let previousId = 0;
  for (const memtable of state.memtables) {
    if (memtable.id <= previousId) return `memtable ${memtable.id} is out of order or repeated`;
    if (memtable.id >= state.nextMemtableId)
      return `memtable ${memtable.id} is not below nextMemtableId`;
    if (!isU64(memtable.locator)) return `memtable ${memtable.id} has a bad locator`;
    if (memtable.state === 'mutable') mutableCount++;
    previousId = memtable.id;
  }
  return mutableCount > 1 ? `${mutableCount} memtables are mutable` : undefined;
}

function checkFiles(state: CatalogState, compareKeys: CompareKeys): string | undefined {
  const seen = new Set<number>();
  const checkNumber = (fileNumber: number): string | undefined => {
    if (seen.has(fileNumber)) return `file number ${fileNumber} appears twice`;
    if (fileNumber === 0 || fileNumber >= state.nextFileNumber) {
      return `file number ${fileNumber} is outside [1, nextFileNumber)`;
    }
    seen.add(fileNumber);
    return undefined;
  };
  for (const [levelIndex, level] of state.levels.entries()) {
    for (const [position, file] of level.entries()) {
      const problem =
        checkNumber(file.fileNumber) ??
        checkTable(file, levelIndex, { compareKeys, lastSequence: state.lastSequence }) ??
        checkOrder(level[position - 1], file, compareKeys);
      if (problem !== undefined) return problem;
    }
  }
  let previousBlob = 0;
  for (const blob of state.blobFiles) {
    const problem = checkNumber(blob.fileNumber);
    if (problem !== undefined) return problem;
    if (blob.fileNumber <= previousBlob) return `blob file ${blob.fileNumber} is out of order`;
    previousBlob = blob.fileNumber;
  }
  return undefined;
}

function checkTable(
  file: FileMeta,
  levelIndex: number,
  context: { readonly compareKeys: CompareKeys; readonly lastSequence: number },
): string | undefined {
  const { compareKeys, lastSequence } = context;
  if (file.level !== levelIndex) return `table ${file.fileNumber} is filed under L${levelIndex}`;
  if (file.seqMin > file.seqMax) return `table ${file.fileNumber} has seqMin > seqMax`;
  if (file.seqMax > lastSequence) return `table ${file.fileNumber} has seqMax > lastSequence`;
  if (compareKeys(file.smallest, file.largest) > 0) {
    return `table ${file.fileNumber} has smallest key > largest key`;
  }
  return undefined;
}

function checkOrder(
  before: FileMeta | undefined,
  after: FileMeta,
  compareKeys: CompareKeys,
): string | undefined {
  if (before === undefined) return undefined;
  if (after.level === 0) {
    const ordered =
      before.seqMax < after.seqMax ||
      (before.seqMax === after.seqMax && before.fileNumber < after.fileNumber);
    return ordered
      ? undefined
      : `L0 tables ${before.fileNumber} and ${after.fileNumber} are out of order`;
  }
  if (compareKeys(before.largest, after.smallest) >= 0) {
    return `tables ${before.fileNumber} and ${after.fileNumber} overlap or are out of order in L${after.level}`;
  }
  return undefined;
}

function checkIndexes(state: CatalogState): string | undefined {
  const fileNumbers = new Set(state.blobFiles.map((blob) => blob.fileNumber));
  for (const level of state.levels) for (const file of level) fileNumbers.add(file.fileNumber);
  const ids = new Set<number>();
  for (const [position, index] of state.indexes.entries()) {
    const label = `index ${JSON.stringify(index.name)}`;
    if (position > 0 && state.indexes[position - 1]!.name >= index.name) {
      return `${label} is out of order or repeated`;
    }
    if (index.id === 0 || index.id >= state.nextFileNumber || index.id > INDEX_ID_MAX) {
      return `${label} id ${index.id} is outside [1, nextFileNumber) or above ${INDEX_ID_MAX}`;
    }
    if (ids.has(index.id)) return `${label} id ${index.id} appears twice`;
    if (fileNumbers.has(index.id)) return `${label} id ${index.id} is a live file number`;
    ids.add(index.id);
  }
  return undefined;
}
