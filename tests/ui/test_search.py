"""Searching DMs in the console: hits, highlighted words, filters and scope."""

import uuid

from selenium.webdriver.support.ui import Select

from console import dm_ids, find, find_all, login, tid, wait_css


def search(b, q: str, **filters) -> None:
    b.open("/ui/search")
    wait_css(b, tid("search-form"))
    find(b, tid("search-q")).send_keys(q)
    for name, value in filters.items():
        el = find(b, tid(f"search-{name}"))
        if name == "kind":
            Select(el).select_by_value(value)
        else:
            el.send_keys(value)
    find(b, tid("search-submit")).click()


def test_search_highlights_and_filters(browser, mesh):
    alice, bob, carol = mesh.register("alice"), mesh.register("bob"), mesh.register("carol")
    word = "zq" + uuid.uuid4().hex[:10]
    a = mesh.send(alice, bob, f"the {word} deploy failed <b>bold</b>", kind="question")
    b = mesh.send(bob, carol, f"re {word}: retry tonight", kind="fyi")
    mesh.send(alice, carol, "nothing to find here")
    login(browser, mesh.operator)
    search(browser, word)
    wait_css(browser, tid("search-hits"))
    assert dm_ids(browser, tid("search-hits")) == {a, b}
    marks = [m.text for m in find_all(browser, f'li[data-message-id="{a}"] mark')]
    assert marks == [word], marks
    # The body's markup is text, never HTML.
    assert "<b>bold</b>" in find(browser, f'li[data-message-id="{a}"] .snippet').text
    assert not find_all(browser, f'li[data-message-id="{a}"] .snippet b')
    browser.shot("search hits")
    search(browser, word, kind="question")
    wait_css(browser, tid("search-hits"))
    assert dm_ids(browser, tid("search-hits")) == {a}
    search(browser, word, **{"from": bob.name})
    wait_css(browser, tid("search-hits"))
    assert dm_ids(browser, tid("search-hits")) == {b}
    browser.shot("search filtered")
    # The hit links to its message.
    find(browser, f'li[data-message-id="{b}"] a').click()
    assert "retry tonight" in wait_css(browser, tid("body")).text


def test_search_is_scoped_for_a_peer(browser, mesh):
    alice, bob, carol = mesh.register("alice"), mesh.register("bob"), mesh.register("carol")
    word = "zq" + uuid.uuid4().hex[:10]
    private = mesh.send(alice, bob, f"{word} between alice and bob")
    mine = mesh.send(alice, carol, f"{word} for carol")
    login(browser, carol.token)
    search(browser, word)
    wait_css(browser, tid("search-hits"))
    assert dm_ids(browser, tid("search-hits")) == {mine}
    assert private not in dm_ids(browser) and "between alice and bob" not in browser.page_source
    browser.shot("peer search")


def test_bad_query_is_a_clear_error(browser, mesh):
    login(browser, mesh.operator)
    browser.expect_http_error("/ui/search")
    search(browser, '"unclosed phrase')
    err = wait_css(browser, tid("search-error"))
    assert err.get_attribute("data-code") == "invalid_query" and err.text.strip()
    # The form keeps what was typed.
    assert find(browser, tid("search-q")).get_attribute("value") == '"unclosed phrase'
