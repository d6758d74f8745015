/**
 * The records of bench/index.ts: books keyed `book:0000001`, each a field record of an author
 * (one of `authorCount`), a year and a ~40-byte title. Every field is a pure function of the
 * record's index and version, so each store (and the checks afterwards) can regenerate the same
 * records without keeping them. Also the do-it-yourself index keys a classic-level user writes
 * next to each record (`idx:<field>:<value>:<key>`).
 */
import type { Fields } from '../src/fields/field-codec.js';
import { fmix32 } from '../src/sst/murmur3.js';

/** The fields bench/index.ts indexes, in the order extra indexes are added. */
export const INDEXED_FIELDS = ['author', 'year', 'title'] as const;
export type IndexedField = (typeof INDEXED_FIELDS)[number];

export interface BookFields extends Fields {
  readonly author: string;
  readonly year: string;
  readonly title: string;
}

const KEY_DIGITS = 7;
const AUTHOR_DIGITS = 5;
const YEAR_FIRST = 1900;
const YEAR_COUNT = 125;
const TITLE_CHARS = 40;
/** 32 symbols, so each takes 5 bits of a hash. */
const TITLE_ALPHABET = 'abcdefghijklmnopqrstuvwxyz aeiou';
const SALT_AUTHOR = 0x51ed27;
const SALT_YEAR = 0x2b7e15;
const SALT_TITLE = 0x6a09e6;

const utf8 = new TextEncoder();

export function bookKeyText(index: number): string {
  return `book:${String(index).padStart(KEY_DIGITS, '0')}`;
}

export function bookKey(index: number): Uint8Array {
  return utf8.encode(bookKeyText(index));
}

export function authorName(authorIndex: number): string {
  return `author-${String(authorIndex).padStart(AUTHOR_DIGITS, '0')}`;
}

/** The author index of record `index` at `version` (0: as loaded; each update adds one). */
export function bookAuthorIndex(index: number, version: number, authorCount: number): number {
  return hash3(index, version, SALT_AUTHOR) % authorCount;
}

export function bookFields(index: number, version: number, authorCount: number): BookFields {
  let title = '';
  for (let word = 0; title.length < TITLE_CHARS; word++) {
    let bits = hash3(index, version, SALT_TITLE + word);
    for (let symbol = 0; symbol < 6 && title.length < TITLE_CHARS; symbol++) {
      title += TITLE_ALPHABET[bits & 31];
      bits >>>= 5;
    }
  }
  return {
    author: authorName(bookAuthorIndex(index, version, authorCount)),
    year: String(YEAR_FIRST + (hash3(index, version, SALT_YEAR) % YEAR_COUNT)),
    title,
  };
}

/** `idx:<field>:<value>:<primary key>`: sorts by field, then value, then key, as Level users do. */
export function diyIndexKey(field: string, value: Uint8Array, primaryKey: Uint8Array): Uint8Array {
  const prefix = utf8.encode(`idx:${field}:`);
  const key = new Uint8Array(prefix.length + value.length + 1 + primaryKey.length);
  key.set(prefix, 0);
  key.set(value, prefix.length);
  key[prefix.length + value.length] = COLON;
  key.set(primaryKey, prefix.length + value.length + 1);
  return key;
}

/** The range of every DIY index key of one value: [`idx:f:v:`, `idx:f:v;`). */
export function diyIndexRange(field: string, value: string): { gte: Uint8Array; lt: Uint8Array } {
  const gte = utf8.encode(`idx:${field}:${value}:`);
  const lt = gte.slice();
  lt[lt.length - 1] = COLON + 1;
  return { gte, lt };
}

const COLON = 0x3a;

export function bytesEqual(left: Uint8Array, right: Uint8Array): boolean {
  if (left.length !== right.length) return false;
  for (let index = 0; index < left.length; index++) {
    if (left[index] !== right[index]) return false;
  }
  return true;
}

/** Keys as text, for comparing two stores' answers. */
export function keysText(keys: readonly Uint8Array[]): string {
  return keys.map((key) => Buffer.from(key.buffer, key.byteOffset, key.length).toString()).join();
}

/** A well-mixed u32 of three integers (murmur3's finalizer over a simple combination). */
function hash3(first: number, second: number, salt: number): number {
  return fmix32(
    Math.imul(first ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(second + 1, 0xc2b2ae35) ^ salt,
  );
}
