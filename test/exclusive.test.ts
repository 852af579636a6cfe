// Events.EXCLUSIVE (EPOLLEXCLUSIVE): accepted by epoll at register(),
// refused by select and poll without leaving a key, refused in the
// combinations the kernel rejects, and modify() of such a registration
// re-registers (the kernel refuses EPOLL_CTL_MOD on it). What the kernel
// really holds is read back from /proc/self/fdinfo of the epoll fd.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { EpollSelector, Events, capabilities, constants, formatEvents } from '@iomux/core';
import { expectEvents, expectNoEvents, testBackends, throwsCode, withScope } from './helpers.ts';

const { IN, OUT, PRI, RDHUP, ONESHOT, EDGE, EXCLUSIVE } = Events;

// The raw addon, to show what the kernel does without the TypeScript checks.
const nativeAddon = createRequire(import.meta.url)('../packages/native/index.cjs') as {
  NativeSelector: new (backend: string) => {
    add(fd: number, events: number): void;
    modify(fd: number, events: number): void;
    remove(fd: number): void;
    close(): void;
    readonly kernelFd: number;
  };
};

/** The event mask the kernel holds for `fd` in epoll instance `epfd`, or undefined. */
function kernelMask(epfd: number, fd: number): number | undefined {
  const info = readFileSync(`/proc/self/fdinfo/${epfd}`, 'utf8');
  const m = new RegExp(`^tfd:\\s+${fd}\\s+events:\\s+([0-9a-f]+)`, 'm').exec(info);
  return m ? parseInt(m[1]!, 16) >>> 0 : undefined;
}

test('EXCLUSIVE is 0x10000000, EPOLLEXCLUSIVE, and formatEvents names it', () => {
  assert.is(EXCLUSIVE, 0x10000000);
  assert.is(constants.epoll.EPOLLEXCLUSIVE, EXCLUSIVE);
  assert.is(formatEvents(IN | EXCLUSIVE), 'IN|EXCLUSIVE');
  assert.is(formatEvents((IN | EDGE | EXCLUSIVE) >>> 0), 'IN|EDGE|EXCLUSIVE');
});

for (const backend of testBackends()) {
  const t = (name: string, body: () => void | Promise<void>) => test(`${backend}: ${name}`, body);

  if (capabilities(backend).exclusive && backend !== 'epoll') {
    // io_uring: EPOLLEXCLUSIVE rides in the poll request's mask (no fdinfo
    // shows it); what is checked here is that such registrations work as
    // plain ones do for a single waiter, level and edge, and through modify().
    t('register(IN | EXCLUSIVE) reports readiness, level and EDGE; modify() keeps it working', () =>
      withScope((s) => {
        const sel = s.selector<string>(backend);
        const [a, b] = s.pair();
        sel.register(a, IN | EXCLUSIVE, 'a');
        expectNoEvents(sel);
        b.send('x');
        assert.is(expectEvents(sel, a.fileno(), IN) & ~Events.HUP, IN);
        assert.is(expectEvents(sel, a.fileno(), IN) & ~Events.HUP, IN, 'level: again while unread');
        sel.modify(a, OUT | EXCLUSIVE, 'a');
        assert.is(expectEvents(sel, a.fileno(), OUT) & OUT, OUT);
        const [c, d] = s.pair();
        sel.register(c, (IN | EDGE | EXCLUSIVE) >>> 0);
        d.send('y');
        expectEvents(sel, c.fileno(), IN);
        expectNoEvents(sel, c.fileno()); // edge: not again without new data
        throwsCode(() => sel.register(d, IN | EXCLUSIVE | ONESHOT), 'ERR_INVALID_ARG_VALUE');
      }));
    continue;
  }

  if (!capabilities(backend).exclusive) {
    t('EXCLUSIVE is refused with ERR_UNSUPPORTED and leaves no key', () =>
      withScope((s) => {
        const sel = s.selector(backend);
        const [a] = s.pair();
        throwsCode(() => sel.register(a, IN | EXCLUSIVE), 'ERR_UNSUPPORTED');
        assert.is(sel.getMap().size, 0);
        throwsCode(() => sel.getKey(a), 'ERR_NOT_REGISTERED');
        sel.register(a, IN); // the fd is free to register normally
        throwsCode(() => sel.modify(a, IN | EXCLUSIVE), 'ERR_UNSUPPORTED');
        assert.is(sel.getKey(a).events, IN, 'the failed modify changed nothing');
      }));
    continue;
  }

  t('register(IN | EXCLUSIVE): the kernel holds EPOLLEXCLUSIVE and readiness is reported', () =>
    withScope((s) => {
      const sel = s.selector<string>('epoll') as EpollSelector<string>;
      const [a, b] = s.pair();
      const key = sel.register(a, IN | EXCLUSIVE, 'a');
      assert.is(key.events, IN | EXCLUSIVE);
      assert.is((kernelMask(sel.fileno(), a.fileno())! & EXCLUSIVE) >>> 0, EXCLUSIVE);
      expectNoEvents(sel);
      b.send('x');
      assert.is(expectEvents(sel, a.fileno(), IN) & ~Events.HUP, IN);
      // EDGE combines with it.
      const [c, d] = s.pair();
      sel.register(c, (IN | EDGE | EXCLUSIVE) >>> 0);
      d.send('y');
      expectEvents(sel, c.fileno(), IN);
      expectNoEvents(sel, c.fileno()); // edge: not again without new data
    }));

  for (const [name, extra] of [['ONESHOT', ONESHOT], ['PRI', PRI], ['RDHUP', RDHUP]] as const) {
    t(`EXCLUSIVE with ${name} is refused with ERR_INVALID_ARG_VALUE before the kernel sees it, leaving no key`, () =>
      withScope((s) => {
        const sel = s.selector('epoll') as EpollSelector;
        const [a] = s.pair();
        const err = throwsCode(() => sel.register(a, (IN | extra | EXCLUSIVE) >>> 0), 'ERR_INVALID_ARG_VALUE', RangeError);
        assert.match(err.message, name);
        assert.is(sel.getMap().size, 0);
        assert.is(kernelMask(sel.fileno(), a.fileno()), undefined, 'nothing was added in the kernel');
        // Negative control: the kernel itself refuses this combination.
        const raw = new nativeAddon.NativeSelector('epoll');
        try {
          throwsCode(() => raw.add(a.fileno(), (IN | extra | EXCLUSIVE) >>> 0), 'EINVAL');
        } finally {
          raw.close();
        }
      }));
  }

  t('modify() of an EXCLUSIVE registration re-registers: new mask, EXCLUSIVE kept only if asked for', () =>
    withScope((s) => {
      const sel = s.selector<string>('epoll') as EpollSelector<string>;
      const [a, b] = s.pair();
      sel.register(a, IN | EXCLUSIVE, 'r');
      // OUT: the socket is writable at once; IN is not asked for any more.
      b.send('x');
      let key = sel.modify(a, OUT | EXCLUSIVE, 'w');
      assert.is(key.events, OUT | EXCLUSIVE);
      assert.is(key.data, 'w');
      assert.is(kernelMask(sel.fileno(), a.fileno())! & (IN | OUT | EXCLUSIVE), OUT | EXCLUSIVE);
      assert.is(expectEvents(sel, a.fileno(), OUT) & IN, 0, 'IN is no longer watched');
      // Dropping EXCLUSIVE: a plain registration, changed in place from now on.
      key = sel.modify(a, IN);
      assert.is(key.events, IN);
      assert.is(kernelMask(sel.fileno(), a.fileno())! & (IN | OUT | EXCLUSIVE), IN);
      expectEvents(sel, a.fileno(), IN, OUT);
      sel.modify(a, IN | OUT); // an in-place EPOLL_CTL_MOD works again
      expectEvents(sel, a.fileno(), IN | OUT);
    }));

  t('modify() cannot add EXCLUSIVE to a plain registration (ERR_INVALID_ARG_VALUE, key and kernel unchanged)', () =>
    withScope((s) => {
      const sel = s.selector('epoll') as EpollSelector;
      const [a] = s.pair();
      sel.register(a, IN, 'd');
      throwsCode(() => sel.modify(a, IN | EXCLUSIVE), 'ERR_INVALID_ARG_VALUE', RangeError);
      assert.is(sel.getKey(a).events, IN);
      assert.is(sel.getKey(a).data, 'd');
      assert.is(kernelMask(sel.fileno(), a.fileno())! & EXCLUSIVE, 0);
    }));

  t('modify() of an EXCLUSIVE registration with the same mask only changes the data', () =>
    withScope((s) => {
      const sel = s.selector<number>('epoll') as EpollSelector<number>;
      const [a, b] = s.pair();
      sel.register(a, IN | EXCLUSIVE, 1);
      assert.is(sel.modify(a, IN | EXCLUSIVE, 2).data, 2);
      b.send('x');
      const ready = sel.select(1000);
      assert.is(ready.length, 1);
      assert.is(ready[0]![0].data, 2);
    }));

  t('a re-registration the kernel refuses puts the old registration back', () =>
    withScope((s) => {
      // Through the raw addon: the TypeScript layer refuses this mask itself,
      // so this is the only way to make the second half (the add) fail.
      const [a, b] = s.pair();
      const raw = new nativeAddon.NativeSelector('epoll');
      try {
        raw.add(a.fileno(), IN | EXCLUSIVE);
        throwsCode(() => raw.modify(a.fileno(), (IN | ONESHOT | EXCLUSIVE) >>> 0), 'EINVAL');
        assert.is(kernelMask(raw.kernelFd, a.fileno()), (IN | EXCLUSIVE | Events.ERR | Events.HUP) >>> 0, 'the old mask is back');
        // ... and still behaves as an EXCLUSIVE registration: it is re-added again.
        raw.modify(a.fileno(), OUT | EXCLUSIVE);
        assert.is(kernelMask(raw.kernelFd, a.fileno())! & (IN | OUT | EXCLUSIVE), OUT | EXCLUSIVE);
        raw.remove(a.fileno());
        assert.is(kernelMask(raw.kernelFd, a.fileno()), undefined);
      } finally {
        raw.close();
      }
      void b;
    }));

  t('modify() of an EXCLUSIVE registration whose fd was closed throws EBADF and keeps the key; unregister() works', () =>
    withScope((s) => {
      const sel = s.selector('epoll') as EpollSelector;
      const [a] = s.pair();
      const fd = a.fileno();
      sel.register(a, IN | EXCLUSIVE);
      a.close();
      throwsCode(() => sel.modify(fd, OUT | EXCLUSIVE), 'EBADF');
      assert.is(sel.getKey(fd).events, IN | EXCLUSIVE);
      sel.unregister(fd);
      assert.is(sel.getMap().size, 0);
    }));
}

test.run();
