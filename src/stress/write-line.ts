/**
 * A line to stdout with a blocking writeSync, as the kill tests' children write theirs
 * (src/db/testing/kill-harness.ts re-exports this one): process.stdout.write may queue it on the non-blocking pipe,
 * and a kill -9 would then lose a line about something that did happen.
 */
import { writeSync } from 'node:fs';

export function writeLine(text: string): void {
  const bytes = Buffer.from(text);
  let done = 0;
  // Bounded: the reader drains the pipe continuously; a stuck pipe ends the run by its timeout.
  for (let attempt = 0; done < bytes.length && attempt < 100_000_000; attempt++) {
    try {
      done += writeSync(1, bytes, done);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'EAGAIN') throw error;
    }
  }
}
