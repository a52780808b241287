#!/usr/bin/env bash
# Python-ecosystem compatibility: the real PyPI packages (swarph-mesh, swarph-shared,
# the `swarph mesh` CLI from swarph-cli) against a real meshgate process.
#
#   1. tests/compat               (our suite; it starts and stops its own gateway)
#   2. ../shared/conformance      (shared black-box suite, -m "not reference_quirk"),
#                                 against a second fresh gateway started here
#   3. both again against two PostgreSQL replicas on one database behind a
#      round-robin proxy (needs MESHGATE_TEST_PG_URL: without it the run fails,
#      unless MESHGATE_ALLOW_SKIP=1 is set for a local run and CI is not true)
#
# Environment:
#   MESHGATE_BIN    gateway binary (default: build with cargo, use target/debug/meshgate)
#   MESHGATE_VENV   virtualenv to create or reuse (default: <repo>/.venv)
#   PYTHON          interpreter used to create the venv (default: python3)
#   PYTEST_ARGS     extra arguments for both pytest runs (e.g. "-x -k cli")
#   MESHGATE_CONFORMANCE_DIR  the shared suite (default: ../shared/conformance next to
#                   this checkout or, from a git worktree elsewhere, next to the
#                   main worktree)
#   MESHGATE_TALLY  file to append each pytest run's summary line to, as
#                   SUITE<TAB>RUN<TAB>SUMMARY (read by scripts/tally.py)
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CONFORMANCE="${MESHGATE_CONFORMANCE_DIR:-$ROOT/../shared/conformance}"
if [ -z "${MESHGATE_CONFORMANCE_DIR:-}" ] && [ ! -d "$CONFORMANCE" ]; then
  # A linked worktree (git worktree add) lives elsewhere; its main worktree is the
  # parent of the common .git directory, and ../shared sits next to that.
  if common="$(git -C "$ROOT" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)" \
     && [ -d "$common/../../shared/conformance" ]; then
    CONFORMANCE="$(cd "$common/../../shared/conformance" && pwd)"
  fi
fi
VENV="${MESHGATE_VENV:-$ROOT/.venv}"

# step, run_pytest (shared with scripts/mcp.sh and scripts/ui.sh)
# shellcheck source=lib/suite.sh
. scripts/lib/suite.sh

# --- Python environment -------------------------------------------------------
step "Python venv ($VENV)"
MESHGATE_VENV="$VENV" scripts/venv.sh
PY="$VENV/bin/python"

# --- gateway binary -------------------------------------------------------------
if [ -z "${MESHGATE_BIN:-}" ]; then
  step "cargo build -p meshgate-cli"
  cargo build -p meshgate-cli
  MESHGATE_BIN="$ROOT/target/debug/meshgate"
fi
if [ ! -x "$MESHGATE_BIN" ]; then
  echo "compat.sh: meshgate binary not found or not executable: $MESHGATE_BIN" >&2
  exit 2
fi
export MESHGATE_BIN

# Client libraries must not inherit an ambient mesh configuration; no bytecode litter.
export PYTHONDONTWRITEBYTECODE=1
unset MESH_GATEWAY_URL MESH_GATEWAY_TOKEN SWARPH_SELF || true
read -r -a EXTRA <<<"${PYTEST_ARGS:-}"

status=0

COMPAT_SUITE="Python compat (tests/compat)"
CONF_SUITE="shared conformance"

# --- 1. our suite (manages its own gateway) -----------------------------------
step "tests/compat"
run_pytest "$COMPAT_SUITE" sqlite tests/compat || status=1

# --- 2. the shared conformance suite against a second fresh gateway ------------
step "shared conformance suite ($CONFORMANCE)"
if [ ! -d "$CONFORMANCE" ]; then
  echo "compat.sh: conformance suite not found at $CONFORMANCE (nor next to the main worktree); set MESHGATE_CONFORMANCE_DIR" >&2
  exit 2
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/meshgate-compat.XXXXXX")"
GW_PID=""
PIDS=()
stop_pid() {
  local pid=$1
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
cleanup() {
  stop_pid "$GW_PID"
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
TOKEN="$("$PY" -c 'import secrets; print("op-" + secrets.token_urlsafe(24))')"
URL="http://127.0.0.1:$PORT"
MESH_GATEWAY_TOKEN="$TOKEN" "$MESHGATE_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
  >"$WORK/meshgate.log" 2>&1 &
GW_PID=$!

healthy=""
for _ in $(seq 1 300); do   # up to 30 s
  if ! kill -0 "$GW_PID" 2>/dev/null; then break; fi
  if "$PY" -c 'import sys, httpx; sys.exit(0 if httpx.get(sys.argv[1] + "/health", timeout=1).status_code == 200 else 1)' \
       "$URL" 2>/dev/null; then
    healthy=1; break
  fi
  sleep 0.1
done
if [ -z "$healthy" ]; then
  echo "compat.sh: meshgate did not become healthy at $URL; log:" >&2
  tail -n 50 "$WORK/meshgate.log" >&2 || true
  exit 1
fi
echo "meshgate at $URL (pid $GW_PID)"

# The conformance folder is read-only: no cache provider, no bytecode files.
(
  cd "$CONFORMANCE"
  export PYTHONDONTWRITEBYTECODE=1 MESH_GATEWAY_URL="$URL" MESH_GATEWAY_TOKEN="$TOKEN"
  run_pytest "$CONF_SUITE" sqlite -m "not reference_quirk"
) || status=1

# --- 3. both suites against two PostgreSQL replicas behind one URL --------------
# Each new connection goes to the other replica (tests/compat/rr_proxy.py), so
# registering, sending, reading and long-polling cross replicas all the time.
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
wait_healthy() {
  for _ in $(seq 1 300); do
    if "$PY" -c 'import sys, httpx; sys.exit(0 if httpx.get(sys.argv[1] + "/health", timeout=1).status_code == 200 else 1)' \
         "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}
if [ -n "${MESHGATE_TEST_PG_URL:-}" ]; then
  step "tests/compat and the conformance suite against 2 PostgreSQL replicas"
  DBNAME="compat_$("$PY" -c 'import secrets; print(secrets.token_hex(6))')"
  PG_ADMIN="${MESHGATE_TEST_PG_URL%/*}/postgres"
  PG_DB="${MESHGATE_TEST_PG_URL%/*}/$DBNAME"
  psql -q "$PG_ADMIN" -c "CREATE DATABASE $DBNAME" >/dev/null
  PORTS=()
  for r in 0 1; do
    p="$(free_port)"; PORTS+=("$p")
    MESH_GATEWAY_TOKEN="$TOKEN" "$MESHGATE_BIN" serve --listen "127.0.0.1:$p" --db "$PG_DB" \
      --data-dir "$WORK/replica-$r" >"$WORK/replica-$r.log" 2>&1 &
    PIDS+=($!)
  done
  PROXY_PORT="$(free_port)"
  "$PY" tests/compat/rr_proxy.py "$PROXY_PORT" "${PORTS[@]}" >"$WORK/proxy.log" 2>&1 &
  PIDS+=($!)
  RURL="http://127.0.0.1:$PROXY_PORT"
  for p in "${PORTS[@]}"; do
    wait_healthy "http://127.0.0.1:$p" || { echo "compat.sh: replica on $p not healthy" >&2; tail -n 30 "$WORK"/replica-*.log >&2; exit 1; }
  done
  wait_healthy "$RURL" || { echo "compat.sh: proxy not healthy" >&2; exit 1; }
  echo "replicas on ${PORTS[*]} behind $RURL (database $DBNAME)"
  (
    export MESHGATE_COMPAT_URL="$RURL" MESHGATE_COMPAT_TOKEN="$TOKEN"
    run_pytest "$COMPAT_SUITE" "2 replicas" tests/compat
  ) || status=1
  (
    cd "$CONFORMANCE"
    export PYTHONDONTWRITEBYTECODE=1 MESH_GATEWAY_URL="$RURL" MESH_GATEWAY_TOKEN="$TOKEN"
    run_pytest "$CONF_SUITE" "2 replicas" -m "not reference_quirk"
  ) || status=1
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  PIDS=()
  psql -q "$PG_ADMIN" -c "DROP DATABASE $DBNAME WITH (FORCE)" >/dev/null || true
else
  if [ "${MESHGATE_ALLOW_SKIP:-}" = "1" ] && [ "${CI:-}" != "true" ]; then
    echo "compat.sh: MESHGATE_TEST_PG_URL is unset: the replica run is SKIPPED (MESHGATE_ALLOW_SKIP=1)" >&2
    if [ -n "${MESHGATE_TALLY:-}" ]; then
      printf '%s\t2 replicas\tSKIPPED: no PostgreSQL\n' "$COMPAT_SUITE" "$CONF_SUITE" >> "$MESHGATE_TALLY"
    fi
  else
    echo "compat.sh: MESHGATE_TEST_PG_URL is unset: cannot run the replica suites (start one with scripts/pg.sh," \
      "or MESHGATE_ALLOW_SKIP=1 for a local run)" >&2
    status=1
  fi
fi

if [ "$status" -ne 0 ]; then
  echo "compat.sh: FAILED (see above)" >&2
else
  echo "compat.sh: all Python compatibility tests passed"
fi
exit "$status"
