/**
 * Open: create a catalog in an empty directory, or load the generation CURRENT names (checkpoint,
 * then every whole manifest edit), drop a torn manifest tail, check that every file the state
 * references exists, and remove leftovers of crashed work (FORMAT.md "Open and recovery").
 */
import { join } from 'node:path';
import { applyEdit } from './catalog-edit.js';
import type { CatalogFs } from './catalog-fs.js';
import { type CatalogState, type CompareKeys, emptyState } from './catalog-state.js';
import { checkState } from './check-state.js';
import { readCheckpointFile, readCurrentFile, switchGeneration } from './checkpoint.js';
import {
  blobFileName,
  checkpointFileName,
  manifestFileName,
  type ParsedFileName,
  parseFileName,
  tableFileName,
} from './file-names.js';
import { ManifestWriter, readManifestFile } from './manifest.js';
import { corrupt, FILE_HEADER_BYTES, RECORD_HEADER_BYTES } from './record-file.js';

export interface RecoveredCatalog {
  readonly state: CatalogState;
  readonly generation: number;
  readonly manifest: ManifestWriter;
}

/**
 * A recovered catalog whose destructive steps may not have run yet: cutting a torn manifest tail
 * and removing leftovers. `cleanUp` runs them (once; later calls resolve at once).
 */
export interface RecoveryResult {
  readonly recovered: RecoveredCatalog;
  cleanUp(): Promise<void>;
}

/**
 * Loads (or creates) the catalog in `dir`. With `deferCleanUp`, nothing on disk is changed for
 * an existing catalog until `cleanUp()`: the caller first checks what the catalog lists against
 * its own state (the engine opens every listed memtable and table), so that a catalog that
 * disagrees with it fails open without deleting anything.
 */
export async function recoverCatalog(
  fs: CatalogFs,
  dir: string,
  options: { readonly compareKeys: CompareKeys; readonly deferCleanUp: boolean },
): Promise<RecoveryResult> {
  const { compareKeys } = options;
  let names = await fs.readdir(dir);
  if (names === undefined) {
    await fs.mkdir(dir);
    names = [];
  }
  const generation = await readCurrentFile(fs, dir);
  const loaded =
    generation === undefined
      ? { recovered: await createCatalog(fs, dir, names), cutTornTail: async () => undefined }
      : await loadCatalog(fs, dir, { generation, compareKeys });
  const { recovered } = loaded;
  let cleaning: Promise<void> | undefined;
  const cleanUp = (): Promise<void> => {
    cleaning ??= (async () => {
      await loaded.cutTornTail();
      await removeLeftovers(fs, dir, recovered);
    })();
    return cleaning;
  };
  if (!options.deferCleanUp) await cleanUp();
  return { recovered, cleanUp };
}

/**
 * A directory without CURRENT is new, or its creation crashed before CURRENT was written; then
 * it holds at most temp files, a checkpoint of generation 1 and an empty generation-1 manifest.
 * Anything more means CURRENT was lost, and starting afresh would delete the tables and forget
 * the memtables, so that is refused.
 */
async function createCatalog(
  fs: CatalogFs,
  dir: string,
  names: readonly string[],
): Promise<RecoveredCatalog> {
  for (const name of names) {
    const parsed = parseFileName(name);
    if (parsed === undefined || parsed.kind === 'temp') continue;
    let creationLeftover = parsed.kind === 'checkpoint' && parsed.number === 1;
    if (parsed.kind === 'manifest' && parsed.number === 1) {
      const stat = await fs.stat(join(dir, name));
      creationLeftover = stat !== undefined && stat.sizeBytes <= FILE_HEADER_BYTES;
    }
    if (!creationLeftover) {
      throw corrupt(`CURRENT is missing but ${name} exists; refusing to start afresh`, dir, 0);
    }
  }
  const state = emptyState();
  const manifest = await switchGeneration(fs, { dir, state, generation: 1 });
  return { state, generation: 1, manifest };
}

async function loadCatalog(
  fs: CatalogFs,
  dir: string,
  options: { readonly generation: number; readonly compareKeys: CompareKeys },
): Promise<{ recovered: RecoveredCatalog; cutTornTail: () => Promise<void> }> {
  const { generation, compareKeys } = options;
  const checkpointName = checkpointFileName(generation);
  const manifestName = manifestFileName(generation);
  for (const name of [checkpointName, manifestName]) {
    if ((await fs.stat(join(dir, name))) === undefined) {
      throw corrupt(`CURRENT names generation ${generation} but ${name} is missing`, 'CURRENT', 0);
    }
  }
  let state = await readCheckpointFile(fs, dir, generation);
  const problem = checkState(state, compareKeys);
  if (problem !== undefined) {
    throw corrupt(
      `inconsistent checkpoint (${problem})`,
      checkpointName,
      FILE_HEADER_BYTES + RECORD_HEADER_BYTES,
    );
  }
  const manifestPath = join(dir, manifestName);
  const contents = await readManifestFile(fs, manifestPath, manifestName);
  for (const { edit, offset } of contents.edits) {
    const outcome = applyEdit(state, edit, compareKeys);
    if (!outcome.ok)
      throw corrupt(`edit does not apply (${outcome.problem})`, manifestName, offset);
    state = outcome.state;
  }
  const cutTornTail = async (): Promise<void> => {
    if (contents.tornTailOffset === undefined) return;
    // The torn append was never acknowledged. Cut it off so the next record follows a whole one.
    await fs.truncate(manifestPath, contents.validLengthBytes);
    await fs.fsyncFile(manifestPath);
  };
  const manifest = new ManifestWriter(
    fs,
    manifestPath,
    contents.validLengthBytes,
    contents.edits.length,
    contents.formatVersion,
  );
  return { recovered: { state, generation, manifest }, cutTornTail };
}

/**
 * Checks that every referenced table and blob file exists, then removes temp files, other
 * generations' checkpoints and manifests, and tables and blob files the state does not
 * reference (outputs of a flush or compaction that crashed before its commit, or inputs whose
 * deletion a crash interrupted). Removals need no fsync: a removal that is lost is redone.
 */
async function removeLeftovers(
  fs: CatalogFs,
  dir: string,
  recovered: RecoveredCatalog,
): Promise<void> {
  const names = new Set((await fs.readdir(dir)) ?? []);
  const tables = new Set<number>();
  for (const level of recovered.state.levels) for (const file of level) tables.add(file.fileNumber);
  const blobs = new Set(recovered.state.blobFiles.map((blob) => blob.fileNumber));
  const manifestName = manifestFileName(recovered.generation);
  for (const name of [...[...tables].map(tableFileName), ...[...blobs].map(blobFileName)]) {
    if (!names.has(name))
      throw corrupt(`the catalog references ${name}, which is missing`, manifestName, 0);
  }
  for (const name of [...names].sort()) {
    const parsed = parseFileName(name);
    if (parsed === undefined || parsed.kind === 'current') continue;
    if (!isLive(parsed, { tables, blobs, generation: recovered.generation })) {
      await fs.unlink(join(dir, name));
    }
  }
}

function isLive(
  parsed: ParsedFileName,
  live: { readonly tables: Set<number>; readonly blobs: Set<number>; readonly generation: number },
): boolean {
  switch (parsed.kind) {
    case 'current':
      return true;
    case 'temp':
      return false;
    case 'table':
      return live.tables.has(parsed.number);
    case 'blob':
      return live.blobs.has(parsed.number);
    case 'checkpoint':
    case 'manifest':
      return parsed.number === live.generation;
  }
}
