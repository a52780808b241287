#!/usr/bin/env bash
# Regenerates the console pictures in docs/console/ (linked from the README) from the
# browser tests: runs three of tests/ui on SQLite (as scripts/ui.sh does) and copies
# their screenshots. Needs chromium and chromium-driver (scripts/test.sh installs them).
#
# Environment: MESHGATE_BIN (default: cargo build, target/debug/meshgate), MESHGATE_VENV.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="${MESHGATE_VENV:-$ROOT/.venv}"
MESHGATE_VENV="$VENV" scripts/venv.sh >/dev/null
if [ -z "${MESHGATE_BIN:-}" ]; then
  cargo build -p meshgate-cli
  MESHGATE_BIN="$ROOT/target/debug/meshgate"
fi
SHOTS="$ROOT/target/ui-screenshots/docs"
rm -rf "$SHOTS"
unset MESH_GATEWAY_URL MESH_GATEWAY_TOKEN MESH_NODE MESHGATE_UI_DB || true
(cd tests/ui && MESHGATE_BIN="$MESHGATE_BIN" MESHGATE_UI_SCREENSHOTS="$SHOTS" SE_OFFLINE=true PYTHONDONTWRITEBYTECODE=1 \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
  -k "appears_without_reload or search_highlights_and_filters or rotate_shows_the_new_token_once")
mkdir -p docs/console
cp "$SHOTS/test_dm_sent_through_the_api_appears_without_reload-02-after-two-live-dms.png" docs/console/overview.png
cp "$SHOTS/test_search_highlights_and_filters-01-search-hits.png" docs/console/search.png
# The confirmation, not the result: a picture in the repository shows no token, even a dead one.
cp "$SHOTS/test_rotate_shows_the_new_token_once-01-rotate-confirmation.png" docs/console/tokens.png
ls -l docs/console
