/**
 * Counters of a stress run (operations per kind, checks per kind, failures) as threads, the
 * coordinator and the crash loop sum them, and the text report the CLI prints.
 */
import { CHECK_KINDS, type CheckKind, OP_KINDS, type OpKind } from './stress-config.js';

export interface StressCounters {
  readonly ops: Record<OpKind, number>;
  readonly checks: Record<CheckKind, number>;
  /** Errors a check allowed (an index another thread dropped, ERR_INDEX_BUILDING when asked to fail). */
  acceptedErrors: number;
  /** Errors of a known engine bug, tolerated (stress-config.ts KNOWN_ENGINE_ISSUES). */
  knownIssues: number;
  /** Counted where failures are collected (a run's or the crash loop's `fail`), once each. */
  failures: number;
}

/** One failed check: where it ran and what was expected against what was read. */
export interface Failure {
  readonly where: string;
  readonly detail: string;
}

/** The store's own counters a report shows (from the coordinator's stats()). */
export const STORE_COUNTERS = [
  'flushes',
  'compactions',
  'trivialMoves',
  'blobsWritten',
  'appendsInPlace',
  'appendsRewritten',
  'blobGcRuns',
  'blobGcFilesRemoved',
  'indexBuilds',
  'indexEntriesWritten',
  'indexEntriesRemoved',
  'stalledWrites',
] as const;
export type StoreCounters = Record<(typeof STORE_COUNTERS)[number], number>;

export function emptyCounters(): StressCounters {
  return {
    ops: Object.fromEntries(OP_KINDS.map((kind) => [kind, 0])) as Record<OpKind, number>,
    checks: Object.fromEntries(CHECK_KINDS.map((kind) => [kind, 0])) as Record<CheckKind, number>,
    acceptedErrors: 0,
    knownIssues: 0,
    failures: 0,
  };
}

export function addCounters(into: StressCounters, from: StressCounters): void {
  for (const kind of OP_KINDS) into.ops[kind] += from.ops[kind] ?? 0;
  for (const kind of CHECK_KINDS) into.checks[kind] += from.checks[kind] ?? 0;
  into.acceptedErrors += from.acceptedErrors;
  into.knownIssues += from.knownIssues;
  into.failures += from.failures;
}

export function storeCounters(stats: object): StoreCounters {
  const named = stats as Readonly<Record<string, unknown>>;
  return Object.fromEntries(
    STORE_COUNTERS.map((name) => [name, typeof named[name] === 'number' ? named[name] : 0]),
  ) as StoreCounters;
}

export function addStoreCounters(into: StoreCounters, from: StoreCounters): void {
  for (const name of STORE_COUNTERS) into[name] += from[name];
}

export function sum(record: Readonly<Record<string, number>>): number {
  return Object.values(record).reduce((total, value) => total + value, 0);
}

export function formatNumber(value: number): string {
  return value.toLocaleString('en-US');
}

/** `name 1,234  name 56 …`, wrapped at 100 columns with `indent`. */
export function formatCounts(record: Readonly<Record<string, number>>, indent: string): string {
  const lines: string[] = [];
  let line = indent;
  for (const [name, value] of Object.entries(record)) {
    const item = `${name} ${formatNumber(value)}`;
    if (line.length + item.length + 2 > 100 && line !== indent) {
      lines.push(line.trimEnd());
      line = indent;
    }
    line += `${item}  `;
  }
  lines.push(line.trimEnd());
  return lines.join('\n');
}

export function formatFailures(failures: readonly Failure[], total: number): string[] {
  const lines = failures
    .slice(0, 20)
    .map((failure) => `  FAIL ${failure.where}: ${failure.detail}`);
  if (total > lines.length) lines.push(`  … ${formatNumber(total - lines.length)} more`);
  return lines;
}
