#!/usr/bin/env bash
# The MCP suite (tests/mcp): the official MCP Python SDK (`mcp` on PyPI) drives
# `meshgate mcp` over stdio and the gateway's /mcp over streamable HTTP, against a
# real gateway on SQLite, then on PostgreSQL (a fresh database on
# $MESHGATE_TEST_PG_URL's cluster; without it the run fails, unless
# MESHGATE_ALLOW_SKIP=1 is set for a local run and CI is not true).
# The runner is scripts/lib/suite.sh, shared with scripts/ui.sh.
#
# Environment: MESHGATE_BIN (default: cargo build, target/debug/meshgate),
# MESHGATE_VENV, PYTEST_ARGS, MESHGATE_TALLY (as in scripts/compat.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE_KEY=mcp
SUITE="MCP (tests/mcp)"
# shellcheck source=lib/suite.sh
. scripts/lib/suite.sh

suite_setup
suite_run_both
