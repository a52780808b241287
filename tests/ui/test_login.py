"""Signing in and out of the console in a real browser."""

from selenium.webdriver.common.keys import Keys

from console import find, login, logout, on_login_page, present, tid, wait_css


def test_login_form_hides_the_token(browser, mesh):
    browser.open("/ui")
    wait_css(browser, tid("login-form"))
    assert on_login_page(browser), browser.current_url
    field = find(browser, tid("login-token"))
    assert field.get_attribute("type") == "password"
    assert field.get_attribute("autocomplete") == "off"
    # Every input is labelled (by a <label for=...> or aria-label).
    label = browser.driver.find_elements("css selector", f'label[for="{field.get_attribute("id")}"]')
    assert label or field.get_attribute("aria-label"), "the token field has no label"
    browser.shot("login form")


def test_bad_token_is_refused_on_the_form(browser, mesh):
    browser.open("/ui/login")
    browser.expect_http_error("/ui/login")  # the refusal is a 401 page
    wait_css(browser, tid("login-token")).send_keys("mgp_not-a-real-token")
    find(browser, tid("login-submit")).click()
    err = wait_css(browser, tid("login-error"))
    assert err.text.strip()
    assert on_login_page(browser)
    assert not present(browser, tid("whoami"))
    assert "mgp_not-a-real-token" not in browser.page_source
    browser.shot("bad token refused")


def test_keyboard_only_login(browser, mesh):
    """Tab to the token field, type, Enter: no mouse."""
    browser.open("/ui/login")
    wait_css(browser, tid("login-form"))
    body = browser.driver.switch_to.active_element
    for _ in range(10):  # the field is reachable with Tab from the top of the page
        body.send_keys(Keys.TAB)
        body = browser.driver.switch_to.active_element
        if body.get_attribute("data-testid") == "login-token":
            break
    assert body.get_attribute("data-testid") == "login-token", "Tab never reached the token field"
    body.send_keys(mesh.operator)
    browser.shot("token typed")
    body.send_keys(Keys.ENTER)
    who = wait_css(browser, tid("whoami"))
    assert "operator" in who.text.lower()
    browser.shot("signed in by keyboard")


def test_logout_then_back_lands_on_login(browser, mesh):
    alice, bob = mesh.register("alice"), mesh.register("bob")
    mid = mesh.send(alice, bob, "before logout")
    login(browser, mesh.operator)
    browser.open(f"/ui/messages/{mid}")
    wait_css(browser, tid("body"))
    browser.shot("message while signed in")
    logout(browser)
    assert on_login_page(browser)
    browser.shot("after logout")
    # Back shows no cached page (pages are no-store): the message needs a session again.
    browser.driver.back()
    wait_css(browser, tid("login-form"))
    assert not present(browser, tid("body"))
    browser.shot("back after logout")
    for path in ("/ui", f"/ui/messages/{mid}", f"/ui/peers/{alice.name}"):
        browser.open(path)
        wait_css(browser, tid("login-form"))
        assert on_login_page(browser), (path, browser.current_url)
        assert "before logout" not in browser.page_source
