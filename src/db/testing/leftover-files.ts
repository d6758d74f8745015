/**
 * What a cleanly closed database may leave in its catalog folder, for the crash and kill -9
 * tests: exactly the tables and blob files its catalog lists, the catalog's own three files
 * (CATALOG-n, CURRENT, MANIFEST-n), and nothing else: no temp file of a flush, compaction or GC
 * copy, and no BLOBGC- crash marker that a reopen failed to settle.
 *
 * `readCatalogFolder` lists the folder before it opens the catalog (with its clean-up deferred,
 * so that reading changes nothing), and the checks below compare the two.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { Catalog } from '../../catalog/catalog.js';
import { blobFileName, TEMP_SUFFIX, tableFileName } from '../../catalog/file-names.js';
import { compareInternalKeys } from '../../sst/internal-key.js';
import { CATALOG_DIR_NAME, type StrataStats } from '../strata.js';

/** The catalog folder of a closed database next to what its catalog lists. */
export interface CatalogFolder {
  /** Every name in the folder, sorted. */
  readonly names: readonly string[];
  /** The file names of the tables and blob files the catalog lists, sorted. */
  readonly tables: readonly string[];
  readonly blobs: readonly string[];
  /** The memtables the catalog lists, by image locator, ascending. */
  readonly memtableLocators: readonly number[];
}

/** How many files the database's stats() reported before the close. */
export interface ReportedFiles {
  readonly tables: number;
  readonly blobFiles: number;
}

/** Requires: the database in `dir` is closed. */
export async function readCatalogFolder(dir: string): Promise<CatalogFolder> {
  const catalogDir = join(dir, CATALOG_DIR_NAME);
  const names = readdirSync(catalogDir).sort();
  const catalog = await Catalog.open(catalogDir, {
    compareKeys: compareInternalKeys,
    deferCleanUp: true,
  });
  const snapshot = catalog.getSnapshot();
  const tables = snapshot.levels.flat().map((file) => tableFileName(file.fileNumber));
  const blobs = snapshot.state.blobFiles.map((meta) => blobFileName(meta.fileNumber));
  const memtableLocators = snapshot.memtables.map((meta) => meta.locator).sort((a, b) => a - b);
  snapshot.release();
  await catalog.close();
  return { names, tables: tables.sort(), blobs: blobs.sort(), memtableLocators };
}

/**
 * On disk exactly the tables and blob files the catalog lists; besides them no temp file, no
 * BLOBGC- marker and three files with CURRENT in the middle. Returns those three, sorted.
 */
export function expectOnlyListedFiles(folder: CatalogFolder, context: string): string[] {
  const { names } = folder;
  const listing = `${context}: catalog folder holds ${names.join(' ')}`;
  expect(
    names.filter((name) => name.endsWith('.sst')),
    listing,
  ).toEqual(folder.tables);
  expect(
    names.filter((name) => name.endsWith('.blob')),
    listing,
  ).toEqual(folder.blobs);
  const own = names.filter((name) => !name.endsWith('.sst') && !name.endsWith('.blob'));
  expect(
    own.filter((name) => name.endsWith(TEMP_SUFFIX)),
    `${context}: temp files`,
  ).toEqual([]);
  expect(
    own.filter((name) => name.startsWith('BLOBGC-')),
    `${context}: markers`,
  ).toEqual([]);
  expect(own.length, listing).toBe(3);
  expect(own[1], listing).toBe('CURRENT');
  return own;
}

/**
 * The catalog's own three files (as expectOnlyListedFiles returns them) are one generation: a
 * checkpoint and the manifest that continues it.
 */
export function expectOneGeneration(own: readonly string[], context: string): void {
  expect(own[0], context).toMatch(/^CATALOG-\d{6}$/);
  expect(own[2], context).toBe(own[0]!.replace('CATALOG', 'MANIFEST'));
}

/** The catalog lists as many tables and blob files as stats() reported before the close. */
export function expectReportedFiles(
  folder: CatalogFolder,
  reported: ReportedFiles,
  context: string,
): void {
  expect(folder.tables.length, `${context}: tables stats() reported`).toBe(reported.tables);
  expect(folder.blobs.length, `${context}: blob files stats() reported`).toBe(reported.blobFiles);
}

/** The file counts of `stats`, to hold against the catalog once the database closed. */
export function reportedFiles(stats: StrataStats): ReportedFiles {
  return {
    blobFiles: stats.blobFiles,
    tables: stats.levels.reduce((sum, level) => sum + level.files, 0),
  };
}
