/**
 * Property test: random sequences of operations (some planned on an old pinned snapshot), pins,
 * checkpoints and reopens, against a simple model of live memtables and live tables per level.
 * After every command the catalog's latest state matches the model, a conflicting operation
 * changed nothing, and the tables on disk are exactly those the latest or a pinned snapshot lists.
 */
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { isStrataError } from '../errors.js';
import {
  Catalog,
  type CatalogSnapshot,
  type CatalogState,
  Checkpoint,
  CommitCompaction,
  CommitFlush,
  type CompactionOutput,
  CreateMemtable,
  FreezeMemtable,
} from './catalog.js';
import { parseFileName } from './file-names.js';
import { bytesOf, table, writeTemp } from './testing/fixtures.js';
import { MemoryCatalogFs } from './testing/memory-fs.js';

const DIR = '/db';
const RUN_COUNT = process.env['STRATA_SLOW'] === '1' ? 1000 : 100;

type Command =
  | { readonly kind: 'create' }
  | { readonly kind: 'freeze'; readonly pick: number; readonly old: boolean }
  | {
      readonly kind: 'flush';
      readonly pick: number;
      readonly old: boolean;
      readonly low: number;
      readonly span: number;
    }
  | {
      readonly kind: 'compact';
      readonly level: number;
      readonly mask: number;
      readonly split: boolean;
      readonly old: boolean;
    }
  | { readonly kind: 'checkpoint' | 'pin' | 'reopen' };

interface ModelTable {
  readonly level: number;
  readonly low: number;
  readonly high: number;
}

class Model {
  readonly memtables = new Map<number, 'mutable' | 'immutable'>();
  readonly tables = new Map<number, ModelTable>();
  nextMemtableId = 1;
  nextFileNumber = 1;
  version = 0;

  describe(): unknown {
    return {
      version: this.version,
      memtables: [...this.memtables].sort((left, right) => left[0] - right[0]),
      tables: [...this.tables].sort((left, right) => left[0] - right[0]),
    };
  }
}

function describeState(state: CatalogState): unknown {
  const tables: [number, ModelTable][] = [];
  for (const level of state.levels) {
    for (const file of level) {
      tables.push([
        file.fileNumber,
        { level: file.level, low: file.smallest[0]!, high: file.largest[0]! },
      ]);
    }
  }
  return {
    version: state.version,
    memtables: state.memtables.map((memtable) => [memtable.id, memtable.state]),
    tables: tables.sort((left, right) => left[0] - right[0]),
  };
}

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'create' } as const), weight: 1 },
  {
    arbitrary: fc.record({ kind: fc.constant('freeze'), pick: fc.nat(), old: fc.boolean() }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('flush'),
      pick: fc.nat(),
      old: fc.boolean(),
      low: fc.integer({ min: 0, max: 200 }),
      span: fc.integer({ min: 0, max: 40 }),
    }),
    weight: 5,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('compact'),
      level: fc.integer({ min: 0, max: 2 }),
      mask: fc.nat(),
      split: fc.boolean(),
      old: fc.boolean(),
    }),
    weight: 4,
  },
  { arbitrary: fc.constant({ kind: 'checkpoint' } as const), weight: 1 },
  { arbitrary: fc.constant({ kind: 'pin' } as const), weight: 2 },
  { arbitrary: fc.constant({ kind: 'reopen' } as const), weight: 1 },
);

/** Outcomes over all runs, by command kind, to check that the generator reaches both. */
const outcomes = new Map<string, { applied: number; conflicted: number }>();

class Harness {
  catalog!: Catalog;
  readonly fs = new MemoryCatalogFs();
  readonly model = new Model();
  /** Snapshots held across commands; `old` commands are planned on the first. */
  readonly pins: CatalogSnapshot[] = [];

  async open(): Promise<void> {
    this.catalog = await Catalog.open(DIR, { fs: this.fs, checkpointEveryEdits: 5 });
  }

  async run(command: Command): Promise<void> {
    switch (command.kind) {
      case 'pin':
        this.pins.push(this.catalog.getSnapshot());
        if (this.pins.length > 2) this.pins.shift()?.release();
        return;
      case 'reopen':
        for (const pin of this.pins.splice(0)) pin.release();
        await this.catalog.close();
        await this.open();
        return;
      case 'checkpoint':
        await this.withSnapshot(false, (snapshot) => new Checkpoint(snapshot).push().waitDone());
        return;
      case 'create':
        return this.expectOutcome('create', !this.hasMutable(), () =>
          this.withSnapshot(false, async (snapshot) => {
            await new CreateMemtable(snapshot, { locator: 1 }).push().waitDone();
            this.model.memtables.set(this.model.nextMemtableId++, 'mutable');
          }),
        );
      case 'freeze':
        return this.freeze(command);
      case 'flush':
        return this.flush(command);
      case 'compact':
        return this.compact(command);
    }
  }

  private hasMutable(): boolean {
    return [...this.model.memtables.values()].includes('mutable');
  }

  private async freeze(command: Extract<Command, { kind: 'freeze' }>): Promise<void> {
    await this.withSnapshot(command.old, async (snapshot) => {
      const memtable = snapshot.memtables[command.pick % Math.max(1, snapshot.memtables.length)];
      if (memtable === undefined) return;
      const ok = this.model.memtables.get(memtable.id) === 'mutable';
      await this.expectOutcome('freeze', ok, async () => {
        await new FreezeMemtable(snapshot, { memtableId: memtable.id, nextLocator: 2 })
          .push()
          .waitDone();
        this.model.memtables.set(memtable.id, 'immutable');
        this.model.memtables.set(this.model.nextMemtableId++, 'mutable');
      });
    });
  }

  private async flush(command: Extract<Command, { kind: 'flush' }>): Promise<void> {
    await this.withSnapshot(command.old, async (snapshot) => {
      const immutable = snapshot.memtables.filter((memtable) => memtable.state === 'immutable');
      const memtable = immutable[command.pick % Math.max(1, immutable.length)];
      if (memtable === undefined) return;
      const bytes = bytesOf(`flush of ${memtable.id}`);
      const tempPath = await writeTemp(this.catalog, this.fs, bytes);
      const high = command.low + command.span;
      const properties = table({ low: command.low, high, sizeBytes: bytes.length });
      const ok = this.model.memtables.get(memtable.id) === 'immutable';
      await this.expectOutcome('flush', ok, async () => {
        await new CommitFlush(snapshot, { memtableId: memtable.id, tempPath, table: properties })
          .push()
          .waitDone();
        this.model.memtables.delete(memtable.id);
        this.model.tables.set(this.model.nextFileNumber++, { level: 0, low: command.low, high });
      });
    });
  }

  private async compact(command: Extract<Command, { kind: 'compact' }>): Promise<void> {
    await this.withSnapshot(command.old, async (snapshot) => {
      const candidates = [
        ...(snapshot.levels[command.level] ?? []),
        ...(snapshot.levels[command.level + 1] ?? []),
      ];
      const inputs = candidates.filter(
        (_file, position) => ((command.mask >>> position) & 1) === 1,
      );
      if (!inputs.some((file) => file.level === command.level)) return;
      const low = Math.min(...inputs.map((file) => file.smallest[0]!));
      const high = Math.max(...inputs.map((file) => file.largest[0]!));
      const middle = Math.floor((low + high) / 2);
      const ranges =
        command.split && high > low
          ? [
              [low, middle],
              [middle + 1, high],
            ]
          : [[low, high]];
      const level = command.level + 1;
      const outputs: CompactionOutput[] = [];
      for (const [outputLow, outputHigh] of ranges as [number, number][]) {
        const bytes = bytesOf(`compaction ${outputLow}-${outputHigh}`);
        const tempPath = await writeTemp(this.catalog, this.fs, bytes);
        outputs.push({
          tempPath,
          level,
          table: table({ low: outputLow, high: outputHigh, sizeBytes: bytes.length }),
        });
      }
      const refs = inputs.map((file) => ({ level: file.level, fileNumber: file.fileNumber }));
      const inputsLive = refs.every(
        (ref) => this.model.tables.get(ref.fileNumber)?.level === ref.level,
      );
      const staying = [...this.model.tables].filter(
        ([fileNumber, modelTable]) =>
          modelTable.level === level && !refs.some((ref) => ref.fileNumber === fileNumber),
      );
      const overlap = staying.some(([, other]) =>
        (ranges as [number, number][]).some(
          ([outputLow, outputHigh]) => outputLow <= other.high && other.low <= outputHigh,
        ),
      );
      await this.expectOutcome('compact', inputsLive && !overlap, async () => {
        await new CommitCompaction(snapshot, { inputs: refs, outputs }).push().waitDone();
        for (const ref of refs) this.model.tables.delete(ref.fileNumber);
        for (const [outputLow, outputHigh] of ranges as [number, number][]) {
          this.model.tables.set(this.model.nextFileNumber++, {
            level,
            low: outputLow,
            high: outputHigh,
          });
        }
      });
    });
  }

  /** Runs `action` on the oldest pin (if `old` and there is one) or on a fresh snapshot. */
  private async withSnapshot<T>(
    old: boolean,
    action: (snapshot: CatalogSnapshot) => Promise<T>,
  ): Promise<T> {
    const pinned = old ? this.pins[0] : undefined;
    if (pinned !== undefined) return action(pinned);
    const snapshot = this.catalog.getSnapshot();
    try {
      return await action(snapshot);
    } finally {
      snapshot.release();
    }
  }

  /** Success bumps the model's version; a conflict must leave the state as it was. */
  private async expectOutcome(
    kind: string,
    ok: boolean,
    action: () => Promise<void>,
  ): Promise<void> {
    const counts = outcomes.get(kind) ?? { applied: 0, conflicted: 0 };
    outcomes.set(kind, counts);
    if (ok) counts.applied++;
    else counts.conflicted++;
    const before = this.catalog.getSnapshot();
    try {
      if (ok) {
        await action();
        this.model.version++;
        return;
      }
      const error = await action().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isStrataError(error, 'ERR_CONFLICT'), String(error)).toBe(true);
      const after = this.catalog.getSnapshot();
      expect(after.state).toBe(before.state);
      after.release();
    } finally {
      before.release();
    }
  }

  async check(): Promise<void> {
    const latest = this.catalog.getSnapshot();
    expect(describeState(latest.state)).toEqual(this.model.describe());
    latest.release();
    await this.catalog.whenIdle();
    const needed = new Set<number>();
    for (const snapshot of [latest, ...this.pins]) {
      for (const level of snapshot.levels) for (const file of level) needed.add(file.fileNumber);
    }
    const onDisk = new Set<number>();
    for (const name of (await this.fs.readdir(DIR)) ?? []) {
      const parsed = parseFileName(name);
      if (parsed?.kind === 'table') onDisk.add(parsed.number);
    }
    expect([...onDisk].sort((a, b) => a - b)).toEqual([...needed].sort((a, b) => a - b));
  }
}

test('random operation sequences agree with the model', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(commandArbitrary, { minLength: 1, maxLength: 60, size: 'max' }),
      async (commands) => {
        const harness = new Harness();
        await harness.open();
        try {
          await harness.run({ kind: 'create' });
          for (const command of commands) {
            await harness.run(command);
            await harness.check();
          }
        } finally {
          for (const pin of harness.pins.splice(0)) pin.release();
          await harness.catalog.close();
        }
      },
    ),
    { numRuns: RUN_COUNT },
  );
  for (const kind of ['create', 'freeze', 'flush', 'compact']) {
    expect(outcomes.get(kind)?.applied, `${kind} never applied`).toBeGreaterThan(0);
    if (kind !== 'create')
      expect(outcomes.get(kind)?.conflicted, `${kind} never conflicted`).toBeGreaterThan(0);
  }
});
