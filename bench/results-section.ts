/**
 * One bench's section of bench/RESULTS.md, between two marker comments, so a bench can rewrite
 * its own numbers (`--write-results`) without rerunning the others.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export interface SectionMarkers {
  readonly begin: string;
  readonly end: string;
}

/** Replaces the section between the markers (markdown includes them) or appends it. */
export function spliceSection(path: string, markers: SectionMarkers, markdown: string): void {
  const current = readFileSync(path, 'utf8');
  const begin = current.indexOf(markers.begin);
  const end = current.indexOf(markers.end);
  const next =
    begin >= 0 && end > begin
      ? `${current.slice(0, begin)}${markdown}${current.slice(end + markers.end.length)}`
      : `${current.trimEnd()}\n\n${markdown}\n`;
  writeFileSync(path, next);
}
