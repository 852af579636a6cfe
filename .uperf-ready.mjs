import { Events, createSelector, raiseFdLimit, socketPair } from '@iomux/core';
const backend = process.argv[2] ?? 'io_uring';
const sizes = (process.argv[3] ?? '100,1000').split(',').map(Number);
raiseFdLimit(2 * Math.max(...sizes) + 256);
for (const n of sizes) {
  const pairs = Array.from({ length: n }, () => socketPair());
  for (const [, b] of pairs) b.send('x');
  const sel = createSelector(backend);
  for (const [a] of pairs) sel.register(a, Events.IN);
  for (let i = 0; i < 300; i++) sel.select(0);
  const t = [];
  for (let r = 0; r < 15; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < 200; i++) if (sel.select(0).length !== n) throw new Error('short');
    const c = process.cpuUsage(c0); t.push((c.user + c.system) / 200);
  }
  t.sort((x, y) => x - y);
  console.log(`${backend} N=${n} ready: select(0) CPU µs/call median ${t[7].toFixed(1)} us [${t[0].toFixed(1)}-${t[14].toFixed(1)}]`);
  sel.close();
  for (const [a, b] of pairs) { a.close(); b.close(); }
}
