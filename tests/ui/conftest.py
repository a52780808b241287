"""Fixtures for the browser suite: the /ui console driven end to end in headless Chromium.

One real gateway per session (binary from $MESHGATE_BIN) on a free loopback port with a temp
data dir; `MESHGATE_UI_DB` (a postgres:// URL) puts it on PostgreSQL instead of SQLite
(scripts/ui.sh runs the suite on both). Peers are registered through the HTTP API and DMs
are sent by the real clients (swarph-mesh's `MeshClient`, the `meshgate` CLI), never by the
browser, so what the console shows comes from outside it.

Every test gets a fresh Chromium (its own --user-data-dir, no network but loopback); after
each test its console log must hold no SEVERE entry, and every step a test names is saved as
a screenshot under $MESHGATE_UI_SCREENSHOTS (default <repo>/target/ui-screenshots), a
directory printed at the end of the run.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import SessionNotCreatedException
from selenium.webdriver.chrome.service import Service

from compat import REPO_ROOT, NameFactory, meshgate_bin, run_async
from gateway import Peer, register, session_gateway
from swarph_mesh import MeshClient
from swarph_shared import peer_registry

CHROMIUM = os.environ.get("MESHGATE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MESHGATE_CHROMEDRIVER", "/usr/bin/chromedriver")
SHOTS = Path(os.environ.get("MESHGATE_UI_SCREENSHOTS") or REPO_ROOT / "target" / "ui-screenshots")
WIDE = (1280, 900)
NARROW = (375, 800)


class Mesh:
    """The gateway, and what happens outside the browser (other agents, through the API)."""

    def __init__(self, url: str, operator: str, workdir: Path):
        self.url, self.operator, self.workdir = url, operator, workdir
        self.names = NameFactory("ui")
        # Every token this session minted: none may ever show up in a page.
        self.secrets: list[str] = [operator]

    def api(self, method: str, path: str, token: str | None = None, **kw) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.operator}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def register(self, label: str) -> Peer:
        peer = register(self.url, self.operator, self.names.new(label))
        self.secrets.append(peer.token)
        return peer

    def send(self, sender: Peer, to: Peer, content: str, kind: str = "fyi", **extra) -> int:
        """A DM through swarph-mesh's real client, as a Python agent sends it; returns its id."""

        # swarph-shared caches the registry per process: peers registered since must be seen.
        peer_registry._clear_cache()

        async def go():
            async with MeshClient(sender.name, token=sender.token, gateway_url=self.url) as c:
                return await c.send(to=to.name, kind=kind, content=content, **extra)

        sent = run_async(go)
        return int(sent.id if hasattr(sent, "id") else sent["id"])

    def cli_send(self, sender: Peer, to: Peer, content: str, kind: str = "fyi") -> None:
        """A DM through the `meshgate` CLI, the way a person or script sends it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESH")}
        env.update(MESH_GATEWAY_URL=self.url, MESH_GATEWAY_TOKEN=sender.token,
                   MESHGATE_CONFIG_DIR=str(self.workdir / "cli-config"))
        p = subprocess.run([str(meshgate_bin()), "send", to.name, "--as", sender.name, "--kind", kind, content],
                           env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)

    def inbox(self, peer: Peer) -> list[dict]:
        r = self.api("GET", "/messages", token=peer.token, params={"to": peer.name, "peek": "true"})
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()["messages"]


@pytest.fixture(scope="session")
def mesh(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("meshgate")
    with session_gateway(workdir, "MESHGATE_UI_DB") as proc:
        yield Mesh(proc.url, proc.token, workdir)


LAUNCH_ATTEMPTS = 3


def chromium(user_data_dir: Path, size: tuple[int, int] = WIDE) -> webdriver.Chrome:
    """A headless Chromium that reaches nothing but loopback and keeps its console log.

    Chromium sometimes dies while it starts on a loaded machine ("session not created: Chrome
    instance exited"), before any page of ours is opened. That start is retried, each time with
    a fresh profile, up to LAUNCH_ATTEMPTS times; every retry is reported as a warning with the
    tail of chromedriver's log, and the last failure fails the test with that log attached.
    """
    failures: list[str] = []
    for attempt in range(1, LAUNCH_ATTEMPTS + 1):
        profile = user_data_dir if attempt == 1 else user_data_dir.with_name(f"{user_data_dir.name}-{attempt}")
        shutil.rmtree(profile, ignore_errors=True)
        log = profile.with_name(f"{profile.name}.chromedriver.log")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--disable-extensions", "--no-default-browser-check",
                     f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"):
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=CHROMEDRIVER, service_args=["--verbose"], log_output=str(log))
        try:
            driver = webdriver.Chrome(options=opts, service=service)
        except SessionNotCreatedException as e:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no chromedriver log)"
            failures.append(f"attempt {attempt}: {e.msg}\n--- chromedriver log tail ---\n{tail}")
            if attempt < LAUNCH_ATTEMPTS:
                warnings.warn(f"Chromium did not start (attempt {attempt} of {LAUNCH_ATTEMPTS}); "
                              f"retrying with a fresh profile:\n{failures[-1]}")
            continue
        driver.set_page_load_timeout(30)
        return driver
    pytest.fail(f"Chromium did not start in {LAUNCH_ATTEMPTS} attempts:\n" + "\n\n".join(failures))


class Browser:
    """One test's Chromium, with named screenshots and the page checks every step makes."""

    def __init__(self, driver: webdriver.Chrome, mesh: Mesh, test: str):
        self.driver, self.mesh, self.test = driver, mesh, test
        self.steps = 0
        self.expected_errors: set[str] = set()

    def __getattr__(self, name):
        return getattr(self.driver, name)

    def open(self, path: str) -> None:
        self.driver.get(self.mesh.url + path)

    def shot(self, step: str, check: bool = True) -> Path:
        """Save a screenshot of this step and check that the page shows no token."""
        self.steps += 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{self.test}-{self.steps:02d}-{re.sub(r'[^a-z0-9]+', '-', step.lower()).strip('-')}.png"
        # The whole page (up to 3000 px down), not just the window: live rows may sit below the fold.
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 3000), "scale": 1}
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot",
                                           {"format": "png", "captureBeyondViewport": True, "clip": clip})
        path.write_bytes(base64.b64decode(shot["data"]))
        if check:
            self.assert_no_secret()
        return path

    def assert_no_secret(self) -> None:
        source = self.driver.page_source
        for token in self.mesh.secrets:
            assert token not in source, f"a token appears in the page source of {self.driver.current_url}"
        assert not any(t in self.driver.current_url for t in self.mesh.secrets), "a token is in the URL"

    def expect_http_error(self, path: str) -> None:
        """`path` is meant to answer 4xx: the browser's own note of that status is no error."""
        self.expected_errors.add(self.mesh.url + path.split("?")[0])

    def severe_logs(self) -> list[dict]:
        def expected(e: dict) -> bool:
            url, _, text = e.get("message", "").partition(" - ")
            return url.split("?")[0] in self.expected_errors and re.match(
                r"Failed to load resource: the server responded with a status of 4\d\d", text) is not None

        return [e for e in self.driver.get_log("browser") if e.get("level") == "SEVERE" and not expected(e)]


def _browser(request, mesh, tmp_path, size):
    test = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name).strip("_")
    if size != WIDE:
        test += f"_{size[0]}x{size[1]}"
    driver = chromium(tmp_path / "chromium-profile", size)
    b = Browser(driver, mesh, test)
    try:
        yield b
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            b.shot("failure", check=False)
        b.assert_no_secret()  # the page a test ends on, too
        severe = b.severe_logs()
        assert not severe, f"the browser console logged errors: {severe}"
    finally:
        driver.quit()
        for profile in tmp_path.glob("chromium-profile*"):
            if profile.is_dir():
                shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(request, mesh, tmp_path):
    """A fresh 1280x900 Chromium; fails the test if its console logged an error."""
    yield from _browser(request, mesh, tmp_path, WIDE)


@pytest.fixture
def narrow_browser(request, mesh, tmp_path):
    """The same at a phone's 375x800."""
    yield from _browser(request, mesh, tmp_path, NARROW)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call = rep


def pytest_terminal_summary(terminalreporter):
    if SHOTS.is_dir():
        n = len(list(SHOTS.glob("*.png")))
        terminalreporter.write_line(f"ui screenshots ({n}): {SHOTS}")


__all__ = ["Mesh", "Peer", "run_async"]
