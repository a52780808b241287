"""What only /mcp has: authentication by a per-peer token and sessions bound to the token that opened them."""

from __future__ import annotations

import httpx

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def post(mesh, token, body, session=None):
    headers = dict(ACCEPT, Authorization=f"Bearer {token}")
    if session:
        headers["Mcp-Session-Id"] = session
    return httpx.post(f"{mesh.url}/mcp", json=body, headers=headers, timeout=10)


def test_operator_token_is_refused(mesh):
    r = post(mesh, mesh.operator, INIT)
    assert r.status_code == 403
    assert r.json()["error"] == "operator_token_refused"
    assert mesh.operator not in r.text


def test_bad_token_is_401_json_without_the_token(mesh):
    bad = "mgp_" + "Z" * 43
    r = post(mesh, bad, INIT)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_token"
    assert bad not in r.text
    r = httpx.post(f"{mesh.url}/mcp", json=INIT, headers=ACCEPT)
    assert r.status_code == 401 and r.json()["error"] == "missing_token"


def test_a_session_works_only_with_its_peers_token(mesh):
    bob, carol = mesh.register("bob"), mesh.register("carol")
    r = post(mesh, bob.token, INIT)
    assert r.status_code == 200, r.text
    session = r.headers["mcp-session-id"]
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    stolen = post(mesh, carol.token, listing, session)
    assert stolen.status_code == 404 and stolen.json()["error"] == "unknown_session"
    closed = httpx.delete(f"{mesh.url}/mcp", headers={"Authorization": f"Bearer {bob.token}", "Mcp-Session-Id": session})
    assert closed.status_code in (200, 204)


def open_session(mesh, token):
    """Initializes a session (and says so, as a client must before other requests); returns its id."""
    r = post(mesh, token, INIT)
    assert r.status_code == 200, r.text
    session = r.headers["mcp-session-id"]
    r = post(mesh, token, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    assert r.status_code in (200, 202), r.text
    return session


LISTING = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


def test_a_session_beyond_the_cap_ends_the_peers_oldest(mesh):
    bob = mesh.register("bob")
    sessions = [open_session(mesh, bob.token) for _ in range(5)]
    gone = post(mesh, bob.token, LISTING, sessions[0])
    assert gone.status_code == 404 and gone.json()["error"] == "unknown_session"
    for session in sessions[1:]:
        r = post(mesh, bob.token, LISTING, session)
        assert r.status_code == 200, r.text
    # Another peer is not affected.
    open_session(mesh, mesh.register("carol").token)
    closed = httpx.delete(f"{mesh.url}/mcp",
                          headers={"Authorization": f"Bearer {bob.token}", "Mcp-Session-Id": sessions[1]})
    assert closed.status_code in (200, 204)
    open_session(mesh, bob.token)
    for session in sessions[2:]:
        r = post(mesh, bob.token, LISTING, session)
        assert r.status_code == 200, f"a free slot ends nothing: {r.text}"


def rotate(mesh, peer):
    r = httpx.post(f"{mesh.url}/peers/{peer.name}/token", headers={"Authorization": f"Bearer {mesh.operator}"})
    r.raise_for_status()
    return r.json()["peer_token"]


def test_a_thiefs_sessions_end_with_the_rotated_token_and_never_serve_the_new_one(mesh):
    import threading
    import time

    bob = mesh.register("bob")
    stolen = [open_session(mesh, bob.token) for _ in range(4)]
    # The thief's event stream on its session, read until the gateway ends it.
    ended = threading.Event()

    def listen():
        headers = {"Authorization": f"Bearer {bob.token}", "Mcp-Session-Id": stolen[0], "Accept": "text/event-stream"}
        try:
            with httpx.stream("GET", f"{mesh.url}/mcp", headers=headers, timeout=30) as r:
                assert r.status_code == 200, r.read()
                for _ in r.iter_bytes():
                    pass
        except httpx.HTTPError:
            pass
        ended.set()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert not ended.wait(1), "the stream is open before the rotation"
    new = rotate(mesh, bob)
    assert ended.wait(10), "rotating the token ends its sessions"
    for session in stolen:
        r = post(mesh, new, LISTING, session)
        assert r.status_code == 404 and r.json()["error"] == "unknown_session", r.text
        assert post(mesh, bob.token, LISTING, session).status_code == 401
    # The owner's new token gets its sessions at once: no 429 while the thief's time out.
    mine = [open_session(mesh, new) for _ in range(4)]
    for session in mine:
        assert post(mesh, new, LISTING, session).status_code == 200
    # A disabled peer's sessions end too; re-enabled, the old id stays gone.
    session = mine[-1]
    auth = {"Authorization": f"Bearer {mesh.operator}"}
    httpx.patch(f"{mesh.url}/peers/{bob.name}", json={"enabled": False}, headers=auth).raise_for_status()
    time.sleep(1)  # the session ends on the event, while the peer is disabled
    httpx.patch(f"{mesh.url}/peers/{bob.name}", json={"enabled": True}, headers=auth).raise_for_status()
    r = post(mesh, new, LISTING, session)
    assert r.status_code == 404 and r.json()["error"] == "unknown_session", r.text


def test_abandoned_session_openings_do_not_count(mesh):
    """Clients that start an initialize and hang up mid-body hold no session slot afterwards."""
    import socket
    import time
    from urllib.parse import urlparse

    bob = mesh.register("bob")
    url = urlparse(mesh.url)
    for _ in range(6):
        s = socket.create_connection((url.hostname, url.port))
        s.sendall((f"POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bob.token}\r\n"
                   "Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n"
                   "Content-Length: 1000\r\n\r\n{\"jsonrpc\"").encode())
        time.sleep(0.2)  # the gateway is now reading the body, the opening counted
        s.close()
    time.sleep(0.5)
    for _ in range(4):
        r = post(mesh, bob.token, INIT)
        assert r.status_code == 200, r.text


async def test_a_closed_session_gives_back_its_long_poll_slot(tmp_path):
    """The inbox watcher of a subscribed session long-polls as its peer; closing the session
    ends that long-poll at once, not after 60 s (the gateway's `meshgate_waiting_polls` gauge
    counts it while the session lives and drops to 0 after)."""
    import asyncio
    import re

    from compat import meshgate_bin, start_gateway
    from conftest import Mesh, http_session

    proc = start_gateway(meshgate_bin(), tmp_path)

    def waiting_polls() -> int:
        text = httpx.get(f"{proc.url}/metrics", headers={"Authorization": f"Bearer {proc.token}"}, timeout=10).text
        return int(float(re.search(r"^meshgate_waiting_polls (\S+)$", text, re.M).group(1)))

    async def settles_at(n: int) -> int:
        for _ in range(40):
            if waiting_polls() == n:
                return n
            await asyncio.sleep(0.1)
        return waiting_polls()

    try:
        mesh = Mesh(proc.url, proc.token)
        bob = mesh.register("bob")
        async with http_session(mesh, bob) as s:
            await s.subscribe_resource("meshgate://inbox")
            assert await settles_at(1) == 1, "the subscribed session's watcher waits"
        assert await settles_at(0) == 0, "closing the session ended its long-poll"
        # The same for a wait_for_message call whose session ends while it waits.
        async with http_session(mesh, bob) as s:
            waiting = asyncio.create_task(s.call_tool("wait_for_message", {"timeout_seconds": 300}))
            assert await settles_at(1) == 1, "wait_for_message waits"
            waiting.cancel()
        assert await settles_at(0) == 0, "ending the session ended its wait"
    finally:
        proc.stop()


def test_transport_refusals_are_json_errors(mesh):
    bob = mesh.register("bob")
    auth = {"Authorization": f"Bearer {bob.token}"}
    cases = [
        (httpx.post(f"{mesh.url}/mcp", json=INIT, headers=auth), 406, "not_acceptable"),
        (httpx.post(f"{mesh.url}/mcp", content=b"{}", headers=dict(ACCEPT, **auth, **{"Content-Type": "text/plain"})),
         415, "unsupported_media_type"),
        (httpx.get(f"{mesh.url}/mcp", headers=dict(auth, Accept="application/json")), 406, "not_acceptable"),
        (httpx.put(f"{mesh.url}/mcp", json=INIT, headers=dict(ACCEPT, **auth)), 405, "method_not_allowed"),
        (post(mesh, bob.token, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}), 400, "mcp_protocol_error"),
    ]
    for broken in (b'{"jsonrpc":', b"not json", b"[]", b'{"id": 1}'):
        r = httpx.post(f"{mesh.url}/mcp", content=broken,
                       headers=dict(ACCEPT, **auth, **{"Content-Type": "application/json"}))
        cases.append((r, 400, "invalid_json"))
    for r, status, code in cases:
        assert (r.status_code, r.headers["content-type"]) == (status, "application/json"), r.text
        body = r.json()
        assert body["error"] == code and body["detail"], body
        assert bob.token not in r.text


def test_a_key_given_twice_is_refused_not_resolved_to_the_last(mesh):
    """A tool call whose arguments name `to` twice (hostile review, session 10: the DM went to the second) is
    400 duplicate_field, as a JSON body of the API is, and nothing is sent."""
    alice, bob, mallory = mesh.register("alice"), mesh.register("bob"), mesh.register("mallory")
    session = open_session(mesh, mallory.token)
    call = ('{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"send_message",'
            '"arguments":{"to":"%s","kind":"fyi","content":"dup"%s}}}')
    headers = dict(ACCEPT, **{"Authorization": f"Bearer {mallory.token}", "Mcp-Session-Id": session})
    r = httpx.post(f"{mesh.url}/mcp", content=(call % (alice.name, ',"to":"%s"' % bob.name)).encode(),
                   headers=headers, timeout=10)
    assert (r.status_code, r.json()["error"]) == (400, "duplicate_field"), r.text
    assert '"to"' in r.json()["detail"]
    assert mesh.inbox(alice) == [] and mesh.inbox(bob) == []
    r = httpx.post(f"{mesh.url}/mcp", content=(call % (alice.name, "")).encode(), headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert [m["content"] for m in mesh.inbox(alice)] == ["dup"]
    assert mesh.inbox(bob) == []


def test_a_client_leaving_mid_handshake_is_logged_at_info_with_its_peer(tmp_path):
    """Closing a session before `notifications/initialized` is the client's doing: one INFO
    line naming the peer, no ERROR (rmcp's own line for it is filtered out); a session that
    finished its handshake logs nothing of the kind."""
    import time

    from compat import meshgate_bin, start_gateway
    from conftest import Mesh

    proc = start_gateway(meshgate_bin(), tmp_path)
    try:
        mesh = Mesh(proc.url, proc.token)
        bob, carol = mesh.register("bob"), mesh.register("carol")
        for peer, finish in ((bob, False), (carol, True)):
            session = post(mesh, peer.token, INIT).headers["mcp-session-id"]
            if finish:
                done = post(mesh, peer.token, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
                assert done.status_code == 202, done.text
            closed = httpx.delete(f"{mesh.url}/mcp",
                                  headers={"Authorization": f"Bearer {peer.token}", "Mcp-Session-Id": session})
            assert closed.status_code == 204
        time.sleep(0.5)
        log = proc.log_path.read_text(errors="replace")
    finally:
        proc.stop()
    lines = [line for line in log.splitlines() if "before the client finished the handshake" in line]
    assert len(lines) == 1 and "INFO" in lines[0] and bob.name in lines[0], log
    assert "ERROR" not in log and "Failed to create service" not in log, log
