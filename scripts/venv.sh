#!/usr/bin/env bash
# Creates (or reuses) the Python venv the tests need: the swarph packages from
# PyPI (client, shared registry, CLI and the reference gateway), the official MCP
# SDK (`mcp`, for tests/mcp), Selenium (pinned, for tests/ui in headless Chromium)
# and pytest.
#
#   scripts/venv.sh            # prints nothing but progress; the venv is $MESHGATE_VENV or <repo>/.venv
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MESHGATE_VENV:-$PWD/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
PY="$VENV/bin/python"
if ! "$PY" - <<'PYEOF' 2>/dev/null
import httpx, mcp, pytest, pytest_asyncio, swarph_cli, swarph_mesh, swarph_shared, uvicorn  # noqa: F401
import selenium
assert selenium.__version__ == "4.51.0", selenium.__version__
PYEOF
then
  "$PY" -m pip install --quiet --disable-pip-version-check \
    swarph-mesh swarph-shared 'swarph-cli[gateway]' pytest pytest-asyncio httpx mcp selenium==4.51.0
fi
"$PY" -c 'import swarph_cli; print("venv:", "'"$VENV"'", "swarph-cli", swarph_cli.__version__)'
