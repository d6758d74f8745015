import type { CoreEngineResult, CorePhaseResult, CoreResult } from './core-driver.js';
import { OP_KIND_NAMES } from './core-workload.js';
import { perThreadLines } from './report.js';
import { formatCount, renderTable } from './text-table.js';

/** The CLI's report of a core-workload run: one table row per engine and phase, then checks. */
export function formatCoreReport(result: CoreResult): string {
  const sampleEvery = result.engines[0]?.phases[0]?.latency.sampleEvery ?? 1;
  const lines = [
    `YCSB core workloads, ${formatCount(result.recordCount)} records of 10 × 100-byte fields, seed ${result.seed}, ${result.threads === 1 ? '1 thread' : `${result.threads} threads`}; latency: every ${sampleEvery === 1 ? '' : `${sampleEvery}th `}op timed, clock overhead ~${result.clockOverheadNs} ns per sample (included)`,
    '',
    renderTable(
      ['engine', 'phase', 'ops', 'mix', 'time ms', 'ops/s', 'p50 ns', 'p99 ns', 'p99.9 ns'],
      result.engines.flatMap((engine) =>
        engine.phases.map((phase) => [
          engine.label,
          phase.phase,
          formatCount(phase.ops),
          formatKindCounts(phase.kindCounts),
          phase.elapsedMs.toFixed(1),
          formatCount(phase.opsPerSecond),
          formatCount(phase.latency.p50Ns),
          formatCount(phase.latency.p99Ns),
          formatCount(phase.latency.p999Ns),
        ]),
      ),
    ),
    ...result.engines.flatMap((engine) =>
      engine.phases.flatMap((phase) => perThreadLines(engine.label, phase.phase, phase.perThread)),
    ),
    '',
    ...result.engines.map((engine) => `durability of ${engine.label}: ${engine.durability}`),
    '',
    ...verificationLines(result.engines),
  ];
  return lines.join('\n');
}

/** `READ 4,981 / UPDATE 5,019`; kinds in OP_* order. */
export function formatKindCounts(kindCounts: readonly number[]): string {
  const parts: string[] = [];
  for (const [kind, count] of kindCounts.entries()) {
    if (count > 0) parts.push(`${OP_KIND_NAMES[kind]} ${formatCount(count)}`);
  }
  return parts.length === 0 ? '(empty)' : parts.join(' / ');
}

export interface PhaseCheck {
  readonly phase: string;
  /** Read, update and read-modify-write misses, summed over the engines. */
  readonly misses: number;
  readonly badRecords: number;
  readonly recordsRead: number;
  readonly checksum: string;
  /** Every engine returned the same records: same checksum and count. */
  readonly agree: boolean;
}

/** Compares the engines workload by workload (the load reads nothing). */
export function checkEngines(engines: readonly CoreEngineResult[]): PhaseCheck[] {
  const first = engines[0];
  if (first === undefined) return [];
  return first.phases
    .filter((phase) => phase.phase !== 'load')
    .map((phase) => {
      const all = engines.map((engine) => phaseOf(engine, phase.phase));
      let misses = 0;
      let badRecords = 0;
      for (const each of all) {
        misses += (each?.verification.readMisses ?? 0) + (each?.verification.updateMisses ?? 0);
        badRecords += each?.verification.badRecords ?? 0;
      }
      return {
        phase: phase.phase,
        misses,
        badRecords,
        recordsRead: phase.verification.recordsRead,
        checksum: phase.verification.checksum,
        agree: all.every((each) => each !== undefined && sameRecords(each, phase)),
      };
    });
}

/**
 * One line per workload: misses, records read and the checksum, with `agree` when every engine
 * returned the same records and `DIFFER` listing each engine's checksum/records otherwise.
 */
export function verificationLines(engines: readonly CoreEngineResult[]): string[] {
  return checkEngines(engines).map((check) => {
    const summary = `read/update misses ${check.misses}, bad records ${check.badRecords}, records read ${formatCount(check.recordsRead)}`;
    if (check.agree) {
      const who = engines.length === 1 ? engines[0]!.label : `all ${engines.length} engines agree`;
      return `verify ${check.phase}: ${summary}, checksum ${check.checksum} (${who})`;
    }
    const each = engines
      .map((engine) => {
        const figures = phaseOf(engine, check.phase)?.verification;
        return `${engine.label} ${figures?.checksum ?? '-'}/${figures?.recordsRead ?? '-'}`;
      })
      .join(', ');
    return `verify ${check.phase}: ${summary}, checksums DIFFER: ${each}`;
  });
}

/** Whether every workload on every engine had no misses and identical checksums. */
export function coreRunVerified(result: CoreResult): boolean {
  return checkEngines(result.engines).every(
    (check) => check.agree && check.misses === 0 && check.badRecords === 0,
  );
}

function phaseOf(engine: CoreEngineResult, phase: string): CorePhaseResult | undefined {
  return engine.phases.find((each) => each.phase === phase);
}

function sameRecords(left: CorePhaseResult, right: CorePhaseResult): boolean {
  return (
    left.verification.checksum === right.verification.checksum &&
    left.verification.recordsRead === right.verification.recordsRead
  );
}
