"""Fixtures for the MCP suite: the official MCP Python SDK (`mcp` on PyPI) against a real
meshgate, over stdio (`meshgate mcp --as NAME`) and over streamable HTTP (`/mcp`).

One gateway per session (binary from $MESHGATE_BIN, default <repo>/target/debug/meshgate) on
a free loopback port with a temp data dir; `MESHGATE_MCP_DB` (a postgres:// URL) puts it on
PostgreSQL instead of SQLite (scripts/mcp.sh runs the suite on both).
"""

from __future__ import annotations

import contextlib
import os

import httpx
import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from compat import NameFactory, meshgate_bin
from gateway import Peer, register, session_gateway


class Mesh:
    """The gateway, and what a test does outside MCP (plain HTTP, as another agent would)."""

    def __init__(self, url: str, operator: str):
        self.url, self.operator = url, operator
        self.names = NameFactory("mcp")

    def register(self, label: str) -> Peer:
        return register(self.url, self.operator, self.names.new(label))

    def send(self, sender: Peer, to: str, content: str, kind: str = "question", **extra) -> dict:
        r = httpx.post(f"{self.url}/messages", json={"to_node": to, "kind": kind, "content": content, **extra},
                       headers={"Authorization": f"Bearer {sender.token}"})
        r.raise_for_status()
        return r.json()

    def inbox(self, peer: Peer, unread_only: bool = False) -> list[dict]:
        r = httpx.get(f"{self.url}/messages", params={"to": peer.name, "unread_only": str(unread_only).lower()},
                      headers={"Authorization": f"Bearer {peer.token}"})
        r.raise_for_status()
        return r.json()["messages"]


@pytest.fixture(scope="session")
def mesh(tmp_path_factory):
    with session_gateway(tmp_path_factory.mktemp("meshgate"), "MESHGATE_MCP_DB") as proc:
        yield Mesh(proc.url, proc.token)


@contextlib.asynccontextmanager
async def stdio_session(mesh: Mesh, peer: Peer, token: str | None = None, config_dir: str = "/nonexistent",
                        message_handler=None):
    """`meshgate mcp --as NAME`, its token from MESH_GATEWAY_TOKEN (no stored token)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESH")}
    env.update(MESH_GATEWAY_URL=mesh.url, MESH_GATEWAY_TOKEN=token or peer.token, MESHGATE_CONFIG_DIR=config_dir)
    params = StdioServerParameters(command=str(meshgate_bin()), args=["mcp", "--as", peer.name], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, message_handler=message_handler) as session:
            await session.initialize()
            yield session


@contextlib.asynccontextmanager
async def http_session(mesh: Mesh, peer: Peer, token: str | None = None, message_handler=None):
    """`/mcp` on the gateway, authenticated by the peer's token."""
    headers = {"Authorization": f"Bearer {token or peer.token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=400)) as client:
        async with streamable_http_client(f"{mesh.url}/mcp", http_client=client) as (read, write, *_):
            async with ClientSession(read, write, message_handler=message_handler) as session:
                await session.initialize()
                yield session


@pytest.fixture(params=["stdio", "http"])
def connect(request, mesh):
    """``async with connect(peer) as session``: an MCP session acting as ``peer``, over each transport."""
    opener = stdio_session if request.param == "stdio" else http_session
    return lambda peer, **kw: opener(mesh, peer, **kw)
