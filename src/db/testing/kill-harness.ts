/**
 * Both ends of the pipe between a kill -9 test (kill.test.ts, blob-kill.test.ts) and its child
 * (testing/kill-child.ts, testing/blob-kill-child.ts, run from dist/). The child reports each
 * write on stdout, one line per event, with `writeLine` before it takes the next step; the parent
 * (`runChildUntilKilled`) hands every whole line to the test's oracle and SIGKILLs the child once
 * the test says so. What the lines mean is the test's and its child's.
 *
 * A line is written with a blocking writeSync: process.stdout.write may queue it (the pipe is
 * non-blocking), and a kill would then lose the line of a write the child did issue. The parent
 * reads until 'close', not 'exit': only then has every line the child wrote before the kill been
 * read (with 'exit' the last "t" lines could still sit in the pipe, and a write the child did
 * issue would look as if it was never tried). A line the kill cut short was never written.
 *
 * This module must not import vitest: the children import it.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A child to run until the test kills it. */
export interface ChildRun {
  /** The compiled script and its arguments. */
  readonly script: string;
  readonly args: readonly string[];
  /** Takes each whole line the child wrote; a throw kills the child and fails the run. */
  onLine(line: string): void;
  /** Asked after each chunk of lines: true kills the child. */
  killNow(): boolean;
}

/** Runs the child; resolves once it died of the SIGKILL, rejects if it exited by itself. */
export function runChildUntilKilled(run: ChildRun): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [run.script, ...run.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let buffered = '';
    let failure: unknown;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? ''; // a line cut by the kill counts as never written
      try {
        for (const line of lines) run.onLine(line);
      } catch (error) {
        failure ??= error;
        child.kill('SIGKILL');
      }
      if (run.killNow() && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('close', (code, signal) => {
      if (failure !== undefined) reject(failure);
      else if (signal === 'SIGKILL') resolve();
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

/**
 * The child and the workers run from dist: throws if a compiled file is missing or older than
 * its source. Each pair is a source and what it compiles to, relative to `base` (the test's
 * import.meta.url).
 */
export function refuseStaleBuild(
  base: string,
  pairs: readonly (readonly [source: string, compiled: string])[],
): void {
  for (const [source, compiled] of pairs) {
    const sourcePath = fileURLToPath(new URL(source, base));
    const compiledPath = fileURLToPath(new URL(compiled, base));
    if (
      !existsSync(compiledPath) ||
      statSync(compiledPath).mtimeMs < statSync(sourcePath).mtimeMs
    ) {
      throw new Error(
        `${compiledPath} is missing or older than ${sourcePath}: run \`npx tsc -p tsconfig.build.json\``,
      );
    }
  }
}

/** For the child: the whole line to stdout now (one copy of it, shared with the stress harness). */
export { writeLine } from '../../stress/write-line.js';
