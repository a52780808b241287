"""MeshClient.fetch / mark_read, the after_id cursor and long-poll against meshgate."""

from __future__ import annotations

import threading
import time

import pytest
from swarph_mesh import MeshGatewayError

from compat import ids, run_async


async def _send(peers, frm, to, content, **kw):
    async with peers.client(frm) as c:
        return await c.send(to=to, kind=kw.pop("kind", "fyi"), content=content, **kw)


async def test_fetch_returns_own_inbox_only_newest_first(gw, peers):
    a, b, c3 = peers.new("own"), peers.new("own"), peers.new("own")
    m1 = await _send(peers, a, b, "a->b 1")
    await _send(peers, b, a, "b->a (outbound for b)")
    m3 = await _send(peers, c3, b, "c->b")
    await _send(peers, a, c3, "a->c (someone else's)")
    m5 = await _send(peers, a, b, "a->b 2")
    async with peers.client(b) as c:
        got = await c.fetch()
    assert ids(got) == [m5.id, m3.id, m1.id]
    assert all(m.to_node == b for m in got)
    assert [m.content for m in got] == ["a->b 2", "c->b", "a->b 1"]


async def test_fetch_empty_inbox(peers):
    a = peers.new("empty")
    async with peers.client(a) as c:
        assert await c.fetch() == []


async def test_fetch_limit_returns_newest(peers):
    a, b = peers.new("lim"), peers.new("lim")
    sent = [await _send(peers, a, b, f"n={i}") for i in range(5)]
    async with peers.client(b) as c:
        got = await c.fetch(limit=2)
        assert ids(got) == [sent[4].id, sent[3].id]
        assert ids(await c.fetch(limit=1)) == [sent[4].id]
        assert ids(await c.fetch(limit=100)) == [m.id for m in reversed(sent)]


async def test_fetch_unread_only_and_mark_read(gw, peers):
    a, b = peers.new("unr"), peers.new("unr")
    m1 = await _send(peers, a, b, "first")
    m2 = await _send(peers, a, b, "second")
    async with peers.client(b) as c:
        assert ids(await c.fetch(unread_only=True)) == [m2.id, m1.id]
        await c.mark_read(m1.id)
        assert ids(await c.fetch(unread_only=True)) == [m2.id]
        everything = await c.fetch()
    assert ids(everything) == [m2.id, m1.id]
    by_id = {m.id: m for m in everything}
    assert by_id[m1.id].read_at is not None and by_id[m2.id].read_at is None
    raw = {r["id"]: r for r in gw.inbox(b)}
    assert raw[m1.id]["read_at"] is not None and raw[m2.id]["read_at"] is None


async def test_mark_read_twice_is_idempotent(gw, peers):
    a, b = peers.new("twice"), peers.new("twice")
    m = await _send(peers, a, b, "read me twice")
    async with peers.client(b) as c:
        await c.mark_read(m.id)
        first = gw.inbox(b)[0]["read_at"]
        assert first is not None
        await c.mark_read(m.id)  # must not raise
    assert gw.inbox(b)[0]["read_at"] == first, "read_at keeps its first value"


async def test_mark_read_unknown_id_is_an_error(gw, peers):
    b = peers.new("nomsg")
    async with peers.client(b) as c:
        with pytest.raises(MeshGatewayError) as ei:
            await c.mark_read(987_654_321)
    assert " 404" in str(ei.value)


def test_bulk_mark_read(gw, peers):
    a, b = peers.new("bulk"), peers.new("bulk")
    sent = [run_async(lambda i=i: _send(peers, a, b, f"bulk {i}")) for i in range(3)]
    target = [sent[0].id, sent[2].id]
    r = gw.post("/messages/read", json={"ids": target + [987_654_321]})
    assert r.status_code == 200, r.text
    raw = {row["id"]: row for row in gw.inbox(b)}
    assert raw[sent[0].id]["read_at"] and raw[sent[2].id]["read_at"]
    assert raw[sent[1].id]["read_at"] is None


# ---------------------------------------------------------------------------
# after_id cursor
# ---------------------------------------------------------------------------


async def test_after_id_cursor_pages_oldest_first_without_gaps_or_dups(gw, peers):
    a, b, c3 = peers.new("cur"), peers.new("cur"), peers.new("cur")
    expected = []
    for i in range(7):
        expected.append((await _send(peers, a, b, f"cursor {i}")).id)
        await _send(peers, a, c3, f"noise {i}")  # interleaved rows for someone else
    cursor, seen, pages = 0, [], 0
    while True:
        rows = gw.inbox(b, after_id=cursor, limit=3)
        if not rows:
            break
        pages += 1
        page_ids = ids(rows)
        assert page_ids == sorted(page_ids), f"page not oldest-first: {page_ids}"
        assert all(i > cursor for i in page_ids)
        assert all(r["to_node"] == b for r in rows)
        seen.extend(page_ids)
        cursor = page_ids[-1]
        assert pages < 10
    assert seen == expected, "concatenated pages == every message, in order, once"
    assert pages == 3
    assert gw.inbox(b, after_id=expected[-1]) == []
    assert ids(gw.inbox(b, after_id=expected[3])) == expected[4:]


# ---------------------------------------------------------------------------
# Long-poll
# ---------------------------------------------------------------------------


def test_long_poll_returns_as_soon_as_a_message_arrives(gw, peers):
    a, b = peers.new("lp"), peers.new("lp")
    result: dict = {}

    def poll():
        t0 = time.monotonic()
        r = gw.get("/messages", params={"to": b, "wait": 5}, timeout=30)
        result["elapsed"] = time.monotonic() - t0
        result["response"] = r

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)  # let the poll park on the gateway
    assert t.is_alive(), f"the long-poll returned before anything was sent: {result}"
    sent = run_async(lambda: _send(peers, a, b, "wake up"))
    t.join(timeout=10)
    assert not t.is_alive()
    r = result["response"]
    assert r.status_code == 200, r.text
    assert ids(r.json()["messages"]) == [sent.id]
    assert result["elapsed"] < 2.0, f"long-poll took {result['elapsed']:.2f}s after the send"


def test_long_poll_times_out_empty(gw, peers):
    b = peers.new("lpto")
    t0 = time.monotonic()
    r = gw.get("/messages", params={"to": b, "wait": 1}, timeout=30)
    elapsed = time.monotonic() - t0
    assert r.status_code == 200 and r.json()["messages"] == []
    assert 0.8 <= elapsed < 4.0, elapsed


def test_long_poll_with_after_id_ignores_old_messages(gw, peers):
    a, b = peers.new("lpa"), peers.new("lpa")
    old = run_async(lambda: _send(peers, a, b, "already here"))
    result: dict = {}

    def poll():
        t0 = time.monotonic()
        result["response"] = gw.get("/messages", params={"to": b, "after_id": old.id, "wait": 5}, timeout=30)
        result["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    assert t.is_alive(), "returned early although nothing newer than after_id exists"
    new = run_async(lambda: _send(peers, a, b, "new one"))
    t.join(timeout=10)
    assert ids(result["response"].json()["messages"]) == [new.id]
    assert result["elapsed"] < 2.5
