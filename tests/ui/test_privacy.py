"""A peer-token login sees its own DMs only, on every page and by every URL."""

import uuid

from console import dm_ids, error_code, find, find_all, login, tid, wait_css


def test_peer_login_sees_only_its_own_dms(browser, mesh):
    alice, bob, carol = mesh.register("alice"), mesh.register("bob"), mesh.register("carol")
    thread = str(uuid.uuid4())
    secret_text = f"between alice and bob only {uuid.uuid4().hex}"
    private = mesh.send(alice, bob, secret_text, thread_id=thread)
    to_carol = mesh.send(alice, carol, "for carol's eyes")
    from_carol = mesh.send(carol, bob, "carol writes to bob")

    login(browser, carol.token)
    assert carol.name in find(browser, tid("whoami")).text
    wait_css(browser, tid("live-list"))
    shown = dm_ids(browser)
    assert {to_carol, from_carol} <= shown, shown
    assert private not in shown
    assert secret_text not in browser.page_source
    browser.shot("peer overview")

    # The live list gets carol's new DMs, never the others'.
    later_private = mesh.send(bob, alice, f"still private {uuid.uuid4().hex}")
    later_mine = mesh.send(bob, carol, "a new one for carol")
    wait_css(browser, f'#live li[data-message-id="{later_mine}"]')
    assert later_private not in dm_ids(browser)
    browser.shot("peer overview live")

    find(browser, tid("nav-me")).click()
    wait_css(browser, tid("tab-inbox"))
    assert dm_ids(browser, tid("dm-list")) == {to_carol, later_mine}
    find(browser, tid("tab-outbox")).click()
    wait_css(browser, tid("tab-inbox"))
    assert dm_ids(browser, tid("dm-list")) == {from_carol}
    browser.shot("peer outbox")

    # Direct URLs to the others' DM, thread and pages show an error page, never the DM.
    for path in (f"/ui/messages/{private}", f"/ui/messages/{later_private}", f"/ui/threads/{thread}",
                 f"/ui/threads/{thread}?after=0", f"/ui/peers/{alice.name}", f"/ui/peers/{bob.name}?tab=outbox"):
        browser.expect_http_error(path)
        browser.open(path)
        wait_css(browser, tid("error"))
        assert error_code(browser), path
        assert secret_text not in browser.page_source and "still private" not in browser.page_source, path
        assert not find_all(browser, "li[data-message-id]"), path
    browser.shot("direct url refused")
    for path in (f"/ui/messages/{private}", f"/ui/threads/{thread}"):
        browser.open(path)
        wait_css(browser, tid("error"))
        assert error_code(browser).startswith("unknown") or "not_found" in error_code(browser), (path, error_code(browser))
