import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, expect, test } from 'vitest';
import { makeTempFolder } from '../../../nvm/testing/temp-folder.js';
import { caseArg, caseIntArg, parseDataDriven, runDataDriven } from './datadriven.js';

const folder = makeTempFolder('datadriven');
afterAll(() => folder.remove());
afterEach(() => {
  delete process.env['UPDATE_TESTDATA'];
});

const FILE = `# a comment
echo n=2 loud
hello
----
stale output

# blank lines in the output need doubled separators
split
a b
----
----
a

b
----
----
empty
----
`;

test('parses commands, tokens, inputs and both output forms', () => {
  const segments = parseDataDriven('file', FILE);
  const cases = segments.filter((segment) => typeof segment !== 'string');
  expect(
    cases.map((testCase) => [testCase.command, testCase.line, testCase.input, testCase.expected]),
  ).toEqual([
    ['echo', 2, 'hello', 'stale output'],
    ['split', 8, 'a b', 'a\n\nb'],
    ['empty', 17, '', ''],
  ]);
  expect(caseArg(cases[0]!, 'n')).toBe('2');
  expect(caseIntArg(cases[0]!, 'n', 0)).toBe(2);
  expect(caseIntArg(cases[0]!, 'missing', 7)).toBe(7);
  expect(cases[0]!.tokens).toEqual(['n=2', 'loud']);
  expect(() => parseDataDriven('bad', 'cmd\ninput\n')).toThrow(/bad:1: case has no ----/);
});

test('UPDATE_TESTDATA=1 rewrites outputs and keeps everything else', () => {
  const path = folder.file('rewrite');
  writeFileSync(path, FILE);
  const run = (testCase: { command: string; input: string }) =>
    testCase.command === 'echo'
      ? testCase.input.toUpperCase()
      : testCase.input.split(' ').join('\n\n');
  process.env['UPDATE_TESTDATA'] = '1';
  runDataDriven(path, run);
  expect(readFileSync(path, 'utf8')).toBe(FILE.replace('stale output', 'HELLO'));
  delete process.env['UPDATE_TESTDATA'];
  runDataDriven(path, run); // now passes as written
});
