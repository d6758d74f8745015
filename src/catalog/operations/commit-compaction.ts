/**
 * Commits a compaction atomically: its input tables leave, its outputs arrive, in one edit. The
 * inputs must all still be live where the plan saw them (another compaction may have consumed
 * one meanwhile: ERR_CONFLICT), and no output may overlap a table of its level that stays (two
 * parallel compactions into one level). Outputs are temp files renamed to `NNNNNN.sst` like a
 * flush's. Inputs are deleted once no pinned snapshot lists them.
 *
 * Also covers the cases around it: `moves` re-files a table to another level without rewriting
 * it (a trivial move), and an edit with outputs but no inputs ingests tables (index builds).
 * `blobGarbage` carries the blob bytes the compaction dropped, for blob GC (issue 5).
 */
import type { BlobGarbage } from '../catalog-edit.js';
import type { CatalogSnapshot } from '../catalog-snapshot.js';
import { type FileMeta, type FileRef, findBlobFile, findFile } from '../catalog-state.js';
import { type ApplyContext, CatalogOperation } from './operation.js';
import {
  checkLevel,
  checkTempPath,
  checkU64,
  copyTableProperties,
  invalid,
  type TableProperties,
  tableInstalls,
  tableMeta,
} from './table-properties.js';

export interface CompactionOutput {
  readonly tempPath: string;
  readonly level: number;
  readonly table: TableProperties;
}

export interface TableMove {
  readonly fileNumber: number;
  readonly fromLevel: number;
  readonly toLevel: number;
}

export interface CommitCompactionInput {
  readonly inputs: readonly FileRef[];
  readonly outputs: readonly CompactionOutput[];
  readonly moves?: readonly TableMove[];
  readonly blobGarbage?: readonly BlobGarbage[];
}

export interface CommitCompactionResult {
  readonly filesAdded: readonly FileMeta[];
  readonly filesRemoved: readonly FileRef[];
  readonly filesMoved: readonly FileMeta[];
}

export class CommitCompaction extends CatalogOperation<CommitCompactionResult> {
  readonly #input: Required<CommitCompactionInput>;

  constructor(snapshot: CatalogSnapshot, input: CommitCompactionInput) {
    super(snapshot);
    this.#input = copyInput(input);
  }

  get name(): string {
    return 'CommitCompaction';
  }

  protected async apply(context: ApplyContext): Promise<CommitCompactionResult> {
    const { latest } = context;
    const { inputs, outputs, moves, blobGarbage } = this.#input;
    for (const ref of inputs) {
      if (findFile(latest, ref) === undefined) {
        throw context.conflict(`input table ${ref.fileNumber} is no longer live in L${ref.level}`);
      }
    }
    const filesMoved: FileMeta[] = [];
    for (const move of moves) {
      const file = findFile(latest, { level: move.fromLevel, fileNumber: move.fileNumber });
      if (file === undefined) {
        throw context.conflict(
          `moved table ${move.fileNumber} is no longer live in L${move.fromLevel}`,
        );
      }
      filesMoved.push(Object.freeze({ ...file, level: move.toLevel }));
    }
    const filesAdded = outputs.map((output, position) => {
      if (context.compareKeys(output.table.smallest, output.table.largest) > 0) {
        invalid(`outputs[${position}].table.smallest sorts after its largest key`);
      }
      return tableMeta(output.table, {
        level: output.level,
        fileNumber: latest.nextFileNumber + position,
      });
    });
    const moveRefs = moves.map((move) => ({ level: move.fromLevel, fileNumber: move.fileNumber }));
    const seqMax = Math.max(latest.lastSequence, ...filesAdded.map((file) => file.seqMax));
    // Garbage in a blob file that GC retired meanwhile no longer counts anywhere.
    const liveGarbage = blobGarbage.filter(
      (garbage) => findBlobFile(latest, garbage.fileNumber) !== undefined,
    );
    const prepared = context.prepare({
      filesRemoved: [...inputs, ...moveRefs],
      filesAdded: [...filesAdded, ...filesMoved],
      blobGarbage: liveGarbage,
      nextFileNumber: latest.nextFileNumber + filesAdded.length,
      lastSequence: seqMax,
    });
    await context.installFiles(tableInstalls(outputs, filesAdded));
    await context.commit(prepared);
    return { filesAdded, filesRemoved: inputs, filesMoved };
  }
}

function copyInput(input: CommitCompactionInput): Required<CommitCompactionInput> {
  const moves = input.moves ?? [];
  const blobGarbage = input.blobGarbage ?? [];
  if (input.inputs.length + input.outputs.length + moves.length === 0) {
    invalid('a compaction needs inputs, outputs or moves');
  }
  const seen = new Set<number>();
  const inputs = input.inputs.map((ref, position) => {
    checkLevel(ref.level, `inputs[${position}].level`);
    checkU64(ref.fileNumber, `inputs[${position}].fileNumber`);
    return Object.freeze({ level: ref.level, fileNumber: ref.fileNumber });
  });
  const copiedMoves = moves.map((move, position) => {
    checkLevel(move.fromLevel, `moves[${position}].fromLevel`);
    checkLevel(move.toLevel, `moves[${position}].toLevel`);
    checkU64(move.fileNumber, `moves[${position}].fileNumber`);
    if (move.fromLevel === move.toLevel) invalid(`moves[${position}] does not change level`);
    return Object.freeze({ ...move });
  });
  for (const fileNumber of [...inputs, ...copiedMoves].map((ref) => ref.fileNumber)) {
    if (seen.has(fileNumber)) invalid(`table ${fileNumber} is named twice`);
    seen.add(fileNumber);
  }
  const outputs = input.outputs.map((output, position) => {
    checkLevel(output.level, `outputs[${position}].level`);
    checkTempPath(output.tempPath, `outputs[${position}].tempPath`);
    const table = copyTableProperties(output.table, `outputs[${position}].table`);
    return Object.freeze({ tempPath: output.tempPath, level: output.level, table });
  });
  const garbage = blobGarbage.map((entry, position) => {
    checkU64(entry.fileNumber, `blobGarbage[${position}].fileNumber`);
    checkU64(entry.garbageBytes, `blobGarbage[${position}].garbageBytes`);
    return Object.freeze({ ...entry });
  });
  return { inputs, outputs, moves: copiedMoves, blobGarbage: garbage };
}
