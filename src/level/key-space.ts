/**
 * How StrataLevel lays abstract-level keys into Strata's key space, and how it turns the bytes
 * Strata returns into the format abstract-level asked for.
 *
 * Strata refuses empty keys and abstract-level allows them, so every user key is stored behind
 * one tag byte:
 *
 *   stored key = | USER_KEY_TAG (1 byte, 0x00) | user key (0..maxKeyBytes bytes) |
 *
 * The empty user key becomes the one-byte key 0x00. Stored keys sort bytewise exactly like the
 * user keys behind them, so ranges map one to one; a missing lower bound becomes `gte 0x00` and a
 * missing upper bound `lt 0x01`. Tags 0x01..0xff stay free for records of the adapter's own
 * (none exist yet); no range a user can express reaches them.
 *
 * Keys and values arrive in the format abstract-level's transcoder chose: 'utf8' (a string),
 * 'buffer' (a Buffer) or 'view' (a Uint8Array). U+0000 is the single byte 0x00 in UTF-8, so a
 * utf8 key gets its tag by string concatenation and Strata's UTF-8 encoding does the rest.
 */
import { assert } from '../assert.js';
import type { IteratorOptions } from '../db/strata.js';

/** The formats StrataLevel declares as native in its manifest. */
export type LevelFormat = 'utf8' | 'buffer' | 'view';

/** A key, value or bound in one of the native formats (a Buffer is a Uint8Array). */
export type LevelEncoded = string | Uint8Array;

/** Range options as abstract-level hands them to the private API: encoded, possibly both gt and gte. */
export interface EncodedRange {
  readonly gt?: LevelEncoded;
  readonly gte?: LevelEncoded;
  readonly lt?: LevelEncoded;
  readonly lte?: LevelEncoded;
}

export const USER_KEY_TAG = 0x00;
const USER_KEY_TAG_STRING = String.fromCharCode(USER_KEY_TAG);
/** The smallest stored key above every user key. */
const USER_KEY_SPACE_END = Uint8Array.of(USER_KEY_TAG + 1);

assert(USER_KEY_TAG < 0x7f); // the tag must be one UTF-8 byte for the string path to work

const utf8Decoder = new TextDecoder();

/** The stored form of an encoded user key (also of a seek target or a range bound). */
export function storedKey(key: LevelEncoded): LevelEncoded {
  if (typeof key === 'string') return USER_KEY_TAG_STRING + key;
  assert(key instanceof Uint8Array, 'a key in buffer or view format is a Uint8Array');
  const stored = new Uint8Array(key.byteLength + 1);
  stored[0] = USER_KEY_TAG;
  stored.set(key, 1);
  return stored;
}

/** The user key behind a stored key Strata returned, in `format`. */
export function userKey(stored: Uint8Array, format: LevelFormat): LevelEncoded {
  assert(stored.byteLength >= 1);
  assert(stored[0] === USER_KEY_TAG, 'iterators only visit the user key space');
  return fromBytes(stored.subarray(1), format);
}

/** Bytes Strata returned (a private copy) in `format`; buffer and view share the bytes. */
export function fromBytes(bytes: Uint8Array, format: LevelFormat): LevelEncoded {
  if (format === 'utf8') return utf8Decoder.decode(bytes);
  if (format === 'buffer') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return bytes;
}

/**
 * Strata bounds for an encoded range, confined to the user key space. abstract-level lets gte
 * win over gt and lte over lt when both are given; Strata wants one of each pair.
 */
export function storedRange(
  range: EncodedRange,
): Pick<IteratorOptions, 'gt' | 'gte' | 'lt' | 'lte'> {
  const bounds: { gt?: LevelEncoded; gte?: LevelEncoded; lt?: LevelEncoded; lte?: LevelEncoded } =
    {};
  if (range.gte !== undefined) bounds.gte = storedKey(range.gte);
  else if (range.gt !== undefined) bounds.gt = storedKey(range.gt);
  else bounds.gte = USER_KEY_TAG_STRING;
  if (range.lte !== undefined) bounds.lte = storedKey(range.lte);
  else if (range.lt !== undefined) bounds.lt = storedKey(range.lt);
  else bounds.lt = USER_KEY_SPACE_END;
  return bounds;
}
