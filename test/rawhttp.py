#!/usr/bin/env python3
"""rawhttp.py PORT: send stdin as is to 127.0.0.1:PORT, then print what
comes back until the server closes the connection ("<closed>" last) or
3 s pass without it ("<open>" last)."""
import socket
import sys

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(sys.stdin.buffer.read())
out = b""
end = "<open>"
try:
    while True:
        data = s.recv(65536)
        if not data:
            end = "<closed>"
            break
        out += data
except (socket.timeout, ConnectionResetError) as e:
    end = "<closed>" if isinstance(e, ConnectionResetError) else "<open>"
sys.stdout.write(out.decode("utf-8", "replace").replace("\r\n", "\n"))
print(end)
