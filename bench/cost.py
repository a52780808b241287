#!/usr/bin/env python3
"""Cost per request of several gateway binaries (and a do-nothing floor), measured
side by side in one run.

  bench/cost.py [options] LABEL=BIN [LABEL=BIN ...]

Starts every gateway at once (each on a fresh SQLite store, seeded alike through
the API: 101 peers, --rows messages over 100 recipients) and, with --floor, the
`meshgate-floor` server (crates/meshgate-bench; --floor LABEL=BIN adds more floors,
compared with the unlabelled one). Then, round after round, each
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

Before the first round every server gets --warmup requests of each scenario,
not counted: one-off work of a fresh process (the credential scanner's tables,
~95 M instructions, built on the first send; first-use allocations) would
otherwise be spread over the first measurement of each scenario.

Options for attribution and variants:

  --annotate        with --callgrind: per-function costs of every dump
                    (callgrind_annotate, inclusive and self) per request in
                    OUTDIR/annotate-LABEL-SCENARIO.txt; bench/cgdiff.py diffs two.
  --env LABEL:K=V   environment of one server (repeatable), e.g. the same binary
                    as `off=BIN on=BIN --env off:MESHGATE_METRICS=off`.
  --tls             serve TLS (a throwaway CA and a P-256 leaf for 127.0.0.1
                    made with openssl, as the TLS tests do with rcgen); oha
                    trusts the CA. Seeding runs over plain HTTP before the
                    restart with TLS.
  --no-keepalive    oha opens a connection per request (with --tls: a full
                    handshake per request).

Results: OUTDIR/results.jsonl (one line per measurement) and OUTDIR/table.md.
Needs oha and perf (Debian linux-perf); valgrind for --callgrind.
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
import ssl
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "benchtoken-0123456789abcdef"
CONTENT = ("meshgate benchmark message " * 10)[:200]
EVENTS = "task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_futex"


def wait_healthy(url, proc, timeout=120):
    deadline = time.time() + timeout
    insecure = ssl._create_unverified_context()  # a throwaway CA (--tls)
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2, context=insecure):
                return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{url}: not healthy after {timeout} s")


class Server:
    def __init__(self, label, cmd, port, env=None, data=None):
        self.label, self.cmd, self.port, self.env, self.data = label, cmd, port, env, data
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None

    def start(self, wrap=(), log=None, extra=()):
        self.proc = subprocess.Popen(list(wrap) + self.cmd + list(extra), env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=log or subprocess.DEVNULL)
        wait_healthy(self.url, self.proc)

    def tls(self):
        """From now on the URL is https (the server was restarted with TLS)."""
        self.url = self.url.replace("http://", "https://")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def gateway(label, binary, port, data, extra_env=None):
    env = dict(os.environ, MESH_GATEWAY_TOKEN=TOKEN, RUST_LOG="warn", **(extra_env or {}))
    cmd = [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)]
    return Server(label, cmd, port, env, data)


def seed(url, rows):
    names = ["bench-sender"] + [f"bench-r{i:03d}" for i in range(100)]
    subprocess.run([sys.executable, ROOT / "bench/seed.py", "register", url, TOKEN, *names], check=True)
    subprocess.run([sys.executable, ROOT / "bench/seed.py", "messages", url, TOKEN, "--total", str(rows),
                    "--concurrency", "16"], check=True)


def target(scenario, url):
    """oha's arguments for one scenario against `url`."""
    body = json.dumps({"from_node": "bench-sender", "to_node": "bench-r000", "kind": "fyi", "content": CONTENT})
    if scenario == "inbox":
        return ["--rand-regex-url", url + r"/messages\?to=bench-r0[0-9]{2}&unread_only=true&limit=50"]
    return ["-m", "POST", "-T", "application/json", "-d", body, url + "/messages"]


def make_cert(dir):
    """A throwaway CA and a leaf for 127.0.0.1 (P-256, as rcgen makes them in
    the TLS tests): returns (cert, key, ca) paths."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ca_key, ca, key, csr, cert = (dir / n for n in ("ca.key", "ca.pem", "key.pem", "leaf.csr", "cert.pem"))
    ext = dir / "leaf.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key,
        "-out", ca, "-days", "2", "-subj", "/CN=meshgate bench CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2",
        "-extfile", ext)
    for f in (ca_key, key):
        f.chmod(0o600)
    return cert, key, ca


def annotate(dump, ok, out):
    """Per-function instructions per request of one dump: inclusive and self."""
    lines = [f"# {dump.name}: {ok} requests; instructions per request (Ir / {ok})"]
    for inclusive in ("yes", "no"):
        text = subprocess.run(["callgrind_annotate", f"--inclusive={inclusive}", "--threshold=100",
                               "--show-percs=no", "--auto=no", str(dump)], check=True, capture_output=True, text=True).stdout
        lines.append(f"## inclusive={inclusive}")
        for line in text.splitlines():
            parts = line.strip().split(None, 1)
            if len(parts) == 2 and parts[0].replace(",", "").isdigit() and parts[1] != "events annotated":
                lines.append(f"{int(parts[0].replace(',', '')) / ok:14.1f} {parts[1]}")
    out.write_text("\n".join(lines) + "\n")


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


def warm_up(server, scenario, n, oha_extra=()):
    """`n` requests of `scenario` against `server`, not measured (see the module docs)."""
    oha = ["oha", "--no-tui", "-n", str(n), "-c", "1", "-t", "120s", "-H", f"Authorization: Bearer {TOKEN}",
           *oha_extra, *target(scenario, server.url)]
    subprocess.run(oha, check=True, stdout=subprocess.DEVNULL)


def measure(server, scenario, conc, n, callgrind, out, oha_extra=(), annotate_to=None):
    pid = server.proc.pid
    oha_json = out / f"oha-{server.label}-{scenario}-c{conc}-{time.time_ns()}.json"
    oha = ["oha", "--no-tui", "-n", str(n), "-c", str(conc), "-t", "30s", "--output-format", "json",
           "-o", str(oha_json), "-H", f"Authorization: Bearer {TOKEN}", *oha_extra, *target(scenario, server.url)]
    row = {"label": server.label, "scenario": f"{scenario}-c{conc}", "n": n}
    if callgrind:
        subprocess.run(["callgrind_control", "-z", str(pid)], check=True, stdout=subprocess.DEVNULL)
        before = set(Path(".").glob(f"callgrind.out.{pid}.*"))
        subprocess.run(oha, check=True, stdout=subprocess.DEVNULL)
        ir, dumps = callgrind_ir(pid, before)
        kept = []
        for d in dumps:
            kept.append(out / f"callgrind-{server.label}-{scenario}-c{conc}-{d.name}")
            shutil.move(str(d), kept[-1])
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
            if annotate_to:
                for d in kept:
                    annotate(d, ok, out / f"annotate-{server.label}-{scenario}-c{conc}-{d.name.split('.')[-1]}.txt")
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
    p.add_argument("--floor", action="append", default=[], metavar="[LABEL=]BIN",
                   help="meshgate-floor binary measured alongside (repeatable; the one without a label, "
                        "or labelled `floor`, is what the others are compared with)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=40000, help="requests per measurement")
    p.add_argument("--scenarios", default="inbox:16,inbox:64,send:16,send:64")
    p.add_argument("--rows", type=int, default=20000, help="messages seeded per gateway")
    p.add_argument("--port", type=int, default=18810)
    p.add_argument("--warmup", type=int, default=20, metavar="N",
                   help="requests of each scenario per server before the first round, not counted (0: none)")
    p.add_argument("--callgrind", action="store_true", help="count instructions under valgrind")
    p.add_argument("--annotate", action="store_true", help="with --callgrind: per-function costs per request")
    p.add_argument("--env", action="append", default=[], metavar="LABEL:KEY=VALUE",
                   help="environment variable of one server (repeatable)")
    p.add_argument("--tls", action="store_true", help="serve TLS with a throwaway CA (see above)")
    p.add_argument("--no-keepalive", action="store_true", help="a new connection per request")
    a = p.parse_args()
    envs = {}
    for spec in a.env:
        label, kv = spec.split(":", 1)
        key, value = kv.split("=", 1)
        envs.setdefault(label, {})[key] = value
    a.out.mkdir(parents=True, exist_ok=True)
    a.out = a.out.resolve()
    os.chdir(a.out)  # callgrind writes its dumps into the server's working directory
    work = Path(tempfile.mkdtemp(prefix="cost-"))
    oha_extra, tls_args = [], []
    if a.tls:
        cert, key, ca = make_cert(work)
        tls_args = ["--tls-cert", str(cert), "--tls-key", str(key)]
        oha_extra += ["--cacert", str(ca)]
    if a.no_keepalive:
        oha_extra.append("--disable-keepalive")
    servers, labels = [], []
    try:
        for i, spec in enumerate(a.servers):
            label, binary = spec.split("=", 1)
            labels.append(label)
            s = gateway(label, binary, a.port + i, work / label, envs.get(label))
            s.start(log=open(a.out / f"server-{label}.log", "w"))
            seed(s.url, a.rows)
            if a.callgrind or a.tls:
                s.stop()
                if a.tls:
                    s.tls()
                wrap = ["valgrind", "--tool=callgrind", "--trace-children=no"] if a.callgrind else []
                if a.callgrind:
                    # jemalloc purges freed pages on a clock (10 s); under valgrind's ~50x
                    # slowdown that clock would charge each request far more purging than
                    # natively, and a varying amount: no decay keeps the counts exact.
                    s.env.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:-1,muzzy_decay_ms:-1")
                s.start(wrap=wrap, log=open(a.out / f"valgrind-{label}.log", "w"), extra=tls_args)
            servers.append(s)
        floors = [spec.split("=", 1) if "=" in spec else ("floor", spec) for spec in a.floor]
        for label, binary in floors:
            f = Server(label, [binary, "--listen", f"127.0.0.1:{a.port + len(servers)}"], a.port + len(servers))
            f.proc = subprocess.Popen(f.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            servers.append(f)
            if label != "floor":
                labels.append(label)
        floor_labels = {label for label, _ in floors}
        (a.out / "machine.txt").write_text(
            f"date: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\nloadavg: {Path('/proc/loadavg').read_text()}"
            f"servers: {a.servers}\nenv: {envs}\ntls: {a.tls}\nkeepalive: {not a.no_keepalive}\n"
            f"floor: {a.floor}\nrequests: {a.requests} x {a.rounds} rounds\nwarm-up: {a.warmup} per scenario\n")
        scenarios = [(s.split(":")[0], int(s.split(":")[1])) for s in a.scenarios.split(",")]
        if a.warmup > 0:
            for s in servers:
                if s.label in floor_labels and a.callgrind:
                    continue
                for scenario in dict.fromkeys(name for name, _ in scenarios):
                    warm_up(s, scenario, a.warmup, oha_extra)
        rows = []
        for rnd in range(a.rounds):
            order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
            for scenario, conc in scenarios:
                for s in order:
                    if s.label in floor_labels and a.callgrind:
                        continue
                    r = measure(s, scenario, conc, a.requests, a.callgrind, a.out, oha_extra, a.annotate)
                    print(json.dumps(r), flush=True)
                    rows.append(r)
        text = table(rows, labels, "floor" if "floor" in floor_labels and not a.callgrind else None)
        (a.out / "table.md").write_text(text + "\n")
        print(text)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
