import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isStrataError } from '../errors.js';
import {
  decodeIndexKey,
  encodeIndexKey,
  hasIndexKeyspacePrefix,
  INDEX_KEYSPACE_PREFIX,
  type IndexKeyRange,
  type IndexValueBounds,
  indexKeyspaceEnd,
  indexKeyspaceRange,
  indexRange,
  indexValueRange,
  keyspacePartition,
  PARTITION_ABOVE_INDEXES,
  PARTITION_BELOW_INDEXES,
} from './index-key.js';
import { expectStrataError, fromHex, hex } from './testing/field-fixtures.js';

interface Entry {
  readonly indexId: number;
  readonly value: Uint8Array;
  readonly primaryKey: Uint8Array;
}

const ID_EDGES = [0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const idArb = fc.oneof(fc.constantFrom(...ID_EDGES), fc.integer({ min: 0, max: 0xffffffff }));
/** Bytes that stress the escaping: runs of 00, FF, and the 01/02 the terminator uses. */
const edgeBytesArb = fc
  .array(fc.constantFrom(0x00, 0x01, 0x02, 0x7f, 0xfe, 0xff), { maxLength: 6 })
  .map((bytes) => Uint8Array.from(bytes));
const bytesArb = fc.oneof(edgeBytesArb, fc.uint8Array({ maxLength: 8 }));
const entryArb: fc.Arbitrary<Entry> = fc.record({
  indexId: idArb,
  value: bytesArb,
  primaryKey: bytesArb,
});

/** The order index keys must have: index id, then value bytes, then primary key bytes. */
function referenceCompare(left: Entry, right: Entry): number {
  if (left.indexId !== right.indexId) return left.indexId < right.indexId ? -1 : 1;
  return (
    Buffer.compare(left.value, right.value) || Buffer.compare(left.primaryKey, right.primaryKey)
  );
}

function keyOf(entry: Entry): Uint8Array {
  return encodeIndexKey(entry.indexId, entry.value, entry.primaryKey);
}

function inRange(key: Uint8Array, range: IndexKeyRange): boolean {
  return Buffer.compare(range.gte, key) <= 0 && Buffer.compare(key, range.lt) < 0;
}

/** Brute force: whether `value` satisfies every bound given. */
function withinBounds(value: Uint8Array, bounds: IndexValueBounds): boolean {
  if (bounds.gt !== undefined && !(Buffer.compare(value, bounds.gt) > 0)) return false;
  if (bounds.gte !== undefined && !(Buffer.compare(value, bounds.gte) >= 0)) return false;
  if (bounds.lt !== undefined && !(Buffer.compare(value, bounds.lt) < 0)) return false;
  if (bounds.lte !== undefined && !(Buffer.compare(value, bounds.lte) <= 0)) return false;
  return true;
}

/** Every byte string over `alphabet` of length at most `lengthMax`. */
function allStrings(alphabet: readonly number[], lengthMax: number): Uint8Array[] {
  const out: Uint8Array[] = [new Uint8Array(0)];
  let previous: Uint8Array[] = [new Uint8Array(0)];
  for (let length = 1; length <= lengthMax; length++) {
    previous = previous.flatMap((prefix) => alphabet.map((byte) => Uint8Array.of(...prefix, byte)));
    out.push(...previous);
  }
  return out;
}

function allBounds(values: readonly Uint8Array[]): IndexValueBounds[] {
  const lowers: IndexValueBounds[] = [{}, ...values.flatMap((v) => [{ gt: v }, { gte: v }])];
  const uppers: IndexValueBounds[] = [{}, ...values.flatMap((v) => [{ lt: v }, { lte: v }])];
  return lowers.flatMap((lower) => uppers.map((upper) => ({ ...lower, ...upper })));
}

/** User keys the engine would accept: none starts with FF FF FF FF 69 78. They must fall in no range. */
const USER_KEYS = [
  '00',
  'ffffffff6977ff',
  'ffffffff6979',
  'ffffffff697900',
  '01',
  '69',
  'ff',
  '00ff',
].map(fromHex);

describe('index entry keys', () => {
  test('golden bytes: prefix, id big-endian, escaped value, 00 01, primary key', () => {
    const key = encodeIndexKey(0x01020304, Uint8Array.of(0x61, 0x00, 0x62), Uint8Array.of(0x6b));
    expect(hex(key)).toBe('ffffffff6978' + '01020304' + '6100ff62' + '0001' + '6b');
    expect(hex(encodeIndexKey(0, new Uint8Array(0), new Uint8Array(0)))).toBe(
      'ffffffff6978000000000001',
    );
    expect(hex(encodeIndexKey(0xffffffff, Uint8Array.of(0, 0), Uint8Array.of(0)))).toBe(
      'ffffffff6978ffffffff00ff00ff000100',
    );
    expect(hex(INDEX_KEYSPACE_PREFIX)).toBe('ffffffff6978');
  });

  test('decode round trip', () => {
    fc.assert(
      fc.property(entryArb, (entry) => {
        const key = keyOf(entry);
        expect(hasIndexKeyspacePrefix(key)).toBe(true);
        const decoded = decodeIndexKey(key);
        expect(decoded.indexId).toBe(entry.indexId);
        expect(hex(decoded.value)).toBe(hex(entry.value));
        expect(hex(decoded.primaryKey)).toBe(hex(entry.primaryKey));
      }),
      { numRuns: 1_000 },
    );
  });

  test('any key in the keyspace decodes to what re-encodes to it, or is ERR_CORRUPT', () => {
    const tail = fc.array(fc.constantFrom(0x00, 0x01, 0x02, 0xfe, 0xff), { maxLength: 10 });
    let decodedCount = 0;
    fc.assert(
      fc.property(fc.constantFrom(0, 1, 0xffffffff), tail, (indexId, rest) => {
        const key = Uint8Array.from([...indexKeyspaceRange(indexId).gte, ...rest]);
        let decoded: ReturnType<typeof decodeIndexKey>;
        try {
          decoded = decodeIndexKey(key);
        } catch (error) {
          expect(isStrataError(error, 'ERR_CORRUPT'), String(error)).toBe(true);
          expect((error as Error).message).toMatch(/at byte \d+/);
          return;
        }
        decodedCount++;
        const { value, primaryKey } = decoded;
        expect(hex(encodeIndexKey(decoded.indexId, value, primaryKey))).toBe(hex(key));
      }),
      { numRuns: 2_000 },
    );
    expect(decodedCount).toBeGreaterThan(100);
  });

  test('decode refuses malformed keys with ERR_CORRUPT', () => {
    const malformed: [string, string][] = [
      ['', 'not in the index keyspace'],
      ['00', 'not in the index keyspace'],
      ['ffffffff6977000000010001', 'not in the index keyspace'],
      ['016900000001000161', 'not in the index keyspace'],
      ['ffffffff6978', 'too short'],
      ['ffffffff697800000001', 'too short'], // no room for a terminator
      ['ffffffff69780000000161', 'too short'],
      ['ffffffff6978000000016162', 'at byte 12: value not terminated'],
      ['ffffffff6978000000016100', 'at byte 12: value not terminated'], // a 00 as the last byte
      ['ffffffff697800000001610002', 'at byte 11: 00 followed by 02'],
      ['ffffffff69780000000100ff00fe0001', 'at byte 12: 00 followed by fe'],
    ];
    for (const [key, message] of malformed) {
      expectStrataError(() => decodeIndexKey(fromHex(key)), 'ERR_CORRUPT', [message]);
    }
    expectStrataError(() => decodeIndexKey('k' as unknown as Uint8Array), 'ERR_INVALID_ARGUMENT');
  });

  test('bytewise order of keys is (index id, value, primary key) order, random pairs', () => {
    // Values that are prefixes of each other come from the small alphabet.
    fc.assert(
      fc.property(entryArb, entryArb, (left, right) => {
        const expected = Math.sign(referenceCompare(left, right));
        expect(Math.sign(Buffer.compare(keyOf(left), keyOf(right)))).toBe(expected);
      }),
      { numRuns: 5_000 },
    );
    fc.assert(
      fc.property(entryArb, bytesArb, bytesArb, (left, suffix, primaryKey) => {
        // The same index, one value extending the other.
        const right = { ...left, value: Uint8Array.from([...left.value, ...suffix]), primaryKey };
        const expected = Math.sign(referenceCompare(left, right));
        expect(Math.sign(Buffer.compare(keyOf(left), keyOf(right)))).toBe(expected);
      }),
      { numRuns: 2_000 },
    );
  });

  test('bytewise order, exhaustively over short values of 00 01 02 FF', () => {
    const values = allStrings([0x00, 0x01, 0x02, 0xff], 3);
    const primaryKeys = allStrings([0x00, 0x01, 0xff], 2);
    const entries: Entry[] = [];
    for (const indexId of [0, 1, 0xffffffff]) {
      for (const value of values) {
        for (const primaryKey of primaryKeys) entries.push({ indexId, value, primaryKey });
      }
    }
    const keyed = entries.map((entry) => ({ entry, key: keyOf(entry) }));
    keyed.sort((left, right) => Buffer.compare(left.key, right.key));
    for (let index = 1; index < keyed.length; index++) {
      const previous = keyed[index - 1]!;
      const current = keyed[index]!;
      expect(referenceCompare(previous.entry, current.entry), hex(current.key)).toBeLessThan(0);
    }
  });

  test('encodeIndexKey copies: later changes to its inputs do not reach the key', () => {
    const value = Uint8Array.of(1, 0);
    const primaryKey = Uint8Array.of(7);
    const key = encodeIndexKey(3, value, primaryKey);
    value[0] = 9;
    primaryKey[0] = 9;
    expect(hex(key)).toBe('ffffffff6978000000030100ff000107');
  });

  test('a changed INDEX_KEYSPACE_PREFIX export does not change the encoding', () => {
    INDEX_KEYSPACE_PREFIX[5] = 0x70;
    try {
      expect(hex(encodeIndexKey(0, new Uint8Array(0), new Uint8Array(0)))).toBe(
        'ffffffff6978000000000001',
      );
    } finally {
      INDEX_KEYSPACE_PREFIX[5] = 0x78;
    }
  });

  test('ERR_INVALID_ARGUMENT for non-bytes; an index id out of u32 range is a broken invariant', () => {
    const bytes = new Uint8Array(1);
    expectStrataError(
      () => encodeIndexKey(1, 'v' as unknown as Uint8Array, bytes),
      'ERR_INVALID_ARGUMENT',
      ['index value'],
    );
    expectStrataError(
      () => encodeIndexKey(1, bytes, null as unknown as Uint8Array),
      'ERR_INVALID_ARGUMENT',
      ['primary key'],
    );
    expectStrataError(
      () => indexValueRange(1, [0] as unknown as Uint8Array),
      'ERR_INVALID_ARGUMENT',
    );
    for (const indexId of [-1, 2 ** 32, 1.5, Number.NaN]) {
      expect(() => encodeIndexKey(indexId, bytes, bytes)).toThrow(/invariant/);
      expect(() => indexKeyspaceRange(indexId)).toThrow(/invariant/);
    }
  });
});

describe('index key ranges', () => {
  const rangeValues = allStrings([0x00, 0x01, 0xff], 3);
  const rangePrimaryKeys = [
    new Uint8Array(0),
    Uint8Array.of(0x00),
    Uint8Array.of(0xff),
    Uint8Array.of(0x00, 0x01),
  ];
  const rangeIds = [0, 1, 0xfffffffe, 0xffffffff];
  const rangeEntries: Entry[] = rangeIds.flatMap((indexId) =>
    rangeValues.flatMap((value) =>
      rangePrimaryKeys.map((primaryKey) => ({ indexId, value, primaryKey })),
    ),
  );
  const rangeKeys = rangeEntries.map(keyOf);

  /** Checks a range against the brute-force answer over every sample entry and user key. */
  function expectRange(
    range: IndexKeyRange,
    wanted: (entry: Entry) => boolean,
    what: string,
  ): void {
    expect(Buffer.compare(range.gte, range.lt), `${what}: gte <= lt`).toBeLessThanOrEqual(0);
    for (let index = 0; index < rangeEntries.length; index++) {
      const entry = rangeEntries[index]!;
      const key = rangeKeys[index]!;
      if (inRange(key, range) !== wanted(entry)) {
        expect.fail(`${what}: entry ${hex(key)} ${wanted(entry) ? 'missing' : 'included'}`);
      }
    }
    for (const key of USER_KEYS)
      expect(inRange(key, range), `${what}: user key ${hex(key)}`).toBe(false);
  }

  test('indexValueRange holds exactly the entries of one value', () => {
    const probes = [...rangeValues, Uint8Array.of(0x02), Uint8Array.of(0x00, 0x00, 0x00, 0x00)];
    for (const indexId of rangeIds) {
      for (const value of probes) {
        expectRange(
          indexValueRange(indexId, value),
          (entry) => entry.indexId === indexId && Buffer.compare(entry.value, value) === 0,
          `id ${indexId} value ${hex(value)}`,
        );
      }
    }
  });

  test('indexRange, exhaustively: every gt/gte/lt/lte pair over short 00 01 FF values', () => {
    // Bounds include values no entry has (02, 01 00, 00 00 00 00) to test the gaps.
    const boundValues = [
      ...allStrings([0x00, 0x01, 0xff], 2),
      fromHex('000000'),
      fromHex('ffffff'),
      fromHex('0100'),
      fromHex('02'),
      fromHex('00000000'),
    ];
    for (const indexId of [0, 0xffffffff]) {
      for (const bounds of allBounds(boundValues)) {
        expectRange(
          indexRange(indexId, bounds),
          (entry) => entry.indexId === indexId && withinBounds(entry.value, bounds),
          `id ${indexId} bounds ${JSON.stringify(bounds, (_, v) => (v instanceof Uint8Array ? hex(v) : v))}`,
        );
      }
    }
  });

  test('indexRange against a brute-force filter over random entry sets', () => {
    const boundArb = fc.option(bytesArb, { nil: undefined });
    const boundsArb = fc
      .record({
        lowerKind: fc.constantFrom('gt', 'gte'),
        lower: boundArb,
        upperKind: fc.constantFrom('lt', 'lte'),
        upper: boundArb,
      })
      .map(({ lowerKind, lower, upperKind, upper }) => {
        const bounds: Record<string, Uint8Array> = {};
        if (lower !== undefined) bounds[lowerKind] = lower;
        if (upper !== undefined) bounds[upperKind] = upper;
        return bounds as IndexValueBounds;
      });
    const entrySetArb = fc.array(
      fc.record({ indexId: fc.constantFrom(6, 7, 8), value: bytesArb, primaryKey: bytesArb }),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(entrySetArb, boundsArb, fc.nat(), (entries, bounds, pick) => {
        // Often use an entry's own value as a bound, where gt and lte matter most.
        const chosen = entries[pick % Math.max(entries.length, 1)]?.value;
        const effective = pick % 5 === 0 ? bounds : withChosen(bounds, chosen, pick >> 3);
        const range = indexRange(7, effective);
        const expected = entries
          .filter((e) => e.indexId === 7 && withinBounds(e.value, effective))
          .map(keyOf);
        const scanned = entries.map(keyOf).filter((key) => inRange(key, range));
        expect(scanned.map(hex).sort()).toEqual(expected.map(hex).sort());
      }),
      { numRuns: 2_000 },
    );
  });

  test('indexKeyspaceRange holds exactly one index; all of them lie in [FF FF FF FF 69 78, FF FF FF FF 69 79)', () => {
    for (const indexId of rangeIds) {
      const range = indexKeyspaceRange(indexId);
      expectRange(range, (entry) => entry.indexId === indexId, `keyspace of ${indexId}`);
      expect(indexRange(indexId, {})).toEqual(range);
    }
    expect(hex(indexKeyspaceRange(0xffffffff).lt)).toBe('ffffffff6979');
    expect(hex(indexKeyspaceEnd())).toBe('ffffffff6979');
    const everything = { gte: INDEX_KEYSPACE_PREFIX.slice(), lt: indexKeyspaceEnd() };
    expectRange(everything, () => true, 'the whole index keyspace');
    for (const key of USER_KEYS) expect(hasIndexKeyspacePrefix(key)).toBe(false);
  });

  test('ERR_INVALID_ARGUMENT for two lower or two upper bounds, or a bound not bytes', () => {
    const v = Uint8Array.of(1);
    expectStrataError(() => indexRange(1, { gt: v, gte: v }), 'ERR_INVALID_ARGUMENT', [
      'gt and gte',
    ]);
    expectStrataError(() => indexRange(1, { lt: v, lte: v }), 'ERR_INVALID_ARGUMENT', [
      'lt and lte',
    ]);
    expectStrataError(
      () => indexRange(1, { gte: 'a' as unknown as Uint8Array }),
      'ERR_INVALID_ARGUMENT',
      ['index range gte'],
    );
    expectStrataError(
      () => indexRange(1, null as unknown as IndexValueBounds),
      'ERR_INVALID_ARGUMENT',
    );
  });
});

describe('keyspace partitions', () => {
  /** By definition: the i whose [P(i), P(i + 1)) holds the key, found by binary search on P(i). */
  function referencePartition(key: Uint8Array): number {
    if (Buffer.compare(key, INDEX_KEYSPACE_PREFIX) < 0) return -1;
    if (Buffer.compare(key, indexKeyspaceEnd()) >= 0) return 2 ** 32;
    let low = 0; // P(low) <= key
    let high = 2 ** 32; // P(high) > key (P(2^32) being FF FF FF FF 69 79)
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (Buffer.compare(indexKeyspaceRange(middle).gte, key) <= 0) low = middle;
      else high = middle;
    }
    return Buffer.compare(indexKeyspaceRange(low).gte, key) <= 0 ? low : -1;
  }

  test('below FF FF FF FF 69 78 is -1, an entry key is its index id, from FF FF FF FF 69 79 on is 2^32', () => {
    expect(PARTITION_BELOW_INDEXES).toBe(-1);
    expect(PARTITION_ABOVE_INDEXES).toBe(2 ** 32);
    const cases: [string, number][] = [
      ['', -1],
      ['00', -1],
      ['ffffffff6977ffffffffffff', -1],
      ['ffffffff6978', -1],
      ['ffffffff697800000000', 0],
      ['ffffffff6978000000000001', 0],
      ['ffffffff69780000000100', 1],
      ['ffffffff6978000000010001ff', 1],
      ['ffffffff697812345678', 0x12345678],
      ['ffffffff6978ffffffff', 0xffffffff],
      ['ffffffff6978ffffffffffffffff', 0xffffffff],
      ['ffffffff6979', 2 ** 32],
      ['ffffffff697900', 2 ** 32],
      ['01', -1],
      ['61626364', -1],
      ['ff', -1],
      ['ffffffff6a', 2 ** 32],
      ['ffffffffffffffff', 2 ** 32],
    ];
    for (const [key, partition] of cases)
      expect(keyspacePartition(fromHex(key)), key).toBe(partition);
    for (const id of ID_EDGES) {
      const { gte, lt } = indexKeyspaceRange(id);
      expect(keyspacePartition(gte)).toBe(id);
      expect(
        keyspacePartition(encodeIndexKey(id, Uint8Array.of(0, 0xff), Uint8Array.of(0xff))),
      ).toBe(id);
      expect(keyspacePartition(lt)).toBe(id === 0xffffffff ? 2 ** 32 : id + 1);
    }
    for (const key of USER_KEYS) expect([-1, 2 ** 32]).toContain(keyspacePartition(key));
  });

  test('a key in the keyspace too short for an id lies in the range of the index below it', () => {
    // FF FF FF FF 69 78 05 sorts after every key of index 04 FF FF FF and before P(05 00 00 00).
    expect(keyspacePartition(fromHex('ffffffff697805'))).toBe(0x04ffffff);
    expect(keyspacePartition(fromHex('ffffffff69780500'))).toBe(0x04ffffff);
    expect(keyspacePartition(fromHex('ffffffff6978000001'))).toBe(0xff);
    expect(keyspacePartition(fromHex('ffffffff69780000'))).toBe(-1);
    expect(keyspacePartition(fromHex('ffffffff6978ffffff'))).toBe(0xfffffeff);
  });

  test('against the definition, and never decreasing as keys grow (random keys)', () => {
    const keyArb = fc.oneof(
      fc.uint8Array({ maxLength: 8 }),
      fc
        .tuple(fc.uint8Array({ maxLength: 6 }), edgeBytesArb)
        .map(([tail, more]) => Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x69, 0x78, ...tail, ...more)),
      entryArb.map(keyOf),
      fc.constantFrom(
        ...[
          '00',
          'ffffffff6977',
          'ffffffff6978',
          'ffffffff6979',
          'ffffffff6978ff',
          'ffffffff6978ffffffff',
        ].map(fromHex),
      ),
    );
    fc.assert(
      fc.property(keyArb, keyArb, (left, right) => {
        expect(keyspacePartition(left)).toBe(referencePartition(left));
        const [low, high] = Buffer.compare(left, right) <= 0 ? [left, right] : [right, left];
        expect(keyspacePartition(low)).toBeLessThanOrEqual(keyspacePartition(high));
      }),
      { numRuns: 3_000 },
    );
  });
});

/** Replaces the lower or upper bound of `bounds` with `chosen` (an entry's value), by `pick`. */
function withChosen(
  bounds: IndexValueBounds,
  chosen: Uint8Array | undefined,
  pick: number,
): IndexValueBounds {
  if (chosen === undefined) return bounds;
  const kind = (['gt', 'gte', 'lt', 'lte'] as const)[pick % 4]!;
  const { gt, gte, lt, lte } = bounds;
  const lower = kind === 'gt' || kind === 'gte' ? { [kind]: chosen } : { gt, gte };
  const upper = kind === 'lt' || kind === 'lte' ? { [kind]: chosen } : { lt, lte };
  return { ...lower, ...upper };
}
