/**
 * The oracle of the secondary-index tests: records as a Map of key → fields (or raw bytes), the
 * set of indexed fields, and what every query must return. Keys and values are short strings
 * from small alphabets (with 00 bytes and separators) so that queries hit and updates collide.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { Strata } from '../strata.js';

export type Record =
  | { readonly fields: Readonly<{ [name: string]: string }> }
  | { readonly raw: string };

export const FIELD_NAMES = ['author', 'year', 'a\u0000b'] as const;
export const FIELD_VALUES = [
  '',
  'x',
  'x\u0000',
  'x\u0000y',
  'y',
  '\u0000',
  'tolkien',
  'ß',
] as const;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export class IndexOracle {
  readonly records = new Map<string, Record>();
  readonly indexes = new Set<string>();
  /** Per indexed field, which createIndex made it (a snapshot predates a later one). */
  readonly generations = new Map<string, number>();
  #nextGeneration = 1;

  create(field: string): void {
    this.indexes.add(field);
    this.generations.set(field, this.#nextGeneration++);
  }

  drop(field: string): boolean {
    this.generations.delete(field);
    return this.indexes.delete(field);
  }

  put(key: string, record: Record | undefined): void {
    if (record === undefined) this.records.delete(key);
    else this.records.set(key, record);
  }

  /** Keys whose `field` equals `value`, in byte order. */
  query(field: string, value: string): string[] {
    const keys: string[] = [];
    for (const [key, record] of this.records) {
      if ('fields' in record && record.fields[field] === value) keys.push(key);
    }
    return keys.sort(compareText);
  }

  /** Every indexed key of `field` in (value, key) byte order. */
  all(field: string): string[] {
    const pairs: [string, string][] = [];
    for (const [key, record] of this.records) {
      const value = 'fields' in record ? record.fields[field] : undefined;
      if (value !== undefined) pairs.push([value, key]);
    }
    pairs.sort((left, right) => compareText(left[0], right[0]) || compareText(left[1], right[1]));
    return pairs.map(([, key]) => key);
  }

  copy(): IndexOracle {
    const copy = new IndexOracle();
    for (const [key, record] of this.records) copy.records.set(key, record);
    for (const field of this.indexes) copy.indexes.add(field);
    for (const [field, generation] of this.generations) copy.generations.set(field, generation);
    return copy;
  }
}

/** Byte order of the UTF-8 encodings. */
export function compareText(left: string, right: string): number {
  return Buffer.compare(encoder.encode(left), encoder.encode(right));
}

export function keysText(keys: readonly Uint8Array[]): string[] {
  return keys.map((key) => decoder.decode(key));
}

/** The db's indexes agree with the oracle: every value of every indexed field, and the whole. */
export async function expectIndexesMatch(db: Strata, oracle: IndexOracle): Promise<void> {
  expect(
    db
      .listIndexes()
      .map((info) => info.field)
      .sort(),
  ).toEqual([...oracle.indexes].sort());
  for (const field of oracle.indexes) {
    expect(keysText(await db.queryRangeByIndex(field)), `all of ${field}`).toEqual(
      oracle.all(field),
    );
    for (const value of FIELD_VALUES) {
      expect(keysText(await db.queryByIndex(field, value)), `${field} = ${value}`).toEqual(
        oracle.query(field, value),
      );
    }
  }
}

export const keyArb = fc.constantFrom('k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k\u00007', 'k8;x');

export const fieldsArb: fc.Arbitrary<{ [name: string]: string }> = fc
  .subarray([...FIELD_NAMES])
  .chain((names) =>
    fc.tuple(...names.map(() => fc.constantFrom(...FIELD_VALUES))).map((values) => {
      const fields: { [name: string]: string } = {};
      names.forEach((name, index) => {
        fields[name] = values[index]!;
      });
      return fields;
    }),
  );

export type IndexStep =
  | {
      readonly type: 'putFields';
      readonly key: string;
      readonly fields: { [name: string]: string };
    }
  | { readonly type: 'putRaw'; readonly key: string; readonly raw: string }
  | { readonly type: 'del'; readonly key: string }
  | {
      readonly type: 'batch';
      readonly ops: readonly (
        | { readonly key: string; readonly fields: { [name: string]: string } }
        | { readonly key: string; readonly fields: undefined }
      )[];
    }
  | { readonly type: 'createIndex'; readonly field: string }
  | { readonly type: 'dropIndex'; readonly field: string }
  | { readonly type: 'query'; readonly field: string; readonly value: string }
  | { readonly type: 'snapshot' }
  | { readonly type: 'querySnapshot'; readonly field: string; readonly value: string }
  | { readonly type: 'flush' }
  | { readonly type: 'compact' }
  | { readonly type: 'reopen' };

const fieldArb = fc.constantFrom(...FIELD_NAMES);

export const indexStepArb: fc.Arbitrary<IndexStep> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      type: fc.constant('putFields' as const),
      key: keyArb,
      fields: fieldsArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('putRaw' as const),
      key: keyArb,
      raw: fc.constantFrom('raw', '', '\u0000\u0000\u0000\u0000', 'x'),
    }),
  },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('del' as const), key: keyArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('batch' as const),
      ops: fc.array(fc.record({ key: keyArb, fields: fc.option(fieldsArb, { nil: undefined }) }), {
        minLength: 1,
        maxLength: 4,
      }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('createIndex' as const), field: fieldArb }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('dropIndex' as const), field: fieldArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('query' as const),
      field: fieldArb,
      value: fc.constantFrom(...FIELD_VALUES),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ type: 'snapshot' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('querySnapshot' as const),
      field: fieldArb,
      value: fc.constantFrom(...FIELD_VALUES),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ type: 'flush' as const }) },
  { weight: 1, arbitrary: fc.constant({ type: 'compact' as const }) },
  { weight: 1, arbitrary: fc.constant({ type: 'reopen' as const }) },
);
