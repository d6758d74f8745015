/** A test helper every layer's tests share (it depends only on src/errors.ts and vitest). */
import { expect } from 'vitest';
import { isStrataError, type StrataErrorCode } from '../errors.js';

/** Runs `action`; returns its error after checking the code and that the message has `parts`. */
export function expectStrataError(
  action: () => unknown,
  code: StrataErrorCode,
  parts: readonly string[] = [],
): Error {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${code}`).toBeDefined();
  expect(isStrataError(caught) && caught.code, String(caught)).toBe(code);
  for (const part of parts) expect((caught as Error).message).toContain(part);
  return caught as Error;
}
