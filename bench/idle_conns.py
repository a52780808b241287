#!/usr/bin/env python3
"""Memory per idle connection, plain HTTP vs TLS (issue #17.1).

  bench/idle_conns.py BIN [--connections N] [--rounds R] [--out FILE]

For each of plain and TLS (a throwaway CA and P-256 leaf made with openssl,
as bench/cost.py --tls does), starts a fresh release gateway (`BIN serve` on
an empty data directory, traffic control and metrics at their defaults),
opens N keep-alive connections, makes one `GET /health` on each (so the
connection's buffers and, with TLS, its session exist) and leaves them idle.
The server's RSS (VmRSS and RssAnon from /proc/PID/status) is read before the
first connection and once all N are idle (well inside the 30 s keep-alive
idle limit); the difference divided by N is the memory per idle connection.
Rounds alternate plain and TLS. Prints and appends one JSON line per
measurement to --out. Standard library only (plus openssl for the certificate).
"""
import argparse
import http.client
import json
import os
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

TOKEN = "benchtoken-0123456789abcdef"


def rss(pid):
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon"):
            out[key] = int(rest.split()[0])  # KiB
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(d):
    def run(*args):
        subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (d / "leaf.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", d / "ca.key",
        "-out", d / "ca.pem", "-days", "2", "-subj", "/CN=meshgate bench CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", d / "key.pem",
        "-out", d / "leaf.csr", "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", d / "leaf.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key", "-CAcreateserial",
        "-out", d / "cert.pem", "-days", "2", "-extfile", d / "leaf.ext")
    for f in ("ca.key", "key.pem"):
        (d / f).chmod(0o600)
    return d / "cert.pem", d / "key.pem", d / "ca.pem"


def connect(port, ctx):
    c = (http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30) if ctx
         else http.client.HTTPConnection("127.0.0.1", port, timeout=30))
    c.request("GET", "/health")
    r = c.getresponse()
    r.read()
    if r.status != 200:
        raise SystemExit(f"/health -> {r.status}")
    return c


def measure(binary, tls, n, work, files):
    port = free_port()
    data = Path(tempfile.mkdtemp(dir=work))
    cmd = [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)]
    ctx = None
    if tls:
        cert, key, ca = files
        cmd += ["--tls-cert", str(cert), "--tls-key", str(key)]
        ctx = ssl.create_default_context(cafile=str(ca))
    env = dict(os.environ, MESH_GATEWAY_TOKEN=TOKEN, RUST_LOG="warn")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                connect(port, ctx).close()
                break
            except OSError:
                time.sleep(0.1)
        # Warm up: a few connections come and go, so lazy one-time setup
        # (TLS config, allocator arenas) is in the baseline.
        for _ in range(20):
            connect(port, ctx).close()
        time.sleep(0.5)
        before = rss(proc.pid)
        started = time.time()
        conns = [connect(port, ctx) for _ in range(n)]
        took = time.time() - started
        time.sleep(1.0)
        after = rss(proc.pid)
        for c in conns:
            c.close()
        return {"tls": tls, "connections": n, "open_s": round(took, 2), "rss_before_kib": before["VmRSS"],
                "rss_after_kib": after["VmRSS"],
                "kib_per_conn": round((after["VmRSS"] - before["VmRSS"]) / n, 2),
                "anon_kib_per_conn": round((after["RssAnon"] - before["RssAnon"]) / n, 2)}
    finally:
        proc.terminate()
        proc.wait(30)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binary")
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="idle-conns-"))
    files = make_cert(work)
    for _ in range(a.rounds):
        for tls in (False, True):
            row = measure(a.binary, tls, a.connections, work, files)
            print(json.dumps(row), flush=True)
            if a.out:
                with open(a.out, "a") as f:
                    f.write(json.dumps(row) + "\n")
    subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
