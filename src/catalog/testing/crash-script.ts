/**
 * A seeded script of catalog work for the crash tests: memtable creation and freezes, flushes
 * with dummy table files of a few bytes, compactions and trivial moves, blob files, index
 * creation, builds (CommitIndexBuild, with zero to two tables) and drops, checkpoints, snapshot
 * pins and releases (which delay deletions), and operations planned on stale snapshots (which
 * must conflict). Steps are generated once, from the state of a reference run, and then
 * replayed verbatim, since every run makes the same choices.
 *
 * Tables hold internal keys (the crash test opens the catalog with the engine's comparator):
 * flushes and compactions cover one-byte user keys, index builds keys `00 69 | id | byte`. A
 * flush from user key 0 covers those too, so builds land at different levels.
 */
import { assert } from '../../assert.js';
import type { Prng } from '../../ehash/testing/prng.js';
import { isStrataError } from '../../errors.js';
import {
  AddBlobFile,
  type Catalog,
  ChangeIndexState,
  Checkpoint,
  CommitCompaction,
  CommitFlush,
  CommitIndexBuild,
  CreateMemtable,
  FreezeMemtable,
} from '../catalog.js';
import type { CatalogFs } from '../catalog-fs.js';
import type { CatalogSnapshot } from '../catalog-snapshot.js';
import {
  type CatalogState,
  type FileMeta,
  type IndexState,
  mutableMemtable,
} from '../catalog-state.js';
import { ingestLevel } from '../operations/commit-index-build.js';
import { bytesOf, indexTable, indexUserKey, internalTable, writeTemp } from './fixtures.js';

interface OutputPlan {
  readonly level: number;
  readonly low: number;
  readonly high: number;
  readonly seqMin: number;
  readonly seqMax: number;
}

export type Step =
  | { readonly kind: 'create'; readonly locator: number }
  | { readonly kind: 'freeze'; readonly memtableId: number; readonly nextLocator: number }
  | {
      readonly kind: 'flush';
      readonly memtableId: number;
      readonly low: number;
      readonly high: number;
      readonly seq: number;
    }
  | {
      readonly kind: 'compact';
      readonly inputs: readonly { level: number; fileNumber: number }[];
      readonly outputs: readonly OutputPlan[];
    }
  | { readonly kind: 'move'; readonly fileNumber: number; readonly fromLevel: number }
  | { readonly kind: 'blob' }
  | {
      readonly kind: 'index';
      readonly name: string;
      readonly state: Exclude<IndexState, 'ready'> | 'absent';
    }
  | {
      readonly kind: 'index-build';
      readonly name: string;
      readonly id: number;
      readonly outputs: readonly { low: number; high: number; seq: number }[];
    }
  | { readonly kind: 'checkpoint' }
  | { readonly kind: 'pin' }
  | { readonly kind: 'unpin' }
  | { readonly kind: 'stale-freeze'; readonly memtableId: number };

export interface ScriptRun {
  readonly catalog: Catalog;
  /** The file system the "workers" write temp files with (the crashing one). */
  readonly fs: CatalogFs;
  readonly pins: CatalogSnapshot[];
  /** Contents of every table and blob file installed, by file number. */
  readonly contents: Map<number, Uint8Array>;
}

const PINS_MAX = 2;

/** The next step for `state`, drawn from `prng`. */
export function nextStep(prng: Prng, state: CatalogState, run: ScriptRun, stepIndex: number): Step {
  const mutable = mutableMemtable(state);
  if (mutable === undefined) return { kind: 'create', locator: 1000 + stepIndex };
  for (let attempt = 0; attempt < 20; attempt++) {
    const step = candidate(prng, state, run, { stepIndex, mutableId: mutable.id });
    if (step !== undefined) return step;
  }
  return { kind: 'checkpoint' };
}

function candidate(
  prng: Prng,
  state: CatalogState,
  run: ScriptRun,
  context: { readonly stepIndex: number; readonly mutableId: number },
): Step | undefined {
  const immutable = state.memtables.find((memtable) => memtable.state === 'immutable');
  const roll = prng.below(100);
  if (roll < 15)
    return { kind: 'freeze', memtableId: context.mutableId, nextLocator: 2000 + context.stepIndex };
  if (roll < 40) {
    if (immutable === undefined) return undefined;
    const low = prng.below(4) === 0 ? 0 : prng.below(200);
    const seq = state.lastSequence + 1 + prng.below(5);
    return { kind: 'flush', memtableId: immutable.id, low, high: low + prng.below(50), seq };
  }
  if (roll < 53) return compactStep(prng, state);
  if (roll < 60) return moveStep(prng, state);
  if (roll < 67) return { kind: 'blob' };
  if (roll < 74) return indexStep(prng, state);
  if (roll < 78) return { kind: 'checkpoint' };
  if (roll < 86) return run.pins.length < PINS_MAX ? { kind: 'pin' } : { kind: 'unpin' };
  if (roll < 90) return run.pins.length > 0 ? { kind: 'unpin' } : undefined;
  const stale = run.pins[0]?.mutableMemtable();
  if (stale === undefined || stale.id === context.mutableId) return undefined;
  return { kind: 'stale-freeze', memtableId: stale.id };
}

/** Level L (and everything in L+1) into L+1, as one or two outputs with disjoint ranges. */
function compactStep(prng: Prng, state: CatalogState): Step | undefined {
  const from = prng.below(3);
  const upper = state.levels[from] ?? [];
  if (upper.length === 0) return undefined;
  const files = [...upper, ...(state.levels[from + 1] ?? [])];
  const low = Math.min(...files.map((file) => file.smallest[0]!));
  const high = Math.max(...files.map((file) => file.largest[0]!));
  const seqMin = Math.min(...files.map((file) => file.seqMin));
  const seqMax = Math.max(...files.map((file) => file.seqMax));
  const level = from + 1;
  const split = high > low && prng.below(2) === 0;
  const middle = Math.floor((low + high) / 2);
  const outputs: OutputPlan[] = split
    ? [
        { level, low, high: middle, seqMin, seqMax },
        { level, low: middle + 1, high, seqMin, seqMax },
      ]
    : [{ level, low, high, seqMin, seqMax }];
  const inputs = files.map((file) => ({ level: file.level, fileNumber: file.fileNumber }));
  return { kind: 'compact', inputs, outputs };
}

function moveStep(prng: Prng, state: CatalogState): Step | undefined {
  const fromLevel = 1 + prng.below(4);
  const file = state.levels[fromLevel]?.[0];
  if (file === undefined) return undefined;
  const below = state.levels[fromLevel + 1] ?? [];
  if (below.some((other) => overlaps(file, other))) return undefined;
  return { kind: 'move', fileNumber: file.fileNumber, fromLevel };
}

/** The next step in one index's life; a build that would find no level is not taken. */
function indexStep(prng: Prng, state: CatalogState): Step | undefined {
  const name = `field-${prng.below(3)}`;
  const index = state.indexes.find((candidate) => candidate.name === name);
  switch (index?.state) {
    case undefined:
      return { kind: 'index', name, state: 'building' };
    case 'building':
      return prng.below(4) === 0
        ? { kind: 'index', name, state: 'dropping' }
        : buildStep(prng, state, { name, id: index.id });
    case 'ready':
      return { kind: 'index', name, state: 'dropping' };
    case 'dropping':
      return { kind: 'index', name, state: 'absent' };
  }
}

function buildStep(
  prng: Prng,
  state: CatalogState,
  index: { readonly name: string; readonly id: number },
): Step | undefined {
  const outputCount = prng.below(3);
  const outputs = [];
  let low = prng.below(100);
  for (let position = 0; position < outputCount; position++) {
    const high = low + prng.below(20);
    outputs.push({ low, high, seq: 1 + prng.below(Math.max(1, state.lastSequence)) });
    low = high + 1;
  }
  const first = outputs[0];
  const last = outputs[outputs.length - 1];
  if (first !== undefined && last !== undefined) {
    const range = {
      smallest: indexUserKey(index.id, first.low),
      largest: indexUserKey(index.id, last.high),
    };
    if (ingestLevel(state, range) === null) return undefined;
  }
  return { kind: 'index-build', ...index, outputs };
}

function overlaps(left: FileMeta, right: FileMeta): boolean {
  return left.smallest[0]! <= right.largest[0]! && right.smallest[0]! <= left.largest[0]!;
}

/** Runs one step. Conflicts that the step expects are checked here; other errors propagate. */
export async function runStep(step: Step, run: ScriptRun, stepIndex: number): Promise<void> {
  const { catalog } = run;
  if (step.kind === 'pin') {
    run.pins.push(catalog.getSnapshot());
    return;
  }
  if (step.kind === 'unpin') {
    run.pins.shift()?.release();
    return;
  }
  const snapshot = catalog.getSnapshot();
  try {
    await applyStep(step, run, { snapshot, stepIndex });
  } finally {
    snapshot.release();
  }
}

async function applyStep(
  step: Step,
  run: ScriptRun,
  context: { readonly snapshot: CatalogSnapshot; readonly stepIndex: number },
): Promise<void> {
  const { catalog, fs, contents } = run;
  const { snapshot, stepIndex } = context;
  switch (step.kind) {
    case 'create':
      await new CreateMemtable(snapshot, { locator: step.locator }).push().waitDone();
      return;
    case 'freeze':
      await new FreezeMemtable(snapshot, step).push().waitDone();
      return;
    case 'flush': {
      const bytes = bytesOf(`flush ${stepIndex}`);
      const tempPath = await writeTemp(catalog, fs, bytes);
      const { low, high, seq } = step;
      const sizeBytes = bytes.length;
      const properties = internalTable({ low, high, seqMin: seq, seqMax: seq, sizeBytes });
      const op = new CommitFlush(snapshot, {
        memtableId: step.memtableId,
        tempPath,
        table: properties,
      });
      contents.set((await op.push().waitDone()).file.fileNumber, bytes);
      return;
    }
    case 'compact': {
      const outputs = [];
      for (const [position, plan] of step.outputs.entries()) {
        const bytes = bytesOf(`compaction ${stepIndex}.${position}`);
        const tempPath = await writeTemp(catalog, fs, bytes);
        outputs.push({
          tempPath,
          level: plan.level,
          table: internalTable({ ...plan, sizeBytes: bytes.length }),
        });
      }
      const result = await new CommitCompaction(snapshot, { inputs: step.inputs, outputs })
        .push()
        .waitDone();
      for (const [position, file] of result.filesAdded.entries()) {
        contents.set(file.fileNumber, bytesOf(`compaction ${stepIndex}.${position}`));
      }
      return;
    }
    case 'move': {
      const move = {
        fileNumber: step.fileNumber,
        fromLevel: step.fromLevel,
        toLevel: step.fromLevel + 1,
      };
      await new CommitCompaction(snapshot, { inputs: [], outputs: [], moves: [move] })
        .push()
        .waitDone();
      return;
    }
    case 'blob': {
      const bytes = bytesOf(`blob ${stepIndex}`);
      const tempPath = await writeTemp(catalog, fs, bytes);
      const blob = await new AddBlobFile(snapshot, { tempPath, sizeBytes: bytes.length })
        .push()
        .waitDone();
      contents.set(blob.fileNumber, bytes);
      return;
    }
    case 'index':
      await new ChangeIndexState(snapshot, step).push().waitDone();
      return;
    case 'index-build': {
      const outputs = [];
      for (const [position, plan] of step.outputs.entries()) {
        const bytes = bytesOf(`index build ${stepIndex}.${position}`);
        const tempPath = await writeTemp(catalog, fs, bytes);
        const { low, high, seq } = plan;
        const properties = indexTable({
          id: step.id,
          low,
          high,
          seqMin: seq,
          sizeBytes: bytes.length,
        });
        outputs.push({ tempPath, table: properties });
      }
      const { name, id } = step;
      const result = await new CommitIndexBuild(snapshot, { name, id, outputs }).push().waitDone();
      for (const [position, file] of result.filesAdded.entries()) {
        contents.set(file.fileNumber, bytesOf(`index build ${stepIndex}.${position}`));
      }
      return;
    }
    case 'checkpoint':
      await new Checkpoint(snapshot).push().waitDone();
      return;
    case 'stale-freeze': {
      const stale = run.pins[0];
      assert(stale !== undefined);
      const op = new FreezeMemtable(stale, { memtableId: step.memtableId, nextLocator: 1 }).push();
      const error = await op.waitDone().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      if (!isStrataError(error, 'ERR_CONFLICT')) throw error ?? new Error('stale freeze applied');
      return;
    }
    case 'pin':
    case 'unpin':
      assert(false, 'handled by runStep');
  }
}
