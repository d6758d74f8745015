/**
 * Tests run worker threads and child processes from the compiled JavaScript in dist/, so they
 * exercise what users run. This finds a compiled script and refuses a missing or stale build.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT_DEPTH_MAX = 8;

/** dist/nvm/testing/<name>.js, after checking that dist/nvm is at least as new as nvm/*.ts. */
export function compiledTestingScript(name: string): string {
  const root = packageRoot();
  const script = join(root, 'dist', 'nvm', 'testing', `${name}.js`);
  if (!existsSync(script)) {
    throw new Error(`${script} is missing: run \`npx tsc -p tsconfig.build.json\` (npm test does)`);
  }
  for (const source of sourceFiles(join(root, 'nvm'))) {
    const compiled = join(root, 'dist', relative(root, source)).replace(/\.ts$/, '.js');
    if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(source).mtimeMs) {
      throw new Error(
        `${compiled} is older than ${source}: rebuild with \`npx tsc -p tsconfig.build.json\``,
      );
    }
  }
  return script;
}

function sourceFiles(folder: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) found.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

function packageRoot(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < ROOT_DEPTH_MAX; depth++) {
    if (existsSync(join(folder, 'package.json'))) return folder;
    folder = dirname(folder);
  }
  throw new Error('no package.json above the NVM testing helpers');
}
