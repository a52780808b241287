#!/usr/bin/env bash
# Runs every check and test of meshgate, setting up what they need:
#   1. cargo fmt --check, clippy -D warnings, rustdoc -D warnings
#   2. a throwaway PostgreSQL cluster (scripts/pg.sh) for the Postgres tests
#   3. cargo test --workspace (Rust unit, integration and storage conformance)
#   4. scripts/compat.sh: the Python ecosystem from PyPI against a real gateway
#      (our tests/compat suite, then ../shared/conformance)
# Where PostgreSQL cannot be installed, its tests are skipped with a loud
# notice; under CI (CI=true) nothing is ever skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "PostgreSQL"
pg_started=""
if [ -z "${MESHGATE_TEST_PG_URL:-}" ]; then
  if scripts/pg.sh ensure-installed; then
    MESHGATE_TEST_PG_URL="$(scripts/pg.sh start)"
    export MESHGATE_TEST_PG_URL
    pg_started=1
  elif [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL could not be installed; CI never skips its tests" >&2
    exit 1
  else
    echo "!! PostgreSQL is not installed and could not be installed: SKIPPING the PostgreSQL tests" >&2
    export MESHGATE_SKIP_PG=1
  fi
fi
cleanup() { if [ -n "$pg_started" ]; then scripts/pg.sh stop || true; fi; }
trap cleanup EXIT

step "Python venv (the reference gateway and clients from PyPI)"
scripts/venv.sh
export MESHGATE_REF_PYTHON="${MESHGATE_VENV:-$PWD/.venv}/bin/python"

step "cargo test"
cargo build --workspace --locked --quiet
cargo test --workspace --locked

step "Python compatibility (swarph-mesh, swarph-shared, swarph CLI from PyPI)"
MESHGATE_BIN="$PWD/target/debug/meshgate" scripts/compat.sh
