/** Temporary folders for NVM tests and their child processes. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempFolder {
  readonly path: string;
  file(name: string): string;
  remove(): void;
}

export function makeTempFolder(prefix: string): TempFolder {
  const path = mkdtempSync(join(tmpdir(), `strata-${prefix}-`));
  return {
    path,
    file: (name: string) => join(path, name),
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}
