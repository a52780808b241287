#!/usr/bin/env bash
# Benchmarks the Rust guard (meshgate-guard) and the Python reference guard on
# the same inputs and writes bench/guard/RESULTS.md.
#
#   bench/guard/run.sh [PYTHON] [TIMEOUT_SECONDS]
#
# PYTHON defaults to $PYTHON, then .venv/bin/python (CI), then /tmp/venv/bin/python.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
PY="${1:-${PYTHON:-}}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=/tmp/venv/bin/python; fi
fi
TIMEOUT="${2:-${PY_TIMEOUT:-10}}"
OUT="$ROOT/bench/out/guard"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target-guard}"
mkdir -p "$OUT/inputs"
cargo run -q -p meshgate-guard --example bench --release -- \
  --write-inputs "$OUT/inputs" --tsv "$OUT/rust.tsv" > "$OUT/rust.md"
"$PY" bench/guard/python_guard_bench.py --inputs "$OUT/inputs" --timeout "$TIMEOUT" \
  --rust-tsv "$OUT/rust.tsv" --rust-md "$OUT/rust.md" --out bench/guard/RESULTS.md
echo "wrote bench/guard/RESULTS.md"
