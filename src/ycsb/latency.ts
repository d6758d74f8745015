import { performance } from 'node:perf_hooks';
import { build, type Histogram } from 'hdr-histogram-js';

/** The initial range (10 s); the histogram grows if a stalled disk exceeds it. */
const LATENCY_NS_RANGE = 10_000_000_000;

/** A histogram of sampled op latencies in nanoseconds, 3 significant digits. */
export function createLatencyHistogram(): Histogram {
  return build({
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: LATENCY_NS_RANGE,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });
}

/** Median cost in ns of two back-to-back `performance.now()` reads, over a few rounds. */
export function measureClockOverheadNs(): number {
  const rounds: number[] = [];
  const pairsPerRound = 20_000;
  for (let round = 0; round < 7; round++) {
    const startedMs = performance.now();
    for (let pair = 0; pair < pairsPerRound; pair++) {
      performance.now();
      performance.now();
    }
    const elapsedMs = performance.now() - startedMs;
    rounds.push((elapsedMs * 1e6) / pairsPerRound);
  }
  rounds.sort((left, right) => left - right);
  return Math.round(rounds[3]!);
}

/** Records a phase's samples once its clock has stopped, keeping the histogram out of the loop. */
export function recordSamples(histogram: Histogram, samplesNs: Float64Array): void {
  for (const sampleNs of samplesNs) histogram.recordValue(Math.round(sampleNs));
}
