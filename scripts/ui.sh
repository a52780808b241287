#!/usr/bin/env bash
# The browser suite (tests/ui): Selenium drives the /ui console in headless Chromium
# (Debian's `chromium` and `chromium-driver`) against a real gateway on SQLite, then on
# PostgreSQL (a fresh database on $MESHGATE_TEST_PG_URL's cluster; without it the run
# fails, unless MESHGATE_ALLOW_SKIP=1 is set for a local run and CI is not true).
# Screenshots of every step: target/ui-screenshots/<run>/ (printed at the end).
# scripts/test.sh installs Chromium; this script only checks for it.
#
# Environment: MESHGATE_BIN (default: cargo build, target/debug/meshgate),
# MESHGATE_VENV, PYTEST_ARGS, MESHGATE_TALLY (as in scripts/compat.sh),
# MESHGATE_CHROMIUM / MESHGATE_CHROMEDRIVER (default /usr/bin/chromium, /usr/bin/chromedriver).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="${MESHGATE_VENV:-$ROOT/.venv}"
step() { printf '\n==> %s\n' "$*"; }

MESHGATE_VENV="$VENV" scripts/venv.sh
PY="$VENV/bin/python"
if [ -z "${MESHGATE_BIN:-}" ]; then
  cargo build -p meshgate-cli
  MESHGATE_BIN="$ROOT/target/debug/meshgate"
fi
export MESHGATE_CHROMIUM="${MESHGATE_CHROMIUM:-/usr/bin/chromium}"
export MESHGATE_CHROMEDRIVER="${MESHGATE_CHROMEDRIVER:-/usr/bin/chromedriver}"
for exe in "$MESHGATE_CHROMIUM" "$MESHGATE_CHROMEDRIVER"; do
  if [ ! -x "$exe" ]; then
    echo "ui.sh: $exe is missing (apt-get install chromium chromium-driver; scripts/test.sh does it as root)" >&2
    exit 1
  fi
done
"$MESHGATE_CHROMEDRIVER" --version
# Selenium never looks for a driver or browser on the network: both paths are given.
export MESHGATE_BIN PYTHONDONTWRITEBYTECODE=1 SE_OFFLINE=true
unset MESH_GATEWAY_URL MESH_GATEWAY_TOKEN MESH_NODE MESHGATE_UI_DB || true
read -r -a EXTRA <<<"${PYTEST_ARGS:-}"
SUITE="UI (tests/ui, headless Chromium)"
status=0

run_pytest() {
  local run=$1 log rc=0
  log="$(mktemp "${TMPDIR:-/tmp}/meshgate-pytest.XXXXXX")"
  export MESHGATE_UI_SCREENSHOTS="$ROOT/target/ui-screenshots/$run"
  rm -rf "$MESHGATE_UI_SCREENSHOTS"
  (cd tests/ui && "$PY" -m pytest -q -p no:cacheprovider "${EXTRA[@]}") 2>&1 | tee "$log" || rc=$?
  if [ -n "${MESHGATE_TALLY:-}" ]; then
    printf '%s\t%s\t%s\n' "$SUITE" "$run" \
      "$(grep -E '[0-9]+ (passed|failed|errors?|skipped|deselected)|no tests ran' "$log" | tail -n 1)" >> "$MESHGATE_TALLY"
  fi
  rm -f "$log"
  return "$rc"
}

step "tests/ui on SQLite"
run_pytest sqlite || status=1

step "tests/ui on PostgreSQL"
if [ -n "${MESHGATE_TEST_PG_URL:-}" ]; then
  DBNAME="meshgate_ui_$$"
  PG_ADMIN="${MESHGATE_TEST_PG_URL%/*}/postgres"
  psql -q "$PG_ADMIN" -c "CREATE DATABASE $DBNAME" >/dev/null
  trap 'psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null || true' EXIT
  MESHGATE_UI_DB="${MESHGATE_TEST_PG_URL%/*}/$DBNAME" run_pytest postgres || status=1
elif [ "${MESHGATE_ALLOW_SKIP:-}" = "1" ] && [ "${CI:-}" != "true" ]; then
  echo "ui.sh: MESHGATE_TEST_PG_URL is unset: the PostgreSQL run is SKIPPED (MESHGATE_ALLOW_SKIP=1)" >&2
  if [ -n "${MESHGATE_TALLY:-}" ]; then
    printf '%s\t%s\t%s\n' "$SUITE" postgres "SKIPPED: MESHGATE_TEST_PG_URL unset" >> "$MESHGATE_TALLY"
  fi
else
  echo "ui.sh: MESHGATE_TEST_PG_URL is unset: cannot run the PostgreSQL pass (start one with scripts/pg.sh)" >&2
  status=1
fi
exit "$status"
