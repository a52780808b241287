#!/usr/bin/env bash
# Before/after comparison of two meshgate binaries with bench/gateway.sh,
# alternating whole runs (before, after, before, ...) so drifting machine
# load hits both alike.
#
#   bench/ab.sh BEFORE_BIN AFTER_BIN [OUTDIR]
#
# Environment: ROUNDS (3 pairs); DURATION, SEND_CONC, READ_CONC, READ_ROWS
# are passed to gateway.sh (each round is one gateway.sh run, RUNS=1);
# BEFORE_ENV / AFTER_ENV: VAR=value words set for that side's gateway only
# (e.g. AFTER_ENV="MESHGATE_METRICS=off" to compare one binary's settings).
# Prints the table of bench/report.py over every round.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BEFORE=${1:?usage: ab.sh BEFORE_BIN AFTER_BIN [OUTDIR]}
AFTER=${2:?usage: ab.sh BEFORE_BIN AFTER_BIN [OUTDIR]}
OUT=${3:-$ROOT/bench/out/ab-$(date +%Y%m%d-%H%M%S)}
ROUNDS=${ROUNDS:-3}
dirs=()
for round in $(seq "$ROUNDS"); do
  for side in before after; do
    bin=$BEFORE; extra=${BEFORE_ENV:-}
    [ "$side" = after ] && bin=$AFTER && extra=${AFTER_ENV:-}
    # shellcheck disable=SC2086 # word splitting of VAR=value words is meant
    env $extra RUNS=1 LABEL=$side MESHGATE_BIN=$bin "$ROOT/bench/gateway.sh" meshgate "$OUT/$side-$round" >/dev/null
    dirs+=("$OUT/$side-$round")
  done
done
python3 "$ROOT/bench/report.py" "${dirs[@]}" | tee "$OUT/table.md"
