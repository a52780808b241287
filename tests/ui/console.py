"""What the tests know of the console's pages: the test-id contract at the top of
crates/meshgate-server/src/console/mod.rs, in one place."""

from __future__ import annotations

from selenium.common.exceptions import NoSuchElementException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 15


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


def wait_css(b, css: str, timeout: float = TIMEOUT):
    """The first element matching `css`, once it is there."""
    return WebDriverWait(b.driver, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def wait_gone(b, css: str, timeout: float = TIMEOUT) -> None:
    WebDriverWait(b.driver, timeout).until_not(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def find(b, css: str):
    return b.driver.find_element(By.CSS_SELECTOR, css)


def find_all(b, css: str):
    return b.driver.find_elements(By.CSS_SELECTOR, css)


def present(b, css: str) -> bool:
    try:
        find(b, css)
        return True
    except NoSuchElementException:
        return False


def on_login_page(b) -> bool:
    return b.driver.current_url.split("?")[0].endswith("/ui/login") and present(b, tid("login-form"))


def login(b, token: str) -> None:
    """Sign in through the form, as a person would, and wait for the signed-in page."""
    b.open("/ui/login")
    field = wait_css(b, tid("login-token"))
    field.clear()
    field.send_keys(token)
    find(b, tid("login-submit")).click()
    wait_css(b, tid("whoami"))


def logout(b) -> None:
    find(b, tid("logout")).click()
    wait_css(b, tid("login-form"))


def error_code(b) -> str | None:
    """The stable code of the error page shown, if it is one."""
    els = find_all(b, tid("error"))
    return els[0].get_attribute("data-code") if els else None


def dm_ids(b, scope: str = "") -> set[int]:
    return {int(e.get_attribute("data-message-id")) for e in find_all(b, f"{scope} li[data-message-id]".strip())}
