/**
 * The checks a stress thread applies to what it reads: its own keys exactly, a scan's order,
 * bounds, limit and own-key completeness, and the own keys in an index query's result. Each
 * returns a failure description, or undefined when the read is right. Reads of other threads'
 * keys are checked by the caller's `foreign` function (stress-thread.ts), which knows what those
 * threads had issued.
 */
import { fieldValue, isFieldRecord } from '../fields/field-codec.js';
import type { ExpectedValue, ThreadState } from './expected-state.js';
import { describeValue, isFieldKey, parseStressKey } from './stress-values.js';

const decoder = new TextDecoder();

export function compareOwn(
  key: string,
  found: Uint8Array | undefined,
  expected: ExpectedValue | undefined,
): string | undefined {
  if (found === undefined && expected === undefined) return undefined;
  if (
    found !== undefined &&
    expected !== undefined &&
    Buffer.compare(found, expected.bytes) === 0
  ) {
    return undefined;
  }
  return `${key}: expected ${expected === undefined ? 'absent' : `${expected.spec} (${expected.bytes.length} bytes)`}, read ${describeValue(key, found)}`;
}

export interface ScanRequest {
  readonly gt?: string;
  readonly gte?: string;
  readonly lt?: string;
  readonly lte?: string;
  readonly reverse: boolean;
  readonly limit?: number;
}

export interface ScanContext {
  readonly own: ThreadState;
  /** A failure description for another thread's key and value, or undefined. */
  foreign(key: string, bytes: Uint8Array): string | undefined;
}

export function describeScan(request: ScanRequest): string {
  return JSON.stringify(request);
}

/** Counts one check per entry plus one for completeness; returns the first failure. */
export function checkScan(
  entries: readonly (readonly [Uint8Array, Uint8Array])[],
  request: ScanRequest,
  context: ScanContext,
): { failure?: string; checks: number } {
  const inBounds = (key: string): boolean =>
    (request.gt === undefined || key > request.gt) &&
    (request.gte === undefined || key >= request.gte) &&
    (request.lt === undefined || key < request.lt) &&
    (request.lte === undefined || key <= request.lte);
  const where = `scan ${describeScan(request)}`;
  if (request.limit !== undefined && entries.length > request.limit) {
    return { failure: `${where}: ${entries.length} entries`, checks: 1 };
  }
  const seen = new Set<string>();
  let previous: string | undefined;
  for (const [keyBytes, value] of entries) {
    const key = decoder.decode(keyBytes);
    if (previous !== undefined && (request.reverse ? key >= previous : key <= previous)) {
      return { failure: `${where}: ${key} after ${previous}`, checks: seen.size + 1 };
    }
    previous = key;
    if (!inBounds(key)) return { failure: `${where}: ${key} out of bounds`, checks: seen.size + 1 };
    const parsed = parseStressKey(key);
    if (parsed === undefined)
      return { failure: `${where}: foreign key bytes ${JSON.stringify(key)}`, checks: 1 };
    const failure =
      parsed.thread === context.own.thread
        ? compareOwn(key, value, context.own.get(parsed.index))
        : context.foreign(key, value);
    if (failure !== undefined) return { failure: `${where}: ${failure}`, checks: seen.size + 1 };
    seen.add(key);
  }
  const limited = request.limit !== undefined && entries.length === request.limit;
  const covered = (key: string): boolean =>
    !limited || previous === undefined || (request.reverse ? key >= previous : key <= previous);
  for (const index of context.own.values.keys()) {
    const key = context.own.key(index);
    if (inBounds(key) && covered(key) && !seen.has(key)) {
      return { failure: `${where}: own key ${key} missing`, checks: seen.size + 1 };
    }
  }
  return { checks: seen.size + 1 };
}

/** An own record in an index: its field value and key. */
export interface OwnEntry {
  readonly value: Uint8Array;
  readonly key: string;
}

/**
 * The own records whose `field` passes `accept`, in (value bytes, key) order: what an index
 * query must return of this thread's keys.
 */
export function ownIndexEntries(
  own: ThreadState,
  field: string,
  accept: (value: Uint8Array) => boolean,
): OwnEntry[] {
  const entries: OwnEntry[] = [];
  for (const [index, expected] of own.values) {
    if (!isFieldRecord(expected.bytes)) continue;
    const value = fieldValue(expected.bytes, field);
    if (value !== undefined && accept(value)) entries.push({ value, key: own.key(index) });
  }
  return entries.sort(compareEntries);
}

export function compareEntries(left: OwnEntry, right: OwnEntry): number {
  const byValue = Buffer.compare(left.value, right.value);
  if (byValue !== 0) return byValue;
  return left.key < right.key ? -1 : left.key > right.key ? 1 : 0;
}

/**
 * An index query's result against the own entries it must hold (in result order): no key twice,
 * every key a field key of some thread, keys ascending when `keyOrder`, and the own keys in it
 * exactly `own` — or, when the limit cut the result, a prefix of `own` (in key order: one that
 * holds every own key up to the result's last key).
 */
export function checkIndexResult(
  result: readonly Uint8Array[],
  own: readonly OwnEntry[],
  request: { readonly thread: number; readonly limit?: number; readonly keyOrder: boolean },
): string | undefined {
  const keys = result.map((bytes) => decoder.decode(bytes));
  const ownKeys: string[] = [];
  const seen = new Set<string>();
  for (const [position, key] of keys.entries()) {
    if (seen.has(key)) return `key ${key} twice`;
    seen.add(key);
    const parsed = parseStressKey(key);
    if (parsed === undefined || !isFieldKey(parsed.index))
      return `key ${JSON.stringify(key)} cannot hold fields`;
    if (request.keyOrder && position > 0 && key <= keys[position - 1]!) {
      return `key ${key} after ${keys[position - 1]}`;
    }
    if (parsed.thread === request.thread) ownKeys.push(key);
  }
  const expected = own.map((entry) => entry.key);
  if (request.limit !== undefined && keys.length > request.limit) return `${keys.length} keys`;
  const limited = request.limit !== undefined && keys.length === request.limit;
  const prefix = ownKeys.every((key, index) => expected[index] === key);
  // Cut by the limit: own keys are a prefix of the expected ones; in key order, every own key
  // up to the last one returned must be in it.
  const next = expected[ownKeys.length];
  const lastKey = keys.at(-1);
  const matches = limited
    ? prefix && (!request.keyOrder || next === undefined || lastKey === undefined || next > lastKey)
    : prefix && ownKeys.length === expected.length;
  if (matches) return undefined;
  return `own keys ${JSON.stringify(ownKeys)}, expected ${limited ? 'a prefix of ' : ''}${JSON.stringify(expected)}`;
}
