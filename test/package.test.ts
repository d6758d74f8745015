/**
 * The package as users see it: `import 'strata-kv'` resolves (through package.json `exports`)
 * to the compiled library, and the `strata` bin runs. Both use dist/, built by `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';

const root = new URL('..', import.meta.url);

test('the package entry point resolves to the compiled library with the public API', () => {
  const output = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "const m = await import('strata-kv'); console.log(Object.keys(m).sort().join(','))",
    ],
    { cwd: root, encoding: 'utf8' },
  );
  expect(output.trim()).toBe(
    'NvmImage,PmEHash,Strata,StrataError,StrataIterator,StrataSnapshot,isStrataError',
  );
});

test('the strata bin prints its usage', () => {
  const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
    bin: { strata: string };
  };
  const output = execFileSync(process.execPath, [manifest.bin.strata, '--help'], {
    cwd: root,
    encoding: 'utf8',
  });
  expect(output).toContain('ycsb');
  expect(output).toContain('gen-workload');
});
