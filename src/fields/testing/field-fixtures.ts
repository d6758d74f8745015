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

export { expectStrataError } from '../../testing/expect-strata-error.js';
