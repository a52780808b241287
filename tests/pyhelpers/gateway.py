"""The gateway the per-session pytest suites (tests/mcp, tests/ui) run against.

One real `meshgate serve` per session (binary from $MESHGATE_BIN, default
<repo>/target/debug/meshgate) on a free loopback port with a data dir in a temp directory:
on SQLite, or on PostgreSQL when the suite's own variable (MESHGATE_MCP_DB, MESHGATE_UI_DB)
holds a postgres:// URL, which scripts/lib/suite.sh sets for the second run of each suite.
Peers are registered through the HTTP API with the operator token.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

from compat import GatewayProcess, meshgate_bin, start_gateway


@dataclass
class Peer:
    """A registered peer and its own token."""

    name: str
    token: str


@contextlib.contextmanager
def session_gateway(workdir: Path, db_var: str) -> Iterator[GatewayProcess]:
    """A started gateway (``.url``, operator ``.token``), on the database in ``$db_var`` if
    set, else SQLite in ``workdir``; stopped (SIGTERM, then SIGKILL) on exit."""
    saved = os.environ.get("MESHGATE_DB")
    db = os.environ.get(db_var)
    if db:
        os.environ["MESHGATE_DB"] = db  # read by `meshgate serve` as its --db
    try:
        proc = start_gateway(meshgate_bin(), workdir)
    finally:
        if saved is None:
            os.environ.pop("MESHGATE_DB", None)
        else:
            os.environ["MESHGATE_DB"] = saved
    try:
        yield proc
    finally:
        proc.stop()


def register(url: str, operator: str, name: str) -> Peer:
    """Registers ``name`` with the operator token; returns it with its own token."""
    r = httpx.post(f"{url}/peers/register", json={"name": name},
                   headers={"Authorization": f"Bearer {operator}"}, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text)
    return Peer(name, r.json()["peer_token"])
