#!/usr/bin/env bash
# MCP wake latency (issue #14): DM sent -> wait_for_message returned, p99, over stdio
# and /mcp, through the official MCP Python SDK (bench/mcp_wake.py). Target: <= 50 ms.
#
#   bench/mcp.sh [COUNT]     MESHGATE_BIN (default target/release/meshgate, built here), MESHGATE_VENV
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MESHGATE_VENV:-$ROOT/.venv}
if [ -z "${MESHGATE_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release -p meshgate-cli --quiet)
  export MESHGATE_BIN="$ROOT/target/release/meshgate"
fi
"$VENV/bin/python" "$ROOT/bench/mcp_wake.py" "${1:-500}"
