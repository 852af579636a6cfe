// The dispatch-scaling chart: log-log, N watched fds against µs per pass,
// one panel per A, a solid line per iomux backend (per-call), a thin
// dash-dot line for the batched mode, a dashed line for the C reference with
// one idle thread on the same backend, CPython dotted. Hollow markers:
// points measured in the packed layout. Plain SVG, no dependencies.

const COLORS = { select: '#d62728', poll: '#1f77b4', epoll: '#2ca02c', io_uring: '#9467bd' };
const LABEL = { cMt: 'C+thread', iomux: 'iomux per-call', iomuxBatch: 'iomux batched', cpython: 'CPython' };
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

function niceLogTicks(lo, hi) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) ticks.push(10 ** e);
  return ticks;
}

function fmt(v) {
  if (v >= 1000) return `${v / 1000}k`;
  if (v < 1) return String(v);
  return String(v);
}

/**
 * @param {any[]} allRows dispatch summary rows: {backend, n, active, layout, c: {perPassUs}, iomux: {perPassUs}}
 * @param {{ title: string, subtitle: string }} meta
 */
export function dispatchSvg(allRows, meta) {
  // One point per (backend, N, A): the pairs layout where it ran, else packed.
  const rows = allRows.filter(
    (r) => r.layout === 'pairs' || !allRows.some((o) => o.layout === 'pairs' && o.backend === r.backend && o.n === r.n && o.active === r.active),
  );
  const actives = [...new Set(rows.map((r) => r.active))].sort((a, b) => a - b);
  // The backends in the order the run measured them (the registry's).
  const shown = [...new Set(rows.map((r) => r.backend))];
  const panelW = 430;
  const panelH = 330;
  const m = { l: 62, r: 16, t: 58, b: 48 };
  const width = Math.max(actives.length * (panelW + m.l + m.r) + 10, 1180, 480 + shown.length * 230); // room for the legend
  const height = panelH + m.t + m.b + 40;
  const values = rows.flatMap((r) => [r.cMt?.perPassUs, r.iomux?.perPassUs, r.iomuxBatch?.perPassUs, r.cpython?.perPassUs]).filter((v) => v > 0);
  const hasBatch = rows.some((r) => r.iomuxBatch);
  const hasPy = rows.some((r) => r.cpython);
  const ns = rows.map((r) => r.n);
  if (values.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="40"><text x="10" y="25">no dispatch data</text></svg>\n`;
  const yLo = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const yHi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const xLo = 10 ** Math.floor(Math.log10(Math.min(...ns)));
  const xHi = 10 ** Math.ceil(Math.log10(Math.max(...ns)));
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="10" y="20" font-size="15" font-weight="bold">${esc(meta.title)}</text>`);
  out.push(`<text x="10" y="38" fill="#555">${esc(meta.subtitle)}</text>`);
  actives.forEach((A, pi) => {
    const ox = 10 + pi * (panelW + m.l + m.r) + m.l;
    const oy = m.t;
    const X = (n) => ox + ((Math.log10(n) - Math.log10(xLo)) / (Math.log10(xHi) - Math.log10(xLo))) * panelW;
    const Y = (v) => oy + panelH - ((Math.log10(v) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo))) * panelH;
    out.push(`<text x="${ox + panelW / 2}" y="${oy - 6}" text-anchor="middle" font-weight="bold">A = ${A} active</text>`);
    out.push(`<rect x="${ox}" y="${oy}" width="${panelW}" height="${panelH}" fill="none" stroke="#999"/>`);
    for (const t of niceLogTicks(yLo, yHi)) {
      if (t < yLo || t > yHi) continue;
      out.push(`<line x1="${ox}" x2="${ox + panelW}" y1="${Y(t)}" y2="${Y(t)}" stroke="#eee"/>`);
      out.push(`<text x="${ox - 6}" y="${Y(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
    }
    for (const t of niceLogTicks(xLo, xHi)) {
      if (t < xLo || t > xHi) continue;
      out.push(`<line x1="${X(t)}" x2="${X(t)}" y1="${oy}" y2="${oy + panelH}" stroke="#eee"/>`);
      out.push(`<text x="${X(t)}" y="${oy + panelH + 16}" text-anchor="middle">${fmt(t)}</text>`);
    }
    out.push(`<text x="${ox + panelW / 2}" y="${oy + panelH + 34}" text-anchor="middle">N watched fds (log)</text>`);
    out.push(`<text transform="translate(${ox - 46},${oy + panelH / 2}) rotate(-90)" text-anchor="middle">µs per pass (log)</text>`);
    for (const backend of shown) {
      for (const impl of ['cpython', 'cMt', 'iomuxBatch', 'iomux']) {
        const pts = rows
          .filter((r) => r.active === A && r.backend === backend && r[impl]?.perPassUs > 0)
          .sort((a, b) => a.n - b.n);
        if (pts.length === 0) continue;
        const d = pts.map((p, i) => `${i ? 'L' : 'M'}${X(p.n).toFixed(1)},${Y(p[impl].perPassUs).toFixed(1)}`).join(' ');
        const dash = impl === 'cMt' ? ' stroke-dasharray="6,4"' : impl === 'cpython' ? ' stroke-dasharray="1.5,3" opacity="0.75"' : impl === 'iomuxBatch' ? ' stroke-dasharray="8,3,2,3"' : '';
        out.push(`<path d="${d}" fill="none" stroke="${COLORS[backend]}" stroke-width="${impl === 'iomux' ? 2.2 : 1.5}"${dash}/>`);
        if (impl === 'cpython' || impl === 'iomuxBatch') continue; // no markers: keep the chart readable
        for (const p of pts) {
          const fill = p.layout === 'packed' ? 'white' : COLORS[backend];
          out.push(`<circle cx="${X(p.n).toFixed(1)}" cy="${Y(p[impl].perPassUs).toFixed(1)}" r="3.2" fill="${fill}" stroke="${COLORS[backend]}"><title>${backend} ${LABEL[impl]} N=${p.n} A=${A}: ${p[impl].perPassUs.toFixed(2)} µs/pass (${p.layout})</title></circle>`);
        }
      }
    }
  });
  // Legend.
  let lx = 10 + m.l;
  const ly = height - 14;
  for (const backend of shown) {
    out.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly - 4}" y2="${ly - 4}" stroke="${COLORS[backend]}" stroke-width="2.2"/>`);
    out.push(`<text x="${lx + 30}" y="${ly}">iomux ${backend}</text>`);
    lx += 110;
    out.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly - 4}" y2="${ly - 4}" stroke="${COLORS[backend]}" stroke-width="1.5" stroke-dasharray="6,4"/>`);
    out.push(`<text x="${lx + 30}" y="${ly}">C+thread ${backend}</text>`);
    lx += 120;
  }
  if (hasBatch) {
    out.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly - 4}" y2="${ly - 4}" stroke="#333" stroke-width="1.5" stroke-dasharray="8,3,2,3"/>`);
    out.push(`<text x="${lx + 30}" y="${ly}">iomux batched</text>`);
    lx += 110;
  }
  if (hasPy) {
    out.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly - 4}" y2="${ly - 4}" stroke="#333" stroke-width="1.5" stroke-dasharray="1.5,3"/>`);
    out.push(`<text x="${lx + 30}" y="${ly}">CPython</text>`);
    lx += 90;
  }
  out.push(`<circle cx="${lx + 6}" cy="${ly - 4}" r="3.2" fill="white" stroke="#333"/><text x="${lx + 14}" y="${ly}">packed layout</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** The chart's title and subtitle for a run's meta record. */
export function chartMeta(meta, rows = []) {
  const py = rows.some((r) => r.cpython) ? ', dotted: CPython selectors' : '';
  return {
    title: `Dispatch scaling: µs per zero-timeout pass + dispatch (solid: iomux per-call, dash-dot: iomux batched, dashed: C + one idle thread${py})`,
    subtitle: `${meta.machine.cores} cores ${meta.machine.cpu}, ${meta.kernel}, node ${meta.node}, ${meta.date.slice(0, 16)}Z, ${meta.profile} profile, medians`,
  };
}
