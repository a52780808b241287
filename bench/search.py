#!/usr/bin/env python3
"""Search benchmark: p50/p99 of GET /messages/search over HTTP on a 1,000,000-DM SQLite store.

  bench/search.py [--bin target/release/meshgate] [--messages 1000000] [--dir DIR] [--requests 200]

The store is built through the real code: `meshgate serve` creates and migrates the
database and 200 peers are registered over HTTP; the gateway is stopped, an export file
(JSON lines, the `meshgate export` format) of the DMs is generated and loaded with
`meshgate import`, whose inserts the FTS5 triggers of migration 5 index as a send's. Each DM goes between two random peers; its body is 12-40 words drawn from a
20,000-word vocabulary with Zipf (s = 1) frequencies: word rank 0 is in most DMs, rank
10,000+ in a few hundred. The gateway is then started again and, one request at a time
on a keep-alive connection, searched for a random term of each class (common: ranks
0-9, medium: 100-199, rare: 10,000-19,999, and a two-word medium phrase), as the
operator (all DMs) and as a peer (its own ~1%), with the default limit (20).
Prints a Markdown table: p50/p99 latency in ms and the share of truncated answers.
Standard library only.
"""
import argparse
import http.client
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

TOKEN = "bench-operator-token-0123456789abcdef"
VOCAB = 20_000
PEERS = 200
SYL = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "da", "fe", "gu", "hi", "jo", "be", "ch", "ti",
       "or", "an"]


def word(rank):
    """A pronounceable word, unique per rank (base-20 syllables, at least 3)."""
    out, n = [], rank + 20 * 20
    while n:
        n, d = divmod(n, len(SYL))
        out.append(SYL[d])
    return "".join(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(binary, data, port):
    env = dict(os.environ, MESH_GATEWAY_TOKEN=TOKEN)
    p = subprocess.Popen([binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return p
        except OSError:
            time.sleep(0.1)
    p.kill()
    raise SystemExit("gateway did not start")


def call(c, method, path, token=TOKEN, body=None):
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    return r.status, json.loads(data) if data else None


def build(binary, data, n):
    port = free_port()
    p = serve(binary, data, port)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    tokens = {}
    for i in range(PEERS):
        name = f"peer-{i:03d}"
        s, v = call(c, "POST", "/peers/register", body={"name": name})
        assert s == 200, v
        tokens[name] = v["peer_token"]
    p.send_signal(signal.SIGTERM)
    p.wait()
    rng = random.Random(7)
    cum = list(itertools.accumulate(1.0 / (r + 1) for r in range(VOCAB)))
    words = [word(r) for r in range(VOCAB)]
    names = list(tokens)
    source = "5e" * 16  # the store id of the (generated) source
    dump = os.path.join(os.path.dirname(data), "dms.jsonl")
    t0 = time.time()
    with open(dump, "w") as f:
        f.write(json.dumps({"type": "meta", "format": "meshgate-export", "version": 1, "store_id": source,
                            "schema_version": 5, "exported_at": "2026-01-01T00:00:00.000000+00:00"}) + "\n")
        for i in range(1, n + 1):
            a, b = rng.sample(names, 2)
            body = " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(12, 40)))
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_767_225_600 + i)) + ".000000+00:00"
            f.write(json.dumps({"type": "message", "id": i, "from_node": a, "to_node": b, "kind": "fyi",
                                "content": body, "created_at": stamp, "read_at": None, "thread_id": None,
                                "related_task_id": None, "idempotency_key": None, "idempotency_digest": None,
                                "origin": f"meshgate:{source}:{i}"}) + "\n")
    print(f"  generated {n} DMs ({time.time() - t0:.0f} s)", file=sys.stderr)
    t1 = time.time()
    subprocess.run([binary, "import", dump, "--data-dir", data], check=True, stdout=subprocess.DEVNULL)
    print(f"  imported them ({time.time() - t1:.0f} s)", file=sys.stderr)
    os.remove(dump)
    with open(os.path.join(data, "tokens.json"), "w") as f:
        json.dump(tokens, f)
    return time.time() - t0


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/meshgate")
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp/meshgate-search-bench")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the store even if DIR holds one")
    ap.add_argument("--build-only", action="store_true", help="build the store, measure nothing")
    a = ap.parse_args()
    data = os.path.join(a.dir, "data")
    if a.rebuild or not os.path.exists(os.path.join(data, "tokens.json")):
        shutil.rmtree(a.dir, ignore_errors=True)
        os.makedirs(data, mode=0o700)
        secs = build(a.bin, data, a.messages)
        print(f"built {a.messages} DMs in {secs:.0f} s", file=sys.stderr)
    if a.build_only:
        return
    with open(os.path.join(data, "tokens.json")) as f:
        tokens = json.load(f)
    port = free_port()
    p = serve(a.bin, data, port)
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        rng = random.Random(11)
        classes = {
            "common (ranks 0-9)": lambda: word(rng.randrange(0, 10)),
            "medium (ranks 100-199)": lambda: word(rng.randrange(100, 200)),
            "rare (ranks 10,000-19,999)": lambda: word(rng.randrange(10_000, VOCAB)),
            "phrase (two medium words)": lambda: f'"{word(rng.randrange(100, 200))} {word(rng.randrange(100, 200))}"',
        }
        peer = "peer-042"
        print("| query | caller | p50 ms | p99 ms | hits (mean) | truncated |")
        print("|---|---|---|---|---|---|")
        for label, term in classes.items():
            for caller, token in (("operator", TOKEN), (f"peer ({peer})", tokens[peer])):
                call(c, "GET", "/messages/search?q=" + urllib.parse.quote(term()), token)  # warm
                lat, hits, trunc = [], 0, 0
                for _ in range(a.requests):
                    q = urllib.parse.quote(term())
                    t = time.perf_counter()
                    s, v = call(c, "GET", f"/messages/search?q={q}", token)
                    lat.append((time.perf_counter() - t) * 1000)
                    if s == 200:
                        hits += len(v["hits"])
                        trunc += bool(v["truncated"])
                    else:
                        trunc += 1
                print(f"| {label} | {caller} | {pct(lat, 0.5):.1f} | {pct(lat, 0.99):.1f} | "
                      f"{hits / a.requests:.1f} | {100 * trunc / a.requests:.0f}% |", flush=True)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait()


if __name__ == "__main__":
    main()
