#!/usr/bin/env python3
"""Wake-hook latency: from the moment a DM's POST starts to the moment the
Claude Code wake hook (`meshgate hooks run wake`, run as Claude Code runs it:
`sh -c "<installed command>"` with the Stop event JSON on stdin) has exited 2.

    bench/hooks.py [OUTDIR]        (release build: cargo build --release -p meshgate-cli)

Environment: COUNT (200 measured wakes, after 10 warm-up ones), MESHGATE_BIN
(default target/release/meshgate). Starts its own gateway (SQLite, fresh data
dir), registers two peers with the CLI, installs the hooks into a scratch
settings file and reads the Stop command back from it. Each round starts a
wake hook, waits until it has claimed the session (its .wake file) and
then 0.3 s so that it is blocked in its long-poll, sends one DM
with alice's per-peer token over HTTP, and records when the hook process
exited (a thread blocked in waitpid), and how long the POST alone took (to
its 200) and from that 200 to the hook's exit. Writes samples.json and prints a Markdown row for bench/RESULTS.md
(with the load average at the end, since the machine is shared).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("MESHGATE_BIN", os.path.join(ROOT, "target/release/meshgate"))
COUNT = int(os.environ.get("COUNT", "200"))
WARMUP = 10
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bench/out/hooks-" + time.strftime("%Y%m%d-%H%M%S"))


def wake_tokens(state_dir):
    """The current wake hooks' tokens (`pid:nanos`, one per session file)."""
    try:
        return {open(os.path.join(state_dir, n)).read() for n in os.listdir(state_dir) if n.endswith(".wake")}
    except FileNotFoundError:
        return set()


def main():
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="meshgate-hooks-bench-")
    token = "bench-operator-token-0123456789abcdef"
    env = dict(os.environ, MESHGATE_CONFIG_DIR=os.path.join(work, "config"), HOME=work, RUST_LOG="warn")
    env.pop("MESH_GATEWAY_TOKEN", None)
    server = subprocess.Popen(
        [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, "data")],
        env=dict(env, MESH_GATEWAY_TOKEN=token), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in server.stderr:
            if line.startswith("meshgate: listening on "):
                url = line.split("listening on ", 1)[1].strip()
                break
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        env["MESH_GATEWAY_URL"] = url
        for name in ("alice", "bob"):
            subprocess.run([BIN, "register", "--as", name], env=dict(env, MESH_GATEWAY_TOKEN=token),
                           check=True, stdout=subprocess.DEVNULL)
        settings = os.path.join(work, "settings.json")
        subprocess.run([BIN, "hooks", "install", "claude-code", "--as", "bob", "--settings", settings],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        doc = json.load(open(settings))
        wake = next(h["command"] for g in doc["hooks"]["Stop"] for h in g["hooks"] if " hooks run wake " in h["command"])
        token_dir = os.path.join(work, "config", "tokens", url.split("://", 1)[1].replace(":", "-"))
        alice = open(os.path.join(token_dir, "alice")).read().strip()
        state_dir = os.path.join(work, "config", "hooks", url.split("://", 1)[1].replace(":", "-"), "bob")

        samples = []
        posts = []  # the POST alone: request sent to 200 read
        after_ok = []  # from the 200 to the hook's exit (0 when it exited first)
        for i in range(WARMUP + COUNT):
            before = wake_tokens(state_dir)
            hook = subprocess.Popen(["sh", "-c", wake], env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            hook.stdin.write(json.dumps({"session_id": "bench", "hook_event_name": "Stop",
                                         "cwd": work, "stop_hook_active": False}).encode())
            hook.stdin.close()
            exited = {}

            def reap():
                _, status = os.waitpid(hook.pid, 0)
                exited["t"] = time.perf_counter()
                exited["code"] = os.waitstatus_to_exitcode(status)

            reaper = threading.Thread(target=reap)
            reaper.start()
            # Wait until the hook has claimed the session (its .wake file is
            # fresh), then give it time to be blocked in its long-poll.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and wake_tokens(state_dir) in (set(), before):
                time.sleep(0.001)
            time.sleep(0.3)
            body = json.dumps({"to_node": "bob", "kind": "fyi", "content": f"bench wake {i}"}).encode()
            request = urllib.request.Request(url + "/messages", data=body, method="POST", headers={
                "Authorization": "Bearer " + alice, "Content-Type": "application/json"})
            start = time.perf_counter()
            urllib.request.urlopen(request).read()
            answered = time.perf_counter()
            reaper.join(10)
            stderr = hook.stderr.read().decode()
            if exited.get("code") != 2 or f"bench wake {i}" not in stderr:
                raise SystemExit(f"round {i}: hook exit {exited.get('code')}, stderr {stderr!r}")
            if i >= WARMUP:
                samples.append((exited["t"] - start) * 1000)
                posts.append((answered - start) * 1000)
                after_ok.append(max(0.0, exited["t"] - answered) * 1000)
        samples.sort()
        posts.sort()
        after_ok.sort()
        pct = lambda xs, p: xs[min(len(xs) - 1, int(round(p / 100 * len(xs) + 0.5)) - 1)]
        result = {"count": len(samples), "p50_ms": pct(samples, 50), "p90_ms": pct(samples, 90),
                  "p99_ms": pct(samples, 99), "max_ms": samples[-1], "mean_ms": statistics.mean(samples),
                  "post_p50_ms": pct(posts, 50), "post_p99_ms": pct(posts, 99),
                  "after_ok_p50_ms": pct(after_ok, 50), "after_ok_p99_ms": pct(after_ok, 99),
                  "load_avg": os.getloadavg(), "samples_ms": samples, "post_ms": posts, "after_ok_ms": after_ok}
        json.dump(result, open(os.path.join(OUT, "samples.json"), "w"), indent=1)
        print(f"| DM sent -> wake hook exited 2 | {len(samples)} | {result['p50_ms']:.2f} ms | "
              f"{result['p90_ms']:.2f} ms | {result['p99_ms']:.2f} ms | {result['max_ms']:.2f} ms | "
              f"{result['post_p50_ms']:.2f} / {result['post_p99_ms']:.2f} ms | "
              f"{result['after_ok_p50_ms']:.2f} / {result['after_ok_p99_ms']:.2f} ms | "
              f"{' / '.join(f'{x:.1f}' for x in result['load_avg'])} |")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
