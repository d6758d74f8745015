/** Helpers shared by the fields tests: a reference record writer, error expectations, hex. */
import { expect } from 'vitest';
import { isStrataError, type StrataErrorCode } from '../../errors.js';

/**
 * Writes a field record straight from FORMAT.md, independently of field-codec.ts: fields in the
 * given order, `fieldCount` (default: the number of fields) as the count, no checks.
 */
export function writeRawRecord(
  fields: readonly (readonly [Uint8Array, Uint8Array])[],
  fieldCount = fields.length,
): Uint8Array {
  const parts: number[] = [...u32LittleEndian(fieldCount)];
  for (const [name, value] of fields) {
    parts.push(
      ...u32LittleEndian(name.length),
      ...name,
      ...u32LittleEndian(value.length),
      ...value,
    );
  }
  return Uint8Array.from(parts);
}

export function u32LittleEndian(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

export function fromHex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replaceAll(' ', ''), 'hex'));
}

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
