#!/usr/bin/env python3
"""Memory of one gateway under hostile input (driver of bench/memory.sh).

Scenarios (each on a fresh gateway; prints one JSON object):

  list     300 DMs of 190,000 control characters (each escapes to 6 bytes of
           JSON) to bob; then CONCURRENCY clients each GET
           /messages?to=bob&limit=1000 ROUNDS times, reading every answer.
  streams  100 DMs of 200,000 four-byte characters (~800 KB) to bob; then 10
           SSE clients open /messages/stream?after_id=0 and never read.
  nonread  as list, then CLIENTS (50) connections each ask bob's
           /messages?to=bob&limit=1000 (4 MiB pages) and never read.
  drip     CLIENTS (50) connections each POST /messages with bob's token,
           Content-Length 4 MiB, and send all but the last 100 bytes.

RSS is sampled from /proc/PID/status every 20 ms during the attack (VmRSS,
split into RssAnon and RssFile: SQLite's mapped database pages count as
file-backed RSS). Standard library only.
"""
import argparse
import http.client
import json
import socket
import threading
import time
from urllib.parse import urlparse


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(rest.split()[0]) // 1024  # MiB
    return out


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, {"VmRSS": 0}, threading.Event()

    def run(self):
        while not self.stop.is_set():
            s = status(self.pid)
            if s["VmRSS"] > self.peak["VmRSS"]:
                self.peak = s
            time.sleep(0.02)


class Api:
    def __init__(self, url, token):
        u = urlparse(url)
        self.host, self.port, self.token = u.hostname, u.port, token
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def call(self, method, path, body=None, token=None):
        headers = {"Authorization": f"Bearer {token or self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        if resp.status != 200:
            raise SystemExit(f"{method} {path}: {resp.status} {raw[:300]!r}")
        return raw


def setup(api, n, content):
    api.call("POST", "/peers/register", {"name": "alice"})
    bob = json.loads(api.call("POST", "/peers/register", {"name": "bob"}))["peer_token"]
    for _ in range(n):
        api.call("POST", "/messages", {"from_node": "alice", "to_node": "bob", "kind": "fyi", "content": content})
    return bob


def reset_peak(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM
    except OSError:
        pass


def list_attack(args):
    api = Api(args.url, args.token)
    bob = setup(api, args.messages, "\x01" * 190_000)
    time.sleep(0.5)
    before = status(args.pid)
    reset_peak(args.pid)
    sampler = Sampler(args.pid)
    sampler.start()
    sizes, rows = [], []

    def client():
        mine = Api(args.url, bob)
        for _ in range(args.rounds):
            raw = mine.call("GET", "/messages?to=bob&limit=1000")
            sizes.append(len(raw))
            rows.append(json.loads(raw)["n"])

    threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.time() - started
    time.sleep(0.2)
    sampler.stop.set()
    sampler.join()
    return {
        "scenario": "list",
        "messages": args.messages,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "answer_bytes_max": max(sizes),
        "answer_rows_max": max(rows),
        "seconds": round(took, 2),
        "rss_before_mib": before["VmRSS"],
        "rss_peak_mib": sampler.peak["VmRSS"],
        "anon_at_peak_mib": sampler.peak.get("RssAnon"),
        "file_at_peak_mib": sampler.peak.get("RssFile"),
        "hwm_mib": status(args.pid)["VmHWM"],
    }


def hold_sockets(args, scenario, request):
    """CLIENTS connections each send `request` and never read; RSS meanwhile."""
    time.sleep(0.5)
    before = status(args.pid)
    reset_peak(args.pid)
    sampler = Sampler(args.pid)
    sampler.start()
    u = urlparse(args.url)
    socks = []
    for _ in range(args.clients):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((u.hostname, u.port))
        try:
            s.sendall(request)
        except OSError:
            pass  # refused and closed by the gateway
        socks.append(s)  # never read
    time.sleep(args.hold)
    sampler.stop.set()
    sampler.join()
    held = status(args.pid)
    for s in socks:
        s.close()
    return {
        "scenario": scenario,
        "messages": args.messages,
        "clients": args.clients,
        "hold_seconds": args.hold,
        "rss_before_mib": before["VmRSS"],
        "rss_peak_mib": sampler.peak["VmRSS"],
        "rss_added_mib": sampler.peak["VmRSS"] - before["VmRSS"],
        "anon_at_peak_mib": sampler.peak.get("RssAnon"),
        "file_at_peak_mib": sampler.peak.get("RssFile"),
        "rss_at_end_mib": held["VmRSS"],
    }


def stream_attack(args):
    bob = setup(Api(args.url, args.token), args.messages, "\U0001F600" * 200_000)
    host = urlparse(args.url).hostname
    return hold_sockets(args, "streams", (
        f"GET /messages/stream?after_id=0 HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {bob}\r\nAccept: text/event-stream\r\n\r\n").encode())


def nonread_attack(args):
    bob = setup(Api(args.url, args.token), args.messages, "\x01" * 190_000)
    host = urlparse(args.url).hostname
    return hold_sockets(args, "nonread", (
        f"GET /messages?to=bob&limit=1000 HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {bob}\r\n\r\n").encode())


def drip_attack(args):
    bob = setup(Api(args.url, args.token), 0, "")
    host = urlparse(args.url).hostname
    length = 4 * 1024 * 1024
    head = (f"POST /messages HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {bob}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()
    body = b'{"to_node":"alice","kind":"fyi","content":"' + b"a" * (length - 100)
    return hold_sockets(args, "drip", head + body)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["list", "streams", "nonread", "drip"])
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--messages", type=int)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int)
    p.add_argument("--hold", type=float, default=10.0)
    args = p.parse_args()
    if args.scenario == "list":
        args.messages = args.messages or 300
        print(json.dumps(list_attack(args)))
    elif args.scenario == "streams":
        args.messages = args.messages or 100
        args.clients = args.clients or 10
        print(json.dumps(stream_attack(args)))
    else:
        args.messages = args.messages or (300 if args.scenario == "nonread" else 0)
        args.clients = args.clients or 50
        attack = nonread_attack if args.scenario == "nonread" else drip_attack
        print(json.dumps(attack(args)))


if __name__ == "__main__":
    main()
