#!/usr/bin/env python3
"""Seeds a gateway through its HTTP API (standard library only).

  seed.py register URL TOKEN NAME...          register peers
  seed.py messages URL TOKEN --total N        send N ~200-byte DMs from bench-sender,
                                              round-robin to bench-r000..bench-r099
"""
import argparse
import http.client
import json
import sys
import threading
import urllib.parse

CONTENT = ("meshgate benchmark message " * 10)[:200]


def conn(url):
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def post(c, token, path, body):
    c.request("POST", path, body=json.dumps(body),
              headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"POST {path} -> {r.status}: {data[:200]!r}")
    return json.loads(data)


def register(a):
    c = conn(a.url)
    for name in a.names:
        post(c, a.token, "/peers/register", {"name": name, "url": "http://bench.invalid:1", "capabilities": {}})
    return 0


def messages(a):
    def worker(part):
        c = conn(a.url)
        for i in part:
            post(c, a.token, "/messages", {"from_node": "bench-sender", "to_node": f"bench-r{i % 100:03d}",
                                           "kind": "fyi", "content": f"{i} {CONTENT}"})
    parts = [range(k, a.total, a.concurrency) for k in range(a.concurrency)]
    threads = [threading.Thread(target=worker, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("register")
    r.add_argument("url"); r.add_argument("token"); r.add_argument("names", nargs="+")
    m = sub.add_parser("messages")
    m.add_argument("url"); m.add_argument("token")
    m.add_argument("--total", type=int, required=True)
    m.add_argument("--concurrency", type=int, default=16)
    a = p.parse_args()
    return register(a) if a.cmd == "register" else messages(a)


if __name__ == "__main__":
    sys.exit(main())
