# shellcheck shell=bash
# What scripts/mcp.sh and scripts/ui.sh share (sourced, from the repository root): one
# pytest suite, tests/$SUITE_KEY, run against a real gateway on SQLite, then on a fresh
# PostgreSQL database on $MESHGATE_TEST_PG_URL's cluster, whose URL the suite's conftest
# reads from MESHGATE_<KEY>_DB (tests/pyhelpers/gateway.py). Without MESHGATE_TEST_PG_URL
# the second run fails, unless MESHGATE_ALLOW_SKIP=1 is set for a local run and CI is not true.
#
# The caller sets SUITE_KEY (mcp, ui) and SUITE (its name in scripts/tally.py), then calls
# suite_setup, and at the end `suite_run_both; exit $?`. A function suite_before_run RUN,
# if defined, runs before each pytest run (ui.sh picks its screenshot directory there).
#
# run_pytest (one pytest run and its tally line) and step are scripts/compat.sh's too.
#
# Environment: MESHGATE_BIN (default: cargo build, target/debug/meshgate), MESHGATE_VENV,
# PYTEST_ARGS, MESHGATE_TALLY (as in scripts/compat.sh).

step() { printf '\n==> %s\n' "$*"; }

# The venv ($PY), the gateway binary, a clean environment, the extra pytest arguments.
suite_setup() {
  ROOT="$PWD"
  VENV="${MESHGATE_VENV:-$ROOT/.venv}"
  MESHGATE_VENV="$VENV" scripts/venv.sh
  PY="$VENV/bin/python"
  if [ -z "${MESHGATE_BIN:-}" ]; then
    cargo build -p meshgate-cli
    MESHGATE_BIN="$ROOT/target/debug/meshgate"
  fi
  SUITE_DB_VAR="MESHGATE_$(printf '%s' "$SUITE_KEY" | tr '[:lower:]' '[:upper:]')_DB"
  export MESHGATE_BIN PYTHONDONTWRITEBYTECODE=1
  unset MESH_GATEWAY_URL MESH_GATEWAY_TOKEN MESH_NODE "$SUITE_DB_VAR" || true
  read -r -a EXTRA <<<"${PYTEST_ARGS:-}"
}

# Runs pytest in the current directory with the common options (needs PY and EXTRA);
# appends its summary line to $MESHGATE_TALLY as SUITE<TAB>RUN<TAB>SUMMARY (scripts/tally.py).
# Also used by scripts/compat.sh. Usage: run_pytest SUITE RUN [pytest args]
run_pytest() {
  local suite=$1 run=$2 log rc=0
  shift 2
  log="$(mktemp "${TMPDIR:-/tmp}/meshgate-pytest.XXXXXX")"
  "$PY" -m pytest -q -p no:cacheprovider "$@" "${EXTRA[@]}" 2>&1 | tee "$log" || rc=$?
  if [ -n "${MESHGATE_TALLY:-}" ]; then
    printf '%s\t%s\t%s\n' "$suite" "$run" \
      "$(grep -E '[0-9]+ (passed|failed|errors?|skipped|deselected)|no tests ran' "$log" | tail -n 1)" >> "$MESHGATE_TALLY"
  fi
  rm -f "$log"
  return "$rc"
}

# Runs tests/$SUITE_KEY once. Usage: suite_pytest RUN
suite_pytest() {
  if declare -F suite_before_run >/dev/null; then suite_before_run "$1"; fi
  (cd "tests/$SUITE_KEY" && run_pytest "$SUITE" "$1")
}

# The SQLite run, then the PostgreSQL one (a database made for it, dropped on exit).
# Returns non-zero if either failed or could not run.
suite_run_both() {
  local status=0 name="$SUITE_KEY.sh"
  step "tests/$SUITE_KEY on SQLite"
  suite_pytest sqlite || status=1

  step "tests/$SUITE_KEY on PostgreSQL"
  if [ -n "${MESHGATE_TEST_PG_URL:-}" ]; then
    DBNAME="meshgate_${SUITE_KEY}_$$"
    PG_ADMIN="${MESHGATE_TEST_PG_URL%/*}/postgres"
    psql -q "$PG_ADMIN" -c "CREATE DATABASE $DBNAME" >/dev/null
    trap 'psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null || true' EXIT
    export "$SUITE_DB_VAR=${MESHGATE_TEST_PG_URL%/*}/$DBNAME"
    suite_pytest postgres || status=1
    unset "$SUITE_DB_VAR"
  elif [ "${MESHGATE_ALLOW_SKIP:-}" = "1" ] && [ "${CI:-}" != "true" ]; then
    echo "$name: MESHGATE_TEST_PG_URL is unset: the PostgreSQL run is SKIPPED (MESHGATE_ALLOW_SKIP=1)" >&2
    if [ -n "${MESHGATE_TALLY:-}" ]; then
      printf '%s\t%s\t%s\n' "$SUITE" postgres "SKIPPED: MESHGATE_TEST_PG_URL unset" >> "$MESHGATE_TALLY"
    fi
  else
    echo "$name: MESHGATE_TEST_PG_URL is unset: cannot run the PostgreSQL pass (start one with scripts/pg.sh)" >&2
    status=1
  fi
  return "$status"
}
