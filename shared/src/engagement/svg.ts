// Small inline SVG charts for the sidebars. Pure string building; every text that reaches the markup
// goes through escapeXml, and numbers are formatted, never interpolated raw.

export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

const num = (x: number): string => (Number.isFinite(x) ? String(Math.round(x * 10) / 10) : '0');

export interface TrendPoint {
  label: string;
  value: number;
}

/** Line chart of weekly median reply time (hours), log-scaled, 240x60. */
export function responseTimeSvg(
  points: readonly TrendPoint[],
  title = 'Reply time, weekly median (hours)',
): string {
  const w = 240;
  const h = 60;
  const pad = 4;
  const head = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeXml(title)}"><title>${escapeXml(title)}</title>`;
  if (points.length === 0)
    return `${head}<text x="${pad}" y="${h / 2}" font-size="10">${escapeXml('Not enough replies yet')}</text></svg>`;
  const ys = points.map((p) => Math.log1p(Math.max(0, p.value)));
  const max = Math.max(...ys, 1e-9);
  const min = Math.min(...ys);
  const span = max - min || 1;
  const dx = points.length > 1 ? (w - 2 * pad) / (points.length - 1) : 0;
  const coords = ys.map(
    (y, i) => `${num(pad + i * dx)},${num(h - pad - ((y - min) / span) * (h - 2 * pad))}`,
  );
  const dots = coords
    .map((c, i) => {
      const [x, y] = c.split(',');
      const p = points[i] as TrendPoint;
      return `<circle cx="${x}" cy="${y}" r="1.5"><title>${escapeXml(`${p.label}: ${num(p.value)} h`)}</title></circle>`;
    })
    .join('');
  return `${head}<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="${coords.join(' ')}"/>${dots}</svg>`;
}

/** 24 cells, one per hour of day, shaded by the share of replies; the best window outlined. */
export function replyHoursSvg(
  histogram: readonly number[],
  best: { start: number; width: number } | null,
  timeZone: string,
): string {
  const cell = 10;
  const w = cell * 24;
  const h = 28;
  const title = `Reply hours (${timeZone})`;
  const max = Math.max(1, ...histogram);
  let body = '';
  for (let i = 0; i < 24; i++) {
    const v = histogram[i] ?? 0;
    const op = v === 0 ? 0.05 : 0.15 + 0.85 * (v / max);
    body += `<rect x="${i * cell}" y="0" width="${cell - 1}" height="16" fill="currentColor" fill-opacity="${num(op)}"><title>${escapeXml(`${String(i).padStart(2, '0')}:00 ${v} repl${v === 1 ? 'y' : 'ies'}`)}</title></rect>`;
  }
  if (best) {
    for (let k = 0; k < best.width; k++) {
      const i = (best.start + k) % 24;
      body += `<rect x="${i * cell}" y="0" width="${cell - 1}" height="16" fill="none" stroke="currentColor" stroke-width="1.5"/>`;
    }
  }
  body += `<text x="0" y="26" font-size="8">0</text><text x="${12 * cell}" y="26" font-size="8">12</text><text x="${23 * cell}" y="26" font-size="8">23</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeXml(title)}"><title>${escapeXml(title)}</title>${body}</svg>`;
}
