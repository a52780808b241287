"""The overview, live updates, and the pages a DM links to."""

import re
import uuid

from selenium.webdriver.support.ui import WebDriverWait

from console import dm_ids, error_code, find, find_all, login, tid, wait_css


def test_overview_lists_the_peers(browser, mesh):
    alice, bob = mesh.register("alice"), mesh.register("bob")
    mesh.send(alice, bob, "hello from the overview test")
    login(browser, mesh.operator)
    table = wait_css(browser, tid("peers"))
    for p in (alice, bob):
        row = table.find_element("css selector", f'tr[data-peer="{p.name}"]')
        assert row.find_element("css selector", tid("online")).text in ("online", "offline")
    assert find(browser, f'tr[data-peer="{bob.name}"] {tid("unread")}').text == "1"
    assert "operator" in find(browser, tid("whoami")).text.lower()
    browser.shot("overview")


def test_dm_sent_through_the_api_appears_without_reload(browser, mesh):
    alice, bob = mesh.register("alice"), mesh.register("bob")
    login(browser, mesh.operator)
    live = wait_css(browser, tid("live-list"))
    # Mark this document: a reload would lose the mark. (The stream resumes after the newest
    # row the page was rendered with, so a DM sent before it opens arrives too.)
    browser.execute_script("window.__meshgateNoReload = 'still-here';")
    before = dm_ids(browser, "#live")
    browser.shot("before the DM")
    mid = mesh.send(alice, bob, "live one: arrives without a reload", kind="question")
    row = wait_css(browser, f'#live li[data-message-id="{mid}"]')
    assert browser.execute_script("return window.__meshgateNoReload;") == "still-here", "the page reloaded"
    assert mid not in before
    assert row.find_element("css selector", ".from").text == alice.name
    assert row.find_element("css selector", ".to").text == bob.name
    assert row.find_element("css selector", ".kind").text == "question"
    assert "live one" in row.find_element("css selector", ".preview").text
    # The newest is on top, and a second one from the CLI lands above it.
    mesh.cli_send(bob, alice, "live two, from the meshgate CLI")
    WebDriverWait(browser.driver, 15).until(lambda d: len(find_all(browser, "#live li[data-message-id]")) >= len(before) + 2)
    first = find_all(browser, "#live li[data-message-id]")[0]
    assert first.find_element("css selector", ".from").text == bob.name
    assert int(live.get_attribute("data-after")) > mid
    assert browser.execute_script("return window.__meshgateNoReload;") == "still-here"
    browser.shot("after two live DMs")


def test_peer_counts_follow_live_dms(browser, mesh):
    alice, bob = mesh.register("alice"), mesh.register("bob")
    login(browser, mesh.operator)
    wait_css(browser, tid("live-list"))
    unread = f'tr[data-peer="{bob.name}"] {tid("unread")}'
    owed = f'tr[data-peer="{bob.name}"] {tid("owed")}'
    assert (find(browser, unread).text, find(browser, owed).text) == ("0", "0")
    browser.execute_script("window.__meshgateNoReload = 'still-here';")
    mid = mesh.send(alice, bob, "counted live", kind="question")
    wait_css(browser, f'#live li[data-message-id="{mid}"]')
    WebDriverWait(browser.driver, 15).until(lambda d: find(browser, unread).text == "1")
    assert find(browser, owed).text == "1"
    assert browser.execute_script("return window.__meshgateNoReload;") == "still-here", "the page reloaded"


def test_open_a_thread_from_a_message(browser, mesh):
    alice, bob = mesh.register("alice"), mesh.register("bob")
    thread = str(uuid.uuid4())
    first = mesh.send(alice, bob, "thread: first word", thread_id=thread)
    second = mesh.send(bob, alice, "thread: the answer", kind="answer", thread_id=thread)
    outside = mesh.send(alice, bob, "not in the thread")
    login(browser, mesh.operator)
    browser.open(f"/ui/messages/{first}")
    assert "thread: first word" in wait_css(browser, tid("body")).text
    browser.shot("message")
    link = find(browser, f'a[href="/ui/threads/{thread}"]')
    link.click()
    WebDriverWait(browser.driver, 15).until(lambda d: f"/ui/threads/{thread}" in d.current_url)
    wait_css(browser, "li[data-message-id]")
    shown = dm_ids(browser)
    assert {first, second} <= shown and outside not in shown, shown
    browser.shot("thread")


def test_a_long_thread_pages_oldest_first(browser, mesh):
    alice, bob = mesh.register("alice"), mesh.register("bob")
    thread = str(uuid.uuid4())
    ids = []
    for i in range(101):  # one more than a console page (THREAD_PAGE)
        r = mesh.api("POST", "/messages", token=alice.token,
                     json={"to_node": bob.name, "kind": "fyi", "content": f"step {i}", "thread_id": thread})
        assert r.status_code == 200, r.text
        ids.append(int(r.json()["id"]))
    login(browser, bob.token)
    browser.open(f"/ui/threads/{thread}")
    wait_css(browser, "li[data-message-id]")
    assert dm_ids(browser, tid("dm-list")) == set(ids[:100])
    assert not find_all(browser, tid("page-first"))
    browser.shot("thread first page")
    find(browser, tid("page-next")).click()
    WebDriverWait(browser.driver, 15).until(lambda d: f"after={ids[99]}" in d.current_url)
    wait_css(browser, tid("page-first"))
    assert dm_ids(browser, tid("dm-list")) == {ids[100]}
    assert not find_all(browser, tid("page-next")), "the last page offers no later one"
    browser.shot("thread last page")
    for bad, code in (("?after=x", "invalid_parameter"), ("?after=-1", "invalid_parameter"),
                      ("?page=2", "invalid_parameter"), ("?after=0&after=5", "duplicate_parameter")):
        browser.expect_http_error(f"/ui/threads/{thread}")
        browser.open(f"/ui/threads/{thread}{bad}")
        wait_css(browser, tid("error"))
        assert error_code(browser) == code, bad


def test_peer_page_tabs(browser, mesh):
    alice, bob = mesh.register("alice"), mesh.register("bob")
    to_bob = mesh.send(alice, bob, "to bob")
    to_alice = mesh.send(bob, alice, "to alice")
    login(browser, mesh.operator)
    wait_css(browser, tid("peers"))
    find(browser, f'tr[data-peer="{alice.name}"] a').click()
    wait_css(browser, tid("tab-inbox"))
    assert dm_ids(browser, tid("dm-list")) == {to_alice}
    browser.shot("inbox")
    find(browser, tid("tab-outbox")).click()
    WebDriverWait(browser.driver, 15).until(lambda d: "tab=outbox" in d.current_url)
    assert dm_ids(browser, tid("dm-list")) == {to_bob}
    browser.shot("outbox")
    # Viewing an inbox is no delivery: the DM is still unread for its recipient.
    assert all(m.get("read_at") is None for m in mesh.inbox(alice))


def test_narrow_screen(narrow_browser, mesh):
    alice, bob = mesh.register("alice"), mesh.register("bob")
    mesh.send(alice, bob, "seen on a phone")
    # Headless Chromium keeps windows at least 500 px wide: only the device-metrics override gives 375.
    narrow_browser.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 375, "height": 800, "deviceScaleFactor": 1, "mobile": True})
    login(narrow_browser, mesh.operator)
    wait_css(narrow_browser, tid("peers"))
    assert narrow_browser.execute_script("return window.innerWidth;") <= 375
    width = narrow_browser.execute_script("return document.documentElement.clientWidth;")
    scroll = narrow_browser.execute_script("return document.documentElement.scrollWidth;")
    assert scroll <= width, f"the page scrolls sideways at 375 px ({scroll} > {width})"
    assert find(narrow_browser, tid("logout")).is_displayed()
    narrow_browser.shot("overview narrow")


def _luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_light_and_dark_schemes_keep_text_readable(browser, mesh):
    """prefers-color-scheme is honoured, and body text keeps a 4.5:1 contrast in both."""
    alice, bob = mesh.register("alice"), mesh.register("bob")
    mesh.send(alice, bob, "readable in the dark")
    login(browser, mesh.operator)
    wait_css(browser, tid("peers"))
    seen = {}
    for scheme in ("light", "dark"):
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
        browser.driver.refresh()
        wait_css(browser, tid("peers"))
        bg, fg = browser.execute_script(
            "const s = getComputedStyle(document.body); return [s.backgroundColor, s.color];")
        hi, lo = sorted((_luminance(bg), _luminance(fg)), reverse=True)
        ratio = (hi + 0.05) / (lo + 0.05)
        assert ratio >= 4.5, (scheme, bg, fg, ratio)
        seen[scheme] = _luminance(bg)
        browser.shot(f"overview {scheme}")
    assert seen["dark"] < 0.2 < seen["light"], seen
