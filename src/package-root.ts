import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_ROOT_DEPTH_MAX = 8;

/**
 * The directory holding strata-kv's package.json, found upwards from this file, so that paths to
 * the native addon, worker entry files and shipped workloads work from the sources (vitest) and
 * from dist/ (compiled) alike.
 */
export function packageRoot(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < PACKAGE_ROOT_DEPTH_MAX; depth++) {
    if (existsSync(join(folder, 'package.json'))) return folder;
    const parent = dirname(folder);
    if (parent === folder) break;
    folder = parent;
  }
  throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
}
