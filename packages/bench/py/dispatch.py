#!/usr/bin/env python3
"""The dispatch-scaling benchmark on CPython's selectors module: the method,
layouts and output of c/dispatch_bench.c and src/dispatch.mjs, so CPython can
be compared side by side with iomux and C on the same machine.

  python3 dispatch.py --backend epoll --n 1000 --active 1 --writes 100 --runs 9 [--warmup 3] [--packed]
"""
import argparse
import json
import resource
import selectors
import socket
import sys
import time

p = argparse.ArgumentParser()
p.add_argument('--backend', default='epoll')
p.add_argument('--n', type=int, default=100)
p.add_argument('--active', type=int, default=1)
p.add_argument('--writes', type=int, default=100)
p.add_argument('--runs', type=int, default=5)
p.add_argument('--warmup', type=int, default=2)
p.add_argument('--packed', action='store_true')
a = p.parse_args()
N, A, W = a.n, a.active, a.writes

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = min(hard, 2 * N + 64)
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

watched, peer, socks = [None] * N, [None] * N, []
if a.packed:
    for j in range(N // 2):
        x, y = socket.socketpair()
        socks += [x, y]
        watched[2 * j], watched[2 * j + 1] = x, y
        peer[2 * j], peer[2 * j + 1] = y, x
else:
    for j in range(N):
        x, y = socket.socketpair()
        socks += [x, y]
        watched[j], peer[j] = x, y
for s in socks:
    s.setblocking(False)
maxfd = max(s.fileno() for s in watched)

cls = {'select': selectors.SelectSelector, 'poll': selectors.PollSelector, 'epoll': selectors.EpollSelector}[a.backend]
sel = cls()
if a.backend == 'select' and maxfd >= 1024:
    print(f'dispatch.py: fd {maxfd} >= FD_SETSIZE 1024', file=sys.stderr)
    sys.exit(3)
for i, s in enumerate(watched):
    sel.register(s, selectors.EVENT_READ, i)

space = N // A


def run_once():
    for j in range(A):
        peer[j * space].send(b'e')
    count, writes, fired, passes = 0, W, A, 0
    t0 = time.perf_counter_ns()
    while True:
        for key, _ in sel.select(0):
            i = key.data
            if len(watched[i].recv(1)) != 1:
                continue
            count += 1
            if writes > 0:
                w = i + 1
                if w >= N:
                    w -= N
                peer[w].send(b'e')
                writes -= 1
                fired += 1
        passes += 1
        if count == fired:
            break
    return {'ns': time.perf_counter_ns() - t0, 'passes': passes, 'events': count}


for _ in range(a.warmup):
    run_once()
samples = [run_once() for _ in range(a.runs)]
sel.close()
for s in socks:
    s.close()
print(json.dumps({'impl': 'cpython', 'backend': a.backend, 'n': N, 'active': A, 'writes': W,
                  'layout': 'packed' if a.packed else 'pairs', 'maxfd': maxfd, 'samples': samples}))
