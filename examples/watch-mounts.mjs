#!/usr/bin/env node
// watch-mounts: follows the mount table (/proc/self/mounts) and prints each
// change, through `for await` on a selector. No socket anywhere.
//
// PRI beyond sockets. On a TCP socket POLLPRI / EPOLLPRI means "urgent
// (out-of-band) data", which hardly anyone uses. Many kernel files reuse the
// bit to mean "this file changed, read it again": /proc/self/mounts and
// /proc/self/mountinfo on a mount or unmount in this mount namespace, a
// cgroup's cgroup.events when it empties, a sysfs GPIO `value` file on an
// interrupt edge, /proc/sys/kernel/hostname after sethostname. They are
// always readable, so IN tells nothing; you watch for PRI (select: its third
// set, `exceptfds`, which is where PRI lives there) and re-read the file
// from the start when it comes. poll and epoll add ERR to it for the mount
// table.
//
// Level vs report-once. A socket's IN is a level: it stays set until you
// read, so asking twice gives the same answer, and a level-triggered loop
// reports it again until you drain it. These files have no level. The
// kernel keeps a change counter per open file and compares it in the file's
// poll: the poll that sees the change also marks it seen. Ask a second time
// and the answer is "nothing"; reading the file does not reset anything
// either. So one wait must hand on exactly what its one poll saw: a loop
// that is woken by one poll and then polls again to collect the result
// loses the event (iomux's wait() hands the harvest over; see the README,
// "wait() loses nothing"), and there is nothing to drain: one report per
// change, however many lines changed.
//
// Try it as root without touching your machine's mounts, in a private mount
// namespace:
//   unshare -m --propagation private sh -c 'node examples/watch-mounts.mjs & sleep 1; mount -t tmpfs demo /mnt; sleep 1; umount /mnt; sleep 1; kill $!'
//
//   node examples/watch-mounts.mjs [--backend select|poll|epoll] [--count N]
// --count N: exit after N changes (default: run until Ctrl-C).
import { closeSync, openSync, readFileSync } from 'node:fs';
import { Events, createSelector, formatEvents } from '@iomux/core';
import { backendFlag, intFlag, parseFlags } from './lib/args.mjs';

const NAME = 'watch-mounts';
const FILE = '/proc/self/mounts';
const BASE = '[--backend select|poll|epoll] [--count N]';
const args = parseFlags(NAME, { backend: { type: 'string', default: 'default' }, count: { type: 'string' } }, '', BASE);
const backend = backendFlag(NAME, args.backend, '', BASE);
const COUNT = args.count === undefined ? 0 : intFlag(NAME, 'count', args.count, '', BASE); // 0: forever

/** The mount table as a multiset of lines (a path can be mounted twice). */
function table() {
  const counts = new Map();
  for (const line of readFileSync(FILE, 'utf8').split('\n')) if (line) counts.set(line, (counts.get(line) ?? 0) + 1);
  return counts;
}

/** Prints `+ line` for each mount that appeared and `- line` for each that went. */
function printDiff(before, after) {
  for (const [line, n] of after) for (let i = before.get(line) ?? 0; i < n; i++) console.log(`+ ${line}`);
  for (const [line, n] of before) for (let i = after.get(line) ?? 0; i < n; i++) console.log(`- ${line}`);
}

let fd;
try {
  fd = openSync(FILE, 'r');
} catch (err) {
  console.error(`${NAME}: cannot open ${FILE}: ${err.message}`);
  process.exit(1);
}
const sel = createSelector(backend);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => sel.close()); // ends the for await at once
try {
  // PRI alone: the file is always readable, so IN would report it forever.
  sel.register(fd, Events.PRI);
  let mounts = table();
  console.log(`watching ${FILE} (${mounts.size} mounts) backend=${sel.backend}`);
  let changes = 0;
  for await (const ready of sel) {
    for (const [, events] of ready) {
      const now = table();
      console.log(`change ${++changes} (${formatEvents(events)}):`);
      printDiff(mounts, now);
      mounts = now;
    }
    if (COUNT > 0 && changes >= COUNT) break;
  }
} catch (err) {
  console.error(`${NAME}: ${err.code ?? err.name}: ${err.message}`);
  process.exitCode = 1;
} finally {
  sel.close();
  closeSync(fd);
}
