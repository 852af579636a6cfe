#!/usr/bin/env node
// The goal figures of docs/bench.md ("Against the goals") from a saved run:
//
//   node packages/bench/src/goals.mjs bench-results/bench-….json
//
// Dispatch against the C reference with one idle thread (C+thread), echo
// against the C epoll server, both per-call and batched, and against CPython.
import { readFileSync } from 'node:fs';
import { flatness } from './report.mjs';

const r = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const S = r.dispatch.summary;
const x = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
const vs = (row, k, base = 'cMt') => row[k]?.perPassUs / row[base]?.perPassUs;
const range = (xs) => (xs.length ? `${x(Math.min(...xs))}–${x(Math.max(...xs))}` : '-');
const out = [];

for (const b of ['epoll', 'poll']) {
  const row = S.find((s) => s.backend === b && s.n === 100 && s.active === 1 && s.layout === 'pairs');
  if (row) out.push(`dispatch A=1 N=100 ${b}: per-call ${x(vs(row, 'iomux'))}, into ${x(vs(row, 'iomuxInto'))}, batched ${x(vs(row, 'iomuxBatch'))} vs C+thread (C+thread ${row.cMt.perPassUs.toFixed(2)} µs)`);
}
const a100 = S.filter((s) => s.active === 100);
out.push(`dispatch A=100, every backend and N: per-call ${range(a100.map((s) => vs(s, 'iomux')))}, into ${range(a100.map((s) => vs(s, 'iomuxInto')))}, batched ${range(a100.map((s) => vs(s, 'iomuxBatch')))} vs C+thread`);
for (const s of a100) out.push(`  ${s.backend} N=${s.n}: per-call ${x(vs(s, 'iomux'))}, into ${x(vs(s, 'iomuxInto'))}, batched ${x(vs(s, 'iomuxBatch'))}`);
const py = S.filter((s) => s.cpython);
const epollPy = py.filter((s) => s.backend === 'epoll');
out.push(`vs CPython, epoll dispatch: per-call/CPython ${range(epollPy.map((s) => vs(s, 'iomux', 'cpython')))} (${epollPy.filter((s) => vs(s, 'iomux', 'cpython') < 1).length}/${epollPy.length} ahead)`);
out.push(`vs CPython, every dispatch point: batched/CPython ${range(py.map((s) => vs(s, 'iomuxBatch', 'cpython')))} (${py.filter((s) => vs(s, 'iomuxBatch', 'cpython') < 1).length}/${py.length} ahead); behind at: ${py.filter((s) => vs(s, 'iomuxBatch', 'cpython') >= 1).map((s) => `${s.backend} N=${s.n} A=${s.active} (${x(vs(s, 'iomuxBatch', 'cpython'))})`).join(', ') || 'none'}`);
for (const f of flatness(r)) out.push(`epoll flat A=${f.active} ${f.n}/100: C ${x(f.c)}, C+thread ${x(f.cMt)}, per-call ${x(f.iomux)}, into ${x(f.iomuxInto)}, batched ${x(f.iomuxBatch)}`);
for (const sc of r.echo.summary) {
  const c = sc.servers.c;
  if (!c) continue;
  const parts = Object.entries(sc.servers).filter(([n]) => n !== 'c').map(([n, s]) => `${n} ${x(s.cpuUsPerMsg / c.cpuUsPerMsg)}`);
  out.push(`echo C=${sc.conns} ${sc.size}B D=${sc.depth}, CPU/msg vs C (${c.cpuUsPerMsg.toFixed(2)} µs): ${parts.join(', ')}`);
}
console.log(`load average at start: ${r.meta.machine.loadavg.map((l) => l.toFixed(2)).join(' ')}; ${r.meta.date}`);
console.log(out.join('\n'));
