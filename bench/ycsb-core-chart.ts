/**
 * A hand-written SVG bar chart of throughput ratios (no dependencies): one group of bars per
 * workload, one bar per peer, on a log2 axis centred on 1× so that "twice as fast" and "half as
 * fast" are the same height above and below the line.
 */
export interface RatioSeries {
  readonly name: string;
  readonly color: string;
}

export interface RatioGroup {
  readonly label: string;
  /** Second, smaller label line under the group. */
  readonly caption: string;
  /** One ratio per series, in series order; undefined draws no bar. */
  readonly ratios: readonly (number | undefined)[];
}

export interface RatioChart {
  readonly title: string;
  readonly subtitle: string;
  readonly series: readonly RatioSeries[];
  readonly groups: readonly RatioGroup[];
}

const WIDTH = 760;
const HEIGHT = 420;
const MARGIN = { top: 64, right: 20, bottom: 76, left: 56 } as const;
const LOG2_SPAN_MIN = 1; // at least 0.5× … 2×

export function renderRatioChart(chart: RatioChart): string {
  const ratios = chart.groups.flatMap((group) =>
    group.ratios.filter((ratio): ratio is number => ratio !== undefined && ratio > 0),
  );
  const log2Values = ratios.map((ratio) => Math.log2(ratio));
  const top = Math.max(LOG2_SPAN_MIN, Math.ceil(Math.max(0, ...log2Values)));
  const bottom = Math.min(-LOG2_SPAN_MIN, Math.floor(Math.min(0, ...log2Values)));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const yOf = (log2: number) => MARGIN.top + ((top - log2) / (top - bottom)) * plotHeight;
  const groupWidth = plotWidth / Math.max(1, chart.groups.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, chart.series.length);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
    `<text x="${WIDTH / 2}" y="40" text-anchor="middle" fill="#555555">${escapeXml(chart.subtitle)}</text>`,
  ];
  for (let log2 = bottom; log2 <= top; log2++) {
    const y = yOf(log2).toFixed(1);
    const label = log2 >= 0 ? `${2 ** log2}×` : `1/${2 ** -log2}×`;
    const stroke = log2 === 0 ? '#000000' : '#dddddd';
    parts.push(
      `<line x1="${MARGIN.left}" y1="${y}" x2="${WIDTH - MARGIN.right}" y2="${y}" stroke="${stroke}"/>`,
      `<text x="${MARGIN.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${label}</text>`,
    );
  }
  for (const [groupIndex, group] of chart.groups.entries()) {
    const groupX = MARGIN.left + groupIndex * groupWidth + groupWidth * 0.1;
    for (const [seriesIndex, series] of chart.series.entries()) {
      const ratio = group.ratios[seriesIndex];
      if (ratio === undefined || ratio <= 0) continue;
      const x = groupX + seriesIndex * barWidth;
      const yValue = yOf(Math.log2(ratio));
      const yZero = yOf(0);
      const y = Math.min(yValue, yZero);
      const height = Math.max(1, Math.abs(yZero - yValue));
      const labelY = ratio >= 1 ? y - 4 : y + height + 12;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${height.toFixed(1)}" fill="${series.color}"><title>${escapeXml(`${group.label}: ${series.name} ${ratio.toFixed(2)}×`)}</title></rect>`,
        `<text x="${(x + barWidth / 2 - 1).toFixed(1)}" y="${labelY.toFixed(1)}" text-anchor="middle" font-size="10">${ratio.toFixed(2)}</text>`,
      );
    }
    const labelX = (groupX + groupWidth * 0.4).toFixed(1);
    parts.push(
      `<text x="${labelX}" y="${HEIGHT - MARGIN.bottom + 18}" text-anchor="middle" font-weight="bold">${escapeXml(group.label)}</text>`,
      `<text x="${labelX}" y="${HEIGHT - MARGIN.bottom + 32}" text-anchor="middle" font-size="10" fill="#555555">${escapeXml(group.caption)}</text>`,
    );
  }
  let legendX = MARGIN.left;
  for (const series of chart.series) {
    parts.push(
      `<rect x="${legendX}" y="${HEIGHT - 22}" width="12" height="12" fill="${series.color}"/>`,
      `<text x="${legendX + 16}" y="${HEIGHT - 12}">${escapeXml(series.name)}</text>`,
    );
    legendX += 24 + series.name.length * 7;
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}
