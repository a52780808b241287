"""Authentication and per-peer token binding, through MeshClient."""

from __future__ import annotations

import pytest
from swarph_mesh import MeshAuthError, MeshClient

from compat import ids

WRONG = "definitely-not-the-token"


@pytest.mark.parametrize("token", [WRONG, "mgp_" + "A" * 43, ""], ids=["wrong", "fake-peer-token", "no-token"])
@pytest.mark.parametrize("op", ["list_peers", "fetch", "register", "mark_read"])
async def test_wrong_token_raises_mesh_auth_error(gw, peers, op, token):
    a, b = peers.new("auth"), peers.new("auth")
    async with peers.client(b) as c:  # operator token: a message that must stay unread
        await c.send(to=a, kind="fyi", content="stay unread")
    msg_id = gw.inbox(a)[0]["id"]
    async with MeshClient(a, token=token, gateway_url=gw.url) as c:
        with pytest.raises(MeshAuthError):
            if op == "list_peers":
                await c.list_peers()
            elif op == "fetch":
                await c.fetch()
            elif op == "register":
                await c.register(url="http://hijack.invalid:1", capabilities={"hijack": True})
            else:
                await c.mark_read(msg_id)
    row = gw.peer_row(a)
    assert row["capabilities"] == {"compat": True} and row["url"] == f"http://{a}.invalid:8787", \
        "a rejected register changed nothing"
    assert gw.inbox(a)[0]["read_at"] is None, "a rejected mark_read changed nothing"


async def test_wrong_token_cannot_register_a_new_peer(gw, names):
    name = names.new("never")
    async with MeshClient(name, token=WRONG, gateway_url=gw.url) as c:
        with pytest.raises(MeshAuthError):
            await c.register(url="http://never.invalid:1", capabilities={})
    assert gw.peer_row(name) is None


async def test_wrong_token_send_lands_nothing(gw, peers):
    a, b = peers.new("sauth"), peers.new("sauth")
    gw.refresh_registry()  # warm cache: the recipient check passes, the POST is refused
    async with MeshClient(a, token=WRONG, gateway_url=gw.url) as c:
        with pytest.raises(MeshAuthError):
            await c.send(to=b, kind="fyi", content="should not land")
    assert gw.inbox(b) == []


async def test_per_peer_tokens_end_to_end(gw, peers):
    a, b = peers.new("ppa"), peers.new("ppb")
    ta, tb = peers.token(a), peers.token(b)
    assert ta != tb and gw.token not in (ta, tb)

    async with MeshClient(a, token=ta, gateway_url=gw.url) as c:
        assert {a, b} <= {p.name for p in await c.list_peers()}
        sent = await c.send(to=b, kind="question", content="via A's own token")
    assert sent.from_node == a
    assert gw.inbox(b)[0]["from_node"] == a

    async with MeshClient(b, token=tb, gateway_url=gw.url) as c:
        got = await c.fetch()
        assert ids(got) == [sent.id] and got[0].content == "via A's own token"
        assert ids(await c.fetch(unread_only=True)) == [sent.id]
        await c.mark_read(sent.id)
        assert await c.fetch(unread_only=True) == []
        await c.mark_read(sent.id)  # idempotent with a peer token too
    assert gw.inbox(b)[0]["read_at"] is not None


async def test_peer_token_cannot_send_as_another_peer(gw, peers):
    a, b, c3 = peers.new("spa"), peers.new("spb"), peers.new("spc")
    ta = peers.token(a)
    async with MeshClient(b, token=ta, gateway_url=gw.url) as c:  # A's token, claiming to be B
        with pytest.raises(MeshAuthError) as ei:
            await c.send(to=c3, kind="fyi", content="I am totally B")
    assert "403" in str(ei.value)
    assert gw.inbox(c3) == []


async def test_peer_token_cannot_read_another_inbox(gw, peers):
    a, b, c3 = peers.new("spy"), peers.new("spy"), peers.new("spy")
    async with peers.client(a) as c:
        await c.send(to=b, kind="fyi", content="for b only")
    async with MeshClient(c3, token=peers.token(c3), gateway_url=gw.url) as c:
        with pytest.raises(MeshAuthError):
            await c.fetch(to_node=b)


async def test_peer_token_cannot_mark_another_peers_message_read(gw, peers):
    a, b, c3 = peers.new("mrk"), peers.new("mrk"), peers.new("mrk")
    async with peers.client(a) as c:
        sent = await c.send(to=b, kind="fyi", content="for b only")
    async with MeshClient(c3, token=peers.token(c3), gateway_url=gw.url) as c:
        with pytest.raises(MeshAuthError):
            await c.mark_read(sent.id)
    assert gw.inbox(b)[0]["read_at"] is None


async def test_peer_token_cannot_register_another_peer(gw, peers, names):
    a = peers.new("regb")
    other = names.new("regother")
    async with MeshClient(other, token=peers.token(a), gateway_url=gw.url) as c:
        with pytest.raises(MeshAuthError):
            await c.register(url="http://x.invalid:1", capabilities={})
    assert gw.peer_row(other) is None


def test_health_needs_no_token(gw):
    assert gw.get("/health", token=None).status_code == 200
