"""Composing DMs in the console; they arrive through the API like any other."""

import uuid

from selenium.webdriver.support.ui import Select, WebDriverWait

from console import find, login, tid, wait_css


def compose(b, to: str, content: str, kind: str = "fyi") -> None:
    b.open("/ui/compose")
    wait_css(b, tid("compose-form"))
    find(b, tid("compose-to")).send_keys(to)
    Select(find(b, tid("compose-kind"))).select_by_value(kind)
    find(b, tid("compose-content")).send_keys(content)


def test_operator_composes_as_overseer(browser, mesh):
    bob = mesh.register("bob")
    text = f"from the operator console {uuid.uuid4().hex}"
    login(browser, mesh.operator)
    compose(browser, bob.name, text, kind="question")
    assert "overseer" in find(browser, tid("compose-as")).text
    browser.shot("compose form")
    find(browser, tid("compose-send")).click()
    body = wait_css(browser, tid("body"))
    assert text in body.text
    WebDriverWait(browser.driver, 15).until(lambda d: "/ui/messages/" in d.current_url)
    browser.shot("sent message")
    # The recipient gets it through the API: from overseer, not verified by a peer token.
    got = [m for m in mesh.inbox(bob) if m["content"] == text]
    assert len(got) == 1, mesh.inbox(bob)
    assert got[0]["from_node"] == "overseer" and got[0]["kind"] == "question"
    assert not got[0].get("sender_verified", False)
    # A reply to overseer is stored and shown on overseer's page.
    reply = mesh.send(bob, type(bob)("overseer", ""), "the answer to the operator", kind="answer")
    browser.open("/ui/peers/overseer")
    wait_css(browser, f'li[data-message-id="{reply}"]')


def test_peer_composes_as_itself(browser, mesh):
    alice, bob = mesh.register("alice"), mesh.register("bob")
    text = f"alice in the console {uuid.uuid4().hex}"
    login(browser, alice.token)
    compose(browser, bob.name, text)
    find(browser, tid("compose-send")).click()
    wait_css(browser, tid("body"))
    got = [m for m in mesh.inbox(bob) if m["content"] == text]
    assert len(got) == 1 and got[0]["from_node"] == alice.name and got[0].get("sender_verified") is True


def test_compose_refusals_keep_the_draft(browser, mesh):
    alice = mesh.register("alice")
    login(browser, alice.token)
    draft = "a draft that must not be lost"
    compose(browser, "nobody-by-this-name", draft)
    browser.expect_http_error("/ui/compose")
    find(browser, tid("compose-send")).click()
    err = wait_css(browser, tid("compose-error"))
    assert err.get_attribute("data-code") == "unknown_recipient"
    assert find(browser, tid("compose-content")).get_attribute("value") == draft
    assert find(browser, tid("compose-to")).get_attribute("value") == "nobody-by-this-name"
    browser.shot("unknown recipient")
