#!/usr/bin/env bash
# WAL size and send latency under a long burst of durable sends (issue #11.4).
#
#   bench/wal.sh [OUTDIR]
#
# For each WAL limit in LIMITS (MiB; 0 = unbounded, the behaviour before the
# bound), RUNS times: starts the release gateway on a fresh SQLite store with
# --sqlite-wal-limit, registers two peers, sends SENDS messages (~200 bytes)
# with oha at SEND_CONC connections, and samples the sizes of meshgate.db-wal
# and meshgate.db every 0.2 s. Writes OUTDIR/results.jsonl (one line per run)
# and OUTDIR/summary.md (a markdown table for bench/RESULTS.md).
#
# Environment: LIMITS ("0 64"), SENDS (1000000), SEND_CONC (64), RUNS (1),
# PORT (18795). Needs oha (cargo install oha --locked).
set -euo pipefail
# One sender and one pair at full speed: the send rate limit and the loop
# breaker would refuse most of it, so they are off unless the caller sets them.
export MESHGATE_SEND_RATE=${MESHGATE_SEND_RATE:-off} MESHGATE_LOOP_LIMIT=${MESHGATE_LOOP_LIMIT:-off}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/bench/out/wal-$(date +%Y%m%d-%H%M%S)}
LIMITS=${LIMITS:-"0 64"}; SENDS=${SENDS:-1000000}; SEND_CONC=${SEND_CONC:-64}; RUNS=${RUNS:-1}
PORT=${PORT:-18795}; OHA=${OHA:-oha}
TOKEN=benchtoken-0123456789abcdef
URL=http://127.0.0.1:$PORT
command -v "$OHA" >/dev/null || { echo "oha not found: cargo install oha --locked" >&2; exit 1; }
mkdir -p "$OUT/raw"
WORK=$(mktemp -d)
GW=""; SAMPLER=""
cleanup() {
  for p in $SAMPLER $GW; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$ROOT" && cargo build --release -p meshgate-cli --quiet)
{
  echo "date: $(date -Is)"
  echo "cpus: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
  echo "loadavg at start: $(cat /proc/loadavg)"
  echo "oha: $($OHA --version)"; echo "sends: $SENDS at c=$SEND_CONC, limits: $LIMITS MiB, runs: $RUNS"
} > "$OUT/machine.txt"

BODY=$(python3 -c 'import json; print(json.dumps({"from_node": "bench-sender", "to_node": "bench-r000", "kind": "fyi", "content": ("meshgate benchmark message " * 10)[:200]}))')
size() { stat -c %s "$1" 2>/dev/null || echo 0; }

for limit in $LIMITS; do
  for run in $(seq "$RUNS"); do
    base="$OUT/raw/limit$limit-r$run"
    data="$WORK/data-$limit-$run"
    MESH_GATEWAY_TOKEN=$TOKEN RUST_LOG=warn "$ROOT/target/release/meshgate" serve --listen "127.0.0.1:$PORT" \
      --data-dir "$data" --sqlite-wal-limit "$limit" 2>"$base.log" &
    GW=$!
    for _ in $(seq 100); do curl -fs "$URL/health" >/dev/null 2>&1 && break; sleep 0.1; done
    python3 "$ROOT/bench/seed.py" register "$URL" "$TOKEN" bench-sender bench-r000 >/dev/null
    ( start=$(date +%s.%N)
      while kill -0 "$GW" 2>/dev/null; do
        echo "$(echo "$(date +%s.%N) - $start" | bc) $(size "$data/meshgate.db-wal") $(size "$data/meshgate.db")"
        sleep 0.2
      done ) > "$base.sizes" &
    SAMPLER=$!
    "$OHA" --no-tui -w -t 30s -n "$SENDS" -c "$SEND_CONC" --output-format json -o "$base.json" \
      -H "Authorization: Bearer $TOKEN" -m POST -T application/json -d "$BODY" "$URL/messages" >/dev/null
    sleep 1   # one more sample after the burst (the checkpoints catch up)
    kill "$GW"; wait "$GW" 2>/dev/null || true; GW=""
    kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=""
    python3 - "$base.json" "$base.sizes" "$limit" "$run" >> "$OUT/results.jsonl" <<'PY'
import json, sys
oha, sizes, limit, run = sys.argv[1:5]
d = json.load(open(oha))
codes = d.get("statusCodeDistribution", {})
ok = sum(n for c, n in codes.items() if str(c).startswith("2"))
bad = sum(n for c, n in codes.items() if not str(c).startswith("2")) + sum(d.get("errorDistribution", {}).values())
lat = d["latencyPercentiles"]
rows = [l.split() for l in open(sizes) if len(l.split()) == 3]
wal = [int(r[1]) for r in rows]
print(json.dumps({
    "limit_mib": int(limit), "run": int(run), "ok": ok, "errors": bad,
    "ok_rps": ok / d["summary"]["total"],
    "p50_ms": lat["p50"] * 1000, "p99_ms": lat["p99"] * 1000, "p99_9_ms": lat["p99.9"] * 1000,
    "max_ms": d["summary"]["slowest"] * 1000,
    "wal_max_mib": max(wal) / 2**20, "db_end_mib": int(rows[-1][2]) / 2**20,
}))
PY
    tail -1 "$OUT/results.jsonl"
  done
done

python3 - "$OUT/results.jsonl" > "$OUT/summary.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| WAL limit | run | sends ok | errors | req/s | p50 ms | p99 ms | p99.9 ms | max ms | WAL max MiB | db MiB |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    lim = "unbounded" if r["limit_mib"] == 0 else f'{r["limit_mib"]} MiB'
    print(f'| {lim} | {r["run"]} | {r["ok"]:,} | {r["errors"]} | {r["ok_rps"]:,.0f} | {r["p50_ms"]:.2f} | {r["p99_ms"]:.2f} '
          f'| {r["p99_9_ms"]:.2f} | {r["max_ms"]:.1f} | {r["wal_max_mib"]:,.0f} | {r["db_end_mib"]:.0f} |')
PY
cat "$OUT/summary.md"
