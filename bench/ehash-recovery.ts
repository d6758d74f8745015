/**
 * Instant recovery: a child process fills a table with 2.2 million keys on the mapped backend and
 * is killed with SIGKILL while it keeps writing; the parent then times `PmEHash.open` (mapping the
 * image, finishing any intent, rebuilding the free-bucket stack and lock words, counting keys) and
 * checks the table. Exported for bench/run-all.ts; runnable alone:
 *   node dist/bench/ehash-recovery.js [keys]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PmEHash } from '../src/ehash/pm-ehash.js';
import { formatCount, renderMarkdownTable } from '../src/ycsb/text-table.js';

export interface RecoveryResult {
  readonly keys: number;
  readonly openMs: number;
  readonly imageBytes: number;
  readonly markdown: string;
}

const CHILD = fileURLToPath(new URL('./ehash-recovery-child.js', import.meta.url));

export async function runRecoveryBench(options: { keys: number }): Promise<RecoveryResult> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-recovery-'));
  try {
    await fillAndKill(dir, options.keys);
    const started = performance.now();
    const table = PmEHash.open(dir, { backend: 'mapped' });
    const openMs = performance.now() - started;
    const stats = table.stats();
    table.close();
    if (stats.keys < options.keys)
      throw new Error(`recovered ${stats.keys} keys, expected ${options.keys}+`);
    const rows = [[formatCount(stats.keys), openMs.toFixed(1), formatCount(stats.imageBytes)]];
    const markdown = `### Recovery after kill -9 (bench/ehash-recovery.ts)\n\n${renderMarkdownTable(
      ['keys', 'open ms', 'image bytes'],
      rows,
    )}`;
    return { keys: stats.keys, openMs, imageBytes: stats.imageBytes, markdown };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function fillAndKill(dir: string, keys: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(keys)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (!chunk.toString().includes('loaded')) return;
      // Let it write a little longer, so the kill lands in the middle of work.
      setTimeout(() => child.kill('SIGKILL'), 150);
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`recovery child exited with ${code}`));
    });
  });
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const keys = Number(process.argv[2] ?? 2_200_000);
  const result = await runRecoveryBench({ keys });
  process.stdout.write(`${result.markdown}\n`);
}
