/**
 * Datadriven tests [Pebble `datadriven`, TigerBeetle `snaptest`]: a text file of cases, each a
 * command line, input lines, `----`, then the expected output up to a blank line.
 *
 *   # comments and blank lines between cases are kept as they are
 *   build block-size=64
 *   a.SET.1:x
 *   ----
 *   ok
 *
 * An expected output that itself holds blank lines goes between doubled separators:
 *
 *   cmd
 *   ----
 *   ----
 *   first paragraph
 *
 *   second paragraph
 *   ----
 *   ----
 *
 * `runDataDriven(path, run)` hands each case to `run` in file order (so cases may build on state
 * that earlier ones left) and expects its output. With UPDATE_TESTDATA=1 it rewrites the file with
 * the actual outputs instead, keeping commands, inputs and comments. Nothing here knows about any
 * subsystem; other folders reuse it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';

export interface DataDrivenCase {
  readonly path: string;
  /** 1-based line of the command, for messages. */
  readonly line: number;
  readonly command: string;
  /** The tokens after the command, as written (`key=value` or bare words). */
  readonly tokens: readonly string[];
  readonly input: string;
  readonly expected: string;
}

const SEPARATOR = '----';

/** The value of a `name=value` token, or undefined. */
export function caseArg(testCase: DataDrivenCase, name: string): string | undefined {
  for (const token of testCase.tokens) {
    if (token.startsWith(`${name}=`)) return token.slice(name.length + 1);
  }
  return undefined;
}

/** The integer value of a `name=value` token, or `fallback` if absent. */
export function caseIntArg(testCase: DataDrivenCase, name: string, fallback: number): number {
  const text = caseArg(testCase, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value)) {
    throw new Error(`${testCase.path}:${testCase.line}: ${name}=${text} is not an integer`);
  }
  return value;
}

export function runDataDriven(path: string, run: (testCase: DataDrivenCase) => string): void {
  const segments = parseDataDriven(path, readFileSync(path, 'utf8'));
  const update = process.env['UPDATE_TESTDATA'] === '1';
  const rendered: string[] = [];
  for (const segment of segments) {
    if (typeof segment === 'string') {
      rendered.push(segment);
      continue;
    }
    const actual = normalizeOutput(run(segment));
    if (!update) {
      const where = `${path}:${segment.line}: ${segment.command} ${segment.tokens.join(' ')}`;
      expect(actual, where).toBe(segment.expected);
    }
    rendered.push(renderCase(segment, actual));
  }
  if (update) writeFileSync(path, `${rendered.join('\n')}\n`);
}

/** The file as verbatim lines (comments, blank lines) and cases, in order. */
export function parseDataDriven(path: string, text: string): Array<string | DataDrivenCase> {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const segments: Array<string | DataDrivenCase> = [];
  let index = 0;
  while (index < lines.length) {
    const line = lines[index]!;
    if (line.trim() === '' || line.startsWith('#')) {
      segments.push(line);
      index++;
      continue;
    }
    const start = index;
    const [command = '', ...tokens] = line.trim().split(/\s+/);
    const input: string[] = [];
    for (index++; index < lines.length && lines[index] !== SEPARATOR; index++) {
      input.push(lines[index]!);
    }
    if (index >= lines.length) throw new Error(`${path}:${start + 1}: case has no ${SEPARATOR}`);
    index++;
    const expected: string[] = [];
    if (lines[index] === SEPARATOR) {
      for (index++; !(lines[index] === SEPARATOR && lines[index + 1] === SEPARATOR); index++) {
        if (index >= lines.length) throw new Error(`${path}:${start + 1}: unclosed ${SEPARATOR}`);
        expected.push(lines[index]!);
      }
      index += 2;
    } else {
      for (; index < lines.length && lines[index]!.trim() !== ''; index++) {
        expected.push(lines[index]!);
      }
    }
    segments.push({
      path,
      line: start + 1,
      command,
      tokens,
      input: input.join('\n'),
      expected: normalizeOutput(expected.join('\n')),
    });
  }
  return segments;
}

function normalizeOutput(output: string): string {
  return output.replace(/\s+$/, '');
}

/** A case as the data file holds it, with `actual` as its expected output. */
export function renderCase(testCase: DataDrivenCase, actual: string): string {
  const header = [testCase.command, ...testCase.tokens].join(' ');
  const input = testCase.input === '' ? [] : [testCase.input];
  const body = /\n\s*\n/.test(actual)
    ? [SEPARATOR, SEPARATOR, actual, SEPARATOR, SEPARATOR]
    : actual === ''
      ? [SEPARATOR]
      : [SEPARATOR, actual];
  return [header, ...input, ...body].join('\n');
}
