import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isStrataError } from '../errors.js';
import { Op, parseWorkload, readWorkloadFile, type Workload } from './workload.js';

const WORKLOAD_DIR = join(import.meta.dirname, '..', '..', 'workload');

function parse(text: string, source = 'test.txt'): Workload {
  return parseWorkload(Buffer.from(text, 'latin1'), source);
}

function value(workload: Workload, index: number): bigint {
  return (BigInt(workload.valueHi[index]!) << 32n) | BigInt(workload.valueLo[index]!);
}

function parseError(text: string): { code: string; message: string } {
  try {
    parse(text);
  } catch (error) {
    if (isStrataError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

describe('parseWorkload: good lines', () => {
  test('every operation, key from the first 8 characters, value the whole number', () => {
    const workload = parse(
      'INSERT 6284781860667377211\nREAD 6284781860667377211\nUPDATE 123456789\nDELETE 42\nSCAN 99999999 5\nSCAN 1\n',
    );
    expect(workload.count).toBe(6);
    expect([...workload.ops]).toEqual([Op.insert, Op.read, Op.update, Op.remove, Op.scan, Op.scan]);
    expect([...workload.keyLo]).toEqual([62847818, 62847818, 12345678, 42, 99999999, 1]);
    expect([...workload.keyHi]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(value(workload, 0)).toBe(6284781860667377211n);
    expect(value(workload, 2)).toBe(123456789n);
    expect(value(workload, 3)).toBe(42n);
    expect([...(workload.scanLengths ?? [])]).toEqual([0, 0, 0, 0, 5, 10]);
    expect(workload.opCounts).toEqual({ insert: 1, read: 1, update: 1, remove: 1, scan: 2 });
  });

  test('CRLF, no final newline, extra final newlines and an empty file', () => {
    expect(parse('READ 1\r\nREAD 2\r\n').count).toBe(2);
    expect(parse('READ 1\nREAD 2').count).toBe(2);
    expect(parse('READ 1\nREAD 2\r').count).toBe(2);
    expect(parse('READ 1\n\n\r\n').count).toBe(1);
    expect(parse('').count).toBe(0);
    expect(parse('READ 1').scanLengths).toBeUndefined();
  });

  test('values above 2^53 are exact, up to 2^64-1', () => {
    const numbers = ['9007199254740993', '18446744073709551615', '10000000000000000000', '0'];
    const workload = parse(numbers.map((number) => `INSERT ${number}`).join('\n'));
    for (const [index, number] of numbers.entries()) {
      expect(value(workload, index)).toBe(BigInt(number));
    }
    expect(workload.valueHi[1]).toBe(0xffffffff);
    expect(workload.valueLo[1]).toBe(0xffffffff);
  });

  test('property: any u64 round-trips exactly, the key is its 8-character prefix', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (number) => {
        const text = number.toString();
        const workload = parse(`UPDATE ${text}\n`);
        expect(value(workload, 0)).toBe(number);
        expect(workload.keyLo[0]).toBe(Number(text.slice(0, 8)));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('parseWorkload: every bad line is ERR_WORKLOAD with its line number', () => {
  const cases: [string, string, RegExp][] = [
    ['unknown operation', 'READ 1\nFOO 12\n', /line 2: unknown operation "FOO"/],
    ['lower-case operation', 'insert 12\n', /line 1: unknown operation "insert"/],
    ['operation prefix', 'INSERTX 12\n', /line 1: unknown operation "INSERTX"/],
    ['truncated operation', 'REA 12\n', /line 1: unknown operation "REA"/],
    ['operation alone', 'READ\n', /line 1: expected one space and a number/],
    ['tab separator', 'READ\t12\n', /line 1: unknown operation/],
    ['two spaces', 'READ  12\n', /line 1: expected a decimal number/],
    ['missing number', 'READ \n', /line 1: expected a decimal number/],
    ['letters in the number', 'READ 1\nREAD 2\nREAD 12a4\n', /line 3: expected a decimal number/],
    ['negative number', 'READ -5\n', /line 1: expected a decimal number/],
    ['text after the number', 'READ 12 34\n', /line 1: unexpected text after the number/],
    ['trailing space', 'READ 12 \n', /line 1: unexpected text after the number/],
    ['2^64', 'INSERT 18446744073709551616\n', /line 1: number is larger than 2\^64-1/],
    ['21 digits', 'INSERT 000000000000000000001\n', /line 1: number has more than 20 digits/],
    ['empty line inside', 'READ 1\n\nREAD 2\n', /line 2: empty line/],
    ['CR line inside', 'READ 1\n\r\nREAD 2\n', /line 2: empty line/],
    ['leading space', ' READ 1\n', /line 1: unknown operation/],
    ['stray CR inside a line', 'READ 1\rREAD 2\n', /line 1: expected a decimal number/],
    ['scan length zero', 'SCAN 12 0\n', /line 1: scan length must be at least 1/],
    ['scan length missing', 'SCAN 12 \n', /line 1: expected a scan length/],
    ['scan length too large', 'SCAN 12 99999999\n', /line 1: scan length exceeds/],
    ['count on a non-scan line', 'READ 12 5\n', /line 1: unexpected text after the number/],
  ];
  test.each(cases)('%s', (_name, text, expected) => {
    const error = parseError(text);
    expect(error.code).toBe('ERR_WORKLOAD');
    expect(error.message).toMatch(/^test\.txt line \d+: /);
    expect(error.message).toMatch(expected);
  });

  test('a missing file is ERR_IO naming the path', () => {
    expect(() => readWorkloadFile('/nonexistent/w.txt')).toThrow(
      /cannot read workload file \/nonexistent\/w\.txt/,
    );
  });
});

describe('the course workload files (README facts)', () => {
  const table: [string, number, Partial<Record<'insert' | 'read' | 'update', number>>][] = [
    ['1w-rw-50-50-load.txt', 10_000, { insert: 10_000 }],
    ['1w-rw-50-50-run.txt', 1_000, { read: 510, update: 490 }],
    ['10w-rw-0-100-run.txt', 10_000, { insert: 10_000 }],
    ['10w-rw-25-75-run.txt', 10_000, { read: 2_484, insert: 7_516 }],
    ['10w-rw-50-50-load.txt', 100_000, { insert: 100_000 }],
    ['10w-rw-50-50-run.txt', 10_000, { read: 4_898, insert: 5_102 }],
    ['10w-rw-75-25-run.txt', 10_000, { read: 7_512, insert: 2_488 }],
    ['10w-rw-100-0-run.txt', 10_000, { read: 10_000 }],
  ];
  test.each(table)('%s has %i lines and the documented mix', (file, lines, mix) => {
    const workload = readWorkloadFile(join(WORKLOAD_DIR, file));
    expect(workload.count).toBe(lines);
    expect(workload.opCounts).toEqual({
      insert: 0,
      read: 0,
      update: 0,
      remove: 0,
      scan: 0,
      ...mix,
    });
  });

  test('10w load: 99,997 distinct keys, the 3 repeated prefixes of the README', () => {
    const workload = readWorkloadFile(join(WORKLOAD_DIR, '10w-rw-50-50-load.txt'));
    const seen = new Set<number>();
    const repeated: number[] = [];
    for (const key of workload.keyLo) {
      if (seen.has(key)) repeated.push(key);
      seen.add(key);
    }
    expect(seen.size).toBe(99_997);
    expect(repeated.sort()).toEqual([17977073, 38265091, 78185801]);
  });

  test('values match a BigInt reading of every line', () => {
    const path = join(WORKLOAD_DIR, '1w-rw-50-50-run.txt');
    const workload = readWorkloadFile(path);
    const lines = readFileSync(path, 'latin1').trimEnd().split('\n');
    for (const [index, line] of lines.entries()) {
      const digits = line.split(' ')[1]!;
      expect(value(workload, index)).toBe(BigInt(digits));
      expect(workload.keyLo[index]).toBe(Number(digits.slice(0, 8)));
    }
  });
});
