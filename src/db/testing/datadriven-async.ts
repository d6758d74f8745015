/**
 * `runDataDriven` (src/sst/testing/datadriven.ts) for cases whose commands must await: the engine's
 * writes, flushes and opens are asynchronous. Same file format and parser, same UPDATE_TESTDATA=1
 * rewrite; only the runner awaits each case before the next one starts, so cases may still build
 * on the state earlier ones left.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';
import { type DataDrivenCase, parseDataDriven, renderCase } from '../../sst/testing/datadriven.js';

const _SEPARATOR = '----';

export async function runDataDrivenAsync(
  path: string,
  run: (testCase: DataDrivenCase) => Promise<string>,
): Promise<void> {
  const segments = parseDataDriven(path, readFileSync(path, 'utf8'));
  const update = process.env['UPDATE_TESTDATA'] === '1';
  const rendered: string[] = [];
  for (const segment of segments) {
    if (typeof segment === 'string') {
      rendered.push(segment);
      continue;
    }
    const actual = (await run(segment)).replace(/\s+$/, '');
    if (!update) {
      const where = `${path}:${segment.line}: ${segment.command} ${segment.tokens.join(' ')}`;
      expect(actual, where).toBe(segment.expected);
    }
    rendered.push(renderCase(segment, actual));
  }
  if (update) writeFileSync(path, `${rendered.join('\n')}\n`);
}
