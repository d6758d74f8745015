import type { PhaseResult, ThreadResult, Verification, YcsbResult } from './driver.js';
import { formatCount, renderTable } from './text-table.js';
import type { OpCounts } from './workload.js';

/** The human-readable report the CLI prints: header, phase table, per-thread lines, verification. */
export function formatYcsbReport(result: YcsbResult): string {
  const sampleEvery = result.phases[0]?.latency.sampleEvery ?? 1;
  const sampled = sampleEvery === 1 ? 'every op timed' : `every ${sampleEvery}th op timed`;
  const lines = [
    `engine ${result.label}, ${result.threads} thread${result.threads === 1 ? '' : 's'}; latency: ${sampled}, clock overhead ~${result.clockOverheadNs} ns per sample (included)`,
    '',
    renderTable(
      ['phase', 'file', 'ops', 'mix', 'time ms', 'ops/s', 'p50 ns', 'p99 ns', 'p99.9 ns'],
      result.phases.map((phase) => [
        phase.phase,
        phase.source,
        formatCount(phase.ops),
        formatMix(phase.opCounts),
        phase.elapsedMs.toFixed(1),
        formatCount(phase.opsPerSecond),
        formatCount(phase.latency.p50Ns),
        formatCount(phase.latency.p99Ns),
        formatCount(phase.latency.p999Ns),
      ]),
    ),
  ];
  for (const phase of result.phases) lines.push(...formatPerThread(phase));
  lines.push('', formatVerificationLine(result));
  if (result.stats !== undefined) {
    const stats = result.stats;
    lines.push(
      `table: ${formatCount(stats.keys)} keys, load factor ${stats.loadFactor.toFixed(3)}, global depth ${stats.globalDepth}, ${formatCount(stats.buckets)} buckets, image ${formatCount(stats.imageBytes)} bytes (${stats.backend})`,
    );
  }
  return lines.join('\n');
}

/** `verify: load: failed inserts 3 | run: ... | checksum of values read <dec> (<hex>)`. */
export function formatVerificationLine(result: YcsbResult): string {
  const parts = result.phases.map((phase) => `${phase.phase}: ${formatMisses(phase.verification)}`);
  const total = result.verification;
  parts.push(`checksum of values read ${total.checksum} (${total.checksumHex})`);
  return `verify: ${parts.join(' | ')}`;
}

export function formatMix(counts: OpCounts): string {
  const parts: string[] = [];
  if (counts.insert > 0) parts.push(`INSERT ${formatCount(counts.insert)}`);
  if (counts.read > 0) parts.push(`READ ${formatCount(counts.read)}`);
  if (counts.update > 0) parts.push(`UPDATE ${formatCount(counts.update)}`);
  if (counts.remove > 0) parts.push(`DELETE ${formatCount(counts.remove)}`);
  if (counts.scan > 0) parts.push(`SCAN ${formatCount(counts.scan)}`);
  return parts.length === 0 ? '(empty)' : parts.join(' / ');
}

function formatMisses(verification: Verification): string {
  const parts = [
    `failed inserts ${verification.failedInserts}`,
    `read misses ${verification.readMisses}`,
    `update misses ${verification.updateMisses}`,
    `delete misses ${verification.removeMisses}`,
  ];
  if (verification.scanRecords > 0) parts.push(`scanned records ${verification.scanRecords}`);
  return parts.join(', ');
}

function formatPerThread(phase: PhaseResult): string[] {
  return perThreadLines(undefined, phase.phase, phase.perThread);
}

/**
 * `  run per thread: #0 5,012 ops 41,003 ops/s, #1 …` (nothing for a main-thread phase), with
 * the time a thread waited for others' earlier writes or scans when it did.
 */
export function perThreadLines(
  engine: string | undefined,
  phase: string,
  perThread: readonly ThreadResult[],
): string[] {
  if (perThread.length === 0) return [];
  const threads = perThread
    .map((thread) => {
      const waited =
        thread.orderWaitMs >= 0.05 ? `, waited ${thread.orderWaitMs.toFixed(1)} ms` : '';
      return `#${thread.thread} ${formatCount(thread.ops)} ops ${formatCount(thread.opsPerSecond)} ops/s${waited}`;
    })
    .join(', ');
  return [`  ${engine === undefined ? '' : `${engine} `}${phase} per thread: ${threads}`];
}
