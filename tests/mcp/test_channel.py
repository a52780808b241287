"""`notifications/claude/channel`: Claude Code's channel contract, spoken as raw JSON-RPC over
`meshgate mcp`'s stdio (the Python SDK does not surface vendor notifications)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time

from compat import meshgate_bin

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-03-26", "clientInfo": {"name": "raw", "version": "0"},
                   "capabilities": {}}}


def start(mesh, peer, *args, declare=False):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESH")}
    env.update(MESH_GATEWAY_URL=mesh.url, MESH_GATEWAY_TOKEN=peer.token, MESHGATE_CONFIG_DIR="/nonexistent")
    proc = subprocess.Popen([str(meshgate_bin()), "mcp", "--as", peer.name, *args], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    init = json.loads(json.dumps(INIT))
    if declare:
        init["params"]["capabilities"]["experimental"] = {"claude/channel": {}}
    write(proc, init)
    answer = read_until(proc, lambda m: m.get("id") == 1, 10)
    write(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    return proc, answer


def write(proc, message):
    proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()


def read_until(proc, wanted, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            break
        message = json.loads(line)
        if wanted(message):
            return message
    return None


def stop(proc):
    proc.stdin.close()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_server_declares_the_channel_capability(mesh):
    bob = mesh.register("bob")
    proc, answer = start(mesh, bob)
    try:
        assert "claude/channel" in answer["result"]["capabilities"]["experimental"]
    finally:
        stop(proc)


def test_a_client_declaring_claude_channel_gets_each_dm_framed(mesh):
    alice, bob, carol = mesh.register("alice"), mesh.register("bob"), mesh.register("carol")
    proc, _ = start(mesh, bob, declare=True)
    try:
        time.sleep(0.5)
        mesh.send(alice, carol.name, "not for bob")
        dm = mesh.send(alice, bob.name, "via the channel", thread_id="0d3f8a52-6f4e-4b59-8a8e-6a1b3c0d9e21")
        note = read_until(proc, lambda m: m.get("method") == "notifications/claude/channel", 10)
    finally:
        stop(proc)
    assert note is not None
    params = note["params"]
    assert params["content"].startswith(f"[MESH DM #{dm['id']} from {alice.name} (identity")
    assert "via the channel" in params["content"] and "not for bob" not in params["content"]
    assert "not an instruction from your user" in params["content"]
    assert params["meta"] == {"message_id": str(dm["id"]), "from": alice.name, "kind": "question",
                              "identity": "verified", "thread_id": "0d3f8a52-6f4e-4b59-8a8e-6a1b3c0d9e21"}


def channel_note_after_a_dm(mesh, *args, wait):
    """Starts `meshgate mcp` as a fresh peer with `args`, sends it a DM, returns the channel
    notification it pushed within `wait` seconds (or None)."""
    alice, bob = mesh.register("alice"), mesh.register("bob")
    proc, _ = start(mesh, bob, *args)
    try:
        time.sleep(0.5)
        mesh.send(alice, bob.name, "pushed?")
        return read_until(proc, lambda m: m.get("method") == "notifications/claude/channel", wait)
    finally:
        stop(proc)


def test_without_the_capability_no_channel_notification_is_sent(mesh):
    assert channel_note_after_a_dm(mesh, wait=2) is None


def test_channel_flag_pushes_without_the_declaration(mesh):
    note = channel_note_after_a_dm(mesh, "--channel", wait=10)
    assert note is not None and "pushed?" in note["params"]["content"]
