"""The `swarph mesh` CLI (python -m swarph_cli mesh ...) against meshgate.

Each test asserts the exit code AND the effect on the gateway, observed through raw
GET /messages or GET /peers with the operator token.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import swarph_cli

from compat import ids

pytestmark = pytest.mark.cli


def _register(cli, name, *extra):
    res = cli.run("register", "--as", name, *extra)
    assert res.rc == 0, res
    return res


def _sent_id(res) -> int:
    m = re.search(r"^sent id=(\d+) ", res.stdout, re.M)
    assert m, res
    return int(m.group(1))


def test_cli_register_mints_token_and_stores_capabilities(cli, gw, names):
    name = names.new("clireg")
    res = _register(cli, name, "--url", "http://clireg.invalid:8787",
                    "--capability", "role=tester", "--capability", "max_tasks=3")
    assert f"registered {name} token_status=minted" in res.stdout, res
    tok_file = cli.token_file(name)
    assert tok_file.is_file()
    assert tok_file.read_text().strip().startswith("mgp_")
    row = gw.peer_row(name)
    assert row is not None and row["url"] == "http://clireg.invalid:8787"
    assert row["capabilities"] == {"role": "tester", "max_tasks": 3,
                                   "swarph_cli_version": swarph_cli.__version__}


def test_cli_reregister_merges_capabilities_and_reports_existing(cli, gw, names):
    name = names.new("clirr")
    _register(cli, name, "--capability", "role=tester", "--capability", "keep=true")
    res = cli.run("register", "--as", name, "--force", "--capability", "role=lead")
    assert res.rc == 0, res
    assert "token_status=existing" in res.stdout, res
    caps = gw.peer_row(name)["capabilities"]
    assert caps["role"] == "lead" and caps["keep"] is True, caps


def test_cli_register_refuses_without_force_when_token_file_exists(cli, gw, names):
    name = names.new("cliforce")
    _register(cli, name, "--capability", "v=1")
    res = cli.run("register", "--as", name, "--capability", "v=2")
    assert res.rc == 1, res
    assert gw.peer_row(name)["capabilities"]["v"] == 1


def test_cli_peers_lists_registered_peers(cli, gw, peers, names):
    viacli = names.new("clipeers")
    _register(cli, viacli)
    viaclient = peers.new("clipeers")
    res = cli.run("peers")
    assert res.rc == 0, res
    lines = res.stdout.splitlines()
    assert f"{viacli}  {swarph_cli.__version__}" in lines, res
    assert f"{viaclient}  UNREPORTED" in lines, res


def test_cli_peers_with_peer_token(cli, names):
    name = names.new("clipt")
    _register(cli, name)
    res = cli.run("peers", "--as", name, MESH_GATEWAY_TOKEN="")
    assert res.rc == 0, res
    assert name in res.stdout


def test_cli_send_plain_with_peer_token(cli, gw, peers, names):
    a = names.new("clisnd")
    _register(cli, a)  # writes A's per-peer token file; --as A then uses it
    b = peers.new("clircv")
    content = "hello from the CLI: ünïcødé ✓ `backticks` $(not run)"
    res = cli.run("send", b, "--as", a, "--kind", "question", "--content", content,
                  MESH_GATEWAY_TOKEN="")  # prove the peer token file alone suffices
    assert res.rc == 0, res
    mid = _sent_id(res)
    assert f"from={a} to={b} kind=question" in res.stdout
    rows = gw.inbox(b)
    assert ids(rows) == [mid]
    assert (rows[0]["from_node"], rows[0]["content"], rows[0]["thread_id"]) == (a, content, None)


def test_cli_send_content_from_stdin_exact(cli, gw, peers):
    a, b = peers.new("clistdin"), peers.new("clistdin")
    content = "line1\n\ttabbed\n  spaced  \n😀 end\n"
    res = cli.run("send", b, "--as", a, "--kind", "fyi", "--content", "-", input=content)
    assert res.rc == 0, res
    assert gw.inbox(b)[0]["content"] == content


def test_cli_send_thread_new(cli, gw, peers):
    a, b = peers.new("clithr"), peers.new("clithr")
    res = cli.run("send", b, "--as", a, "--kind", "fyi", "--content", "threaded", "--thread", "new")
    assert res.rc == 0, res
    m = re.search(r"thread=([0-9a-f-]{36})", res.stdout)
    assert m, res
    handle = m.group(1)
    uuid.UUID(handle)
    rows = gw.inbox(b)
    assert ids(rows) == [_sent_id(res)] and rows[0]["thread_id"] == handle


def test_cli_send_join_existing_thread(cli, gw, peers):
    a, b = peers.new("clijoin"), peers.new("clijoin")
    handle = str(uuid.uuid4())
    res = cli.run("send", b, "--as", a, "--kind", "status", "--content", "joined", "--thread", handle)
    assert res.rc == 0, res
    assert gw.inbox(b)[0]["thread_id"] == handle


def test_cli_send_to_unregistered_refused(cli, gw, peers, names):
    a = peers.new("cliunk")
    ghost = names.new("ghost")
    res = cli.run("send", ghost, "--as", a, "--kind", "fyi", "--content", "void")
    assert res.rc == 1, res
    assert "not a registered peer" in res.stderr
    assert gw.inbox(ghost) == []


def test_cli_send_credential_refused_by_gateway(cli, gw, peers):
    """The CLI has no client-side secret scan; meshgate's server-side guard catches it."""
    from compat import fake_secret

    a, b = peers.new("clisec"), peers.new("clisec")
    res = cli.run("send", b, "--as", a, "--kind", "fyi", "--content", f"key {fake_secret('pypi')}")
    assert res.rc == 1, res
    assert "gateway 422" in res.stderr, res
    assert gw.inbox(b) == []


def test_cli_inbox_lists_and_marks_read_via_bulk_endpoint(cli, gw, peers, tmp_path):
    a, b = peers.new("cliinb"), peers.new("cliinb")
    sent = []
    for i in range(3):
        res = cli.run("send", b, "--as", a, "--kind", "fyi", "--content", f"inbox item {i}")
        assert res.rc == 0, res
        sent.append(_sent_id(res))
    record = tmp_path / "requests.jsonl"
    res = cli.run("inbox", "--as", b, record=record)
    assert res.rc == 0, res
    shown = [int(x) for x in re.findall(r"^id=(\d+) unread from=", res.stdout, re.M)]
    assert shown == list(reversed(sent)), res
    assert f"from={a}" in res.stdout and "inbox item 2" in res.stdout
    assert f"marked 3 read as {b}" in res.stdout, res
    assert "mark-read failed" not in res.stderr, res
    assert all(r["read_at"] for r in gw.inbox(b)), gw.inbox(b)

    calls = [json.loads(line) for line in record.read_text().splitlines()]
    posts = [(c["path"], c["status"]) for c in calls if c["method"] == "POST"]
    assert posts == [("/messages/read", 200)], f"expected ONE bulk mark-read, got {calls}"

    # second read: nothing unread any more
    res = cli.run("inbox", "--as", b, "--unread")
    assert res.rc == 0, res
    assert "  empty" in res.stdout, res


def test_cli_inbox_with_peer_token(cli, gw, peers, names):
    b = names.new("cliinbpt")
    _register(cli, b)
    a = peers.new("cliinbpt")
    res = cli.run("send", b, "--as", a, "--kind", "fyi", "--content", "for b")
    assert res.rc == 0, res
    res = cli.run("inbox", "--as", b, MESH_GATEWAY_TOKEN="")
    assert res.rc == 0, res
    assert "for b" in res.stdout and f"marked 1 read as {b}" in res.stdout, res
    assert gw.inbox(b)[0]["read_at"] is not None


def test_cli_inbox_peek_does_not_mark_read(cli, gw, peers):
    a, b = peers.new("clipeek"), peers.new("clipeek")
    res = cli.run("send", b, "--as", a, "--kind", "fyi", "--content", "peek at me")
    assert res.rc == 0, res
    res = cli.run("inbox", "--as", b, "--peek")
    assert res.rc == 0, res
    assert "peek at me" in res.stdout
    assert gw.inbox(b)[0]["read_at"] is None


def test_cli_inbox_json(cli, gw, peers):
    a, b = peers.new("clijson"), peers.new("clijson")
    res = cli.run("send", b, "--as", a, "--kind", "status", "--content", "json me")
    assert res.rc == 0, res
    mid = _sent_id(res)
    res = cli.run("inbox", "--as", b, "--json")
    assert res.rc == 0, res
    payload = json.loads(res.stdout)
    assert [m["id"] for m in payload["messages"]] == [mid]
    assert payload["messages"][0]["content"] == "json me"
    assert gw.inbox(b)[0]["read_at"] is not None


def test_cli_reply_in_thread(cli, gw, peers):
    a, b = peers.new("clirep"), peers.new("clirep")
    res = cli.run("send", b, "--as", a, "--kind", "question", "--content", "q?", "--thread", "new")
    assert res.rc == 0, res
    qid = _sent_id(res)
    handle = re.search(r"thread=([0-9a-f-]{36})", res.stdout).group(1)
    res = cli.run("reply", str(qid), "--as", b, "--content", "a!")
    assert res.rc == 0, res
    assert f"to={a} kind=answer" in res.stdout and handle in res.stdout, res
    rows = gw.inbox(a)
    assert len(rows) == 1
    assert (rows[0]["from_node"], rows[0]["kind"], rows[0]["content"], rows[0]["thread_id"]) == \
        (b, "answer", "a!", handle)


def test_cli_reply_threadless(cli, gw, peers):
    a, b = peers.new("clirepnt"), peers.new("clirepnt")
    res = cli.run("send", b, "--as", a, "--kind", "fyi", "--content", "no thread")
    assert res.rc == 0, res
    res = cli.run("reply", str(_sent_id(res)), "--as", b, "--kind", "fyi", "--content", "ack")
    assert res.rc == 0, res
    assert "NOT IN A THREAD" in res.stdout, res
    rows = gw.inbox(a)
    assert [(r["from_node"], r["content"], r["thread_id"]) for r in rows] == [(b, "ack", None)]


def test_cli_reply_with_peer_token(cli, gw, peers, names):
    b = names.new("clireppt")
    _register(cli, b)
    a = peers.new("clireppt")
    res = cli.run("send", b, "--as", a, "--kind", "question", "--content", "ping")
    assert res.rc == 0, res
    res = cli.run("reply", str(_sent_id(res)), "--as", b, "--content", "pong", MESH_GATEWAY_TOKEN="")
    assert res.rc == 0, res
    assert [(r["from_node"], r["content"]) for r in gw.inbox(a)] == [(b, "pong")]


def test_cli_reply_to_message_not_in_own_inbox(cli, gw, peers):
    a, b, c3 = peers.new("clirepx"), peers.new("clirepx"), peers.new("clirepx")
    res = cli.run("send", b, "--as", a, "--kind", "fyi", "--content", "for b")
    assert res.rc == 0, res
    res = cli.run("reply", str(_sent_id(res)), "--as", c3, "--content", "hijack")
    assert res.rc == 1, res
    assert gw.inbox(a) == []


def test_cli_inbox_thread_view(cli, gw, peers):
    """`mesh inbox --thread HANDLE` reads GET /threads/{uuid}, oldest first, both directions."""
    a, b = peers.new("clitv"), peers.new("clitv")
    res = cli.run("send", b, "--as", a, "--kind", "question", "--content", "first", "--thread", "new")
    assert res.rc == 0, res
    handle = re.search(r"thread=([0-9a-f-]{36})", res.stdout).group(1)
    res = cli.run("reply", str(_sent_id(res)), "--as", b, "--content", "second")
    assert res.rc == 0, res
    res = cli.run("inbox", "--as", b, "--thread", handle)
    assert res.rc == 0, res
    assert f"thread {handle} (2 message(s)" in res.stdout, res
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("id=")]
    assert len(lines) == 2 and "first" in lines[0] and "second" in lines[1], res
    assert gw.inbox(b)[0]["read_at"] is None, "the thread view is non-destructive"


def test_cli_threads_lists_a_thread_the_peer_takes_part_in(cli, gw, names):
    a, b = names.new("clith"), names.new("clith")
    _register(cli, a)
    _register(cli, b)
    gw.refresh_registry()
    res = cli.run("send", b, "--as", a, "--kind", "fyi", "--content", "t", "--thread", "new",
                  MESH_GATEWAY_TOKEN="")
    assert res.rc == 0, res
    handle = re.search(r"thread=([0-9a-f-]{36})", res.stdout).group(1)
    res = cli.run("threads", "--as", b, MESH_GATEWAY_TOKEN="")
    assert res.rc == 0, res
    assert handle in res.stdout, res


def test_cli_threads_lists_participated_thread_with_foreign_name(cli, gw, names):
    a, b = names.new("clifn"), names.new("clifn")
    _register(cli, a)
    _register(cli, b)
    gw.refresh_registry()
    handle = gw.mint_thread("release-planning")  # thread_name "compat:release-planning:<hex>"
    res = cli.run("send", b, "--as", a, "--kind", "question", "--content", "in a named thread",
                  "--thread", handle, MESH_GATEWAY_TOKEN="")
    assert res.rc == 0, res
    shown = cli.run("inbox", "--as", b, "--thread", handle, MESH_GATEWAY_TOKEN="")
    assert shown.rc == 0 and "in a named thread" in shown.stdout, shown  # b takes part in it
    res = cli.run("threads", "--as", b, MESH_GATEWAY_TOKEN="")
    assert res.rc == 0, res
    assert handle in res.stdout, res
