/**
 * What a flush or compaction reports about a table it wrote. The catalog adds the file number
 * (assigned at commit, when the temp file is renamed) and the level.
 */
import { StrataError } from '../../errors.js';
import { type FileMeta, isU64, LEVEL_COUNT } from '../catalog-state.js';
import type { FileInstall } from './operation.js';

export interface TableProperties {
  readonly sizeBytes: number;
  readonly entryCount: number;
  /** Smallest and largest internal key; the catalog keeps copies. */
  readonly smallest: Uint8Array;
  readonly largest: Uint8Array;
  readonly seqMin: number;
  readonly seqMax: number;
}

/** A checked copy of caller input: ERR_INVALID_ARGUMENT names the first bad field. */
export function copyTableProperties(table: TableProperties, what: string): TableProperties {
  for (const field of ['sizeBytes', 'entryCount', 'seqMin', 'seqMax'] as const) {
    if (!isU64(table[field])) invalid(`${what}.${field} must be a safe non-negative integer`);
  }
  if (table.seqMin > table.seqMax) invalid(`${what}.seqMin is greater than seqMax`);
  if (!(table.smallest instanceof Uint8Array)) invalid(`${what}.smallest must be a Uint8Array`);
  if (!(table.largest instanceof Uint8Array)) invalid(`${what}.largest must be a Uint8Array`);
  return Object.freeze({
    sizeBytes: table.sizeBytes,
    entryCount: table.entryCount,
    smallest: table.smallest.slice(),
    largest: table.largest.slice(),
    seqMin: table.seqMin,
    seqMax: table.seqMax,
  });
}

export function tableMeta(
  table: TableProperties,
  where: { level: number; fileNumber: number },
): FileMeta {
  return Object.freeze({ fileNumber: where.fileNumber, level: where.level, ...table });
}

/** The renames of temp outputs to the numbered tables `filesAdded` names, one per output. */
export function tableInstalls(
  outputs: readonly { readonly tempPath: string; readonly table: TableProperties }[],
  filesAdded: readonly FileMeta[],
): FileInstall[] {
  return outputs.map((output, position) => ({
    tempPath: output.tempPath,
    kind: 'table',
    fileNumber: filesAdded[position]!.fileNumber,
    sizeBytes: output.table.sizeBytes,
  }));
}

export function checkLevel(level: number, what: string): void {
  if (!Number.isInteger(level) || level < 0 || level >= LEVEL_COUNT) {
    invalid(`${what} must be an integer level in [0, ${LEVEL_COUNT})`);
  }
}

export function checkU64(value: number, what: string): void {
  if (!isU64(value)) invalid(`${what} must be a safe non-negative integer`);
}

export function checkTempPath(path: string, what: string): void {
  if (typeof path !== 'string' || path.length === 0) invalid(`${what} must be a non-empty path`);
}

export function invalid(message: string): never {
  throw new StrataError('ERR_INVALID_ARGUMENT', message);
}
