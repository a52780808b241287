"""MeshClient.send against meshgate: every kind x {plain, thread_id, related_task_id, both},
exact content round trip, the credential guard, and gateway-side refusals."""

from __future__ import annotations

import uuid

import httpx
import pytest
from swarph_mesh import MeshGatewayError, MeshSecretLeakError
from swarph_mesh.mesh_types import MeshMessage
from swarph_shared.peer_registry import NotInRegistry

from compat import KINDS, SECRET_KINDS, fake_secret, ids, record_requests

# variant -> (thread source, related_task_id)
VARIANTS = {
    "plain": (None, None),
    "thread-minted": ("minted", None),
    "thread-uuid4": ("uuid4", None),
    "task-str": (None, "task-7"),
    "task-num": (None, "4242"),
    "both-minted-str": ("minted", "task-7"),
    "both-uuid4-num": ("uuid4", "4242"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("kind", KINDS)
async def test_send_every_kind(gw, peers, kind, variant):
    a, b = peers.new("snd"), peers.new("rcv")
    thread_src, task = VARIANTS[variant]
    thread = {"minted": lambda: gw.mint_thread(f"{a}-{b}"), "uuid4": lambda: str(uuid.uuid4()),
              None: lambda: None}[thread_src]()
    content = f"{kind}/{variant} from {a}: ünïcødé ✓\nsecond line"

    async with peers.client(a) as c:
        msg = await c.send(to=b, kind=kind, content=content, thread_id=thread, related_task_id=task)

    assert isinstance(msg, MeshMessage)
    assert isinstance(msg.id, int) and msg.id > 0
    assert (msg.from_node, msg.to_node, msg.kind, msg.thread_id) == (a, b, kind, thread)
    assert msg.content in (None, content)

    rows = gw.inbox(b)
    assert ids(rows) == [msg.id]
    row = rows[0]
    assert (row["from_node"], row["to_node"], row["kind"], row["content"]) == (a, b, kind, content)
    assert row["thread_id"] == thread
    assert row["related_task_id"] == task, "related_task_id is stored and returned as a string"
    assert row["read_at"] is None

    # the recipient's own client parses the row (the reference crashes here when
    # related_task_id is set, because it returns an int)
    async with peers.client(b) as c:
        got = await c.fetch()
    assert [(m.id, m.content, m.thread_id, m.related_task_id) for m in got] == [(msg.id, content, thread, task)]


async def test_fetch_parses_mixed_rows_with_and_without_related_task_id(gw, peers):
    a, b = peers.new("mix"), peers.new("mix")
    async with peers.client(a) as c:
        m1 = await c.send(to=b, kind="fyi", content="plain")
        m2 = await c.send(to=b, kind="status", content="with task", related_task_id="77")
    async with peers.client(b) as c:
        got = await c.fetch()
    assert [(m.id, m.related_task_id) for m in got] == [(m2.id, "77"), (m1.id, None)]


def test_integer_related_task_id_accepted_on_input_returned_as_string(gw, peers):
    a, b = peers.new("int"), peers.new("int")
    r = gw.post("/messages", json={"from_node": a, "to_node": b, "kind": "fyi",
                                   "content": "int task", "related_task_id": 77})
    assert r.status_code == 200, r.text
    assert gw.inbox(b)[0]["related_task_id"] == "77"


async def test_successive_sends_get_increasing_ids(peers):
    a, b = peers.new("seq"), peers.new("seq")
    async with peers.client(a) as c:
        sent = [await c.send(to=b, kind="status", content=f"n={i}") for i in range(4)]
    got = [m.id for m in sent]
    assert got == sorted(got) and len(set(got)) == len(got)


# ---------------------------------------------------------------------------
# Exact content round trip
# ---------------------------------------------------------------------------

CONTENTS = {
    "ascii": "hello",
    "whitespace": "  leading and trailing  \n\n",
    "quotes": 'he said "hi" \\ `rm -rf` $(echo x) \'q\' <b>&amp;</b>',
    "unicode": "RTL שלום CJK 漢字 combining e\u0301 nbsp\u00a0 zwsp\u200b bom\ufeff",
    "emoji": "😀 👩🏽‍🚀 🏳️‍🌈 flags 🇫🇷 keycap 1️⃣ astral 𝄞",
    "control-chars": "tab\there\r\nbell\x07 esc\x1b[31m del\x7f vt\x0b ff\x0c c1\x85\x9b",
    "nul": "before\x00after\x00",
    "only-nul": "\x00",
    "json-lookalike": '{"id": 1, "kind": "status", "content": null}',
    "max-ascii-200000": ("0123456789abcdef" * 12500),
    "max-multibyte-200000": ("é😀漢\x00" * 50000),
}


@pytest.mark.parametrize("label", list(CONTENTS))
async def test_content_round_trips_exactly(gw, peers, label):
    content = CONTENTS[label]
    if label.startswith("max-"):
        assert len(content) == 200_000
    a, b = peers.new("fid"), peers.new("fid")
    async with peers.client(a) as c:
        msg = await c.send(to=b, kind="fyi", content=content)
    async with peers.client(b) as c:
        got = await c.fetch()
    assert ids(got) == [msg.id]
    assert got[0].content == content
    assert gw.inbox(b)[0]["content"] == content


@pytest.mark.parametrize("content", ["x" * 200_001, "😀" * 200_001], ids=["ascii", "emoji"])
async def test_content_over_200000_characters_refused(gw, peers, content):
    a, b = peers.new("big"), peers.new("big")
    async with peers.client(a) as c:
        with pytest.raises(MeshGatewayError) as ei:
            await c.send(to=b, kind="fyi", content=content)
    assert " 422" in str(ei.value) or " 413" in str(ei.value), str(ei.value)[:300]
    assert gw.inbox(b) == []


async def test_empty_content_refused(gw, peers):
    """Like the reference (min_length=1): an empty body is a 422 and nothing lands."""
    a, b = peers.new("empty"), peers.new("empty")
    async with peers.client(a) as c:
        with pytest.raises(MeshGatewayError) as ei:
            await c.send(to=b, kind="fyi", content="")
    assert " 422" in str(ei.value)
    assert gw.inbox(b) == []


# ---------------------------------------------------------------------------
# The credential guard
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("secret_kind", SECRET_KINDS)
async def test_client_refuses_credentials_before_post(gw, peers, secret_kind):
    a, b = peers.new("sec"), peers.new("sec")
    content = f"please rotate: {fake_secret(secret_kind)} thanks"
    async with peers.client(a) as c:
        seen = record_requests(c)
        with pytest.raises(MeshSecretLeakError):
            await c.send(to=b, kind="fyi", content=content)
    assert ("POST", "/messages") not in seen
    assert gw.inbox(b) == []


@pytest.mark.parametrize("secret_kind", SECRET_KINDS)
async def test_gateway_refuses_credentials_when_client_check_skipped(gw, peers, secret_kind):
    a, b = peers.new("gsec"), peers.new("gsec")
    content = f"please rotate: {fake_secret(secret_kind)} thanks"
    async with peers.client(a) as c:
        seen = record_requests(c)
        with pytest.raises(MeshGatewayError) as ei:
            await c.send(to=b, kind="fyi", content=content, skip_secret_check=True)
    assert ("POST", "/messages") in seen, "the client did send it; the gateway refused"
    assert " 422" in str(ei.value) and "secret_detected" in str(ei.value), str(ei.value)
    assert fake_secret(secret_kind) not in str(ei.value), "the refusal must not echo the secret"
    assert gw.inbox(b) == []


def test_gateway_stores_credential_when_body_opts_out(gw, peers):
    """`skip_secret_check: true` in the BODY is the gateway's explicit escape hatch."""
    a, b = peers.new("optout"), peers.new("optout")
    content = f"documenting the format: {fake_secret('pypi')}"
    r = gw.post("/messages", json={"from_node": a, "to_node": b, "kind": "fyi",
                                   "content": content, "skip_secret_check": True})
    assert r.status_code == 200, r.text
    assert [m["content"] for m in gw.inbox(b)] == [content]


def test_gateway_refuses_credential_raw_without_opt_out(gw, peers):
    a, b = peers.new("rawsec"), peers.new("rawsec")
    r = gw.post("/messages", json={"from_node": a, "to_node": b, "kind": "fyi",
                                   "content": f"k={fake_secret('github-pat')}"})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "secret_detected"
    assert gw.inbox(b) == []


# ---------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------


async def test_unknown_recipient_refused_client_side(gw, peers, names):
    a = peers.new("unk")
    ghost = names.new("ghost")
    async with peers.client(a) as c:
        seen = record_requests(c)
        with pytest.raises(NotInRegistry):
            await c.send(to=ghost, kind="fyi", content="into the void")
    assert ("POST", "/messages") not in seen


def test_unknown_recipient_refused_by_gateway_raw(gw, peers, names):
    a = peers.new("void")
    ghost = names.new("ghost")
    r = httpx.post(gw.url + "/messages", headers={"Authorization": f"Bearer {gw.token}"},
                   json={"from_node": a, "to_node": ghost, "kind": "fyi", "content": "nobody"})
    assert r.status_code == 404, r.text
    body = r.json()
    assert body["error"] == "unknown_recipient" and ghost in body["detail"]
    assert isinstance(body.get("suggestions", []), list)
    assert gw.inbox(ghost) == []


async def test_unknown_recipient_refused_by_gateway_with_client_check_bypassed(gw, peers, names, monkeypatch):
    """A stale client (check bypassed) still cannot drop mail into the void."""
    import swarph_mesh.mesh_client as mc

    a = peers.new("byp")
    ghost = names.new("ghost")
    monkeypatch.setattr(mc, "validate_node_name", lambda name, **kw: name)
    async with peers.client(a) as c:
        with pytest.raises(MeshGatewayError) as ei:
            await c.send(to=ghost, kind="fyi", content="nobody")
    assert " 404" in str(ei.value) and "unknown_recipient" in str(ei.value)
    assert gw.inbox(ghost) == []


async def test_unknown_recipient_suggests_near_names(gw, peers):
    a = peers.new("sugg")
    b = peers.new("suggtarget")
    typo = b[:-1] + ("x" if b[-1] != "x" else "y")
    r = gw.post("/messages", json={"from_node": a, "to_node": typo, "kind": "fyi", "content": "typo"})
    assert r.status_code == 404
    assert b in r.json().get("suggestions", []), r.text


async def test_unregistered_sender_refused_with_operator_token(gw, peers, names):
    b = peers.new("rcv")
    ghost = names.new("ghostsender")
    async with peers.client(ghost) as c:
        with pytest.raises(MeshGatewayError) as ei:
            await c.send(to=b, kind="fyi", content="who am I")
    assert " 422" in str(ei.value) and "unknown_sender" in str(ei.value)
    assert gw.inbox(b) == []


async def test_self_dm_refused(gw, peers):
    a = peers.new("self")
    async with peers.client(a) as c:
        with pytest.raises(MeshGatewayError) as ei:
            await c.send(to=a, kind="fyi", content="note to self")
    assert " 400" in str(ei.value)
    assert gw.inbox(a) == []


async def test_non_uuid_thread_id_refused(gw, peers):
    a, b = peers.new("thr"), peers.new("thr")
    async with peers.client(a) as c:
        with pytest.raises(MeshGatewayError) as ei:
            await c.send(to=b, kind="fyi", content="x", thread_id="not-a-uuid")
    assert " 422" in str(ei.value)
    assert gw.inbox(b) == []


@pytest.mark.parametrize("bad_kind", ["review_request", "FYI", ""])
def test_invalid_kind_refused_by_gateway_raw(gw, peers, bad_kind):
    a, b = peers.new("kind"), peers.new("kind")
    r = gw.post("/messages", json={"from_node": a, "to_node": b, "kind": bad_kind, "content": "x"})
    assert r.status_code in (400, 422), r.text
    assert gw.inbox(b) == []
