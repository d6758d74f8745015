import { readFileSync } from 'node:fs';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';

/**
 * Operation codes in `Workload.ops`. In memory only (never persisted), but the parallel driver
 * hands them to workers in shared buffers, so both sides import them from here.
 */
export const Op = { insert: 1, read: 2, update: 3, remove: 4, scan: 5 } as const;
export type OpCode = (typeof Op)[keyof typeof Op];

export const SCAN_LENGTH_DEFAULT = 10;
export const SCAN_LENGTH_MAX = 1_000_000;
/** A KEY is read from the first 8 characters of the number (the course's rule, see README). */
export const KEY_DIGITS = 8;
/** 2^64 - 1 has 20 digits; anything longer is refused before its value is computed. */
const NUMBER_DIGITS_MAX = 20;
/** Numbers below 10^15 are exact in a double, so up to 15 digits need no (hi, lo) split. */
const EXACT_DIGITS = 15;
const TWO_POW_32 = 4294967296;

export interface OpCounts {
  insert: number;
  read: number;
  update: number;
  remove: number;
  scan: number;
}

/**
 * A parsed workload as parallel typed arrays, one entry per line. Keys and values are u64 split
 * into unsigned 32-bit halves so the driver never needs a BigInt.
 */
export interface Workload {
  /** The file name (or label) used in messages. */
  readonly source: string;
  readonly count: number;
  readonly ops: Uint8Array;
  readonly keyHi: Uint32Array;
  readonly keyLo: Uint32Array;
  readonly valueHi: Uint32Array;
  readonly valueLo: Uint32Array;
  /** Records per SCAN (0 on other lines); undefined when the workload has no SCAN line. */
  readonly scanLengths: Uint32Array | undefined;
  readonly opCounts: Readonly<OpCounts>;
}

/** Reads and parses a workload file. ERR_IO when it cannot be read, ERR_WORKLOAD when malformed. */
export function readWorkloadFile(path: string): Workload {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new StrataError('ERR_IO', `cannot read workload file ${path}: ${reason}`, {
      cause: error,
    });
  }
  // A plain Uint8Array view: indexed reads on it are cheaper than on a Buffer in V8.
  return parseWorkload(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), path);
}

/**
 * Parses `<OP> <DIGITS>` lines (`SCAN <DIGITS> [<COUNT>]`) straight from bytes. Lines end in
 * `\n`, optionally preceded by `\r`; trailing empty lines are ignored, empty lines elsewhere are
 * errors. Every error names the source and the 1-based line number.
 */
export function parseWorkload(bytes: Uint8Array, source: string): Workload {
  const end = trimTrailingBlankLines(bytes);
  const capacity = end === 0 ? 0 : countNewlines(bytes, end) + 1;
  const parser = new LineParser(bytes, end, source, capacity);
  parser.parseAll();
  return parser.finish();
}

const CHAR_LF = 0x0a;
const CHAR_CR = 0x0d;
const CHAR_SPACE = 0x20;
const CHAR_0 = 0x30;
const CHAR_9 = 0x39;

/** Op words as bytes, checked whole after a switch on the first letter. */
const OP_WORDS: readonly (Uint8Array | undefined)[] = [
  undefined,
  bytesOf('INSERT'),
  bytesOf('READ'),
  bytesOf('UPDATE'),
  bytesOf('DELETE'),
  bytesOf('SCAN'),
];

class LineParser {
  private position = 0;
  private lineNumber = 0;
  private lineStart = 0;
  private count = 0;
  private readonly ops: Uint8Array;
  private readonly keyHi: Uint32Array;
  private readonly keyLo: Uint32Array;
  private readonly valueHi: Uint32Array;
  private readonly valueLo: Uint32Array;
  private scanLengths: Uint32Array | undefined;
  private readonly opCounts: OpCounts = { insert: 0, read: 0, update: 0, remove: 0, scan: 0 };
  // The number just parsed, as (hi, lo) halves, and its key.
  private numberHi = 0;
  private numberLo = 0;
  private numberKey = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly end: number,
    private readonly source: string,
    private readonly capacity: number,
  ) {
    this.ops = new Uint8Array(capacity);
    this.keyHi = new Uint32Array(capacity);
    this.keyLo = new Uint32Array(capacity);
    this.valueHi = new Uint32Array(capacity);
    this.valueLo = new Uint32Array(capacity);
  }

  parseAll(): void {
    while (this.position < this.end) {
      assert(this.count < this.capacity);
      this.lineNumber++;
      this.lineStart = this.position;
      this.parseLine();
    }
  }

  finish(): Workload {
    assert(this.count === this.capacity, 'every counted line was parsed');
    return {
      source: this.source,
      count: this.count,
      ops: this.ops,
      keyHi: this.keyHi,
      keyLo: this.keyLo,
      valueHi: this.valueHi,
      valueLo: this.valueLo,
      scanLengths: this.scanLengths,
      opCounts: this.opCounts,
    };
  }

  private parseLine(): void {
    const op = this.parseOpWord();
    this.expectSpace();
    this.parseNumber();
    const index = this.count;
    this.ops[index] = op;
    this.keyHi[index] = 0; // a key has at most 8 decimal digits, so it always fits in keyLo
    this.keyLo[index] = this.numberKey;
    this.valueHi[index] = this.numberHi;
    this.valueLo[index] = this.numberLo;
    if (op === Op.scan) this.parseScanLength(index);
    this.expectLineEnd();
    this.count++;
    countOp(this.opCounts, op);
  }

  private parseOpWord(): OpCode {
    const first = this.bytes[this.position];
    if (first === CHAR_LF || first === CHAR_CR) this.fail('empty line');
    const op = opForFirstLetter(first);
    const word = op === undefined ? undefined : OP_WORDS[op];
    if (op === undefined || word === undefined || !this.matches(word)) this.failUnknownOp();
    this.position += word.length;
    return op;
  }

  private matches(word: Uint8Array): boolean {
    if (this.position + word.length > this.end) return false;
    for (let offset = 0; offset < word.length; offset++) {
      if (this.bytes[this.position + offset] !== word[offset]) return false;
    }
    const next = this.bytes[this.position + word.length];
    return next === CHAR_SPACE || next === CHAR_LF || next === CHAR_CR || next === undefined;
  }

  private expectSpace(): void {
    if (this.position >= this.end || this.bytes[this.position] !== CHAR_SPACE) {
      this.fail('expected one space and a number after the operation');
    }
    this.position++;
  }

  /**
   * Reads the digits at `position` into numberHi/numberLo exactly. The first 15 digits
   * accumulate in one double (below 10^15 < 2^53, so exact); each further digit multiplies the
   * (hi, lo) pair by ten in doubles, exact because lo * 10 + 9 < 2^36.
   */
  private parseNumber(): void {
    const bytes = this.bytes;
    const end = this.end;
    const digitsStart = this.position;
    const fastEnd = Math.min(end, digitsStart + EXACT_DIGITS);
    let position = digitsStart;
    let value = 0;
    let key = 0;
    while (position < fastEnd) {
      const digit = bytes[position]! - CHAR_0;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
      position++;
      if (position - digitsStart === KEY_DIGITS) key = value;
    }
    if (position === digitsStart) this.failNotANumber();
    if (position - digitsStart < KEY_DIGITS) key = value;
    let hi = Math.floor(value / TWO_POW_32);
    let lo = value - hi * TWO_POW_32;
    while (position < end) {
      const digit = bytes[position]! - CHAR_0;
      if (digit < 0 || digit > 9) break;
      if (position - digitsStart >= NUMBER_DIGITS_MAX) this.fail('number has more than 20 digits');
      lo = lo * 10 + digit;
      const carry = Math.floor(lo / TWO_POW_32);
      lo -= carry * TWO_POW_32;
      hi = hi * 10 + carry;
      position++;
    }
    if (hi >= TWO_POW_32) this.fail('number is larger than 2^64-1');
    this.position = position;
    this.numberHi = hi;
    this.numberLo = lo;
    this.numberKey = key;
  }

  private parseScanLength(index: number): void {
    if (this.scanLengths === undefined) this.scanLengths = new Uint32Array(this.capacity);
    let length = SCAN_LENGTH_DEFAULT;
    if (this.position < this.end && this.bytes[this.position] === CHAR_SPACE) {
      this.position++;
      const digitsStart = this.position;
      length = 0;
      while (this.position < this.end) {
        const byte = this.bytes[this.position]!;
        if (byte < CHAR_0 || byte > CHAR_9) break;
        length = length * 10 + (byte - CHAR_0);
        if (length > SCAN_LENGTH_MAX) this.fail(`scan length exceeds ${SCAN_LENGTH_MAX}`);
        this.position++;
      }
      if (this.position === digitsStart) this.fail('expected a scan length after the key');
      if (length === 0) this.fail('scan length must be at least 1');
    }
    this.scanLengths[index] = length;
  }

  private expectLineEnd(): void {
    let byte = this.bytes[this.position];
    if (this.position < this.end && byte === CHAR_CR) {
      this.position++;
      byte = this.bytes[this.position];
    }
    if (this.position >= this.end) return;
    if (byte === CHAR_LF) {
      this.position++;
      return;
    }
    if (byte === CHAR_SPACE) this.fail('unexpected text after the number');
    this.failNotANumber();
  }

  private failUnknownOp(): never {
    this.fail(
      `unknown operation "${this.firstWord()}" (expected INSERT, READ, UPDATE, DELETE or SCAN)`,
    );
  }

  private failNotANumber(): never {
    this.fail(`expected a decimal number, found "${this.lineText()}"`);
  }

  private firstWord(): string {
    const text = this.lineText();
    const space = text.indexOf(' ');
    return space < 0 ? text : text.slice(0, space);
  }

  /** The current line (up to 60 characters) for messages. */
  private lineText(): string {
    let lineEnd = this.lineStart;
    while (lineEnd < this.end && this.bytes[lineEnd] !== CHAR_LF && lineEnd - this.lineStart < 60) {
      lineEnd++;
    }
    const text = Buffer.from(
      this.bytes.buffer,
      this.bytes.byteOffset + this.lineStart,
      lineEnd - this.lineStart,
    );
    return text.toString('latin1').replace(/\r$/, '');
  }

  private fail(reason: string): never {
    throw new StrataError('ERR_WORKLOAD', `${this.source} line ${this.lineNumber}: ${reason}`);
  }
}

function opForFirstLetter(letter: number | undefined): OpCode | undefined {
  switch (letter) {
    case 0x49: // I
      return Op.insert;
    case 0x52: // R
      return Op.read;
    case 0x55: // U
      return Op.update;
    case 0x44: // D
      return Op.remove;
    case 0x53: // S
      return Op.scan;
    default:
      return undefined;
  }
}

function countOp(counts: OpCounts, op: OpCode): void {
  if (op === Op.insert) counts.insert++;
  else if (op === Op.read) counts.read++;
  else if (op === Op.update) counts.update++;
  else if (op === Op.remove) counts.remove++;
  else counts.scan++;
}

/** The parse end: before any run of trailing `\n` / `\r\n`, so a final newline is not a line. */
function trimTrailingBlankLines(bytes: Uint8Array): number {
  let end = bytes.length;
  while (end > 0) {
    const last = bytes[end - 1];
    if (last !== CHAR_LF && last !== CHAR_CR) break;
    end--;
  }
  return end;
}

function countNewlines(bytes: Uint8Array, end: number): number {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, end);
  let count = 0;
  let position = buffer.indexOf(CHAR_LF);
  while (position >= 0) {
    count++;
    position = buffer.indexOf(CHAR_LF, position + 1);
  }
  return count;
}

function bytesOf(word: string): Uint8Array {
  return new Uint8Array(Buffer.from(word, 'latin1'));
}
