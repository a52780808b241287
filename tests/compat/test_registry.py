"""Registration and the peer registry, through MeshClient and swarph_shared.peer_registry."""

from __future__ import annotations

import pytest
from swarph_mesh.mesh_types import MeshPeer
from swarph_shared import peer_registry, validate_node_name
from swarph_shared.peer_registry import NotInRegistry

from compat import ids


async def test_register_with_url_and_capabilities(gw, peers, names):
    name = names.new("reg")
    caps = {"can_claim_tasks": True, "runtime": "claude", "limits": {"rpm": 60}, "tags": ["a", "b"]}
    async with peers.client(name) as c:
        peer = await c.register(url="http://reg.invalid:8787", capabilities=caps)
    assert isinstance(peer, MeshPeer)
    assert peer.name == name
    assert peer.url == "http://reg.invalid:8787"
    assert peer.capabilities == caps
    assert peer.enabled is True
    extra = peer.model_extra or {}
    assert extra.get("token_status") == "minted"
    assert isinstance(extra.get("peer_token"), str) and extra["peer_token"].startswith("mgp_")

    row = gw.peer_row(name)
    assert row is not None, f"{name} not listed after register"
    assert row["url"] == "http://reg.invalid:8787"
    assert row["capabilities"] == caps


async def test_register_without_url(gw, peers, names):
    """MeshClient.register(url=None) omits url from the body; meshgate accepts it."""
    name = names.new("nourl")
    async with peers.client(name) as c:
        peer = await c.register(capabilities={"x": 1})
    assert peer.name == name and peer.url is None
    assert peer.capabilities == {"x": 1}
    row = gw.peer_row(name)
    assert row is not None and row["url"] is None and row["capabilities"] == {"x": 1}


async def test_register_without_capabilities_defaults_to_empty(gw, peers, names):
    name = names.new("nocaps")
    async with peers.client(name) as c:
        peer = await c.register(url="http://nocaps.invalid:1")
    assert peer.capabilities == {}
    assert gw.peer_row(name)["capabilities"] == {}


async def test_capabilities_round_trip_through_list_peers(peers):
    caps = {
        "bool": False, "null": None, "int": -3, "float": 1.5, "str": "ünïcødé ✓ 😀",
        "list": [1, "two", {"three": 3}], "nested": {"deep": {"deeper": [True, None]}},
    }
    name = peers.new("caps", capabilities=caps)
    async with peers.client(name) as c:
        listed = {p.name: p for p in await c.list_peers()}
    assert listed[name].capabilities == caps


async def test_reregister_returns_existing_token_status_and_updates(gw, peers):
    name = peers.new("rereg", capabilities={"v": 1})
    first_token = peers.token(name)
    async with peers.client(name) as c:
        again = await c.register(url="http://rereg-2.invalid:9", capabilities={"v": 2})
    extra = again.model_extra or {}
    assert extra.get("token_status") == "existing"
    assert extra.get("peer_token") in (None, ""), "a re-register must not hand out the token again"
    row = gw.peer_row(name)
    assert row["capabilities"] == {"v": 2} and row["url"] == "http://rereg-2.invalid:9"
    assert [p["name"] for p in gw.peer_rows()].count(name) == 1, "upsert, not a second row"
    # the originally minted token still works (it was not rotated by the re-register)
    async with peers.client(name, token=first_token) as c:
        assert name in {p.name for p in await c.list_peers()}


async def test_list_peers_parsing(gw, peers):
    a, b = peers.new("lp", capabilities={"k": "v"}), peers.new("lp", url=None)
    async with peers.client(a) as c:
        listed = await c.list_peers()
    assert all(isinstance(p, MeshPeer) for p in listed)
    by_name = {p.name: p for p in listed}
    assert {a, b} <= set(by_name)
    for p in listed:
        assert p.enabled is True
        assert isinstance(p.capabilities, dict)
    assert by_name[a].capabilities == {"k": "v"}
    assert by_name[b].url is None
    # on the wire `enabled` is a JSON boolean (the reference sends SQLite 1)
    raw = {r["name"]: r for r in gw.peer_rows()}
    assert raw[a]["enabled"] is True
    assert "peer_token" not in raw[a], "GET /peers must never expose a per-peer token"


def test_canonical_names_sees_new_registration(gw, peers, names):
    name = names.new("canon")
    assert name not in gw.refresh_registry()
    peers.register(name)
    assert name in peer_registry.canonical_names(ttl_seconds=0, gateway_url=gw.url, token=gw.token)


def test_validate_node_name_registered(gw, peers):
    name = peers.new("valid")
    assert validate_node_name(name, ttl_seconds=0, gateway_url=gw.url, token=gw.token) == name
    assert peer_registry.is_registered(name, ttl_seconds=0, gateway_url=gw.url, token=gw.token)


def test_validate_node_name_unregistered(gw, names):
    ghost = names.new("ghost")
    with pytest.raises(NotInRegistry):
        validate_node_name(ghost, ttl_seconds=0, gateway_url=gw.url, token=gw.token)
    assert not peer_registry.is_registered(ghost, ttl_seconds=0, gateway_url=gw.url, token=gw.token)


@pytest.mark.parametrize("bad", ["Bad_Name", "-lead", "trail-", "x", "UPPER", "sp ace", ""])
def test_validate_node_name_malformed(gw, bad):
    with pytest.raises(ValueError) as ei:
        validate_node_name(bad, ttl_seconds=0, gateway_url=gw.url, token=gw.token)
    assert not isinstance(ei.value, NotInRegistry), "format must be rejected before any registry check"


def test_validate_node_name_resolves_known_aliases(gw, alias_canonicals):
    assert alias_canonicals, "swarph_shared ships KNOWN_ALIASES"
    for alias, canonical in alias_canonicals.items():
        assert validate_node_name(alias, ttl_seconds=0, gateway_url=gw.url, token=gw.token) == canonical


async def test_send_to_alias_lands_in_canonical_inbox(gw, peers, alias_canonicals):
    a = peers.new("alias")
    alias, canonical = next(iter(sorted(alias_canonicals.items())))
    before = ids(gw.inbox(canonical))
    async with peers.client(a) as c:
        msg = await c.send(to=alias, kind="fyi", content=f"to {alias}")
    assert msg.to_node == canonical
    rows = gw.inbox(canonical)
    assert ids(rows) == [msg.id] + before
    assert rows[0]["to_node"] == canonical and rows[0]["from_node"] == a

