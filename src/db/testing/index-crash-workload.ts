/**
 * The seeded workload of the index crash tests (index-crash.test.ts) and its oracle. Records
 * with the fields `author` and `year` (values with 00 bytes and separators) and some raw values
 * are written, `author` is indexed, indexed writes move, delete and rewrite records (a batch puts
 * one key twice), `year` is indexed while writes go on (some issued next to createIndex, some
 * from `beforeIndexBuildTask`, after the build's flush and before its scan), `author` is dropped
 * (its entries removed in the background while writes go on) and indexed again.
 *
 * testing/index-crash-run.ts runs the steps.
 */
import { Prng } from '../../ehash/testing/prng.js';
import { encodeFields } from '../../fields/field-codec.js';
import type { BatchOp, Strata } from '../strata.js';

export const AUTHORS = ['', 'tolkien', 'x', 'x\u0000', 'x\u0000y', '\u0000', 'a;b=c', 'ß'];
export const YEARS = ['1954', '1969', '1969\u0000', '', '2001;', '=\u0000='];
/** Values no record holds: point queries of them must find nothing. */
export const ABSENT_VALUES = ['absent', 'x\u0000\u0000', 'tolkien\u0000'];

export type Fields = Readonly<Record<string, string>>;

export type BatchWrite =
  | { readonly key: string; readonly fields: Fields }
  | { readonly key: string; readonly raw: string }
  | { readonly key: string; readonly del: true };

export type Write =
  | { readonly kind: 'putFields'; readonly key: string; readonly fields: Fields }
  | { readonly kind: 'put'; readonly key: string; readonly raw: string }
  | { readonly kind: 'del'; readonly key: string }
  | { readonly kind: 'batch'; readonly ops: readonly BatchWrite[] };

export type IndexStep =
  | { readonly kind: 'write'; readonly write: Write }
  | { readonly kind: 'flush' }
  /**
   * createIndex, with `alongside` issued right after the call (before its build starts) and
   * `duringBuild` issued from beforeIndexBuildTask; the step waits for all of them.
   */
  | {
      readonly kind: 'create';
      readonly field: string;
      readonly alongside: readonly Write[];
      readonly duringBuild: readonly Write[];
    }
  | { readonly kind: 'drop'; readonly field: string };

export interface IndexOp {
  readonly kind: 'create' | 'drop';
  readonly field: string;
}

/** Record keys: ASCII with a separator and a zero byte in some (never the reserved FF FF FF FF 69 78). */
export function recordKey(index: number): string {
  const base = `rec-${String(index).padStart(2, '0')}`;
  if (index % 9 === 4) return `${base};a=b`;
  if (index % 9 === 7) return `${base}\u0000z`;
  return base;
}

export const RECORD_COUNT = 30;

/** The steps of one seed (see the file comment). */
export function makeIndexSteps(seed: number): IndexStep[] {
  const prng = new Prng(seed);
  const pick = <T>(items: readonly T[]): T => items[prng.below(items.length)]!;
  const anyKey = (): string => recordKey(prng.below(RECORD_COUNT + 4));
  const fields = (): Fields => {
    const roll = prng.below(10);
    if (roll === 0) return { year: pick(YEARS), title: `t${prng.below(100)}` };
    if (roll === 1) return { author: pick(AUTHORS), title: `t${prng.below(100)}` };
    return { author: pick(AUTHORS), year: pick(YEARS) };
  };
  const putFields = (key = anyKey()): Write => ({ kind: 'putFields', key, fields: fields() });
  const mixed = (): Write => {
    const roll = prng.below(10);
    if (roll < 5) return putFields();
    if (roll < 7) return { kind: 'del', key: anyKey() };
    if (roll < 8) return { kind: 'put', key: anyKey(), raw: `raw\u0000${prng.below(1000)}` };
    return twoOnOneKey();
  };
  const twoOnOneKey = (): Write => {
    const key = anyKey();
    const second: BatchWrite = prng.below(3) === 0 ? { key, del: true } : { key, fields: fields() };
    return {
      kind: 'batch',
      ops: [{ key, fields: fields() }, { key: anyKey(), fields: fields() }, second],
    };
  };
  const steps: IndexStep[] = [];
  const write = (item: Write): void => {
    steps.push({ kind: 'write', write: item });
  };
  for (let index = 0; index < RECORD_COUNT; index++) {
    write(putFields(recordKey(index)));
    if (index === RECORD_COUNT / 2) steps.push({ kind: 'flush' });
  }
  write({ kind: 'put', key: recordKey(RECORD_COUNT), raw: 'raw;=\u0000' });
  write({ kind: 'put', key: recordKey(5), raw: 'raw over a record' });
  write({ kind: 'put', key: recordKey(RECORD_COUNT + 1), raw: '' });
  steps.push({ kind: 'create', field: 'author', alongside: [], duringBuild: [] });
  // Indexed writes: a value moves, a record goes, one becomes raw, a raw one becomes a record.
  write({ kind: 'putFields', key: recordKey(1), fields: { author: 'moved', year: '1954' } });
  write({ kind: 'del', key: recordKey(2) });
  write({ kind: 'put', key: recordKey(3), raw: 'now raw' });
  write(putFields(recordKey(RECORD_COUNT)));
  write(twoOnOneKey());
  for (let index = 0; index < 8; index++) write(mixed());
  steps.push({
    kind: 'create',
    field: 'year',
    alongside: [putFields(), mixed(), putFields()],
    duringBuild: [putFields(), twoOnOneKey(), { kind: 'del', key: anyKey() }, putFields()],
  });
  for (let index = 0; index < 4; index++) write(mixed());
  steps.push({ kind: 'drop', field: 'author' });
  for (let index = 0; index < 4; index++) write(mixed());
  steps.push({
    kind: 'create',
    field: 'author',
    alongside: [mixed(), putFields()],
    duringBuild: [],
  });
  for (let index = 0; index < 3; index++) write(mixed());
  return steps;
}

/** The value bytes a put of the batch or write stores (latin1), or undefined for a delete. */
function storedValue(op: BatchWrite | Write): string | undefined {
  if ('fields' in op) return latin1(encodeFields(op.fields));
  if ('raw' in op) return latin1(new TextEncoder().encode(op.raw));
  return undefined;
}

/** Applies one acknowledged write to the model. */
export function applyIndexWrite(model: Map<string, string>, write: Write): void {
  const ops: readonly (BatchWrite | Write)[] = write.kind === 'batch' ? write.ops : [write];
  for (const op of ops) {
    const key = (op as { key: string }).key;
    const value = storedValue(op);
    if (value === undefined) model.delete(key);
    else model.set(key, value);
  }
}

/** The model after every step of a run that did not crash. */
export function fullIndexModel(steps: readonly IndexStep[]): Map<string, string> {
  const model = new Map<string, string>();
  for (const step of steps) {
    if (step.kind === 'write') applyIndexWrite(model, step.write);
    if (step.kind !== 'create') continue;
    for (const write of [...step.alongside, ...step.duringBuild]) applyIndexWrite(model, write);
  }
  return model;
}

export function issueIndexWrite(db: Strata, write: Write): Promise<void> {
  if (write.kind === 'putFields') return db.putFields(write.key, write.fields);
  if (write.kind === 'put') return db.put(write.key, write.raw);
  if (write.kind === 'del') return db.del(write.key);
  return db.batch(
    write.ops.map((op): BatchOp => {
      if ('del' in op) return { type: 'del', key: op.key };
      const value = 'fields' in op ? encodeFields(op.fields) : op.raw;
      return { type: 'put', key: op.key, value };
    }),
  );
}

export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}
