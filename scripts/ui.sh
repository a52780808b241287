#!/usr/bin/env bash
# The browser suite (tests/ui): Selenium drives the /ui console in headless Chromium
# (Debian's `chromium` and `chromium-driver`) against a real gateway on SQLite, then on
# PostgreSQL (a fresh database on $MESHGATE_TEST_PG_URL's cluster; without it the run
# fails, unless MESHGATE_ALLOW_SKIP=1 is set for a local run and CI is not true).
# Screenshots of every step: target/ui-screenshots/<run>/ (printed at the end).
# scripts/test.sh installs Chromium; this script only checks for it. The runner is
# scripts/lib/suite.sh, shared with scripts/mcp.sh.
#
# Environment: MESHGATE_BIN (default: cargo build, target/debug/meshgate),
# MESHGATE_VENV, PYTEST_ARGS, MESHGATE_TALLY (as in scripts/compat.sh),
# MESHGATE_CHROMIUM / MESHGATE_CHROMEDRIVER (default /usr/bin/chromium, /usr/bin/chromedriver).
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE_KEY=ui
SUITE="UI (tests/ui, headless Chromium)"
# shellcheck source=lib/suite.sh
. scripts/lib/suite.sh

suite_setup
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
export SE_OFFLINE=true

# Each run's screenshots in their own directory.
suite_before_run() {
  export MESHGATE_UI_SCREENSHOTS="$ROOT/target/ui-screenshots/$1"
  rm -rf "$MESHGATE_UI_SCREENSHOTS"
}

suite_run_both
