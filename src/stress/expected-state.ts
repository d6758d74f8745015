/**
 * A stress thread's writes and what they leave in its own keys. A write is a small record
 * (`WriteOp`) that a log line spells out (`encodeWriteOp`); applying it with its opId to a
 * `ThreadState` gives the exact value of every key it touches, since values are functions of
 * key, opId and length (stress-values.ts).
 *
 * Thread model: one thread owns each ThreadState.
 */
import {
  fieldRecordBytes,
  isFieldKey,
  segmentBytes,
  specBytes,
  stressKey,
} from './stress-values.js';

export type BatchPart =
  | { readonly type: 'p'; readonly index: number; readonly fillerBytes: number }
  | { readonly type: 'd'; readonly index: number }
  | { readonly type: 'f'; readonly index: number };

export type WriteOp =
  | { readonly kind: 'put'; readonly index: number; readonly fillerBytes: number }
  | { readonly kind: 'del'; readonly index: number }
  | { readonly kind: 'append'; readonly index: number; readonly fillerBytes: number }
  | { readonly kind: 'putFields'; readonly index: number }
  | { readonly kind: 'batch'; readonly parts: readonly BatchPart[] };

/** A key's expected value: how it was made, and its bytes. */
export interface ExpectedValue {
  readonly spec: string;
  readonly bytes: Uint8Array;
}

/** `put 12 40`, `del 12`, `append 12 30`, `fields 13`, `batch p.12.40,d.13,f.15`. */
export function encodeWriteOp(op: WriteOp): string {
  switch (op.kind) {
    case 'put':
      return `put ${op.index} ${op.fillerBytes}`;
    case 'del':
      return `del ${op.index}`;
    case 'append':
      return `append ${op.index} ${op.fillerBytes}`;
    case 'putFields':
      return `fields ${op.index}`;
    case 'batch':
      return `batch ${op.parts
        .map((part) =>
          part.type === 'p' ? `p.${part.index}.${part.fillerBytes}` : `${part.type}.${part.index}`,
        )
        .join(',')}`;
  }
}

export function decodeWriteOp(text: string): WriteOp {
  const [word, first, second] = text.split(' ');
  const number = (value: string | undefined): number => {
    const parsed = Number(value);
    if (value === undefined || !Number.isSafeInteger(parsed) || parsed < 0) {
      throw new Error(`bad write op ${JSON.stringify(text)}`);
    }
    return parsed;
  };
  if (word === 'put') return { kind: 'put', index: number(first), fillerBytes: number(second) };
  if (word === 'del') return { kind: 'del', index: number(first) };
  if (word === 'append')
    return { kind: 'append', index: number(first), fillerBytes: number(second) };
  if (word === 'fields') return { kind: 'putFields', index: number(first) };
  if (word !== 'batch' || first === undefined)
    throw new Error(`bad write op ${JSON.stringify(text)}`);
  const parts = first.split(',').map((item): BatchPart => {
    const [type, index, fillerBytes] = item.split('.');
    if (type === 'p') return { type, index: number(index), fillerBytes: number(fillerBytes) };
    if (type === 'd' || type === 'f') return { type, index: number(index) };
    throw new Error(`bad batch part ${JSON.stringify(item)} in ${JSON.stringify(text)}`);
  });
  return { kind: 'batch', parts };
}

/** The own keys a write touches (a batch may name one twice; each index is listed once). */
export function touchedIndexes(op: WriteOp): number[] {
  if (op.kind !== 'batch') return [op.index];
  return [...new Set(op.parts.map((part) => part.index))];
}

export class ThreadState {
  readonly thread: number;
  /** Present keys only, by key index. */
  readonly values = new Map<number, ExpectedValue>();

  constructor(thread: number) {
    this.thread = thread;
  }

  key(index: number): string {
    return stressKey(this.thread, index);
  }

  get(index: number): ExpectedValue | undefined {
    return this.values.get(index);
  }

  setSpec(index: number, spec: string): void {
    this.values.set(index, { spec, bytes: specBytes(this.key(index), spec) });
  }

  clone(): ThreadState {
    const copy = new ThreadState(this.thread);
    for (const [index, value] of this.values) copy.values.set(index, value);
    return copy;
  }

  apply(opId: number, op: WriteOp): void {
    switch (op.kind) {
      case 'put':
        this.#put(op.index, opId, op.fillerBytes);
        return;
      case 'del':
        this.values.delete(op.index);
        return;
      case 'append': {
        const before = this.values.get(op.index);
        const added = segmentBytes('A', this.key(op.index), opId, op.fillerBytes);
        const spec = `A.${opId}.${op.fillerBytes}`;
        this.values.set(
          op.index,
          before === undefined
            ? { spec, bytes: added }
            : { spec: `${before.spec}+${spec}`, bytes: Buffer.concat([before.bytes, added]) },
        );
        return;
      }
      case 'putFields':
        this.#fields(op.index, opId);
        return;
      case 'batch':
        for (const part of op.parts) {
          if (part.type === 'p') this.#put(part.index, opId, part.fillerBytes);
          else if (part.type === 'd') this.values.delete(part.index);
          else this.#fields(part.index, opId);
        }
        return;
    }
  }

  #put(index: number, opId: number, fillerBytes: number): void {
    const bytes = segmentBytes('P', this.key(index), opId, fillerBytes);
    this.values.set(index, { spec: `P.${opId}.${fillerBytes}`, bytes });
  }

  #fields(index: number, opId: number): void {
    if (!isFieldKey(index)) throw new Error(`field record for raw key ${this.key(index)}`);
    this.values.set(index, { spec: `F.${opId}`, bytes: fieldRecordBytes(this.key(index), opId) });
  }
}
