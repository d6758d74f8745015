import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isStrataError } from '../errors.js';
import {
  type DecodedField,
  decodeFields,
  encodeFields,
  FIELD_COUNT_MAX,
  FIELD_NAME_BYTES_MAX,
  type Fields,
  fieldValue,
  isFieldRecord,
} from './field-codec.js';
import {
  expectStrataError,
  hex,
  u32LittleEndian,
  utf8,
  writeRawRecord,
} from './testing/field-fixtures.js';

const edgeBytes = fc.uint8Array({ maxLength: 10 }).chain((shape) =>
  fc
    .array(fc.constantFrom(0x00, 0x01, 0x2c, 0x3d, 0x7f, 0x80, 0xfe, 0xff), {
      minLength: shape.length,
      maxLength: shape.length,
    })
    .map((bytes) => Uint8Array.from(bytes)),
);
const nameArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
  fc.constantFrom('', '\0', 'a\0b', 'ÿ', '=', ',', ';', ':', '\n', '\uFEFF', '\uFEFFa', '😀'),
  fc.constantFrom('\uFFFF', '\u{10FFFF}', 'a', 'ab', 'a\u0300', '\u00e0'),
);
const valueArb = fc.oneof(
  fc.uint8Array({ maxLength: 24 }),
  edgeBytes,
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom('', '\0', '\uFFFF'),
);
const fieldsArb: fc.Arbitrary<Record<string, string | Uint8Array>> = fc.dictionary(
  nameArb,
  valueArb,
  { maxKeys: 8 },
);

/** What decodeFields must return for `fields`: UTF-8 name order, values as bytes. */
function expectedFields(fields: Fields): { name: string; value: string }[] {
  return Object.keys(fields)
    .map((name) => ({ name, nameBytes: utf8(name), value: valueBytes(fields[name]!) }))
    .sort((left, right) => Buffer.compare(left.nameBytes, right.nameBytes))
    .map(({ name, value }) => ({ name, value: hex(value) }));
}

function valueBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === 'string' ? utf8(value) : value;
}

function comparable(fields: readonly DecodedField[]): { name: string; value: string }[] {
  return fields.map(({ name, value }) => ({ name, value: hex(value) }));
}

/** Decodes, asserting that only ERR_CORRUPT naming `where` and a byte offset can escape. */
function decodeOrCorrupt(bytes: Uint8Array): DecodedField[] | 'corrupt' {
  try {
    return decodeFields(bytes, 'table 9 entry k');
  } catch (error) {
    expect(isStrataError(error, 'ERR_CORRUPT'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/in table 9 entry k at byte \d+: /);
    return 'corrupt';
  }
}

/** A decode that succeeds must account for every byte: writing it back gives the input. */
function expectExactReadBack(bytes: Uint8Array, fields: readonly DecodedField[]): void {
  const rewritten = writeRawRecord(fields.map(({ name, value }) => [utf8(name), value]));
  expect(hex(rewritten)).toBe(hex(bytes));
  expect(new Set(fields.map((field) => field.name)).size).toBe(fields.length);
  for (const field of fields) expect(hex(fieldValue(bytes, field.name)!)).toBe(hex(field.value));
}

describe('field record encoding', () => {
  test('golden bytes: count, then name and value, each length-prefixed u32 LE, names sorted', () => {
    const bytes = encodeFields({ b: 'xy', a: Uint8Array.of(0x00) });
    expect(hex(bytes)).toBe(
      '02000000' + '01000000' + '61' + '01000000' + '00' + '01000000' + '62' + '02000000' + '7879',
    );
    expect(hex(encodeFields({}))).toBe('00000000');
    expect(hex(encodeFields({ '': '' }))).toBe('01000000' + '00000000' + '00000000');
  });

  test('names sort by UTF-8 bytes, not by UTF-16 code units', () => {
    // U+FFFF is EF BF BF in UTF-8, below the F0 of U+1F600; in UTF-16 the order is reversed.
    const fields = decodeFields(encodeFields({ '😀': 'b', '\uFFFF': 'a' }));
    expect(fields.map((field) => field.name)).toEqual(['\uFFFF', '😀']);
  });

  test('round trip: arbitrary names and values, equal records encode equally', () => {
    fc.assert(
      fc.property(fieldsArb, (fields) => {
        const bytes = encodeFields(fields);
        expect(bytes).toBeInstanceOf(Uint8Array);
        expect(isFieldRecord(bytes)).toBe(true);
        expect(comparable(decodeFields(bytes))).toEqual(expectedFields(fields));
        expect(hex(bytes)).toBe(
          hex(writeRawRecord(expectedFields(fields).map((f) => [utf8(f.name), fromHexText(f)]))),
        );
        const reversed = Object.fromEntries(Object.entries(fields).reverse());
        expect(hex(encodeFields(reversed))).toBe(hex(bytes));
        for (const name of Object.keys(fields)) {
          expect(hex(fieldValue(bytes, name)!)).toBe(hex(valueBytes(fields[name]!)));
        }
      }),
      { numRuns: 500 },
    );
  });

  test('a name keeps a leading byte order mark and a Buffer value is accepted', () => {
    const bytes = encodeFields({ '\uFEFFa': 'bom', a: Buffer.from('plain') });
    expect(decodeFields(bytes).map((field) => field.name)).toEqual(['a', '\uFEFFa']);
    expect(Buffer.from(fieldValue(bytes, '\uFEFFa')!).toString()).toBe('bom');
    expect(Buffer.from(fieldValue(bytes, 'a')!).toString()).toBe('plain');
  });

  test('the name length limit is FIELD_NAME_BYTES_MAX bytes, inclusive', () => {
    const longest = 'n'.repeat(FIELD_NAME_BYTES_MAX);
    const bytes = encodeFields({ [longest]: 'v' });
    expect(decodeFields(bytes)[0]!.name).toBe(longest);
    expectStrataError(() => encodeFields({ [`${longest}n`]: 'v' }), 'ERR_INVALID_ARGUMENT', [
      `${FIELD_NAME_BYTES_MAX + 1} bytes`,
      String(FIELD_NAME_BYTES_MAX),
    ]);
    // Three-byte characters: 21846 of them are 65538 bytes though only 21846 code units.
    expectStrataError(() => encodeFields({ ['€'.repeat(21_846)]: 'v' }), 'ERR_INVALID_ARGUMENT');
  });

  test('more than FIELD_COUNT_MAX fields is ERR_INVALID_ARGUMENT', () => {
    // Names "0", "1", …: integer-like keys make a large object quickly.
    const fields: Record<string, string> = {};
    for (let index = 0; index <= FIELD_COUNT_MAX; index++) fields[index] = '';
    expectStrataError(() => encodeFields(fields), 'ERR_INVALID_ARGUMENT', [
      String(FIELD_COUNT_MAX + 1),
    ]);
  });

  test('ERR_INVALID_ARGUMENT for a non-object or a value neither string nor Uint8Array', () => {
    const notObjects: unknown[] = [
      null,
      undefined,
      'a',
      7,
      [],
      new Uint8Array(2),
      new Map([['a', 'b']]),
      new Date(0),
    ];
    for (const fields of notObjects) {
      expectStrataError(() => encodeFields(fields as Fields), 'ERR_INVALID_ARGUMENT', [
        'plain object',
      ]);
    }
    const badValues: unknown[] = [
      7,
      null,
      undefined,
      true,
      {},
      [1],
      new Uint16Array(1),
      new DataView(new ArrayBuffer(1)),
      new ArrayBuffer(1),
    ];
    for (const value of badValues) {
      expectStrataError(
        () => encodeFields({ ok: 'x', age: value } as unknown as Fields),
        'ERR_INVALID_ARGUMENT',
        ['field "age"', 'string or Uint8Array'],
      );
    }
    expect(isFieldRecord(encodeFields(Object.create(null) as Fields))).toBe(true);
  });

  test('ERR_INVALID_ARGUMENT for a lone surrogate, which UTF-8 cannot hold', () => {
    // Both would encode to EF BF BD and so collide; refusing them keeps names distinct.
    expectStrataError(() => encodeFields({ '\uD800': 'a' }), 'ERR_INVALID_ARGUMENT', ['surrogate']);
    expectStrataError(() => encodeFields({ 'x\uDC00': 'a' }), 'ERR_INVALID_ARGUMENT', [
      'surrogate',
    ]);
    expectStrataError(() => encodeFields({ name: 'a\uD800' }), 'ERR_INVALID_ARGUMENT', [
      'field "name"',
      'surrogate',
    ]);
    expectStrataError(() => fieldValue(encodeFields({}), '\uD800'), 'ERR_INVALID_ARGUMENT');
    expectStrataError(
      () => fieldValue(encodeFields({}), 7 as unknown as string),
      'ERR_INVALID_ARGUMENT',
    );
  });
});

describe('field record decoding refuses damage', () => {
  const where = 'table 3 entry k';
  const a = utf8('a');
  const b = utf8('b');

  test('too short for a count', () => {
    for (const length of [0, 1, 3]) {
      expectStrataError(() => decodeFields(new Uint8Array(length), where), 'ERR_CORRUPT', [
        where,
        'at byte 0',
        'field count',
      ]);
    }
  });

  test('a count above the limit or above what the bytes can hold', () => {
    // Enough bytes for 2^20 + 1 empty-named fields: only the limit refuses this count.
    const overLimit = new Uint8Array(4 + 8 * (FIELD_COUNT_MAX + 1));
    overLimit.set(u32LittleEndian(FIELD_COUNT_MAX + 1), 0);
    expectStrataError(() => decodeFields(overLimit, where), 'ERR_CORRUPT', [
      'at byte 0',
      String(FIELD_COUNT_MAX),
    ]);
    const record = writeRawRecord([[a, b]], 2); // one field's bytes (10), a count of two
    expectStrataError(() => decodeFields(record, where), 'ERR_CORRUPT', ['at byte 0', '14 bytes']);
    expectStrataError(
      () => decodeFields(Uint8Array.of(0xff, 0xff, 0xff, 0xff), where),
      'ERR_CORRUPT',
      ['at byte 0'],
    );
  });

  test('a name or value running past the end', () => {
    const record = writeRawRecord([
      [a, b],
      [b, a],
    ]);
    const longName = record.slice();
    longName.set(u32LittleEndian(100), 14); // second field's name length
    expectStrataError(() => decodeFields(longName, where), 'ERR_CORRUPT', [
      'at byte 14',
      'name of 100 bytes runs past the end',
    ]);
    const longValue = record.slice();
    longValue.set(u32LittleEndian(3), 19); // second field's value length
    expectStrataError(() => decodeFields(longValue, where), 'ERR_CORRUPT', [
      'at byte 19',
      'value of 3 bytes',
    ]);
    const hugeValue = record.slice();
    hugeValue.set(u32LittleEndian(0xffffffff), 19);
    expectStrataError(() => decodeFields(hugeValue, where), 'ERR_CORRUPT', ['at byte 19']);
  });

  test('a name above the limit, even when the bytes are there', () => {
    const name = new Uint8Array(FIELD_NAME_BYTES_MAX + 1).fill(0x61);
    const record = writeRawRecord([[name, b]]);
    expectStrataError(() => decodeFields(record, where), 'ERR_CORRUPT', [
      'at byte 4',
      `name length ${FIELD_NAME_BYTES_MAX + 1} exceeds`,
    ]);
    expect(fieldValue(record, 'a'.repeat(FIELD_NAME_BYTES_MAX))).toBeUndefined();
  });

  test('a name that is not valid UTF-8', () => {
    const invalidNames = [
      [0xff],
      [0x80],
      [0xc0, 0x80], // overlong NUL
      [0xed, 0xa0, 0x80], // an encoded surrogate
      [0xe2, 0x82], // a cut three-byte sequence
      [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    ];
    for (const nameBytes of invalidNames) {
      const record = writeRawRecord([
        [a, b],
        [Uint8Array.from(nameBytes), b],
      ]);
      const error = expectStrataError(() => decodeFields(record, where), 'ERR_CORRUPT', [
        'at byte 18', // the second name's first byte
        'not valid UTF-8',
      ]);
      expect(error.cause).toBeDefined();
      expect(isFieldRecord(record)).toBe(false);
    }
  });

  test('duplicate names, trailing bytes', () => {
    const duplicate = writeRawRecord([
      [a, b],
      [b, b],
      [a, a],
    ]);
    expectStrataError(() => decodeFields(duplicate, where), 'ERR_CORRUPT', [
      'at byte 24',
      'duplicate field name "a"',
    ]);
    const trailing = Uint8Array.from([...writeRawRecord([[a, b]]), 0x00]);
    expectStrataError(() => decodeFields(trailing, where), 'ERR_CORRUPT', [
      'at byte 14',
      '1 bytes after the last field',
    ]);
    expect(isFieldRecord(duplicate) || isFieldRecord(trailing)).toBe(false);
  });

  test('any stored order decodes (only the encoder sorts)', () => {
    const record = writeRawRecord([
      [b, a],
      [a, b],
    ]);
    expect(comparable(decodeFields(record))).toEqual([
      { name: 'b', value: '61' },
      { name: 'a', value: '62' },
    ]);
  });

  test('the default where still names the offset', () => {
    expectStrataError(() => decodeFields(new Uint8Array(2)), 'ERR_CORRUPT', [
      'corrupt field record in value at byte 0',
    ]);
  });

  test('ERR_INVALID_ARGUMENT for a record that is not a Uint8Array', () => {
    for (const bytes of ['abcdefgh', [0, 0, 0, 0], null, new ArrayBuffer(4)]) {
      const record = bytes as unknown as Uint8Array;
      expectStrataError(() => decodeFields(record), 'ERR_INVALID_ARGUMENT', ['Uint8Array']);
      expectStrataError(() => isFieldRecord(record), 'ERR_INVALID_ARGUMENT');
      expectStrataError(() => fieldValue(record, 'a'), 'ERR_INVALID_ARGUMENT');
    }
  });

  test('every truncation of a valid record is ERR_CORRUPT; fieldValue never misreads it', () => {
    fc.assert(
      fc.property(fieldsArb, (fields) => {
        const bytes = encodeFields(fields);
        for (let length = 0; length < bytes.length; length++) {
          const cut = bytes.subarray(0, length);
          expect(decodeOrCorrupt(cut)).toBe('corrupt');
          expect(isFieldRecord(cut)).toBe(false);
          for (const name of Object.keys(fields)) {
            const found = fieldValue(cut, name);
            if (found !== undefined) expect(hex(found)).toBe(hex(valueBytes(fields[name]!)));
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  test('byte flips: ERR_CORRUPT, or a well-formed record that accounts for every byte', () => {
    const flip = fc.record({ position: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) });
    let decodedCount = 0;
    fc.assert(
      fc.property(fieldsArb, fc.array(flip, { minLength: 1, maxLength: 3 }), (fields, flips) => {
        const bytes = encodeFields(fields).slice();
        for (const { position, mask } of flips) bytes[position % bytes.length]! ^= mask;
        checkArbitraryBytes(bytes);
        if (isFieldRecord(bytes)) decodedCount++;
      }),
      { numRuns: 2_000 },
    );
    expect(decodedCount).toBeGreaterThan(0); // flips inside names and values stay well formed
  });

  test('arbitrary bytes and spliced records: ERR_CORRUPT or an exact read-back', () => {
    const splice = fc
      .tuple(fieldsArb, fc.nat(), fc.uint8Array({ maxLength: 6 }))
      .map(([fields, position, inserted]) => {
        const bytes = encodeFields(fields);
        const at = position % (bytes.length + 1);
        return Uint8Array.from([...bytes.subarray(0, at), ...inserted, ...bytes.subarray(at)]);
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 40 }), splice), checkArbitraryBytes),
      { numRuns: 2_000 },
    );
  });
});

describe('fieldValue', () => {
  test('finds a name by exact bytes, never by prefix', () => {
    const bytes = encodeFields({ ab: '1', a: '2', abc: '3' });
    expect(Buffer.from(fieldValue(bytes, 'a')!).toString()).toBe('2');
    expect(Buffer.from(fieldValue(bytes, 'ab')!).toString()).toBe('1');
    expect(fieldValue(bytes, 'abcd')).toBeUndefined();
    expect(fieldValue(bytes, '')).toBeUndefined();
    expect(fieldValue(encodeFields({ '': 'e' }), '')).toEqual(utf8('e'));
  });

  test('a value is a view into the record', () => {
    const bytes = encodeFields({ a: 'xyz' });
    const value = fieldValue(bytes, 'a')!;
    expect(value.buffer).toBe(bytes.buffer);
    expect(decodeFields(bytes)[0]!.value.buffer).toBe(bytes.buffer);
  });

  test('undefined when the walk up to the name meets damage', () => {
    const a = utf8('a');
    const b = utf8('b');
    const record = writeRawRecord([
      [a, b],
      [b, a],
    ]);
    const cutFirst = record.slice();
    cutFirst.set(u32LittleEndian(50), 9); // first value runs past the end
    expect(fieldValue(cutFirst, 'b')).toBeUndefined();
    expect(fieldValue(writeRawRecord([[a, b]], 9), 'a')).toBeUndefined(); // implausible count
    expect(fieldValue(new Uint8Array(3), 'a')).toBeUndefined();
  });

  test('documented limits: it stops at the first match and skips names unchecked', () => {
    const a = utf8('a');
    const b = utf8('b');
    // Damage after the match: decodeFields refuses, fieldValue still answers.
    const trailing = Uint8Array.from([...writeRawRecord([[a, b]]), 0x07]);
    expect(fieldValue(trailing, 'a')).toEqual(b);
    expect(isFieldRecord(trailing)).toBe(false);
    // A skipped name that is not UTF-8, and a duplicate: the first match wins.
    const odd = writeRawRecord([
      [Uint8Array.of(0xff), b],
      [a, a],
      [a, b],
    ]);
    expect(fieldValue(odd, 'a')).toEqual(a);
    expect(isFieldRecord(odd)).toBe(false);
  });
});

/** The no-misread property for any bytes. */
function checkArbitraryBytes(bytes: Uint8Array): void {
  const decoded = decodeOrCorrupt(bytes);
  expect(isFieldRecord(bytes)).toBe(decoded !== 'corrupt');
  if (decoded === 'corrupt') return;
  expectExactReadBack(bytes, decoded);
  expect(fieldValue(bytes, '\u{10FFFE}absent')).toBeUndefined();
}

function fromHexText(field: { value: string }): Uint8Array {
  return Uint8Array.from(Buffer.from(field.value, 'hex'));
}
