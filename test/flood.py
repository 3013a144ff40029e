#!/usr/bin/env python3
"""flood.py SOURCE HOST PORT COUNT SECONDS [reopen]: from address SOURCE,
open COUNT connections to HOST:PORT in one burst and hold them, sending
nothing, for SECONDS. With "reopen", a connection the server closes is
opened again at once, so that COUNT stay wanted all the time. Prints
"ready N" once the burst has been sent (N connections were accepted by
the kernel), then "done OPENED CLOSED": connections opened in all, and
how many of them the server closed."""
import errno
import selectors
import socket
import sys
import time

source, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
count, seconds = int(sys.argv[4]), float(sys.argv[5])
reopen = len(sys.argv) > 6 and sys.argv[6] == "reopen"

sel = selectors.DefaultSelector()
opened = closed = 0


def open_one():
    global opened
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((source, 0))
    s.setblocking(False)
    rc = s.connect_ex((host, port))
    if rc not in (0, errno.EINPROGRESS):
        s.close()
        return
    opened += 1
    sel.register(s, selectors.EVENT_READ)


for _ in range(count):
    open_one()
print("ready", opened, flush=True)

deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    for key, _ in sel.select(timeout=0.1):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if data:
            continue
        sel.unregister(s)
        s.close()
        closed += 1
        if reopen and time.monotonic() < deadline:
            open_one()
print("done", opened, closed, flush=True)
