#!/usr/bin/env python3
"""A lean CPython selectors echo server, the Python reference for the echo
benchmark: recv_into a reusable buffer, send a memoryview of it, park the rest
of a short write until the socket is writable. Prints "listening on 127.0.0.1:<port> backend=cpython"; exits when
stdin reaches EOF or on SIGTERM."""
import selectors
import socket
import sys

sel = selectors.DefaultSelector()
lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(('127.0.0.1', 0))
lst.listen(4096)
lst.setblocking(False)
sel.register(lst, selectors.EVENT_READ, 'listener')
try:
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, 'stdin')
except (OSError, ValueError):
    pass
print(f'listening on 127.0.0.1:{lst.getsockname()[1]} backend=cpython', flush=True)

buf = bytearray(65536)
view = memoryview(buf)
pending = {}

while True:
    for key, _ in sel.select():
        d = key.data
        if d == 'listener':
            while True:
                try:
                    s, _ = lst.accept()
                except BlockingIOError:
                    break
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(s, selectors.EVENT_READ, None)
        elif d == 'stdin':
            sys.exit(0)
        else:
            s = key.fileobj
            try:
                rest = pending.get(s)
                if rest is not None:
                    m = s.send(rest)
                    if m < len(rest):
                        pending[s] = rest[m:]
                    else:
                        del pending[s]
                        sel.modify(s, selectors.EVENT_READ, None)
                    continue
                n = s.recv_into(buf)
                if n == 0:
                    sel.unregister(s)
                    s.close()
                    continue
                try:
                    m = s.send(view[:n])
                except BlockingIOError:
                    m = 0
                if m < n:
                    pending[s] = bytes(view[m:n])
                    sel.modify(s, selectors.EVENT_WRITE, None)
            except BlockingIOError:
                pass
            except OSError:
                sel.unregister(s)
                pending.pop(s, None)
                s.close()
