// The dispatch-scaling chart: log-log, N watched fds against µs per pass,
// one panel per A (each with its own N and µs ranges), colour = backend, line style
// = program: iomux per-call solid, iomux batched dash-dot, C with one idle
// thread dashed, CPython dotted. Hollow markers: points measured in the
// packed layout. Plain SVG, no dependencies (docs/bench.md says why).
//
// Nothing here measures text: widths are estimated from the character count
// (TEXT_W per character at 12 px, generous for Helvetica/Arial/DejaVu Sans),
// and every row of text is placed so that it fits the estimate.
import { BACKEND_NAMES } from '@iomux/core';

const COLORS = { select: '#d62728', poll: '#1f77b4', epoll: '#2ca02c', io_uring: '#9467bd' };
/** Every backend, in the registry's order; a chart shows those its rows have. */
const BACKENDS = BACKEND_NAMES;
/** The programs, drawn in this order (the per-call line last, on top). */
const IMPLS = /** @type {const} */ ([
  { key: 'cpython', label: 'CPython selectors', dash: '1.5,3', width: 1.3, opacity: 0.7, markers: false },
  { key: 'cMt', label: 'C + one idle thread', dash: '6,4', width: 1.5, opacity: 1, markers: true },
  { key: 'iomuxBatch', label: 'iomux batched', dash: '9,3,2,3', width: 1.6, opacity: 1, markers: false },
  { key: 'iomux', label: 'iomux per-call', dash: '', width: 2.2, opacity: 1, markers: true },
]);
const FONT = 12;
const TEXT_W = 0.62 * FONT; // estimated width of one character
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
const textWidth = (s, size = FONT) => String(s).length * TEXT_W * (size / FONT);

const decades = (lo, hi) => {
  const out = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
};
const fmt = (v) => (v >= 1000 ? `${v / 1000}k` : String(v));

/** Words of `text` broken into lines no wider than `width` (estimated). */
function wrap(text, width, size) {
  const lines = [];
  let line = '';
  for (const word of String(text).split(' ')) {
    const next = line ? `${line} ${word}` : word;
    if (line && textWidth(next, size) > width) {
      lines.push(line);
      line = word;
    } else {
      line = next;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * Legend items laid out left to right, wrapping to a new row when the next
 * one would cross `width`. Each item: a 30 px swatch, a gap, its label.
 * @returns {{ x: number, row: number, item: any }[]}
 */
function flow(items, width, gap = 22) {
  const out = [];
  let x = 0;
  let row = 0;
  for (const item of items) {
    const w = 36 + textWidth(item.label);
    if (x > 0 && x + w > width) {
      x = 0;
      row++;
    }
    out.push({ x, row, item });
    x += w + gap;
  }
  return out;
}

/**
 * @param {any[]} allRows dispatch summary rows: {backend, n, active, layout, cMt, iomux, iomuxBatch, cpython: {perPassUs}}
 * @param {{ title: string, subtitle: string }} meta
 */
export function dispatchSvg(allRows, meta) {
  // One point per (backend, N, A): the pairs layout where it ran, else packed.
  const rows = allRows.filter(
    (r) => r.layout === 'pairs' || !allRows.some((o) => o.layout === 'pairs' && o.backend === r.backend && o.n === r.n && o.active === r.active),
  );
  const valuesOf = (rs) => rs.flatMap((r) => IMPLS.map((i) => r[i.key]?.perPassUs)).filter((v) => v > 0);
  if (valuesOf(rows).length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="40"><text x="10" y="25">no dispatch data</text></svg>\n`;
  const actives = [...new Set(rows.map((r) => r.active))].sort((a, b) => a - b);
  const impls = IMPLS.filter((i) => rows.some((r) => r[i.key]));

  const panelW = 400;
  const panelH = 300;
  const m = { l: 64, r: 24 }; // room for the y axis labels, and between panels
  const width = 20 + actives.length * (m.l + panelW + m.r);
  const inner = width - 20;
  const titleLines = wrap(meta.title, inner, 15);
  const subLines = wrap(meta.subtitle, inner, FONT);
  const headerH = 12 + 20 * titleLines.length + 16 * subLines.length + 8;
  const top = headerH + 22; // panel titles sit above the panels
  // Legend: backends by colour, programs by line style, the packed marker.
  const legendItems = [
    ...BACKENDS.filter((b) => rows.some((r) => r.backend === b)).map((b) => ({ label: b, color: COLORS[b], dash: '', width: 2.2, marker: false })),
    ...impls.map((i) => ({ label: i.label, color: '#444', dash: i.dash, width: i.width, marker: false })),
    { label: 'packed layout', color: '#444', dash: null, width: 0, marker: true },
  ];
  const legend = flow(legendItems, inner);
  const legendRows = Math.max(...legend.map((l) => l.row)) + 1;
  const legendTop = top + panelH + 64;
  const height = legendTop + 20 * legendRows + 6;

  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="${FONT}">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  let y = 12;
  for (const line of titleLines) {
    y += 20;
    out.push(`<text x="10" y="${y - 4}" font-size="15" font-weight="bold">${esc(line)}</text>`);
  }
  for (const line of subLines) {
    y += 16;
    out.push(`<text x="10" y="${y - 2}" fill="#555">${esc(line)}</text>`);
  }

  actives.forEach((A, pi) => {
    const panelRows = rows.filter((r) => r.active === A);
    const vs = valuesOf(panelRows);
    const ns = panelRows.map((r) => r.n);
    const xLo = 10 ** Math.floor(Math.log10(Math.min(...ns)));
    const xHi = 10 ** Math.ceil(Math.log10(Math.max(...ns)));
    const yLo = 10 ** Math.floor(Math.log10(Math.min(...vs)));
    const yHi = 10 ** Math.ceil(Math.log10(Math.max(...vs)));
    const ox = 10 + pi * (m.l + panelW + m.r) + m.l;
    const oy = top;
    const X = (n) => ox + ((Math.log10(n) - Math.log10(xLo)) / (Math.log10(xHi) - Math.log10(xLo))) * panelW;
    const Y = (v) => oy + panelH - ((Math.log10(v) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo))) * panelH;
    const events = A === 1 ? '1 event per pass' : `~${A} events per pass`;
    out.push(`<text x="${ox + panelW / 2}" y="${oy - 8}" text-anchor="middle" font-weight="bold">A = ${A} active (${events})</text>`);
    out.push(`<rect x="${ox}" y="${oy}" width="${panelW}" height="${panelH}" fill="none" stroke="#999"/>`);
    for (const t of decades(yLo, yHi)) {
      if (t < yLo || t > yHi) continue;
      out.push(`<line x1="${ox}" x2="${ox + panelW}" y1="${Y(t)}" y2="${Y(t)}" stroke="#e6e6e6"/>`);
      out.push(`<text x="${ox - 6}" y="${Y(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
    }
    for (const t of decades(xLo, xHi)) {
      if (t < xLo || t > xHi) continue;
      out.push(`<line x1="${X(t)}" x2="${X(t)}" y1="${oy}" y2="${oy + panelH}" stroke="#e6e6e6"/>`);
      out.push(`<text x="${X(t)}" y="${oy + panelH + 16}" text-anchor="middle">${fmt(t)}</text>`);
    }
    out.push(`<text x="${ox + panelW / 2}" y="${oy + panelH + 34}" text-anchor="middle">N watched fds (log scale)</text>`);
    out.push(`<text transform="translate(${ox - 46},${oy + panelH / 2}) rotate(-90)" text-anchor="middle">µs per pass (log scale)</text>`);
    for (const backend of BACKENDS) {
      for (const impl of impls) {
        const pts = panelRows.filter((r) => r.backend === backend && r[impl.key]?.perPassUs > 0).sort((a, b) => a.n - b.n);
        if (pts.length === 0) continue;
        const d = pts.map((p, i) => `${i ? 'L' : 'M'}${X(p.n).toFixed(1)},${Y(p[impl.key].perPassUs).toFixed(1)}`).join(' ');
        const dash = impl.dash ? ` stroke-dasharray="${impl.dash}"` : '';
        const opacity = impl.opacity < 1 ? ` opacity="${impl.opacity}"` : '';
        out.push(`<path d="${d}" fill="none" stroke="${COLORS[backend]}" stroke-width="${impl.width}"${dash}${opacity}/>`);
        for (const p of pts) {
          // Markers on the per-call and C+thread lines (the comparison that
          // matters); a lone point of any line gets one, or it would not show.
          if (!impl.markers && pts.length > 1) continue;
          const fill = p.layout === 'packed' ? 'white' : COLORS[backend];
          const v = p[impl.key].perPassUs;
          out.push(`<circle cx="${X(p.n).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="3.2" fill="${fill}" stroke="${COLORS[backend]}"><title>${backend} ${impl.label} N=${p.n} A=${A}: ${v.toFixed(2)} µs/pass (${p.layout})</title></circle>`);
        }
      }
    }
  });

  for (const { x, row, item } of legend) {
    const lx = 10 + x;
    const ly = legendTop + 20 * row;
    if (item.marker) {
      out.push(`<circle cx="${lx + 15}" cy="${ly - 4}" r="3.2" fill="white" stroke="#444"/>`);
    } else {
      const dash = item.dash ? ` stroke-dasharray="${item.dash}"` : '';
      out.push(`<line x1="${lx}" x2="${lx + 30}" y1="${ly - 4}" y2="${ly - 4}" stroke="${item.color}" stroke-width="${item.width}"${dash}/>`);
    }
    out.push(`<text x="${lx + 36}" y="${ly}">${esc(item.label)}</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** The chart's title and subtitle for a run's meta record. */
export function chartMeta(meta) {
  return {
    title: 'Dispatch scaling: µs per zero-timeout pass and its dispatch, against N watched fds',
    subtitle: `${meta.machine.cores} cores ${meta.machine.cpu}, ${meta.kernel}, node ${meta.node}, ${meta.date.slice(0, 16)}Z, ${meta.profile} profile, medians. Colour: backend; line style: program.`,
  };
}
