/**
 * Names of the files the catalog reads, writes and cleans up in the database directory
 * (FORMAT.md "Files"). Anything else in the directory is foreign and left alone.
 */
import { assert } from '../assert.js';

export const CURRENT_FILE_NAME = 'CURRENT';
/** Every temporary file ends so, the catalog's own and the flush/compaction workers' alike. */
export const TEMP_SUFFIX = '.tmp';

const NUMBER_DIGITS_MIN = 6;

export type ParsedFileName =
  | { readonly kind: 'table' | 'blob' | 'checkpoint' | 'manifest'; readonly number: number }
  | { readonly kind: 'current' | 'temp' };

export function tableFileName(fileNumber: number): string {
  return `${padded(fileNumber)}.sst`;
}

export function blobFileName(fileNumber: number): string {
  return `${padded(fileNumber)}.blob`;
}

export function checkpointFileName(generation: number): string {
  return `CATALOG-${padded(generation)}`;
}

export function manifestFileName(generation: number): string {
  return `MANIFEST-${padded(generation)}`;
}

const PATTERNS: readonly [RegExp, 'table' | 'blob' | 'checkpoint' | 'manifest'][] = [
  [/^(\d{6,})\.sst$/, 'table'],
  [/^(\d{6,})\.blob$/, 'blob'],
  [/^CATALOG-(\d{6,})$/, 'checkpoint'],
  [/^MANIFEST-(\d{6,})$/, 'manifest'],
];

/** What a directory entry is, or undefined for a foreign name. */
export function parseFileName(name: string): ParsedFileName | undefined {
  if (name === CURRENT_FILE_NAME) return { kind: 'current' };
  if (name.endsWith(TEMP_SUFFIX) && name.length > TEMP_SUFFIX.length) return { kind: 'temp' };
  for (const [pattern, kind] of PATTERNS) {
    const digits = pattern.exec(name)?.[1];
    if (digits === undefined) continue;
    const number = Number(digits);
    // A name that does not round-trip (000012345678901234567.sst) is not one we wrote.
    if (Number.isSafeInteger(number) && padded(number) === digits) return { kind, number };
  }
  return undefined;
}

function padded(number: number): string {
  assert(Number.isSafeInteger(number) && number >= 0);
  return String(number).padStart(NUMBER_DIGITS_MIN, '0');
}
