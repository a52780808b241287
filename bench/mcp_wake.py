"""DM sent -> `wait_for_message` returned, through the official MCP Python SDK, over
`meshgate mcp` (stdio) and the gateway's /mcp (streamable HTTP).

    python bench/mcp_wake.py [COUNT]      (bench/mcp.sh runs it and writes the result file)

Each round: the MCP client calls wait_for_message (after_id = the last id seen), the
benchmark waits 20 ms so the long-poll is parked, then a second peer sends a DM over
plain HTTP. The clock starts just before that POST is issued (so the send itself is
included) and stops when the tool result reaches the Python client. Prints one
line per transport: count, p50, p90, p99, max in ms; first a baseline without MCP (a
plain long-poll, same client library, same clock), so the MCP share shows apart from
what the machine adds.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "compat"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "mcp"))

import httpx  # noqa: E402
from conftest import Mesh, http_session, stdio_session  # noqa: E402
from compat import meshgate_bin, start_gateway  # noqa: E402


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def measure(mesh: Mesh, opener, count: int) -> list[float]:
    alice, bob = mesh.register("alice"), mesh.register("bob")
    samples = []
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {alice.token}"}) as sender:
        async with opener(mesh, bob) as session:
            after = 0
            for i in range(count + 10):
                waiting = asyncio.create_task(
                    session.call_tool("wait_for_message", {"timeout_seconds": 30, "after_id": after}))
                await asyncio.sleep(0.02)
                started = time.perf_counter()
                r = await sender.post(f"{mesh.url}/messages",
                                      json={"to_node": bob.name, "kind": "fyi", "content": f"ping {i}"})
                r.raise_for_status()
                result = await waiting
                took = (time.perf_counter() - started) * 1000
                after = r.json()["id"]
                assert f"ping {i}" in result.content[0].text, result
                if i >= 10:  # warm-up rounds are not counted
                    samples.append(took)
    return samples


async def measure_long_poll(mesh: Mesh, count: int) -> list[float]:
    """Baseline on the same machine at the same time: a plain HTTP long-poll, no MCP."""
    alice, bob = mesh.register("alice"), mesh.register("bob")
    samples = []
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {alice.token}"}) as sender, \
            httpx.AsyncClient(headers={"Authorization": f"Bearer {bob.token}"}, timeout=60) as receiver:
        after = 0
        for i in range(count + 10):
            waiting = asyncio.create_task(receiver.get(
                f"{mesh.url}/messages", params={"to": bob.name, "after_id": after, "wait": 30}))
            await asyncio.sleep(0.02)
            started = time.perf_counter()
            r = await sender.post(f"{mesh.url}/messages",
                                  json={"to_node": bob.name, "kind": "fyi", "content": f"ping {i}"})
            r.raise_for_status()
            got = (await waiting).json()["messages"]
            took = (time.perf_counter() - started) * 1000
            after = r.json()["id"]
            assert got and got[0]["content"] == f"ping {i}", got
            if i >= 10:
                samples.append(took)
    return samples


async def main(count: int) -> None:
    work = Path(os.environ.get("BENCH_WORK", "/tmp")) / f"mcp-bench-{os.getpid()}"
    gp = start_gateway(meshgate_bin(), work)
    try:
        mesh = Mesh(gp.url, gp.token)
        runs = [("baseline: HTTP long-poll", lambda: measure_long_poll(mesh, count))]
        runs += [(name, lambda opener=opener: measure(mesh, opener, count))
                 for name, opener in (("stdio (meshgate mcp)", stdio_session), ("streamable HTTP (/mcp)", http_session))]
        for name, run in runs:
            s = await run()
            print(f"{name:<24} n={len(s)} p50={statistics.median(s):.2f} p90={pct(s, 90):.2f} "
                  f"p99={pct(s, 99):.2f} max={max(s):.2f} ms")
    finally:
        gp.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
