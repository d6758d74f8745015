import { readFileSync } from 'node:fs';

/**
 * The calling thread's scheduler figures from Linux's /proc/thread-self/schedstat: nanoseconds
 * on a CPU and nanoseconds runnable but waiting for one. The parallel driver reports them per
 * worker and phase, because on a small shared machine a thread that does not scale is often a
 * thread that did not get a core. Undefined where the file does not exist (not Linux).
 */
export interface ThreadTime {
  readonly cpuNs: number;
  readonly runQueueNs: number;
}

export function threadTime(): ThreadTime | undefined {
  try {
    const [cpu, waiting] = readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ');
    const cpuNs = Number(cpu);
    const runQueueNs = Number(waiting);
    return Number.isFinite(cpuNs) && Number.isFinite(runQueueNs)
      ? { cpuNs, runQueueNs }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Milliseconds on a CPU and waiting for one between two readings (undefined if either is). */
export function threadTimeSpent(
  start: ThreadTime | undefined,
  end: ThreadTime | undefined,
): { readonly cpuMs: number; readonly runQueueMs: number } | undefined {
  if (start === undefined || end === undefined) return undefined;
  return {
    cpuMs: (end.cpuNs - start.cpuNs) / 1e6,
    runQueueMs: (end.runQueueNs - start.runQueueNs) / 1e6,
  };
}

/** User plus system CPU of the whole process (every thread) since `start`, in ms. */
export function cpuMsSince(start: NodeJS.CpuUsage): number {
  const spent = process.cpuUsage(start);
  return (spent.user + spent.system) / 1000;
}
