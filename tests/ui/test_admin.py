"""The operator's pages: aliases and tokens; a peer session gets a 403 page there."""

from selenium.webdriver.support.ui import Select, WebDriverWait

from console import error_code, find, find_all, login, on_login_page, present, tid, wait_css


def test_aliases_add_and_delete(browser, mesh):
    bob = mesh.register("bob")
    alias = mesh.names.new("nick")
    login(browser, mesh.operator)
    browser.open("/ui/aliases")
    wait_css(browser, tid("alias-form"))
    find(browser, tid("alias-name")).send_keys(alias)
    Select(find(browser, tid("alias-canonical"))).select_by_value(bob.name)
    browser.shot("alias form")
    find(browser, tid("alias-add")).click()
    row = wait_css(browser, f'tr[data-alias="{alias}"]')
    assert row.find_element("css selector", tid("canonical")).text == bob.name
    assert {"alias": alias, "canonical": bob.name} in [
        {k: a[k] for k in ("alias", "canonical")} for a in mesh.api("GET", "/aliases").json()["aliases"]]
    browser.shot("alias added")
    # The name is taken now: adding it again as an alias of another peer says so.
    browser.expect_http_error("/ui/aliases")
    find(browser, tid("alias-name")).send_keys(bob.name)
    find(browser, tid("alias-add")).click()
    assert wait_css(browser, tid("alias-error")).get_attribute("data-code") == "name_taken"
    browser.shot("alias refused")
    find(browser, f'tr[data-alias="{alias}"] {tid("alias-delete")}').click()
    WebDriverWait(browser.driver, 15).until(lambda d: not present(browser, f'tr[data-alias="{alias}"]'))
    assert alias not in [a["alias"] for a in mesh.api("GET", "/aliases").json()["aliases"]]


def test_rotate_shows_the_new_token_once(browser, mesh):
    carol = mesh.register("carol")
    login(browser, mesh.operator)
    browser.open("/ui/tokens")
    find(browser, f'tr[data-peer="{carol.name}"] {tid("token-rotate")}').click()
    wait_css(browser, tid("confirm-form"))
    # Nothing happened yet: the old token still works.
    assert mesh.api("GET", "/peers", token=carol.token).status_code == 200
    browser.shot("rotate confirmation")
    find(browser, tid("confirm")).click()
    new = wait_css(browser, tid("new-token")).get_attribute("value")
    assert new.startswith("mgp_") and new != carol.token
    assert new not in browser.current_url
    browser.shot("rotated")  # the one page that shows a token: this one is new
    mesh.secrets.append(new)
    assert mesh.api("GET", "/peers", token=carol.token).status_code == 401
    assert mesh.api("GET", "/peers", token=new).status_code == 200
    # Shown once: reloading the list, or the page before, shows it nowhere.
    browser.open("/ui/tokens")
    wait_css(browser, tid("tokens"))
    browser.assert_no_secret()


def test_revoke_after_confirmation_ends_the_peer_session(browser, mesh, tmp_path):
    from conftest import Browser, chromium

    dave = mesh.register("dave")
    other = Browser(chromium(tmp_path / "dave-profile"), mesh, browser.test + "_dave")
    try:
        login(other, dave.token)
        login(browser, mesh.operator)
        browser.open(f"/ui/tokens/{dave.name}/revoke")
        assert dave.name in wait_css(browser, tid("confirm-text")).text
        find(browser, tid("cancel")).click()
        wait_css(browser, tid("tokens"))
        assert mesh.api("GET", "/peers", token=dave.token).status_code == 200
        browser.open(f"/ui/tokens/{dave.name}/revoke")
        find(browser, tid("confirm")).click()
        wait_css(browser, tid("result"))
        browser.shot("revoked")
        assert mesh.api("GET", "/peers", token=dave.token).status_code == 401
        other.open("/ui")
        wait_css(other, tid("login-form"))
        assert on_login_page(other)
        assert not other.severe_logs()
    finally:
        other.driver.quit()


def test_operator_pages_refuse_a_peer_session(browser, mesh):
    erin = mesh.register("erin")
    login(browser, erin.token)
    # Nor does a peer's navigation offer them.
    assert not find_all(browser, 'a[href="/ui/aliases"]') and not find_all(browser, 'a[href="/ui/tokens"]')
    for path in ("/ui/aliases", "/ui/tokens", f"/ui/tokens/{erin.name}/rotate"):
        browser.expect_http_error(path)
        browser.open(path)
        wait_css(browser, tid("error"))
        assert error_code(browser) == "operator_only", path
        assert "403" in find(browser, "h1").text
    browser.shot("operator only")
