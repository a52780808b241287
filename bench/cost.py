#!/usr/bin/env python3
"""Cost per request of several gateway binaries (and a do-nothing floor), measured
side by side in one run.

  bench/cost.py [options] LABEL=BIN [LABEL=BIN ...]

Starts every gateway at once (each on a fresh SQLite store, seeded alike through
the API: 101 peers, --rows messages over 100 recipients) and, with --floor, the
`meshgate-floor` server (crates/meshgate-bench). Then, round after round, each
scenario is run against each server in turn (the order rotates per round), so
load from elsewhere on the machine hits all of them alike:

  inbox-cN  GET /messages?to=bench-rNNN&unread_only=true&limit=50 (operator token)
  send-cN   POST /messages, ~200 bytes of content (operator token)

Each measurement is oha with a fixed request count (-n) while `perf stat -p`
counts the server's task-clock, context switches, system calls and futex calls.
Divided by the 2xx answers this gives CPU, switches and syscalls per request,
which move far less than throughput when other work shares the cores. This
machine's VM has no hardware counters; --callgrind instead runs each gateway
under valgrind (seeded natively first) and counts user-space instructions per
request exactly (threads serialised, so throughput means nothing there).

Results: OUTDIR/results.jsonl (one line per measurement) and OUTDIR/table.md.
Needs oha and perf (Debian linux-perf).
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "benchtoken-0123456789abcdef"
CONTENT = ("meshgate benchmark message " * 10)[:200]
EVENTS = "task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_futex"


def wait_healthy(url, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{url}: not healthy after {timeout} s")


class Server:
    def __init__(self, label, cmd, port, env=None, data=None):
        self.label, self.cmd, self.port, self.env, self.data = label, cmd, port, env, data
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None

    def start(self, wrap=(), log=None):
        self.proc = subprocess.Popen(list(wrap) + self.cmd, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=log or subprocess.DEVNULL)
        wait_healthy(self.url, self.proc)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def gateway(label, binary, port, data):
    env = dict(os.environ, MESH_GATEWAY_TOKEN=TOKEN, RUST_LOG="warn")
    cmd = [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)]
    return Server(label, cmd, port, env, data)


def seed(url, rows):
    names = ["bench-sender"] + [f"bench-r{i:03d}" for i in range(100)]
    subprocess.run([sys.executable, ROOT / "bench/seed.py", "register", url, TOKEN, *names], check=True)
    subprocess.run([sys.executable, ROOT / "bench/seed.py", "messages", url, TOKEN, "--total", str(rows),
                    "--concurrency", "16"], check=True)


def target(scenario, url):
    body = json.dumps({"from_node": "bench-sender", "to_node": "bench-r000", "kind": "fyi", "content": CONTENT})
    if scenario == "inbox":
        return ["--rand-regex-url", url + r"/messages\?to=bench-r0[0-9]{2}&unread_only=true&limit=50"]
    return ["-m", "POST", "-T", "application/json", "-d", body, url + "/messages"]


def callgrind_ir(pid, before):
    """Dumps callgrind's counters of `pid` and returns the new dump's total Ir."""
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, stdout=subprocess.DEVNULL)
    for _ in range(100):
        dumps = set(Path(".").glob(f"callgrind.out.{pid}.*")) - before
        if dumps:
            break
        time.sleep(0.1)
    total = 0
    for dump in dumps:
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("totals:") or line.startswith("summary:"):
                total = max(total, int(line.split()[1]))
    return total, dumps


def measure(server, scenario, conc, n, callgrind, out):
    pid = server.proc.pid
    oha_json = out / f"oha-{server.label}-{scenario}-c{conc}-{time.time_ns()}.json"
    oha = ["oha", "--no-tui", "-n", str(n), "-c", str(conc), "-t", "30s", "--output-format", "json",
           "-o", str(oha_json), "-H", f"Authorization: Bearer {TOKEN}", *target(scenario, server.url)]
    row = {"label": server.label, "scenario": f"{scenario}-c{conc}", "n": n}
    if callgrind:
        subprocess.run(["callgrind_control", "-z", str(pid)], check=True, stdout=subprocess.DEVNULL)
        before = set(Path(".").glob(f"callgrind.out.{pid}.*"))
        subprocess.run(oha, check=True, stdout=subprocess.DEVNULL)
        ir, dumps = callgrind_ir(pid, before)
        for d in dumps:
            shutil.move(str(d), out / f"callgrind-{server.label}-{scenario}-c{conc}-{d.name}")
        counts = {"Ir": ir}
    else:
        stat = out / "perf-stat.tmp"
        subprocess.run(["perf", "stat", "-x,", "-o", str(stat), "-e", EVENTS, "-p", str(pid), "--", *oha],
                       check=True, stdout=subprocess.DEVNULL)
        counts = {}
        for line in stat.read_text().splitlines():
            parts = line.split(",")
            if len(parts) > 3 and parts[0] and not line.startswith("#"):
                try:
                    counts[parts[2]] = float(parts[0])
                except ValueError:
                    pass
    d = json.loads(oha_json.read_text())
    codes = d.get("statusCodeDistribution", {})
    ok = sum(v for c, v in codes.items() if str(c).startswith("2"))
    row["ok"] = ok
    row["errors"] = n - ok
    row["rps"] = ok / d["summary"]["total"] if d["summary"].get("total") else 0
    row["p99_ms"] = (d["latencyPercentiles"].get("p99") or 0) * 1000
    if ok:
        if "task-clock" in counts:
            row["cpu_us"] = counts["task-clock"] * 1000 / ok  # task-clock is in ms
            row["cs"] = counts.get("context-switches", 0) / ok
            row["syscalls"] = counts.get("raw_syscalls:sys_enter", 0) / ok
            row["futex"] = counts.get("syscalls:sys_enter_futex", 0) / ok
        if "Ir" in counts:
            row["ir"] = counts["Ir"] / ok
    oha_json.unlink()
    with open(out / "results.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    return row


def cell(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}–{fmt(max(values))}]"


def table(rows, labels, floor):
    by = {}
    for r in rows:
        by.setdefault(r["scenario"], {}).setdefault(r["label"], []).append(r)
    cols = [("rps", "req/s", lambda v: f"{v:,.0f}"), ("cpu_us", "CPU µs/req", lambda v: f"{v:.1f}"),
            ("ir", "instr/req", lambda v: f"{v:,.0f}"), ("syscalls", "syscalls/req", lambda v: f"{v:.2f}"),
            ("futex", "futex/req", lambda v: f"{v:.2f}"), ("cs", "ctx sw/req", lambda v: f"{v:.2f}"),
            ("p99_ms", "p99 ms", lambda v: f"{v:.2f}")]
    present = [c for c in cols if any(c[0] in r for r in rows)]
    lines = ["| scenario | server | " + " | ".join(c[1] for c in present) + " | errors |",
             "|---|---|" + "---|" * (len(present) + 1)]
    for scenario in sorted(by):
        for label in labels + ([floor] if floor else []):
            rs = by[scenario].get(label, [])
            if not rs:
                continue
            cells = [cell([r.get(k) for r in rs], f) for k, _, f in present]
            lines.append(f"| {scenario} | {label} | " + " | ".join(cells) + f" | {sum(r['errors'] for r in rs)} |")
    # Ratios: each label against the first (per round, then the median), and against the floor.
    lines.append("")
    base = labels[0]
    metric = "ir" if any("ir" in r for r in rows) else "cpu_us"
    lines.append(f"| scenario | server | {metric} vs {base} | req/s vs {base}"
                 + (" | req/s % of floor | floor CPU / its CPU" if floor else "") + " |")
    lines.append("|---|---|---|---|" + ("---|---|" if floor else ""))
    for scenario in sorted(by):
        for label in labels:
            rs, bs = by[scenario].get(label, []), by[scenario].get(base, [])
            if not rs or not bs:
                continue
            pairs = list(zip(rs, bs))
            cost = [r[metric] / b[metric] - 1 for r, b in pairs if r.get(metric) and b.get(metric)]
            rps = [r["rps"] / b["rps"] - 1 for r, b in pairs if b["rps"]]
            line = f"| {scenario} | {label} | {cell(cost, lambda v: f'{v:+.1%}')} | {cell(rps, lambda v: f'{v:+.1%}')}"
            if floor:
                fs = by[scenario].get(floor, [])
                fp = list(zip(rs, fs))
                pct = [r["rps"] / f["rps"] for r, f in fp if f["rps"]]
                cpu = [f["cpu_us"] / r["cpu_us"] for r, f in fp if r.get("cpu_us") and f.get("cpu_us")]
                line += f" | {cell(pct, lambda v: f'{v:.0%}')} | {cell(cpu, lambda v: f'{v:.0%}')}"
            lines.append(line + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("servers", nargs="+", metavar="LABEL=BIN")
    p.add_argument("--out", type=Path, default=ROOT / "bench/out" / time.strftime("cost-%Y%m%d-%H%M%S"))
    p.add_argument("--floor", metavar="BIN", help="meshgate-floor binary: measured alongside")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=40000, help="requests per measurement")
    p.add_argument("--scenarios", default="inbox:16,inbox:64,send:16,send:64")
    p.add_argument("--rows", type=int, default=20000, help="messages seeded per gateway")
    p.add_argument("--port", type=int, default=18810)
    p.add_argument("--callgrind", action="store_true", help="count instructions under valgrind")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    a.out = a.out.resolve()
    os.chdir(a.out)  # callgrind writes its dumps into the server's working directory
    work = Path(tempfile.mkdtemp(prefix="cost-"))
    servers, labels = [], []
    try:
        for i, spec in enumerate(a.servers):
            label, binary = spec.split("=", 1)
            labels.append(label)
            s = gateway(label, binary, a.port + i, work / label)
            s.start(log=open(a.out / f"server-{label}.log", "w"))
            seed(s.url, a.rows)
            if a.callgrind:
                s.stop()
                s.start(wrap=["valgrind", "--tool=callgrind", "--trace-children=no"],
                        log=open(a.out / f"valgrind-{label}.log", "w"))
            servers.append(s)
        if a.floor:
            f = Server("floor", [a.floor, "--listen", f"127.0.0.1:{a.port + len(servers)}"],
                       a.port + len(servers))
            f.proc = subprocess.Popen(f.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            servers.append(f)
        (a.out / "machine.txt").write_text(
            f"date: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\nloadavg: {Path('/proc/loadavg').read_text()}"
            f"servers: {a.servers}\nfloor: {a.floor}\nrequests: {a.requests} x {a.rounds} rounds\n")
        scenarios = [(s.split(":")[0], int(s.split(":")[1])) for s in a.scenarios.split(",")]
        rows = []
        for rnd in range(a.rounds):
            order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
            for scenario, conc in scenarios:
                for s in order:
                    if s.label == "floor" and a.callgrind:
                        continue
                    r = measure(s, scenario, conc, a.requests, a.callgrind, a.out)
                    print(json.dumps(r), flush=True)
                    rows.append(r)
        text = table(rows, labels, "floor" if a.floor and not a.callgrind else None)
        (a.out / "table.md").write_text(text + "\n")
        print(text)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
