#!/usr/bin/env bash
# Live-delivery benchmark: latency from the sender's 200 OK to the watcher
# holding the DM, for SSE, long-poll and the reference's 1 s polling; then
# 10,000 idle SSE watchers on one gateway: server RSS, the sender's
# throughput against a control gateway without watchers (runs alternate
# between the two, so load changes on the machine hit both alike), and
# delivery latency under the watchers.
#
#   bench/delivery.sh [OUTDIR]          needs oha (cargo install oha --locked)
#
# Environment: COUNT (1000 messages per latency run), WATCHERS (10000),
# DURATION (10s per throughput run), REFERENCE=1 to also measure the Python
# gateway's polling model ($MESHGATE_VENV with swarph-cli[gateway]).
set -euo pipefail
# One sender and one pair at full speed: the send rate limit and the loop
# breaker would refuse most of it, so they are off unless the caller sets them.
export MESHGATE_SEND_RATE=${MESHGATE_SEND_RATE:-off} MESHGATE_LOOP_LIMIT=${MESHGATE_LOOP_LIMIT:-off}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/bench/out/delivery-$(date +%Y%m%d-%H%M%S)}
COUNT=${COUNT:-1000}; WATCHERS=${WATCHERS:-10000}; DURATION=${DURATION:-10s}
VENV=${MESHGATE_VENV:-$ROOT/.venv}
TOKEN=benchtoken-0123456789abcdef
PORT=${PORT:-18791}; URL=http://127.0.0.1:$PORT
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"   # 10k watchers: raised here, for this benchmark only
(cd "$ROOT" && cargo build --release -p meshgate-cli -p meshgate-bench --quiet)
BENCH="$ROOT/target/release/meshgate-bench"
WORK=$(mktemp -d); PID=""; WPID=""; CPID=""
stop() { for p in $WPID $PID $CPID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap stop EXIT

start_meshgate() {  # port data-dir: starts a gateway, prints its pid
  MESH_GATEWAY_TOKEN=$TOKEN RUST_LOG=warn "$ROOT/target/release/meshgate" serve --listen "127.0.0.1:$1" \
    --data-dir "$WORK/$2" >/dev/null 2>"$OUT/server-$2.log" &
  local pid=$!
  for _ in $(seq 100); do
    if curl -fs "http://127.0.0.1:$1/health" >/dev/null 2>&1; then
      for peer in dlv-sink dlv-sender; do
        curl -fs -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
          -d "{\"name\":\"$peer\"}" "http://127.0.0.1:$1/peers/register" >/dev/null
      done
      echo "$pid"; return
    fi
    sleep 0.1
  done
  echo "gateway did not start" >&2; exit 1
}
rss_kib() { awk '/VmRSS/{print $2}' /proc/"$PID"/status; }
send_rps() {  # url name: closed-loop sends at c=16 for DURATION; prints ok req/s
  local body
  body='{"from_node":"dlv-sender","to_node":"dlv-sink","kind":"fyi","content":"throughput probe"}'
  oha --no-tui -w -z "$DURATION" -c 16 --output-format json -H "Authorization: Bearer $TOKEN" \
    -m POST -T application/json -d "$body" "$1/messages" > "$OUT/$2.json"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["statusCodeDistribution"]; print(round(sum(v for k,v in c.items() if k.startswith("2"))/d["summary"]["total"]))' "$OUT/$2.json"
}

PID=$(start_meshgate "$PORT" mg)
echo "rss idle: $(rss_kib) KiB" | tee "$OUT/summary.txt"
for mode in sse longpoll; do
  "$BENCH" --url "$URL" --token "$TOKEN" delivery --mode "$mode" --count "$COUNT" --prefix "dlv" \
    | tee "$OUT/latency-$mode.json"
done
median() { python3 -c 'import statistics, sys; print(round(statistics.median(float(x) for x in sys.argv[1:])))' "$@"; }

# The control: an identical gateway that never gets a watcher.
CONTROL_URL=http://127.0.0.1:$((PORT + 1))
CPID=$(start_meshgate "$((PORT + 1))" control)
"$BENCH" --url "$URL" --token "$TOKEN" watchers --count "$WATCHERS" 2>"$OUT/watchers.log" &
WPID=$!
until grep -q "holding" "$OUT/watchers.log" 2>/dev/null; do sleep 0.5; kill -0 "$WPID" || { cat "$OUT/watchers.log"; exit 1; }; done
cat "$OUT/watchers.log" | tee -a "$OUT/summary.txt"
sleep 2
echo "rss with $WATCHERS watchers: $(rss_kib) KiB" | tee -a "$OUT/summary.txt"
DURATION=3s send_rps "$CONTROL_URL" warmup-idle >/dev/null; DURATION=3s send_rps "$URL" warmup-watchers >/dev/null
idle=(); busy=(); ratios=()
for r in 1 2 3; do
  i=$(send_rps "$CONTROL_URL" "send-idle-$r"); b=$(send_rps "$URL" "send-watchers-$r")
  idle+=("$i"); busy+=("$b"); ratios+=("$(python3 -c "print(round(100*$b/$i, 1))")")
done
kill "$CPID"; CPID=""
echo "send c=16, no watchers (control gateway): $(median "${idle[@]}") req/s (runs: ${idle[*]})" | tee -a "$OUT/summary.txt"
echo "send c=16, $WATCHERS watchers: $(median "${busy[@]}") req/s (runs: ${busy[*]})" | tee -a "$OUT/summary.txt"
echo "with watchers / without, per alternating pair: ${ratios[*]} %; median $(median "${ratios[@]}")%" | tee -a "$OUT/summary.txt"
"$BENCH" --url "$URL" --token "$TOKEN" delivery --mode sse --count "$COUNT" --prefix "dlvw" \
  | tee "$OUT/latency-sse-under-watchers.json"
echo "rss after: $(rss_kib) KiB" | tee -a "$OUT/summary.txt"
kill "$WPID"; wait "$WPID" 2>/dev/null || true; WPID=""
kill "$PID"; while kill -0 "$PID" 2>/dev/null; do sleep 0.1; done; PID=""

if [ "${REFERENCE:-0}" = 1 ]; then
  MESH_GATEWAY_TOKEN=$TOKEN MESH_DB_PATH=$WORK/ref.db "$VENV/bin/python" -m uvicorn swarph_cli.gateway.server:app \
    --host 127.0.0.1 --port "$PORT" --log-level warning 2>"$OUT/reference.log" &
  PID=$!
  for _ in $(seq 100); do curl -fs "$URL/health" >/dev/null 2>&1 && break; sleep 0.1; done
  "$BENCH" --url "$URL" --token "$TOKEN" delivery --mode poll --poll-ms 1000 --count "${REF_COUNT:-200}" \
    --gap-ms 50 | tee "$OUT/latency-reference-poll.json"
fi
echo "results in $OUT"
