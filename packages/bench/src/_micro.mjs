import { createRequire } from 'node:module';
import { createSelector, Events, socketPair, ReadyList } from '@iomux/core';
const native = createRequire(import.meta.resolve('@iomux/core'))('@iomux/native');
const [a, b] = socketPair(); a.setBlocking(false); b.setBlocking(false);
const raw = new native.NativeSelector('epoll'); raw.setBuffer(new Int32Array(64));
raw.add(a.fileno(), Events.IN);
const sel = createSelector('epoll'); sel.register(a, Events.IN, 0);
const sel2 = createSelector('epoll'); sel2.register(a, Events.IN, 0);
const batch = sel2.batch(); batch.setRecv(a, 1);
const buf = Buffer.alloc(1); const fd = a.fileno(); const bfd = b.fileno();
const list = new ReadyList();
const N = 50000;
const V = {
  'raw send+select+recvInto': () => { native.socket.send(bfd, buf); raw.select(0); native.socket.recvInto(fd, buf); },
  'Socket send+select+recvInto': () => { b.send(buf); sel.select(0); a.recvInto(buf); },
  'Socket send+selectInto+recvInto': () => { b.send(buf); sel.selectInto(list, 0); a.recvInto(buf); },
  'batch.send(sock)+run': () => { batch.send(b, buf); batch.run(0); },
  'batch.send(fd)+run': () => { batch.send(bfd, buf); batch.run(0); },
  'batch.sendRange(fd)+run': () => { batch.sendRange(bfd, 0, 1); batch.run(0); },
  'batch.run idle': () => { batch.run(0); },
  'raw select idle': () => { raw.select(0); },
};
const res = Object.fromEntries(Object.keys(V).map((k) => [k, []]));
for (const fn of Object.values(V)) for (let i = 0; i < 20000; i++) fn();
for (let r = 0; r < 15; r++) for (const [k, fn] of Object.entries(V)) { const t = process.hrtime.bigint(); for (let i = 0; i < N; i++) fn(); res[k].push(Number(process.hrtime.bigint() - t) / N); }
for (const [k, xs] of Object.entries(res)) { xs.sort((x, y) => x - y); console.log(xs[7].toFixed(0).padStart(6), k); }
