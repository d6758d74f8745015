/** Small helpers the engine's tests share. */
import { expect } from 'vitest';
import { isStrataError, type StrataErrorCode } from '../../errors.js';

const decoder = new TextDecoder();

/** The bytes as UTF-8 text, or undefined. */
export const text = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : decoder.decode(bytes);

/** Runs `action` (sync or async) and expects a StrataError with `code`; returns it. */
export async function expectCode(action: () => unknown, code: StrataErrorCode): Promise<unknown> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  expect(isStrataError(caught, code), String(caught)).toBe(true);
  return caught;
}
