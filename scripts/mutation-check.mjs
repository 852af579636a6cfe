#!/usr/bin/env node
// Mutation check: plants known bugs, one at a time, and expects the test
// suite to fail on each. A mutant that survives means a guarantee no test
// holds.
//
// The working tree is never modified. Everything happens in a scratch copy
// (os.tmpdir()/iomux-mutants-*): the tracked files are copied, node_modules is
// a farm of symlinks to this checkout's (except @iomux/core, which points at
// the copy), native mutants are built there with cmake-js (the addon target
// only, incrementally after the first), TypeScript mutants with tsc, and the
// tests load the mutant through IOMUX_ADDON / the copy's dist. The copy is
// removed on exit, Ctrl-C included.
//
//   pnpm mutation                 every mutant
//   pnpm mutation eintr cloexec   mutants whose name contains one of the words
//   IOMUX_MUTATION_KEEP=1         keep the scratch copy (its path is printed)
//
// One line per mutant ("caught" / "SURVIVED"), then "N passed, N failed":
// passed = mutants caught, failed = mutants that survived or could not be
// planted (a patch that no longer matches its source fails loudly, so the
// list cannot rot silently), plus a failed control run.
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killChildrenOnSignals, runChild } from './lib/child.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Each mutant: a file, the exact text to find (it must occur exactly once,
 * or `nth` picks one), its replacement, and the test files (run-tests.mjs
 * filters) that must fail on it. `backend` narrows the run to one backend
 * where the bug lives in one.
 * @type {{ name: string, file: string, find: string, replace: string, nth?: number, tests: string[], backend?: string, why: string }[]}
 */
const MUTANTS = [
  {
    name: 'wait-no-eintr-retry',
    file: 'packages/native/src/syscall.h',
    find: '    if (errno != EINTR) return -errno;',
    replace: '    return -errno;',
    tests: ['test/selector.test'],
    why: "a signal during select() ends the wait with EINTR (every backend's wait goes through WaitUntil)",
  },
  {
    name: 'accept-without-cloexec',
    file: 'packages/native/src/socket.cc',
    find: '&len, SOCK_CLOEXEC)',
    replace: '&len, 0)',
    tests: ['test/socket.test'],
    why: 'accepted sockets leak into exec()ed children',
  },
  {
    name: 'socket-without-cloexec',
    file: 'packages/native/src/socket.cc',
    find: 'socket(family, type | SOCK_CLOEXEC, 0)',
    replace: 'socket(family, type, 0)',
    tests: ['test/socket.test'],
    why: 'new sockets leak into exec()ed children',
  },
  {
    name: 'socketpair-without-cloexec',
    file: 'packages/native/src/socket.cc',
    find: 'socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds)',
    replace: 'socketpair(AF_UNIX, type, 0, fds)',
    tests: ['test/socket.test'],
    why: 'socket pairs leak into exec()ed children',
  },
  {
    name: 'epoll-fd-without-cloexec',
    file: 'packages/native/src/backend_epoll.cc',
    find: 'epoll_create1(EPOLL_CLOEXEC)',
    replace: 'epoll_create1(0)',
    tests: ['test/socket.test'],
    why: "a selector's epoll fd leaks into exec()ed children",
  },
  {
    name: 'eventfd-without-cloexec',
    file: 'packages/native/src/waiter.cc',
    find: 'EFD_CLOEXEC | EFD_NONBLOCK',
    replace: 'EFD_NONBLOCK',
    tests: ['test/socket.test'],
    why: "a wait thread's eventfd leaks into exec()ed children",
  },
  {
    name: 'pipe-without-cloexec',
    file: 'packages/native/src/addon.cc',
    find: 'int flags = O_CLOEXEC;',
    replace: 'int flags = 0;',
    tests: ['test/socket.test'],
    why: 'pipe() fds leak into exec()ed children',
  },
  {
    name: 'pipe-nonblocking-ignored',
    file: 'packages/native/src/addon.cc',
    find: 'flags |= O_NONBLOCK;',
    replace: 'flags |= 0;',
    tests: ['test/node-fds.test'],
    why: 'pipe({ blocking: false }) leaves both ends blocking, so "read until EAGAIN" hangs',
  },
  {
    name: 'set-blocking-ignores-its-flag',
    file: 'packages/native/src/addon.cc',
    find: 'int want = blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK);',
    replace: 'int want = flags | O_NONBLOCK;',
    tests: ['test/node-fds.test'],
    why: 'setBlocking(fd, true) leaves the fd non-blocking',
  },
  {
    name: 'fd-property-wins-over-fileno',
    file: 'packages/core/src/fileobj.ts',
    find: "if (typeof obj.fileno === 'function') {",
    replace: "if (typeof obj.fileno === 'function' && !('fd' in obj)) {",
    tests: ['test/node-fds.test'],
    why: 'an object with both fileno() and fd is registered under its fd property',
  },
  {
    name: 'epoll-eperm-without-hint',
    file: 'packages/core/src/errors.ts',
    find: "if (code === 'EPERM' && syscall === 'epoll_ctl') {",
    replace: 'if (false) {',
    tests: ['test/node-fds.test'],
    backend: 'epoll',
    why: "epoll's EPERM for a regular file or /dev/null does not say why or what to use instead",
  },
  {
    name: 'wait-resolves-spurious-wakeup-early',
    file: 'packages/core/src/selector.ts',
    find: '        this.#native.rearm(this.#onReady);',
    replace: '        this.#finish(pending, null, []);',
    tests: ['test/wait.test'],
    why: 'a pending wait() resolves with [] before its timeout when everything its thread saw was unregistered meanwhile',
  },
  {
    name: 'wait-asks-the-kernel-again',
    file: 'packages/core/src/selector.ts',
    find: 'ready = count >= 0 ? this.#collect(count) : this.select(0);',
    replace: 'ready = this.select(0);',
    tests: ['test/report-once.test'],
    why: "a pending wait() polls again after its thread's harvest: a mount or sethostname (report-once files) is lost",
  },
  {
    name: 'wait-not-fair',
    file: 'packages/core/src/selector.ts',
    find: 'if (this.#burst < FAIR_BURST) {',
    replace: 'if (true) {',
    tests: ['test/wait-fair.test', 'test/examples/course.test'],
    why: 'wait() over ready fds resolves as a microtask every time: the event loop starves (no immediates, no timers, echo-async ticks stop)',
  },
  {
    name: 'epoll-ring-harvest-dropped',
    file: 'packages/native/src/backend_epoll.cc',
    find: '    return Harvest(ring_->events(), r < cap ? r : cap, out, nullptr);',
    replace: '    return 0;',
    tests: ['test/report-once.test'],
    backend: 'epoll',
    why: "what io_uring's epoll_wait harvested is dropped and the set asked again: a mount or sethostname is lost",
  },
  {
    name: 'epoll-ring-not-resubmitted',
    file: 'packages/native/src/backend_epoll.cc',
    find: 'if (ring_ && wait_armed_ && !ring_->in_flight()) {',
    replace: 'if (false) {',
    tests: ['test/wait.test'],
    backend: 'epoll',
    why: "a select() during a pending wait() cancels io_uring's epoll_wait and never puts it back: the wait hangs",
  },
  {
    name: 'aborted-wait-drops-its-harvest',
    file: 'packages/native/src/waiter.cc',
    find: '        leftover_.insert(leftover_.end(), result_.begin(), result_.end());\n',
    replace: '',
    tests: ['test/wait.test'],
    why: 'a result harvested for a wait that was then aborted is dropped: a ONESHOT report is lost',
  },
  {
    name: 'poll-oneshot-not-disarmed',
    file: 'packages/native/src/backend_poll.cc',
    find: 'if (interest_[i] & kOneshot) Disarm(&p);',
    replace: '',
    tests: ['test/selector.test'],
    backend: 'poll',
    why: 'ONESHOT reports again before modify()',
  },
  {
    name: 'close-keeps-epoll-fd',
    file: 'packages/native/src/backend_epoll.cc',
    find: '    ring_.reset();  // its wait must end before the epoll fd does\n    close(epfd_);',
    replace: '    ring_.reset();  // its wait must end before the epoll fd does',
    tests: ['test/selector.test'],
    backend: 'epoll',
    why: 'close() leaks the epoll fd',
  },
  {
    name: 'timeout-fraction-dropped',
    file: 'packages/native/src/backend_common.cc',
    find: 'static_cast<int64_t>(std::ceil(ms * 1e6))',
    replace: 'static_cast<int64_t>(std::trunc(ms)) * 1000000',
    tests: ['test/selector.test'],
    backend: 'poll',
    why: 'a fractional timeout is rounded down, so the wait ends early',
  },
  {
    name: 'select-closed-oneshot-not-disarmed',
    file: 'packages/native/src/backend_select.cc',
    find: 'if (interest_[fd] & kOneshot) DisarmOneshot(fd);  // reported once, like poll',
    replace: '',
    tests: ['test/reliability/regressions.test'],
    why: 'a closed ONESHOT fd is reported NVAL on every call (bug 1 of docs/reliability.md)',
  },
  {
    name: 'register-keeps-key-after-refusal',
    file: 'packages/core/src/selector.ts',
    find: '      this.#keys.delete(fd);\n      throw err;',
    replace: '      throw err;',
    tests: ['test/selector.test'],
    why: 'a register() the kernel refused leaves a key behind',
  },
  {
    name: 'fd-setsize-not-checked',
    file: 'packages/core/src/selector.ts',
    find: 'if (fd > this.capabilities.maxFd) {',
    replace: 'if (false) {',
    tests: ['test/selector.test'],
    backend: 'select',
    why: 'select accepts an fd >= FD_SETSIZE at register()',
  },
  {
    name: 'modify-same-mask-makes-a-syscall',
    file: 'packages/core/src/selector.ts',
    find: 'if (mask !== old.events || (mask & Events.ONESHOT) !== 0) this.#native.modify(old.fd, mask);',
    replace: 'this.#native.modify(old.fd, mask);',
    tests: ['test/selector.test'],
    backend: 'epoll',
    why: 'modify() with the same events makes a system call (fails once the fd is closed)',
  },
  {
    name: 'modify-does-not-rearm-oneshot',
    file: 'packages/core/src/selector.ts',
    find: 'if (mask !== old.events || (mask & Events.ONESHOT) !== 0) this.#native.modify(old.fd, mask);',
    replace: 'if (mask !== old.events) this.#native.modify(old.fd, mask);',
    tests: ['test/selector.test'],
    why: 'modify() with the same ONESHOT mask does not re-arm a fired fd',
  },
  {
    name: 'second-wait-not-refused',
    file: 'packages/core/src/selector.ts',
    find: "if (this.#pending) throw codedError(Error, 'ERR_WAIT_PENDING'",
    replace: "if (false) throw codedError(Error, 'ERR_WAIT_PENDING'",
    tests: ['test/wait.test'],
    backend: 'epoll',
    why: 'a second concurrent wait() is not refused with ERR_WAIT_PENDING',
  },
  {
    name: 'use-after-close-allowed',
    file: 'packages/core/src/selector.ts',
    find: '    if (this.#closed) throw closedError();',
    replace: '',
    tests: ['test/selector.test'],
    backend: 'poll',
    why: 'methods of a closed selector do not throw ERR_SELECTOR_CLOSED',
  },
  {
    name: 'closed-socket-stays-in-gc-registry',
    file: 'packages/core/src/socket.ts',
    find: '    fdRegistry.unregister(this);\n    if (inWorker) native.untrackFd(fd);\n    native.closeFd(fd);',
    replace: '    if (inWorker) native.untrackFd(fd);\n    native.closeFd(fd);',
    tests: ['test/reliability/resources.test'],
    why: 'the GC closes an fd again after close(), after its number was reused',
  },
  {
    name: 'socket-close-leaks-fd',
    file: 'packages/core/src/socket.ts',
    find: '    fdRegistry.unregister(this);\n    if (inWorker) native.untrackFd(fd);\n    native.closeFd(fd);',
    replace: '    fdRegistry.unregister(this);\n    if (inWorker) native.untrackFd(fd);',
    tests: ['test/socket.test'],
    why: 'close() leaves the fd open (the leak checks must see it)',
  },
  {
    name: 'unregister-after-close-throws',
    file: 'packages/native/src/selector_js.cc',
    find: 'if (err && err != EBADF && err != ENOENT) ThrowOpError(info.Env(), err, b->Caps().remove_syscall, fd);',
    replace: 'if (err) ThrowOpError(info.Env(), err, b->Caps().remove_syscall, fd);',
    tests: ['test/selector.test'],
    backend: 'epoll',
    why: 'unregister() of an fd closed while registered throws a system error',
  },
  {
    name: 'poll-register-closed-fd',
    file: 'packages/native/src/backend_poll.cc',
    find: '    if (!FdIsOpen(fd)) return EBADF;\n',
    replace: '',
    tests: ['test/selector.test'],
    backend: 'poll',
    why: 'register() of a closed fd succeeds on poll',
  },
  {
    name: 'select-ebadf-fails-the-call',
    file: 'packages/native/src/backend_select.cc',
    find: 'if (r != -EBADF || d == &now) return r;',
    replace: 'return r;',
    tests: ['test/selector.test'],
    backend: 'select',
    why: 'an fd closed while registered fails the whole select() instead of reporting NVAL',
  },
  {
    name: 'select-oneshot-not-disarmed',
    file: 'packages/native/src/backend_select.cc',
    find: '      n++;\n      if (interest_[fd] & kOneshot) DisarmOneshot(fd);',
    replace: '      n++;',
    tests: ['test/selector.test'],
    backend: 'select',
    why: 'ONESHOT (emulated) reports again before modify()',
  },
  {
    name: 'dropped-socket-never-collected',
    file: 'packages/core/src/socket.ts',
    find: '    fdRegistry.register(this, this.#fd, this);\n',
    replace: '',
    tests: ['test/reliability/resources.test'],
    why: 'a Socket dropped without close() keeps its fd forever',
  },
  {
    name: 'events-type-wrong-code',
    file: 'packages/core/src/selector.ts',
    find: "if (typeof events !== 'number') throw invalidType('events', 'of type number', events);",
    replace: "if (typeof events !== 'number') throw invalidValue('events', 'of type number', events);",
    tests: ['test/reliability/bad-input.test'],
    backend: 'poll',
    why: 'a non-number interest mask throws ERR_INVALID_ARG_VALUE instead of ERR_INVALID_ARG_TYPE',
  },
  {
    name: 'epoll-drops-rdhup-interest',
    file: 'packages/native/src/backend_epoll.cc',
    find: 'events & (kInterestBits | kOneshot | kEdge | kExclusive)',
    replace: 'events & ((kInterestBits & ~kRdhup) | kOneshot | kEdge | kExclusive)',
    tests: ['test/reliability/differential.test'],
    why: 'epoll never reports RDHUP, unlike poll (the differential driver must see it)',
  },
  {
    name: 'exclusive-bit-dropped',
    file: 'packages/native/src/backend_epoll.cc',
    find: 'events & (kInterestBits | kOneshot | kEdge | kExclusive)',
    replace: 'events & (kInterestBits | kOneshot | kEdge)',
    tests: ['test/herd.test', 'test/exclusive.test'],
    why: 'EXCLUSIVE is accepted but never reaches the kernel: every Worker wakes for every connection',
  },
  {
    name: 'exclusive-modified-in-place',
    file: 'packages/native/src/backend_epoll.cc',
    find: 'if (it != exclusive_.end()) return Reregister(it, events);',
    replace: '',
    tests: ['test/exclusive.test'],
    why: 'modify() of an EXCLUSIVE registration uses EPOLL_CTL_MOD, which the kernel refuses (EINVAL)',
  },
  {
    name: 'exclusive-failed-reregister-not-restored',
    file: 'packages/native/src/backend_epoll.cc',
    find: 'Ctl(EPOLL_CTL_ADD, fd, old);',
    replace: '',
    tests: ['test/exclusive.test'],
    why: 'a re-registration the kernel refuses leaves the fd unwatched, while its key stays',
  },
  {
    name: 'waker-outlives-its-eventfd',
    file: 'packages/native/src/waker.cc',
    find: 'r.fds.erase(it);',
    replace: '',
    tests: ['test/waker.test'],
    why: 'a wake() after close writes into whatever file took over the eventfd number',
  },
  {
    name: 'select-waker-above-fd-setsize',
    file: 'packages/native/src/waker.cc',
    find: 'if (fd > max_fd) {',
    replace: 'if (false) {',
    tests: ['test/waker.test'],
    backend: 'select',
    why: "select's waker may get an fd >= FD_SETSIZE, which FD_SET cannot hold",
  },
  {
    name: 'worker-owned-fds-left-open',
    file: 'packages/native/src/fds.cc',
    find: 'for (int fd : owned->fds) close(fd);',
    replace: '',
    tests: ['test/workers-fds.test'],
    why: "a Worker that exits leaves its Sockets' fds open for the life of the process",
  },
  {
    name: 'batch-detach-not-counted',
    file: 'packages/core/src/socket.ts',
    find: '    this.#fd = -1;\n    released++;\n    if (this.#owned) {',
    replace: '    this.#fd = -1;\n    if (this.#owned) {',
    tests: ['test/batch.test'],
    backend: 'poll',
    why: 'a batch send queued to a Socket that is then detached goes to the number it let go of',
  },
  {
    name: 'batch-close-not-counted',
    file: 'packages/core/src/socket.ts',
    find: '    this.#fd = -1;\n    released++;\n    if (!this.#owned) return;',
    replace: '    this.#fd = -1;\n    if (!this.#owned) return;',
    tests: ['test/batch.test'],
    backend: 'poll',
    why: 'a batch send queued to a Socket that is then closed is sent to its old number',
  },
  {
    name: 'batch-unregister-not-rechecked',
    file: 'packages/core/src/batch.ts',
    find: '    if (removing) this.#recheck = true;\n',
    replace: '',
    tests: ['test/batch.test'],
    backend: 'poll',
    why: 'a batch send queued to a registration that then goes away is not CANCELLED',
  },
  {
    name: 'batch-object-target-not-rechecked',
    file: 'packages/core/src/batch.ts',
    find: '    this.#recheck = true;\n    return fdOrGone(to) !== fd;',
    replace: '    return fdOrGone(to) !== fd;',
    tests: ['test/batch.test'],
    backend: 'poll',
    why: 'a batch send to an object whose fileno() changed after queueing is sent to the old number',
  },
  {
    name: 'batch-closed-target-queued',
    file: 'packages/core/src/batch.ts',
    find: 'return (to as Socket).fileno() !== fd;',
    replace: 'return false;',
    tests: ['test/batch.test'],
    backend: 'poll',
    why: 'a batch send queued to a closed registered Socket goes to whatever has its number now',
  },
  {
    name: 'batch-keys-not-pinned',
    file: 'packages/core/src/batch.ts',
    find: '    if (this.#pinned) return;\n    this.#pinned = true;',
    replace: '    return;',
    tests: ['test/batch.test'],
    backend: 'poll',
    why: "modify() or re-registration during a pass changes its entries' keys",
  },
  {
    name: 'batch-pin-kept-across-passes',
    file: 'packages/core/src/batch.ts',
    find: '    this.#pinned = false;\n',
    replace: '',
    tests: ['test/batch.test'],
    backend: 'poll',
    why: 'entries of a later pass answer the keys pinned in an earlier one',
  },
  {
    name: 'wait-callback-exception-unwinds-into-libuv',
    file: 'packages/native/src/selector.cc',
    find: 'napi_fatal_exception(env, e.Value());',
    replace: 'throw;',
    tests: ['test/wait-throw.test'],
    why: 'a JS exception in a tick run by the wait callback aborts the process (SIGABRT) instead of reaching uncaughtException',
  },
  {
    name: 'watcher-remove-last-keeps-waiting',
    file: 'packages/core/src/watcher.ts',
    find: 'if (this.#keys.size === 0 && this.#running) this.#selector.waker().wake();',
    replace: '',
    tests: ['test/watcher.test', 'test/epoll-dropin.test'],
    why: "removing a watcher's last fd leaves its wait pending, which keeps the process alive",
  },
  {
    name: 'watcher-delivers-stale-events',
    file: 'packages/core/src/watcher.ts',
    find: 'const now = this.#keys.get(key.fd);\n      if (now === undefined) continue;',
    replace: 'const now = this.#keys.get(key.fd) ?? key;',
    tests: ['test/watcher.test'],
    why: 'a callback is called for an fd an earlier callback of the same pass removed',
  },
  {
    name: 'watcher-throwing-callback-ends-loop',
    file: 'packages/core/src/watcher.ts',
    find: 'process.nextTick(() => {\n        throw thrown;\n      });',
    replace: 'throw thrown;',
    tests: ['test/watcher.test'],
    why: 'a callback that throws ends the watch loop (an unhandled rejection) instead of reaching uncaughtException',
  },
  {
    name: 'epoll-dropin-this-undefined',
    file: 'packages/core/src/epoll.ts',
    find: 'else Reflect.apply(callback, globalThis, [null, fd, events]);',
    replace: 'else Reflect.apply(callback, undefined, [null, fd, events]);',
    tests: ['test/epoll-dropin.test'],
    why: "the drop-in's callback does not get the global object as this, as the peer's does",
  },
  {
    name: 'epoll-dropin-require-loads-esm',
    file: 'packages/core/package.json',
    find: '"default": "./dist/cjs/epoll.js"',
    replace: '"default": "./dist/epoll.js"',
    tests: ['test/epoll-dropin.test', 'test/epoll-peer.test'],
    why: "require('@iomux/core/epoll') resolves to the ESM build, which Node < 20.19 cannot require",
  },
  {
    name: 'epoll-dropin-close-keeps-fds',
    file: 'packages/core/src/watcher.ts',
    find: '  close(): void {\n    this.#selector.close();',
    replace: '  close(): void {\n    if (this.#keys.size > 0) return;\n    this.#selector.close();',
    tests: ['test/epoll-dropin.test', 'test/watcher.test'],
    why: 'close() with fds still watched does not release them, so the process never exits',
  },
  {
    name: 'uring-remove-not-at-once',
    file: 'packages/native/src/backend_uring.cc',
    find: '        return RemoveNow(Tag(kPollReq, reg.gen, fd));',
    replace: '        Sqe* s = GetSqe(nullptr);\n        PrepRemove(s, Tag(kPollReq, reg.gen, fd));\n        return 0;',
    tests: ['test/capabilities.test'],
    backend: 'io_uring',
    why: 'unregister() queues its removal into the next wait: the poll request keeps the closed socket open',
  },
  {
    name: 'uring-zero-wait-stops-at-20',
    file: 'packages/native/src/backend_uring.cc',
    find: '      if ((LoadAcquire(ring_->sq_flags) & (kSqTaskrun | kSqCqOverflow)) == 0) break;',
    replace: '      if ((LoadAcquire(ring_->sq_flags) & kSqCqOverflow) == 0) break;',
    tests: ['test/many-ready.test', 'test/uring-cq.test'],
    backend: 'io_uring',
    why: 'a zero-timeout select() runs only the ~20 completions DEFER_TASKRUN grants one enter: the other ready fds wait for a later call',
  },
  {
    name: 'uring-busy-removal-not-resent',
    file: 'packages/native/src/backend_uring.cc',
    find: '      if (!RemovalWasBusy(tag)) return 0;',
    replace: '      return 0;',
    tests: ['test/capabilities.test'],
    backend: 'io_uring',
    why: 'a removal that finds a multishot (EDGE) poll busy completing is not sent again: the server never closes a connection',
  },
  {
    name: 'uring-wakeup-mask-as-state',
    file: 'packages/native/src/backend_uring.cc',
    find: '      uint32_t ready = FilterReady(rev, reg->events) | (reg->pending & (reg->socket ? kErr : kErr | kPri));',
    replace: '      uint32_t ready = reg->pending;',
    tests: ['test/reliability/differential.test'],
    why: "a completion's wake-up mask is reported as the fd's state (ERR/HUP missing, PRI on sockets, drained IN)",
  },
  {
    name: 'state-set-takes-every-file',
    file: 'packages/native/src/state_set.cc',
    find: '  return S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode);',
    replace: '  return true;',
    tests: ['test/report-once.test'],
    backend: 'poll',
    why: "select and poll let libuv's epoll watch a report-once file too: its change is consumed before their harvest",
  },
  {
    name: 'state-set-removes-lazily',
    file: 'packages/native/src/state_set.cc',
    find: '  if (item.in_set) Ctl(EPOLL_CTL_DEL, fd, 0);\n  if (item.counted) others_--;\n  items_.erase(it);',
    replace: '  item.watched = false;\n  Mark(fd, &item);',
    tests: ['test/wait-in-loop.test'],
    backend: 'poll',
    why: 'an unregistered fd leaves the epoll set only at the next wait, after the caller closed it: a copy held elsewhere keeps waking the selector',
  },
  {
    name: 'state-set-without-cloexec',
    file: 'packages/native/src/state_set.cc',
    find: 'epoll_create1(EPOLL_CLOEXEC)',
    replace: 'epoll_create1(0)',
    tests: ['test/socket.test'],
    why: "the epoll set that select and poll sleep on leaks into exec()ed children",
  },
  {
    name: 'state-set-without-waker',
    file: 'packages/native/src/state_set.cc',
    find: '    waker_ok_ = waker_ < 0 || Ctl(EPOLL_CTL_ADD, waker_, EPOLLIN) == 0;',
    replace: '    waker_ok_ = true;',
    tests: ['test/waker.test'],
    backend: 'poll',
    why: "the epoll set that select and poll sleep on leaves out the selector's waker: a wake-up never ends a pending wait()",
  },
  {
    name: 'hybrid-wait-stays-in-loop',
    file: 'packages/native/src/waiter.cc',
    find: '    bool in_loop = !again && ',
    replace: '    bool in_loop = ',
    tests: ['test/wait-in-loop.test'],
    backend: 'select',
    why: 'a wait whose loop wake-up found nothing sleeps in the loop again: where the set and select(2) disagree (a hang-up), it spins',
  },
  {
    name: 'hybrid-wait-ignores-new-file',
    file: 'packages/native/src/waiter.cc',
    find: '    if (!in_loop_->armed() || backend_->SyncStates()) return;\n',
    replace: '    backend_->SyncStates();\n    return;\n',
    tests: ['test/wait-in-loop.test'],
    backend: 'poll',
    why: 'a report-once file registered during a pending wait in the loop is not handed to the thread (its change would be lost)',
  },
  {
    name: 'register-leaks-32-bytes',
    file: 'packages/native/src/selector_js.cc',
    find: '    int err = b->Add(fd, events);\n',
    replace: '    static void* volatile leaked;\n    leaked = new char[32];  // never freed\n    int err = b->Add(fd, events);\n',
    tests: ['test/reliability/resources.test'],
    backend: 'poll',
    why: 'register() leaks 32 bytes (the negative control of the RSS slope bound)',
  },
  {
    name: 'guard-lets-std-exceptions-through',
    file: 'packages/native/src/addon.h',
    find: '  } catch (...) {\n    SetPendingError(env);\n    return nullptr;\n  }',
    replace: '  } catch (const Napi::Error&) {\n    SetPendingError(env);\n    return nullptr;\n  }',
    tests: ['test/reliability/no-abort.test'],
    why: 'a std::bad_alloc in a native call ends the process (SIGABRT) instead of throwing ERR_MEMORY_ALLOCATION_FAILED',
  },
  {
    name: 'wait-thread-failure-not-an-errno',
    file: 'packages/native/src/waiter.cc',
    find: '  } catch (const std::system_error& e) {\n    return e.code().value() != 0 ? e.code().value() : EAGAIN;\n  }',
    replace: '  } catch (const std::bad_alloc&) {\n    return ENOMEM;\n  }',
    tests: ['test/reliability/no-abort.test'],
    why: "a wait thread that cannot be made is not reported as pthread_create's EAGAIN",
  },
  {
    name: 'result-buffer-no-room-for-waker',
    file: 'packages/core/src/selector.ts',
    find: 'if (2 * (this.#keys.size + 1) > this.#buffer.length) {',
    replace: 'if (2 * this.#keys.size > this.#buffer.length) {',
    tests: ['test/waker.test'],
    backend: 'poll',
    why: 'with every fd ready and a wake-up in the same call, a ready fd is dropped from the result',
  },
  {
    name: 'waker-ids-reused',
    file: 'packages/native/src/waker.cc',
    find: 'uint64_t id = r.next_id++;',
    replace: 'uint64_t id = 1;\n  while (r.fds.count(id) != 0) id++;  // the lowest id no live waker holds',
    tests: ['test/waker.test'],
    backend: 'poll',
    why: "a closed selector's Waker wakes the selector that took its id (and wake() says true)",
  },
  {
    name: 'recvfrom-ipv4-sized-address',
    file: 'packages/native/src/socket.cc',
    find: '    len = sizeof ss;\n    return recvfrom(',
    replace: '    len = sizeof(sockaddr_in);\n    return recvfrom(',
    tests: ['test/socket.test'],
    why: "recvFrom() cuts an IPv6 or unix sender's address short",
  },
  {
    name: 'send-without-msg-nosignal',
    file: 'packages/native/src/socket.cc',
    find: 'return send(fd, b.data, b.length, MSG_NOSIGNAL);',
    replace: 'return send(fd, b.data, b.length, 0);',
    tests: ['test/socket.test'],
    why: 'send() to a closed peer raises SIGPIPE (which kills a process that does not ignore it)',
  },
  {
    name: 'socket-error-reads-wrong-option',
    file: 'packages/core/src/socket.ts',
    find: 'return sock.getIntOption(this.#open(), SC.SOL_SOCKET, SC.SO_ERROR);',
    replace: 'return sock.getIntOption(this.#open(), SC.SOL_SOCKET, SC.SO_REUSEADDR);',
    tests: ['test/socket.test'],
    why: 'socketError() says 0 after a refused non-blocking connect()',
  },
  {
    name: 'loader-takes-musl-on-glibc',
    file: 'packages/native/index.cjs',
    find: "return header.glibcVersionRuntime ? 'glibc' : 'musl';",
    replace: "return header.glibcVersionRuntime ? 'musl' : 'musl';",
    tests: ['test/loader.test'],
    why: 'the loader picks the musl prebuild on glibc',
  },
  {
    name: 'loader-takes-glibc-on-musl',
    file: 'packages/native/index.cjs',
    find: "return header.glibcVersionRuntime ? 'glibc' : 'musl';",
    replace: "return header.glibcVersionRuntime ? 'glibc' : 'glibc';",
    tests: ['test/loader.test'],
    why: 'the loader picks the glibc prebuild on musl',
  },
  {
    name: 'uring-overflow-not-drained',
    file: 'packages/native/src/backend_uring.cc',
    find: '      if ((LoadAcquire(ring_->sq_flags) & (kSqTaskrun | kSqCqOverflow)) == 0) break;',
    replace: '      if ((LoadAcquire(ring_->sq_flags) & kSqTaskrun) == 0) break;',
    tests: ['test/uring-cq.test'],
    backend: 'io_uring',
    why: 'on a ring that cannot grow, completions in the kernel overflow list wait for a later round: select(0) misses ready fds',
  },
  {
    name: 'uring-resize-writes-sq-array',
    file: 'packages/native/src/backend_uring.cc',
    find: '    bool array = (flags & kSetupNoSqarray) == 0;',
    replace: '    bool array = true;',
    tests: ['test/uring-cq.test'],
    backend: 'io_uring',
    why: 'a resized ring without an SQ array gets an identity array written over its head and tail words: the ring is corrupted',
  },
  {
    name: 'uring-socket-wakeup-mask-as-state',
    file: 'packages/native/src/backend_uring.cc',
    find: '    for (int fd : settle_) check_.push_back(pollfd{fd, static_cast<short>(regs_[fd].events & kInterestBits), 0});',
    replace:
      '    for (int fd : settle_) {\n      Reg* r = &regs_[fd];\n      if (r->socket && (r->events & kInterestBits & ~(kIn | kOut)) == 0) {\n        Done(fd, r, r->pending, out, cap, n);\n        continue;\n      }\n      check_.push_back(pollfd{fd, static_cast<short>(r->events & kInterestBits), 0});\n    }',
    tests: ['test/uring-state.test'],
    backend: 'io_uring',
    why: "the extra poll(2) is skipped for sockets watched for IN/OUT: data read before the harvest is reported, a hang-up after the data is not",
  },
];

// --- scratch copy ---------------------------------------------------------

let scratch = '';
function cleanup() {
  if (!scratch) return;
  if (process.env.IOMUX_MUTATION_KEEP) console.log(`[mutation] kept ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
  scratch = '';
}
// Ctrl-C: the supervisor kills the children and exits, and the 'exit'
// handler removes the copy.
killChildrenOnSignals('mutation-check');
process.on('exit', cleanup);

/**
 * Files under `dir` (relative to the root), without dependencies, build output or VCS data.
 * @param {string} dir
 * @returns {string[]}
 */
function listTree(dir) {
  /** @type {string[]} */
  const out = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (['node_modules', '.git', 'build', 'dist'].includes(e.name)) continue;
      out.push(...listTree(rel));
    } else {
      out.push(rel);
    }
  }
  return out;
}

function makeScratch() {
  scratch = mkdtempSync(join(tmpdir(), 'iomux-mutants-'));
  let files;
  try {
    files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8' })
      .split('\0')
      .filter(Boolean);
  } catch {
    files = listTree(''); // not a git checkout (an unpacked tarball): everything but build output
  }
  for (const f of files) {
    if (!existsSync(join(root, f))) continue; // deleted in the working tree
    mkdirSync(dirname(join(scratch, f)), { recursive: true });
    cpSync(join(root, f), join(scratch, f), { verbatimSymlinks: true });
  }
  // node_modules: everything links to this checkout's, except the workspace
  // packages, whose relative links must land in the copy.
  const nm = join(scratch, 'node_modules');
  mkdirSync(nm);
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name === '@iomux') continue;
    symlinkSync(join(root, 'node_modules', name), join(nm, name));
  }
  cpSync(join(root, 'node_modules', '@iomux'), join(nm, '@iomux'), { recursive: true, verbatimSymlinks: true });
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const src = join(root, 'packages', pkg, 'node_modules');
    if (existsSync(src)) cpSync(src, join(scratch, 'packages', pkg, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  }
  restoreDist();
}

/** The copy's compiled TypeScript, as in this checkout (unmutated). */
function restoreDist() {
  rmSync(join(scratch, 'packages/core/dist'), { recursive: true, force: true });
  cpSync(join(root, 'packages/core/dist'), join(scratch, 'packages/core/dist'), { recursive: true });
}

// --- running things -------------------------------------------------------

/**
 * Runs a command in the scratch copy; resolves with its exit code and output.
 * @param {string} cmd
 * @param {string[]} args
 * @param {Record<string, string>} [env]
 * @returns {Promise<{ code: number, out: string }>}
 */
async function run(cmd, args, env = {}) {
  const r = await runChild(cmd, args, { cwd: scratch, env: { ...process.env, ...env }, timeoutMs: 15 * 60_000 });
  return { code: r.code ?? (r.signal ? 128 : 1), out: r.stdout + r.stderr };
}

const cmakeJs = join(root, 'node_modules/.bin/cmake-js');
const tsc = join(root, 'node_modules/.bin/tsc');
const mutantAddon = () => join(scratch, 'packages/native/build-mutant/Release/iomux.node');
const baseAddon = join(root, 'packages/native/build/Release/iomux.node');

async function buildNative() {
  return run(cmakeJs, ['compile', '--out', 'packages/native/build-mutant', '-T', 'iomux', '-l', 'error']);
}
async function buildTs() {
  const esm = await run(tsc, ['-p', 'packages/core/tsconfig.json']);
  if (esm.code !== 0) return esm;
  // The CommonJS build too (require('@iomux/core/epoll') loads it).
  const cjs = await run(tsc, ['-p', 'packages/core/tsconfig.cjs.json']);
  return cjs.code !== 0 ? cjs : run(process.execPath, ['scripts/cjs-package.mjs', 'packages/core/dist/cjs']);
}

/**
 * Runs the test files; returns run-tests.mjs's summary and whether it failed.
 * @param {string[]} tests
 * @param {Record<string, string>} env
 */
async function runTests(tests, env) {
  const r = await run(process.execPath, ['scripts/run-tests.mjs', ...tests], { IOMUX_TEST_TIMEOUT_MS: '60000', ...env });
  const summary = /^(\d+) passed, (\d+) failed.*$/m.exec(r.out.split('\n').filter((l) => /^\d+ passed/.test(l)).pop() ?? '');
  const failed = summary ? Number(summary[2]) : 1;
  const failing = r.out
    .split('\n')
    .filter((l) => /^\s+FAIL\s/.test(l) || /^\s+✘/.test(l))
    .map((l) => l.trim())
    .slice(0, 2);
  if (process.env.IOMUX_MUTATION_VERBOSE) console.log(r.out);
  return { failed: failed > 0 || r.code !== 0, summary: summary?.[0] ?? 'no summary', failing, out: r.out };
}

/**
 * Replaces the `nth` occurrence (or the only one) of `find` in `text`.
 * @param {string} text
 * @param {(typeof MUTANTS)[number]} m
 */
function patch(text, m) {
  /** @type {number[]} */
  const hits = [];
  for (let i = text.indexOf(m.find); i >= 0; i = text.indexOf(m.find, i + 1)) hits.push(i);
  if (m.nth === undefined && hits.length !== 1) throw new Error(`the patch text occurs ${hits.length} times in ${m.file}`);
  const at = hits[m.nth ?? 0];
  if (at === undefined) throw new Error(`the patch text does not occur in ${m.file}`);
  return text.slice(0, at) + m.replace + text.slice(at + m.find.length);
}

// --- main -----------------------------------------------------------------

const filters = process.argv.slice(2);
const chosen = MUTANTS.filter((m) => filters.length === 0 || filters.some((f) => m.name.includes(f)));
if (chosen.length === 0) {
  console.log(`no mutant matches ${filters.join(' ')}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const started = Date.now();
makeScratch();
let caught = 0;
let failedCount = 0;

// Control: the unmutated tree passes the same files, or "caught" means nothing.
const allTests = [...new Set(chosen.flatMap((m) => m.tests))];
const control = await runTests(allTests, { IOMUX_ADDON: baseAddon });
if (control.failed) {
  console.log(`control: the unmutated tree fails ${allTests.join(' ')} (${control.summary})`);
  console.log(control.out);
  failedCount++;
} else {
  console.log(`control: unmutated tree passes ${allTests.join(' ')} (${control.summary})`);
}

for (const m of chosen) {
  const t0 = Date.now();
  const file = join(scratch, m.file);
  const original = readFileSync(file, 'utf8');
  const native = m.file.startsWith('packages/native/');
  let line;
  try {
    writeFileSync(file, patch(original, m));
    const build = native ? await buildNative() : await buildTs();
    if (build.code !== 0) {
      line = `BROKEN   ${m.name}: the mutant does not build\n${build.out}`;
      failedCount++;
    } else {
      const env = { IOMUX_ADDON: native ? mutantAddon() : baseAddon, ...(m.backend ? { IOMUX_BACKEND: m.backend } : {}) };
      const r = await runTests(m.tests, env);
      const secs = ((Date.now() - t0) / 1000).toFixed(0);
      if (r.failed) {
        caught++;
        line = `caught   ${m.name} (${m.why}): ${r.summary}${r.failing.length ? ` — ${r.failing.join('; ')}` : ''} (${secs}s)`;
      } else {
        failedCount++;
        line = `SURVIVED ${m.name} (${m.why}): ${m.tests.join(' ')} still pass (${secs}s)`;
      }
    }
  } catch (err) {
    failedCount++;
    line = `BROKEN   ${m.name}: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    writeFileSync(file, original);
    // A TypeScript mutant was compiled into the copy's dist: put the pristine
    // one back, or every later mutant would be tested with this one too.
    if (!native) restoreDist();
  }
  console.log(line);
}

console.log(`[mutation] ${chosen.length} mutants in ${((Date.now() - started) / 1000).toFixed(0)} s`);
console.log(`${caught} passed, ${failedCount} failed`);
process.exitCode = failedCount > 0 ? 1 : 0;
