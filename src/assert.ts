/**
 * Always-on, cheap assertions for invariants. A failed assertion is a bug in Strata, not a user
 * error, so it throws a plain Error (never a StrataError) and is not meant to be caught.
 * O(n) checks sit behind `invariantsEnabled`, which the test configuration turns on.
 */
export const invariantsEnabled: boolean = process.env['STRATA_INVARIANTS'] === '1';

export function assert(condition: unknown, message?: string): asserts condition {
  if (!condition) throw new AssertionFailure(message ?? 'assertion failed');
}

export class AssertionFailure extends Error {
  constructor(message: string) {
    super(`strata invariant broken: ${message}`);
    this.name = 'AssertionFailure';
  }
}
