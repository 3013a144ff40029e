#!/usr/bin/env python3
"""leaseflood.py SOURCE PORT COUNT THREADS PRODUCT: from address SOURCE,
COUNT checkouts of PRODUCT at 127.0.0.1:PORT over THREADS kept-alive
connections, each with another client, user and host name. Prints one
JSON object: {"codes": {STATUS: N, ...}, "refused": FIRST-REFUSAL-BODY}."""
import http.client
import json
import sys
import threading

source, port = sys.argv[1], int(sys.argv[2])
count, nthreads, product = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
codes = {}
refused = [None]
lock = threading.Lock()


def worker(t):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                      source_address=(source, 0))
    for i in range(t, count, nthreads):
        body = json.dumps({"product": product, "client": "c%d" % i,
                           "user": "u%d" % i, "host": "h%d" % i})
        conn.request("POST", "/v1/checkout", body,
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        with lock:
            codes[resp.status] = codes.get(resp.status, 0) + 1
            if resp.status >= 400 and refused[0] is None:
                refused[0] = json.loads(data)
    conn.close()


threads = [threading.Thread(target=worker, args=(t,)) for t in range(nthreads)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"codes": codes, "refused": refused[0]}))
