/**
 * How busy the rest of the machine was during each phase of bench/index.ts: the CPU time every
 * process spent (Linux /proc/stat) minus this process's own (process.cpuUsage, all threads),
 * over the phase's wall time, in cores. On the shared 2-core VM the benches run on, a phase that
 * ran while others used a core is not comparable with one that ran alone; the report says which.
 */
import { readFileSync } from 'node:fs';

export interface PhaseCpu {
  readonly phase: string;
  readonly elapsedMs: number;
  /** Cores other processes used on average; undefined where /proc/stat does not exist. */
  readonly otherCores: number | undefined;
  /** Cores this process used on average (every thread). */
  readonly ownCores: number;
}

/** Linux's USER_HZ: /proc/stat counts in hundredths of a second on every architecture Node runs. */
const TICKS_PER_SECOND = 100;

export class CpuPhases {
  readonly phases: PhaseCpu[] = [];
  #startedMs = performance.now();
  #busyTicks = readBusyTicks();
  #own = process.cpuUsage();

  /** Ends the current phase (begun at construction or at the previous call) as `phase`. */
  end(phase: string): void {
    const nowMs = performance.now();
    const busyTicks = readBusyTicks();
    const own = process.cpuUsage();
    const elapsedMs = nowMs - this.#startedMs;
    const ownMs = (own.user - this.#own.user + own.system - this.#own.system) / 1000;
    const busyMs =
      busyTicks === undefined || this.#busyTicks === undefined
        ? undefined
        : ((busyTicks - this.#busyTicks) * 1000) / TICKS_PER_SECOND;
    this.phases.push({
      phase,
      elapsedMs,
      otherCores: busyMs === undefined ? undefined : Math.max(0, busyMs - ownMs) / elapsedMs,
      ownCores: ownMs / elapsedMs,
    });
    this.#startedMs = nowMs;
    this.#busyTicks = busyTicks;
    this.#own = own;
  }
}

/**
 * user + nice + system + irq + softirq ticks of all CPUs (not steal: that is other VMs), or
 * undefined off Linux.
 */
function readBusyTicks(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'latin1');
  } catch {
    return undefined;
  }
  const fields = /^cpu\s+(.*)$/m.exec(text)?.[1]?.trim().split(/\s+/).map(Number);
  if (fields === undefined || fields.length < 7) return undefined;
  const [user, nice, system, , , irq, softirq] = fields as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return user + nice + system + irq + softirq;
}
