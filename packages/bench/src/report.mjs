// Turns a results object (what cli.mjs writes as JSON) into the tables it
// prints, as plain text for the terminal or Markdown for docs/bench.md:
//
//   node packages/bench/src/report.mjs bench-results/bench-….json [--svg chart.svg]
//   (Markdown tables on stdout; --svg redraws the chart from the saved run)
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chartMeta, dispatchSvg } from './svg.mjs';

export const median = (xs) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};

export const f = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '-');
export const fx = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
export const fk = (v) => (Number.isFinite(v) ? `${(v / 1000).toFixed(1)}k` : '-');

function table(md, headers, rows, align) {
  if (md) {
    const esc = (c) => String(c).replace(/\|/g, '\\|');
    const sep = headers.map((_, i) => ((align?.[i] ?? 'r') === 'l' ? ':--' : '--:'));
    return [headers, sep, ...rows].map((r) => `| ${r.map(esc).join(' | ')} |`).join('\n');
  }
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((c, i) => ((align?.[i] ?? 'r') === 'l' ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

export function dispatchReport(results, md = false) {
  const S = results.dispatch.summary;
  if (S.length === 0) return '';
  const py = S.some((r) => r.cpython);
  const vsMt = (x, r) => fx(x?.perPassUs / r.cMt.perPassUs);
  const rows = S.map((r) => [r.backend, r.n, r.active, r.layout, f(r.c.perPassUs), f(r.cMt.perPassUs), ...(py ? [f(r.cpython?.perPassUs)] : []),
    f(r.iomux.perPassUs), f(r.iomuxInto?.perPassUs), f(r.iomuxBatch?.perPassUs),
    vsMt(r.iomux, r), vsMt(r.iomuxInto, r), vsMt(r.iomuxBatch, r), fx(r.ratio), fx(r.iomuxBatch?.perPassUs / r.c.perPassUs),
    ...(py ? [vsMt(r.cpython, r), fx(r.iomux.perPassUs / r.cpython?.perPassUs), fx(r.iomuxBatch?.perPassUs / r.cpython?.perPassUs)] : []), r.iomux.passes]);
  let out = '\nDispatch scaling (median µs per pass of a zero-timeout wait + dispatch; iomux per-call = select() -> Ready[],\n into = selectInto(ReadyList), batched = Batch.run(), one native call per pass; C+thread = the C program with one\n idle thread, multi-threaded like every Node process; CPython = the same method on the selectors module)\n';
  out += table(md, ['backend', 'N', 'A', 'layout', 'C µs', 'C+thread µs', ...(py ? ['CPython µs'] : []), 'per-call µs', 'into µs', 'batched µs',
    'per-call / C+thread', 'into / C+thread', 'batched / C+thread', 'per-call / C', 'batched / C', ...(py ? ['CPython / C+thread', 'per-call / CPython', 'batched / CPython'] : []), 'passes'], rows, ['l', 'r', 'r', 'l']);
  const flat = flatness(results);
  if (flat.length) {
    out += '\n\nepoll flatness (µs per pass at the largest N / at N=100; goal ≤ 1.3x for iomux)\n';
    out += table(md, ['A', 'N', 'C', 'C+thread', 'per-call', 'into', 'batched'], flat.map((x) => [x.active, `${x.n} / 100`, fx(x.c), fx(x.cMt), fx(x.iomux), fx(x.iomuxInto), fx(x.iomuxBatch)]));
  }
  const uring = S.filter((r) => r.backend === 'io_uring');
  if (uring.length) {
    // Issue 19's goal: iomux on io_uring within 1.10x of the C io_uring reference per event.
    const ev = (x) => (x?.perPassUs * x?.passes) / x?.events; // µs per event
    out += '\n\nio_uring: cost per event against the C io_uring reference (goal ≤ 1.10x) and against iomux on epoll\n';
    out += table(md, ['N', 'A', 'layout', 'C ns/event', 'per-call / C', 'per-call / C+thread', 'batched / C+thread', 'per-call / iomux epoll'], uring.map((r) => {
      const ep = S.find((o) => o.backend === 'epoll' && o.n === r.n && o.active === r.active && o.layout === r.layout);
      return [r.n, r.active, r.layout, f(ev(r.c) * 1000, 0), fx(ev(r.iomux) / ev(r.c)), fx(ev(r.iomux) / ev(r.cMt)), fx(ev(r.iomuxBatch) / ev(r.cMt)), fx(ep ? ev(r.iomux) / ev(ep.iomux) : NaN)];
    }), ['r', 'r', 'l']);
  }
  return out + '\n';
}

export function flatness(results) {
  const all = results.dispatch.summary.filter((r) => r.backend === 'epoll');
  const S = all.filter((r) => r.layout === 'pairs' || !all.some((o) => o.layout === 'pairs' && o.n === r.n && o.active === r.active));
  const out = [];
  const q = (top, base, k) => top[k]?.perPassUs / base[k]?.perPassUs;
  for (const A of new Set(S.map((r) => r.active))) {
    const base = S.find((r) => r.active === A && r.n === 100);
    const top = S.filter((r) => r.active === A).sort((a, b) => b.n - a.n)[0];
    if (base && top && top.n > 100) {
      out.push({ active: A, n: top.n, c: q(top, base, 'c'), cMt: q(top, base, 'cMt'), iomux: q(top, base, 'iomux'), iomuxInto: q(top, base, 'iomuxInto'), iomuxBatch: q(top, base, 'iomuxBatch') });
    }
  }
  return out;
}

export function echoReport(results, md = false) {
  const S = results.echo.summary;
  if (S.length === 0) return '';
  const rows = [];
  for (const sc of S) {
    const c = sc.servers.c;
    const net = sc.servers['node-net'];
    for (const [name, s] of Object.entries(sc.servers)) {
      rows.push([
        `C=${sc.conns} ${sc.size}B D=${sc.depth}`, name, fk(s.msgsPerS), f(s.p50Us, 0), f(s.p99Us, 0), f(s.cpuUsPerMsg),
        c ? fx(s.msgsPerS / c.msgsPerS) : '-', c ? fx(s.cpuUsPerMsg / c.cpuUsPerMsg) : '-',
        net && name !== 'node-net' ? fx(s.msgsPerS / net.msgsPerS) : '-', f(s.loadgenCpuUsPerMsg),
      ]);
    }
  }
  let out = '\nEcho throughput (C connections × D in flight; CPU = server utime+stime per message; iomux-B = per-call, -into = selectInto(), -batch = Batch.run();\n c = the C epoll server, c-io_uring = the same on io_uring readiness; goals at C=100, 64 B, D=1: iomux-epoll CPU ≤ 1.05x C, iomux-epoll-batch CPU ≤ 1.00x C)\n';
  out += table(md, ['scenario', 'server', 'msgs/s', 'p50 µs', 'p99 µs', 'CPU µs/msg', 'msgs vs C', 'CPU vs C', 'msgs vs net', 'loadgen µs/msg'], rows, ['l', 'l']);
  const uring = S.filter((sc) => sc.servers['iomux-io_uring'] && sc.servers['iomux-epoll']);
  if (uring.length) {
    // Issue 19's goal: io_uring's CPU per message ≤ 1.03x iomux on epoll, each API against the same API.
    out += '\n\nio_uring against epoll: server CPU per message, each iomux API against the same API on epoll (goal ≤ 1.03x), and the C servers\n';
    const cpu = (sc, name) => sc.servers[name]?.cpuUsPerMsg;
    out += table(md, ['scenario', 'per-call', 'into', 'batched', 'C io_uring / C epoll'], uring.map((sc) => [
      `C=${sc.conns} ${sc.size}B D=${sc.depth}`,
      ...['', '-into', '-batch'].map((x) => fx(cpu(sc, `iomux-io_uring${x}`) / cpu(sc, `iomux-epoll${x}`))),
      fx(cpu(sc, 'c-io_uring') / cpu(sc, 'c')),
    ]), ['l']);
  }
  return out + '\n';
}

export function waitReport(results, md = false) {
  const S = results.wait.summary;
  if (S.length === 0) return '';
  let out = '\nwait() vs select(): ping-pong round trips per second with a worker-thread peer (slowdown = select rate / wait rate)\n';
  out += table(md, ['backend', 'select() rt/s', 'wait() rt/s', 'slowdown', 'goal'], S.map((r) => [r.backend, fk(r.selectRtPerS), fk(r.waitRtPerS), fx(r.slowdown), `≤ ${r.goal}x`]), ['l']);
  if (S.every((r) => r.fastWait !== undefined)) {
    out += '\n\nfairness: zero-delay ping-pong in one thread (ready at every call), round trips per second; wait() turns the loop every FAIR_BURST results\n';
    out += table(md, ['backend', 'wait() (FAIR_BURST)', 'a loop turn per result', 'select(0), no turn', 'wait() / turn per result'], S.map((r) => [r.backend, fk(r.fastWait), fk(r.fastTurnEach), fk(r.fastSelect0), fx(r.fastWait / r.fastTurnEach)]), ['l']);
  }
  const ep = S.find((r) => r.backend === 'epoll');
  const ur = S.find((r) => r.backend === 'io_uring');
  if (ep && ur) {
    // Issue 19's goal: a wake-up through wait() costs no more on io_uring than on epoll.
    out += `\n\nio_uring wait() cost per wake-up / epoll's: ${fx(ep.waitRtPerS / ur.waitRtPerS)} (goal ≤ 1.00x; from the round-trip rates above)\n`;
  }
  return out + '\n';
}


if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const svgAt = process.argv.indexOf('--svg');
  if (svgAt > 0) writeFileSync(process.argv[svgAt + 1], dispatchSvg(results.dispatch.summary, chartMeta(results.meta)));
  process.stdout.write(dispatchReport(results, true) + echoReport(results, true) + waitReport(results, true));
}
