'use strict';
// The consumer smoke: on every backend, select() and wait() each see a real socket become
// readable. Prints one line naming the Node version, arch, C library and the addon file that
// is mapped into this process (EXPECT_BINARY: a path fragment it must contain).
const fs = require('node:fs');

// The subpath @iomux/core/epoll (the drop-in for the npm epoll package): a pipe becomes
// readable and the callback says so, with the peer's (err, fd, events) and this === globalThis.
function epollSmoke(core, Epoll) {
  return /** @type {Promise<void>} */ (new Promise((resolve, reject) => {
    const [r, w] = core.pipe();
    /** @this {unknown} @param {Error | null} err @param {number} fd @param {number} events */
    const onEvent = function (err, fd, events) {
      poller.remove(fd).close();
      fs.closeSync(r);
      fs.closeSync(w);
      if (err || fd !== r || events !== Epoll.EPOLLIN || this !== globalThis) reject(new Error(`epoll drop-in: ${err} ${fd} ${events}`));
      else resolve();
    };
    const poller = new Epoll(onEvent);
    poller.add(r, Epoll.EPOLLIN);
    fs.writeSync(w, 'x');
  }));
}

module.exports = async function smoke(core, how, Epoll) {
  if (typeof Epoll !== 'function') throw new Error(`${how}: @iomux/core/epoll gave no Epoll class`);
  await epollSmoke(core, Epoll);
  const { backends, createSelector, socketPair, Events } = core;
  const names = backends();
  for (const want of ['select', 'poll', 'epoll']) {
    if (!names.includes(want)) throw new Error(`backend ${want} missing: ${names.join(',')}`);
  }
  for (const backend of names) {
    const sel = createSelector(backend);
    const [a, b] = socketPair();
    try {
      sel.register(a, Events.IN, 'a');
      if (sel.select(0).length !== 0) throw new Error(`${backend}: ready before anything was sent`);
      b.send(Buffer.from('x'));
      const got = sel.select(1000);
      if (got.length !== 1 || got[0][0].data !== 'a' || (got[0][1] & Events.IN) === 0) {
        throw new Error(`${backend}: select() gave ${JSON.stringify(got.map(([k, e]) => [k.fd, e]))}`);
      }
      a.recv(16);
      const pending = sel.wait({ timeoutMs: 5000 });
      setTimeout(() => b.send(Buffer.from('y')), 20);
      const waited = await pending;
      if (waited.length !== 1 || (waited[0][1] & Events.IN) === 0) throw new Error(`${backend}: wait() gave ${waited.length} ready`);
    } finally {
      sel.close();
      a.close();
      b.close();
    }
  }
  const maps = fs.readFileSync('/proc/self/maps', 'utf8');
  const addon = (maps.match(/\S*iomux[^\s]*\.node/) || ['(none)'])[0];
  const expect = process.env.EXPECT_BINARY;
  if (expect && !addon.includes(expect)) throw new Error(`loaded ${addon}, expected a path containing ${expect}`);
  const glibc = /** @type {{ header: { glibcVersionRuntime?: string } }} */ (process.report.getReport()).header.glibcVersionRuntime || 'musl';
  const esmLoads = how === 'require' && process.features.require_module === true ? ', require(esm) available' : how === 'require' ? ', no require(esm)' : '';
  console.log(`smoke ok (${how}${esmLoads}, @iomux/core/epoll): node ${process.version} ${process.arch} glibc ${glibc}; ${names.join('/')}; ${addon}`);
};
