/**
 * For kill -9 tests: runs a Node script in a child process, reads its progress lines from
 * stdout, and SIGKILLs it as soon as a line matching `pattern` (first group: a number) reports
 * at least `target`. Resolves with the last number it reported; rejects if the child exits by
 * itself.
 */
import { spawn } from 'node:child_process';

export function killAtProgress(run: {
  readonly script: string;
  readonly args: readonly string[];
  readonly pattern: RegExp;
  readonly target: number;
  /** Resolved value when no progress line arrived before the kill. */
  readonly initial: number;
}): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [run.script, ...run.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let last = run.initial;
    let stderr = '';
    let buffered = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const match = run.pattern.exec(line);
        if (match) last = Number(match[1]);
      }
      if (last >= run.target && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(last);
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}
