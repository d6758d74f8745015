/**
 * The per-thread log of a stress run: each write is recorded before it is issued and again once
 * acknowledged, like the kill tests' pipes, so after a kill -9 a verifier knows every
 * acknowledged write and the one write per thread that may or may not have landed. Lines:
 *
 *   c <nextOpId> <acked>    checkpoint: the log was rewritten; the state follows as `k` lines
 *   k <index> <spec>        checkpoint: key <index> holds the value of <spec> (stress-values.ts)
 *   i <opId> <write op>     in flight: about to be issued (expected-state.ts spells the op)
 *   a <opId>                acknowledged: its promise resolved
 *
 * Lines are appended with a blocking writeSync before the next step: a kill -9 loses nothing
 * written to the page cache, and a line it cut short (no newline) counts as never written (an
 * `i` line not written means the write was not issued; a cut `a` line leaves the write in
 * flight, which the verifier accepts either way). A thread has at most one write in flight.
 * A verifier settles that write (it landed or not) into a checkpoint, which also drops a torn
 * last line, before the next run appends to the log.
 */
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { decodeWriteOp, encodeWriteOp, ThreadState, type WriteOp } from './expected-state.js';

export interface PendingWrite {
  readonly opId: number;
  readonly op: WriteOp;
}

/** A log read back: the state after every acknowledged (or settled-landed) write. */
export interface Replay {
  readonly thread: number;
  readonly state: ThreadState;
  readonly nextOpId: number;
  /** Acknowledged writes over the log's whole history (checkpoints carry the count). */
  readonly acked: number;
  /** The write in flight when the writer stopped. */
  readonly pending: PendingWrite | undefined;
}

export class OpLog {
  readonly #fd: number;

  constructor(path: string) {
    this.#fd = openSync(path, 'a');
  }

  inFlight(opId: number, op: WriteOp): void {
    writeAll(this.#fd, `i ${opId} ${encodeWriteOp(op)}\n`);
  }

  acked(opId: number): void {
    writeAll(this.#fd, `a ${opId}\n`);
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/** The threads that have a log in `logDir`, ascending. */
export function logThreads(logDir: string): number[] {
  if (!existsSync(logDir)) return [];
  return readdirSync(logDir)
    .map((name) => /^thread-(\d{2})\.log$/.exec(name))
    .filter((match) => match !== null)
    .map((match) => Number(match[1]))
    .sort((left, right) => left - right);
}

export function replayLog(path: string, thread: number): Replay {
  const state = new ThreadState(thread);
  let nextOpId = 1;
  let acked = 0;
  let pending: PendingWrite | undefined;
  const text = existsSync(path) ? readFileSync(path, 'latin1') : '';
  const lines = text.split('\n');
  lines.pop(); // the text after the last newline: empty, or a line a kill cut short
  for (const [lineIndex, line] of lines.entries()) {
    const fail = (why: string): Error =>
      new Error(`${path} line ${lineIndex + 1} ${JSON.stringify(line)}: ${why}`);
    const space = line.indexOf(' ', 2);
    const word = line[0];
    const first = Number(space < 0 ? line.slice(2) : line.slice(2, space));
    const rest = space < 0 ? '' : line.slice(space + 1);
    if (line[1] !== ' ' || !Number.isSafeInteger(first)) throw fail('not a log line');
    if (word === 'c') {
      state.values.clear();
      nextOpId = first;
      acked = Number(rest);
    } else if (word === 'k') {
      state.setSpec(first, rest);
    } else if (word === 'i') {
      if (pending !== undefined) throw fail(`write ${pending.opId} is still in flight`);
      if (first < nextOpId) throw fail(`opId below the next one, ${nextOpId}`);
      pending = { opId: first, op: decodeWriteOp(rest) };
      nextOpId = first + 1;
    } else if (word === 'a') {
      if (pending?.opId !== first) throw fail('no such write in flight');
      state.apply(pending.opId, pending.op);
      acked++;
      pending = undefined;
    } else {
      throw fail('unknown line');
    }
  }
  return { thread, state, nextOpId, acked, pending };
}

/** `replay` with its write in flight settled: applied if it `landed`, forgotten if not. */
export function settle(replay: Replay, landed: boolean): Replay {
  const pending = replay.pending;
  if (pending === undefined || !landed) return { ...replay, pending: undefined };
  const state = replay.state.clone();
  state.apply(pending.opId, pending.op);
  return { ...replay, state, pending: undefined };
}

/**
 * Rewrites the log as one checkpoint of `replay` (which must have nothing in flight), through a
 * temp file and a rename, so a long run's logs stay small. Only while no writer has it open.
 */
export function writeCheckpoint(path: string, replay: Replay): void {
  if (replay.pending !== undefined) throw new Error(`${path}: checkpoint with a write in flight`);
  const lines = [`c ${replay.nextOpId} ${replay.acked}`];
  const indexes = [...replay.state.values.keys()].sort((left, right) => left - right);
  for (const index of indexes) lines.push(`k ${index} ${replay.state.values.get(index)!.spec}`);
  const temp = `${path}.tmp`;
  writeFileSync(temp, `${lines.join('\n')}\n`);
  renameSync(temp, path);
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'latin1');
  let done = 0;
  // A regular file takes the whole buffer at once; the bound only guards a broken fs.
  for (let attempt = 0; done < bytes.length && attempt < 1000; attempt++) {
    done += writeSync(fd, bytes, done);
  }
  if (done < bytes.length) throw new Error(`short write to the stress log (${done} bytes)`);
}
