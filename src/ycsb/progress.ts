import { performance } from 'node:perf_hooks';
import cliProgress from 'cli-progress';

/** Phases shorter than this never show a bar. */
const PROGRESS_DELAY_MS = 1_000;

/**
 * A cli-progress bar on stderr that appears only once a phase has run for a second, and only
 * when enabled (the driver enables it when stderr is a TTY). Updates render synchronously, so
 * the bar moves even while a sync phase keeps the event loop busy.
 */
export class PhaseProgress {
  private readonly startedMs = performance.now();
  private bar: cliProgress.SingleBar | undefined;

  constructor(
    private readonly phase: string,
    private readonly total: number,
    private readonly enabled: boolean,
  ) {}

  update(done: number): void {
    if (!this.enabled) return;
    if (this.bar === undefined) {
      if (performance.now() - this.startedMs < PROGRESS_DELAY_MS) return;
      this.bar = new cliProgress.SingleBar(
        {
          format: `${this.phase.padEnd(4)} [{bar}] {percentage}% | {value}/{total} ops | eta {eta}s`,
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(this.total, done);
      return;
    }
    this.bar.update(done);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
