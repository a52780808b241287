#!/usr/bin/env bash
# Load benchmark of a gateway on loopback: durable sends and inbox reads.
#
#   bench/gateway.sh meshgate|reference|postgres [OUTDIR]
#
# Starts the gateway itself on a fresh store (meshgate: release build, SQLite;
# postgres: meshgate on MESHGATE_BENCH_PG_URL; reference: the Python gateway
# from PyPI under uvicorn, from $MESHGATE_VENV), registers bench-sender and
# bench-r000..099, seeds READ_ROWS messages through the API, then measures
# with oha (keep-alive, closed loop, -w):
#   send:  POST /messages {~200-byte fyi} at SEND_CONC
#   inbox: GET /messages?to=bench-rNNN&unread_only=true&limit=50 at READ_CONC
# and samples the server's RSS. Results: OUTDIR/results.jsonl; render with
# bench/report.py OUTDIR... Needs oha (cargo install oha --locked).
#
# Environment: DURATION (10s), RUNS (3), SEND_CONC ("1 16 64"),
# READ_CONC ("16 64"), READ_ROWS (100000), PORT (18790), REPLICAS (1; with
# postgres, N gateways on one database, each loaded by its own oha with c/N
# connections; throughput is the sum, latency the worst replica's),
# MESHGATE_BIN (a prebuilt meshgate binary instead of building this tree's;
# for before/after comparisons), LABEL (the column name in the report).
set -euo pipefail
# One sender and one pair at full speed: the send rate limit and the loop
# breaker would refuse most of it, so they are off unless the caller sets them.
export MESHGATE_SEND_RATE=${MESHGATE_SEND_RATE:-off} MESHGATE_LOOP_LIMIT=${MESHGATE_LOOP_LIMIT:-off}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIND=${1:?usage: gateway.sh meshgate|reference|postgres [OUTDIR]}
OUT=${2:-$ROOT/bench/out/$KIND-$(date +%Y%m%d-%H%M%S)}
DURATION=${DURATION:-10s}; RUNS=${RUNS:-3}
SEND_CONC=${SEND_CONC:-"1 16 64"}; READ_CONC=${READ_CONC:-"16 64"}
READ_ROWS=${READ_ROWS:-100000}; PORT=${PORT:-18790}
VENV=${MESHGATE_VENV:-$ROOT/.venv}
OHA=${OHA:-oha}
TOKEN=benchtoken-0123456789abcdef
URL=http://127.0.0.1:$PORT
WORK=$(mktemp -d)
mkdir -p "$OUT/raw"
command -v "$OHA" >/dev/null || { echo "oha not found: cargo install oha --locked" >&2; exit 1; }

REPLICAS=${REPLICAS:-1}
PIDS=()
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap stop EXIT
[ "$REPLICAS" = 1 ] || [ "$KIND" = postgres ] || { echo "REPLICAS > 1 needs the postgres kind" >&2; exit 2; }
echo "${LABEL:-$KIND$([ "$REPLICAS" = 1 ] || echo "-x$REPLICAS")}" > "$OUT/label"
URLS=()

case "$KIND" in
  meshgate|postgres)
    BIN=${MESHGATE_BIN:-$ROOT/target/release/meshgate}
    [ -n "${MESHGATE_BIN:-}" ] || (cd "$ROOT" && cargo build --release -p meshgate-cli --quiet)
    DB_ARGS=()
    [ "$KIND" = postgres ] && DB_ARGS=(--db "${MESHGATE_BENCH_PG_URL:?set MESHGATE_BENCH_PG_URL}")
    for r in $(seq 0 $((REPLICAS - 1))); do
      MESH_GATEWAY_TOKEN=$TOKEN RUST_LOG=warn "$BIN" serve \
        --listen "127.0.0.1:$((PORT + r))" --data-dir "$WORK/r$r" "${DB_ARGS[@]}" 2>"$OUT/server-$r.log" &
      PIDS+=($!); URLS+=("http://127.0.0.1:$((PORT + r))")
    done ;;
  reference)
    MESH_GATEWAY_TOKEN=$TOKEN MESH_DB_PATH=$WORK/mesh.db "$VENV/bin/python" -m uvicorn \
      swarph_cli.gateway.server:app --host 127.0.0.1 --port "$PORT" --log-level warning 2>"$OUT/server.log" &
    PIDS+=($!); URLS+=("$URL") ;;
  *) echo "unknown gateway kind $KIND" >&2; exit 2 ;;
esac
for u in "${URLS[@]}"; do
  for _ in $(seq 100); do curl -fs "$u/health" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "$u/health" >/dev/null
done

{
  echo "date: $(date -Is)"; echo "gateway: $KIND"
  echo "cpus: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
  echo "loadavg at start: $(cat /proc/loadavg)"
  echo "oha: $($OHA --version)"; echo "duration: $DURATION x $RUNS runs"
} > "$OUT/machine.txt"

names=(bench-sender); for i in $(seq 0 99); do names+=("$(printf 'bench-r%03d' "$i")"); done
python3 "$ROOT/bench/seed.py" register "$URL" "$TOKEN" "${names[@]}"
echo "seeding $READ_ROWS messages..."
if [ "$KIND" = reference ] && [ -f "$ROOT/../shared/bench/seed.py" ]; then
  # The reference sends ~200 DMs/s: seed its table directly, as the shared harness does.
  python3 "$ROOT/../shared/bench/seed.py" sqlite --db "$WORK/mesh.db" --total "$READ_ROWS" --recipients 100
else
  python3 "$ROOT/bench/seed.py" messages "$URL" "$TOKEN" --total "$READ_ROWS" --concurrency 16
fi

rss_sampler() {  # the largest replica's RSS, KiB
  while kill -0 "${PIDS[0]}" 2>/dev/null; do
    for p in "${PIDS[@]}"; do awk '/VmRSS/{print $2}' /proc/"$p"/status 2>/dev/null; done | sort -n | tail -1
    sleep 0.2
  done
}
cpu_ticks() {  # user+system CPU ticks of every replica (and its threads)
  local t=0 p
  for p in "${PIDS[@]}"; do t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat))); done
  echo "$t"
}
measure() {  # scenario conc run path-or-regex, then oha arguments; {URL} in the target is each replica's URL
  local scenario=$1 conc=$2 run=$3 target=$4; shift 4
  local base="$OUT/raw/$scenario-c$conc-r$run" per=$((conc / REPLICAS)) jsons=() ohas=() i=0
  rss_sampler > "$base.rss" & local sampler=$!
  local cpu0; cpu0=$(cpu_ticks)
  for u in "${URLS[@]}"; do
    local t=${target//\{URL\}/$u}
    "$OHA" --no-tui -w -t 30s -z "$DURATION" -c "$((per > 0 ? per : 1))" --output-format json -o "$base.$i.json" \
      -H "Authorization: Bearer $TOKEN" "$@" "$t" >/dev/null &
    ohas+=($!); jsons+=("$base.$i.json"); i=$((i + 1))
  done
  for p in "${ohas[@]}"; do wait "$p"; done
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  SERVER_CPU_TICKS=$(( $(cpu_ticks) - cpu0 )) CLK_TCK=$(getconf CLK_TCK) python3 "$ROOT/bench/report.py" record "$OUT" "$scenario" "$conc" "$run" "$base.rss" "${jsons[@]}"
  tail -1 "$OUT/results.jsonl"
}

BODY=$(python3 -c 'import json; print(json.dumps({"from_node": "bench-sender", "to_node": "bench-r000", "kind": "fyi", "content": ("meshgate benchmark message " * 10)[:200]}))')
for run in $(seq "$RUNS"); do
  for c in $READ_CONC; do
    measure inbox-unread "$c" "$run" "{URL}/messages\?to=bench-r0[0-9]{2}&unread_only=true&limit=50" --rand-regex-url
  done
  for c in $SEND_CONC; do
    measure send "$c" "$run" "{URL}/messages" -m POST -T application/json -d "$BODY"
  done
done
python3 "$ROOT/bench/report.py" "$OUT"
