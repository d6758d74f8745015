/**
 * How much room a blob value gets beyond its bytes, so that later appends to it write in place
 * (blob-file-writer.ts `writeInPlace`) instead of copying the value to a new record. The reserve
 * is a hole in the file (never written), so it costs address space, not disk blocks, until an
 * append fills it.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';

export interface ReservePolicy {
  /** Reserve as a fraction of the value's size, before clamping. */
  readonly ratio: number;
  /** Smallest reserve, even for an empty value. */
  readonly minBytes: number;
  /** Largest reserve, however large the value. */
  readonly maxBytes: number;
}

/**
 * As large as the value: the reserve is a hole in the blob file (never written when the record is
 * created), so it costs no disk until an append fills it, only room in the file's offsets.
 */
export const RESERVE_POLICY_DEFAULT: ReservePolicy = {
  ratio: 1,
  minBytes: 4096,
  maxBytes: 64 << 20,
};

/** A ratio above this reserves more than 16 times the value: surely a mistake. */
const RATIO_MAX = 16;

/**
 * Capacity to reserve for a value of `size` bytes: size + clamp(size*ratio, minBytes, maxBytes),
 * the product rounded up to whole bytes.
 * Requires: sizeBytes a safe non-negative integer; a policy that passed checkReservePolicy.
 */
export function capacityFor(sizeBytes: number, policy: ReservePolicy): number {
  assert(Number.isSafeInteger(sizeBytes) && sizeBytes >= 0, 'value size is a safe integer');
  assert(policy.minBytes <= policy.maxBytes);
  const proportional = Math.ceil(sizeBytes * policy.ratio);
  const reserve = Math.min(policy.maxBytes, Math.max(policy.minBytes, proportional));
  const capacity = sizeBytes + reserve;
  assert(Number.isSafeInteger(capacity), 'capacity is a safe integer');
  assert(capacity >= sizeBytes);
  return capacity;
}

/** Checks an option value; ERR_INVALID_ARGUMENT naming `name` and the bad field. */
export function checkReservePolicy(policy: unknown, name: string): ReservePolicy {
  if (typeof policy !== 'object' || policy === null) {
    throw invalid(name, `must be an object { ratio, minBytes, maxBytes }, got ${typeof policy}`);
  }
  const { ratio, minBytes, maxBytes } = policy as Record<string, unknown>;
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio < 0 || ratio > RATIO_MAX) {
    throw invalid(name, `ratio must be a number in [0, ${RATIO_MAX}], got ${String(ratio)}`);
  }
  if (typeof minBytes !== 'number' || !Number.isSafeInteger(minBytes) || minBytes < 0) {
    throw invalid(name, `minBytes must be a non-negative integer, got ${String(minBytes)}`);
  }
  if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes < minBytes) {
    throw invalid(
      name,
      `maxBytes must be an integer >= minBytes (${minBytes}), got ${String(maxBytes)}`,
    );
  }
  return { ratio, minBytes, maxBytes };
}

function invalid(name: string, detail: string): StrataError {
  return new StrataError('ERR_INVALID_ARGUMENT', `${name}: ${detail}`);
}
